"""Strict validation of client frames, shared by every socket (widget/protocol.py, agents/console_protocol.py).

A socket describes its frames in a table: frame type → {field name: Field}. parse_frame decodes one
text message and checks it against the table; anything else is refused with a specific error code
(docs/protocol.md), never an exception the socket does not expect.
"""

import json
from collections.abc import Callable
from dataclasses import dataclass


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


FrameTable = dict[str, dict[str, Field]]


def check_field(name: str, spec: Field, value) -> None:
    # bool is a subclass of int in Python; a JSON true must not pass as a number.
    if not isinstance(value, spec.kind) or (spec.kind is int and isinstance(value, bool)):
        raise FrameError("invalid_field", f"{name} must be {spec.kind.__name__}", field=name)
    if spec.max_length is not None and len(value) > spec.max_length:
        raise FrameError("invalid_field", f"{name} is longer than {spec.max_length}", field=name)
    if spec.minimum is not None and value < spec.minimum:
        raise FrameError("invalid_field", f"{name} must be at least {spec.minimum}", field=name)


def parse_frame(
    raw: str | None, table: FrameTable, *, max_bytes: int, semantics: Callable[[str, dict], None] | None = None,
) -> dict:
    """Decode and validate one client frame; raises FrameError with the code to send back.

    Order: size, JSON, type, fields (unknown, wrong type, too long, too small, missing), then the
    socket's own `semantics(kind, frame)` check of meaning.
    """
    if raw is None:
        raise FrameError("bad_json", "binary frames are not accepted")
    if len(raw) > max_bytes or len(raw.encode()) > max_bytes:
        raise FrameError("frame_too_large", f"frames are limited to {max_bytes} bytes")
    try:
        frame = json.loads(raw)
    except ValueError:
        raise FrameError("bad_json", "the frame is not valid JSON") from None
    if not isinstance(frame, dict):
        raise FrameError("bad_json", "a frame is a JSON object")
    kind = frame.get("type")
    fields = table.get(kind) if isinstance(kind, str) else None
    if fields is None:
        raise FrameError("unknown_type", f"unknown frame type {kind!r}")
    for name, value in frame.items():
        if name == "type":
            continue
        spec = fields.get(name)
        if spec is None:
            raise FrameError("invalid_field", f"unexpected field {name!r}", field=name)
        if value is None:  # absent: a required field is reported as missing below
            continue
        check_field(name, spec, value)
    for name, spec in fields.items():
        if spec.required and frame.get(name) is None:
            raise FrameError("invalid_field", f"{name} is required", field=name)
    if semantics is not None:
        semantics(kind, frame)
    return frame


def check_text(frame: dict, *, max_chars: int) -> None:
    """A message text: not blank, at most max_chars characters (code points)."""
    text = frame["text"]
    if not text.strip():
        raise FrameError("message_empty", "the message is empty", field="text")
    if len(text) > max_chars:
        raise FrameError("message_too_long", f"messages are limited to {max_chars} characters", field="text")


def check_client_id(frame: dict) -> None:
    if not frame["client_id"].strip():
        raise FrameError("invalid_field", "client_id is empty", field="client_id")


def ids_of(raw: str | None, *, max_bytes: int) -> dict[str, str]:
    """Best effort: the client_id and conversation_id of a refused frame, so the client knows which
    message to resend and which chat the error is about."""
    if not raw or len(raw) > max_bytes:
        return {}
    try:
        frame = json.loads(raw)
    except ValueError:
        return {}
    if not isinstance(frame, dict):
        return {}
    ids = {"ref": frame.get("client_id"), "conversation_id": frame.get("conversation_id")}
    return {name: value for name, value in ids.items() if isinstance(value, str) and len(value) <= 64}
