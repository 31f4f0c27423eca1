"""Validation of the frames a widget sends (docs/protocol.md is the human-readable version).

Parsing is deliberately small and strict: each frame type lists its fields with a type and
limits; anything else is refused with a specific error code, never an exception.
"""

import json
import re
from dataclasses import dataclass

from django.conf import settings


class FrameError(Exception):
    def __init__(self, code: str, message: str, *, field: str | None = None):
        super().__init__(message)
        self.code, self.message, self.field = code, message, field


@dataclass(frozen=True)
class Field:
    kind: type
    required: bool = True
    max_length: int | None = None
    minimum: int | None = None


_EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]{1,255}\.[^@\s]{1,63}$")
_CLIENT_ID = Field(str, max_length=64)
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
    "start": {"name": Field(str, True, 100), "email": Field(str, False, 254), "topic": Field(int, False, minimum=1)},
    "message": {"client_id": _CLIENT_ID, "text": Field(str)},
    "typing": {"is_typing": Field(bool), "preview": Field(str, False, 200)},
    "seen": {"seq": Field(int, minimum=0)},
    "page": {"url": Field(str, True, 2000), "title": Field(str, False, 300)},
    "close": {},
    "offline_message": {
        "client_id": _CLIENT_ID, "name": Field(str, True, 100), "email": Field(str, True, 254), "text": Field(str),
    },
    "ping": {},
}


def _check(name: str, spec: Field, value) -> None:
    # bool is a subclass of int in Python; a JSON true must not pass as a number.
    if not isinstance(value, spec.kind) or (spec.kind is int and isinstance(value, bool)):
        raise FrameError("invalid_field", f"{name} must be {spec.kind.__name__}", field=name)
    if spec.max_length is not None and len(value) > spec.max_length:
        raise FrameError("invalid_field", f"{name} is longer than {spec.max_length}", field=name)
    if spec.minimum is not None and value < spec.minimum:
        raise FrameError("invalid_field", f"{name} must be at least {spec.minimum}", field=name)


def parse_frame(raw: str | None) -> dict:
    """Decode and validate one client frame; raises FrameError with the code to send back."""
    if raw is None:
        raise FrameError("bad_json", "binary frames are not accepted")
    if len(raw) > settings.WIDGET_MAX_FRAME_BYTES or len(raw.encode()) > settings.WIDGET_MAX_FRAME_BYTES:
        raise FrameError("frame_too_large", f"frames are limited to {settings.WIDGET_MAX_FRAME_BYTES} bytes")
    try:
        frame = json.loads(raw)
    except ValueError:
        raise FrameError("bad_json", "the frame is not valid JSON") from None
    if not isinstance(frame, dict):
        raise FrameError("bad_json", "a frame is a JSON object")
    kind = frame.get("type")
    fields = CLIENT_FRAMES.get(kind) if isinstance(kind, str) else None
    if fields is None:
        raise FrameError("unknown_type", f"unknown frame type {kind!r}")
    for name, value in frame.items():
        if name == "type":
            continue
        spec = fields.get(name)
        if spec is None:
            raise FrameError("invalid_field", f"unexpected field {name!r}", field=name)
        if value is None and not spec.required:
            continue
        _check(name, spec, value)
    for name, spec in fields.items():
        if spec.required and frame.get(name) is None:
            raise FrameError("invalid_field", f"{name} is required", field=name)
    _check_semantics(kind, frame)
    return frame


def _check_text(frame: dict) -> None:
    text = frame["text"]
    if not text.strip():
        raise FrameError("message_empty", "the message is empty", field="text")
    if len(text) > settings.WIDGET_MAX_MESSAGE_CHARS:
        raise FrameError("message_too_long", f"messages are limited to {settings.WIDGET_MAX_MESSAGE_CHARS} characters",
                         field="text")


def _check_semantics(kind: str, frame: dict) -> None:
    if kind in {"message", "offline_message"}:
        _check_text(frame)
        if not frame["client_id"].strip():
            raise FrameError("invalid_field", "client_id is empty", field="client_id")
    if frame.get("email") and not _EMAIL.match(frame["email"]):
        raise FrameError("invalid_field", "email is not an email address", field="email")
    if kind == "start" and not frame["name"].strip():
        raise FrameError("invalid_field", "name is empty", field="name")
    if kind == "hello" and frame.get("page") is not None:
        for name, value in frame["page"].items():
            spec = _PAGE.get(name)
            if spec is None:
                raise FrameError("invalid_field", f"unexpected field page.{name}", field=f"page.{name}")
            if value is not None:
                _check(f"page.{name}", spec, value)
