"""Strict validation of client frames, shared by every socket (widget/protocol.py, console/protocol.py).

A socket describes its frames in a table: frame type → {field name: Field}. parse_frame decodes one
text message and checks it against the table; anything else is refused with a specific error code
(docs/protocol.md), never an exception the socket does not expect.
"""

import json
import re
from collections.abc import Callable
from dataclasses import dataclass

# No frame nests deeper than this (a frame, its `page` or `conversations` object, their values): a
# deeper one is junk, and one nested thousands deep would exhaust the parser's recursion.
MAX_DEPTH = 3
# A single-line field (a name, an email, an id) holds no control characters, no line or paragraph
# separators; a multi-line one (a message, a comment) only tab, line feed and carriage return.
# NUL is refused everywhere: PostgreSQL cannot store it in text.
_NOT_SINGLE_LINE = re.compile("[\x00-\x1f\x7f\u2028\u2029]")
_NOT_MULTILINE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


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
    multiline: bool = False  # text a person writes: line breaks allowed


FrameTable = dict[str, dict[str, Field]]


def check_field(name: str, spec: Field, value) -> None:
    # bool is a subclass of int in Python; a JSON true must not pass as a number.
    if not isinstance(value, spec.kind) or (spec.kind is int and isinstance(value, bool)):
        raise FrameError("invalid_field", f"{name} must be {spec.kind.__name__}", field=name)
    if spec.max_length is not None and len(value) > spec.max_length:
        raise FrameError("invalid_field", f"{name} is longer than {spec.max_length}", field=name)
    if spec.kind is str and (_NOT_MULTILINE if spec.multiline else _NOT_SINGLE_LINE).search(value):
        raise FrameError("invalid_field", f"{name} holds control characters", field=name)
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
    except (ValueError, RecursionError):
        raise FrameError("bad_json", "the frame is not valid JSON") from None
    if not isinstance(frame, dict):
        raise FrameError("bad_json", "a frame is a JSON object")
    check_shape(frame)
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


def check_shape(frame: dict) -> None:
    """At most MAX_DEPTH deep, and every string (names too) valid Unicode text: a lone surrogate,
    which JSON's \\u escapes can carry, could be neither stored nor sent back."""
    pending = [(frame, 1, None)]
    while pending:
        value, depth, field = pending.pop()
        if isinstance(value, str):
            if not _encodable(value):
                raise FrameError("invalid_field", "a string holds a lone surrogate", field=field)
            continue
        if not isinstance(value, (dict, list)):
            continue
        if depth > MAX_DEPTH:
            raise FrameError("bad_json", f"frames nest at most {MAX_DEPTH} deep")
        items = value.items() if isinstance(value, dict) else ((None, item) for item in value)
        for name, item in items:
            if name is not None and not _encodable(name):
                raise FrameError("invalid_field", "a name holds a lone surrogate", field=field)
            named = field if field is not None else name
            pending.append((item, depth + 1, named))


def _encodable(text: str) -> bool:
    try:
        text.encode()
    except UnicodeEncodeError:
        return False
    return True


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
    except (ValueError, RecursionError):
        return {}
    if not isinstance(frame, dict):
        return {}
    ids = {"ref": frame.get("client_id"), "conversation_id": frame.get("conversation_id")}
    return {name: value for name, value in ids.items()
            if isinstance(value, str) and len(value) <= 64 and _encodable(value)}
