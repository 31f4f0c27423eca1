"""Validation of the frames an agent console sends (docs/protocol.md, "Agent console socket").

The same strict machinery as the visitor socket (realtime/framing.py), with the console's table.
"""

from django.conf import settings

from agents.models import Agent
from conversations.networks import BAN_SCOPES
from realtime.framing import Field, FrameError, check_client_id, check_field, check_text
from realtime.framing import parse_frame as parse_with_table

MAX_REPLAY_CONVERSATIONS = 100
MAX_CLOSE_TAGS = 20
MAX_BAN_HOURS = 24 * 365

_CONVERSATION = Field(str, True, 64)
_CLIENT_ID = Field(str, True, 64)
_TAG = Field(str, True, 50)
_WRITE = {"conversation_id": _CONVERSATION, "client_id": _CLIENT_ID, "text": Field(str, multiline=True)}

CLIENT_FRAMES: dict[str, dict[str, Field]] = {
    "hello": {"conversations": Field(dict, False)},
    "ping": {},
    "status": {"status": Field(str, True, 10)},
    "take": {"conversation_id": _CONVERSATION},
    "accept": {"conversation_id": _CONVERSATION},
    "open": {"conversation_id": _CONVERSATION},
    # Messages after last_seq, answered with `message` frames and `replayed` (a client that found a gap).
    "sync": {"conversation_id": _CONVERSATION, "last_seq": Field(int, minimum=0)},
    "message": {**_WRITE, "canned_response_id": Field(int, False, minimum=1)},
    "note": _WRITE,
    "whisper": _WRITE,
    "barge": {**_WRITE, "canned_response_id": Field(int, False, minimum=1)},
    "typing": {"conversation_id": _CONVERSATION, "is_typing": Field(bool)},
    "seen": {"conversation_id": _CONVERSATION, "seq": Field(int, minimum=0)},
    "tag": {"conversation_id": _CONVERSATION, "tag": _TAG},
    "untag": {"conversation_id": _CONVERSATION, "tag": _TAG},
    "transfer": {
        "conversation_id": _CONVERSATION, "agent": Field(int, False, minimum=1),
        "department": Field(int, False, minimum=1), "skill": Field(int, False, minimum=1),
        "note": Field(str, False, 1000, multiline=True),
    },
    "reassign": {"conversation_id": _CONVERSATION, "agent": Field(int, minimum=1)},
    "wrapup": {"conversation_id": _CONVERSATION},
    # Supervisors: the chat's visitor (and, by scope, their address or network) may not chat again.
    "ban": {
        "conversation_id": _CONVERSATION, "scope": Field(str, False, 10), "reason": Field(str, False, 200),
        "hours": Field(int, False, minimum=1),
    },
    "close": {
        "conversation_id": _CONVERSATION, "resolved": Field(bool), "summary": Field(str, False, 2000, multiline=True),
        "tags": Field(list, False),
    },
}


def parse_frame(raw: str | None) -> dict:
    """Decode and validate one console frame; raises FrameError with the code to send back."""
    return parse_with_table(raw, CLIENT_FRAMES, max_bytes=settings.WIDGET_MAX_FRAME_BYTES, semantics=_check_semantics)


def _check_semantics(kind: str, frame: dict) -> None:
    if "text" in frame:
        check_text(frame, max_chars=settings.WIDGET_MAX_MESSAGE_CHARS)
    if "client_id" in frame:
        check_client_id(frame)
    if kind == "status" and frame["status"] not in Agent.Status.values:
        raise FrameError("invalid_field", f"status must be one of {', '.join(Agent.Status.values)}", field="status")
    if kind == "hello" and frame.get("conversations") is not None:
        conversations = frame["conversations"]
        if len(conversations) > MAX_REPLAY_CONVERSATIONS:
            raise FrameError("invalid_field", f"at most {MAX_REPLAY_CONVERSATIONS} conversations",
                             field="conversations")
        for conversation_id, last_seq in conversations.items():
            check_field("conversations", Field(str, max_length=64), conversation_id)
            check_field(f"conversations.{conversation_id}", Field(int, minimum=0), last_seq)
    if kind == "ban" and frame.get("scope") is not None and frame["scope"] not in BAN_SCOPES:
        raise FrameError("invalid_field", f"scope is one of {', '.join(BAN_SCOPES)}", field="scope")
    if kind == "ban" and frame.get("hours") is not None and frame["hours"] > MAX_BAN_HOURS:
        raise FrameError("invalid_field", f"hours is at most {MAX_BAN_HOURS}", field="hours")
    if kind in {"tag", "untag"} and not frame["tag"].strip():
        raise FrameError("invalid_field", "tag is empty", field="tag")
    if kind == "transfer" and sum(frame.get(name) is not None for name in ("agent", "department", "skill")) != 1:
        raise FrameError("invalid_field", "transfer to exactly one of agent, department or skill", field="agent")
    if kind == "close" and frame.get("tags") is not None:
        if len(frame["tags"]) > MAX_CLOSE_TAGS:
            raise FrameError("invalid_field", f"at most {MAX_CLOSE_TAGS} tags", field="tags")
        for tag in frame["tags"]:
            check_field("tags", _TAG, tag)
