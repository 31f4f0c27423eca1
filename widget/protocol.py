"""Validation of the frames a widget sends (docs/protocol.md is the human-readable version).

Parsing is deliberately small and strict: each frame type lists its fields with a type and
limits; anything else is refused with a specific error code, never an exception.
"""

import re

from django.conf import settings

from realtime.framing import Field, FrameError, check_client_id, check_field, check_text
from realtime.framing import parse_frame as parse_with_table

__all__ = ["CLIENT_FRAMES", "Field", "FrameError", "parse_frame"]

_EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]{1,255}\.[^@\s]{1,63}$")
_CLIENT_ID = Field(str, max_length=64)
_GOAL_NAME = re.compile(r"^[A-Za-z0-9_.:-]{1,64}$")
GOAL_MAX_VALUE = 10**12 - 1  # fits metrics.VisitorGoal.value (14 digits, 2 after the point)
_PAGE = {"url": Field(str, False, 2000), "title": Field(str, False, 300), "referrer": Field(str, False, 2000)}

CLIENT_FRAMES: dict[str, dict[str, Field]] = {
    "hello": {
        "token": Field(str, False, 1000),
        "conversation_id": Field(str, False, 64),
        "last_seq": Field(int, False, minimum=0),
        "language": Field(str, False, 35),
        "time_on_site": Field(int, False, minimum=0),
        "new_visit": Field(bool, False),
        "screen": Field(str, False, 20),
        "page": Field(dict, False),
    },
    # A chat starts with the visitor's first message: no chat reaches an agent before its visitor wrote.
    "start": {"name": Field(str, True, 100), "email": Field(str, False, 254), "topic": Field(int, False, minimum=1),
              "client_id": _CLIENT_ID, "text": Field(str, multiline=True)},
    "message": {"client_id": _CLIENT_ID, "text": Field(str, multiline=True)},
    "typing": {"is_typing": Field(bool), "preview": Field(str, False, 200, multiline=True)},
    "seen": {"seq": Field(int, minimum=0)},
    # Messages after last_seq, answered with `message` frames and `replayed` (a client that found a gap).
    "sync": {"conversation_id": Field(str, True, 64), "last_seq": Field(int, minimum=0)},
    "page": {"url": Field(str, True, 2000), "title": Field(str, False, 300)},
    "close": {},
    "offline_message": {
        "client_id": _CLIENT_ID, "name": Field(str, True, 100), "email": Field(str, True, 254),
        "text": Field(str, multiline=True),
    },
    "ping": {},
    # The post-chat survey (scales checked in _check_semantics) and the transcript by email.
    "rate": {
        "conversation_id": Field(str, True, 64), "csat": Field(int, minimum=1), "comment": Field(str, False, 2000, multiline=True),
        "nps": Field(int, False, minimum=0), "ces": Field(int, False, minimum=1),
    },
    "transcript": {"client_id": _CLIENT_ID, "conversation_id": Field(str, True, 64), "email": Field(str, False, 254)},
    # A goal the page reports (chatdesk("goal", name, {value})); value is checked in _check_semantics.
    "goal": {"client_id": _CLIENT_ID, "name": Field(str, True, 64), "value": Field(object, False)},
}


# The tops of the survey scales (their lower bounds are in the table).
_SCORE_MAX = {"csat": 5, "nps": 10, "ces": 7}


def parse_frame(raw: str | None) -> dict:
    """Decode and validate one widget frame; raises FrameError with the code to send back."""
    return parse_with_table(raw, CLIENT_FRAMES, max_bytes=settings.WIDGET_MAX_FRAME_BYTES,
                            semantics=_check_semantics)


def _check_semantics(kind: str, frame: dict) -> None:
    if kind in {"message", "offline_message", "start"}:
        check_text(frame, max_chars=settings.WIDGET_MAX_MESSAGE_CHARS)
        check_client_id(frame)
    if kind == "rate":
        for name, top in _SCORE_MAX.items():
            if frame.get(name) is not None and frame[name] > top:
                raise FrameError("invalid_field", f"{name} must be at most {top}", field=name)
    if kind == "transcript":
        check_client_id(frame)
    if frame.get("email") and not _EMAIL.match(frame["email"]):
        raise FrameError("invalid_field", "email is not an email address", field="email")
    if kind == "start" and not frame["name"].strip():
        raise FrameError("invalid_field", "name is empty", field="name")
    if kind == "goal":
        check_client_id(frame)
        if not _GOAL_NAME.match(frame["name"]):
            raise FrameError("invalid_field", "name is 1-64 letters, digits, _ . : -", field="name")
        value = frame.get("value")
        # NaN and Infinity (which Python's JSON reader accepts) fail the range check too.
        if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float))
                                  or not 0 <= value <= GOAL_MAX_VALUE):
            raise FrameError("invalid_field", f"value must be a number from 0 to {GOAL_MAX_VALUE}", field="value")
    if kind == "hello" and frame.get("page") is not None:
        for name, value in frame["page"].items():
            spec = _PAGE.get(name)
            if spec is None:
                raise FrameError("invalid_field", f"unexpected field page.{name}", field=f"page.{name}")
            if value is not None:
                check_field(f"page.{name}", spec, value)
