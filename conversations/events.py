"""What happened to a conversation, as typed records: one immutable class per ConversationEvent kind.

The lifecycle builds one of these for every change; its fields, as JSON, are the row's `details`
(`Event.details`). Readers (metrics, routing) turn rows back into records with `parse`, so a field
is named once, here, for the writer and every reader. tests/conversations/test_events.py performs
every transition and holds every row it wrote against these classes (`check`): a renamed or stray
key fails there, not silently in a report.

Fields added after rows were first written have defaults, so `parse` reads old rows too; `check`
holds new rows to the exact shape.
"""

import types
import typing
from dataclasses import dataclass
from datetime import datetime
from typing import ClassVar, NamedTuple, Protocol


class Event(Protocol):
    """A record of the classes below: a NamedTuple, written as the ConversationEvent.Kind `kind`.

    NamedTuples, not dataclasses: metrics parse every row of a period back into one, and a tuple
    is built in a fraction of a frozen dataclass's time.
    """

    kind: ClassVar[str]

    def details(self) -> dict: ...


KINDS: dict[str, type[Event]] = {}
# Per record class, the value of each field a row lacks: its default, or None (a row older than it).
_DEFAULTS: dict[type, tuple] = {}


def _details(record) -> dict:
    return record._asdict()


def _event(*kinds: str):
    """Register the record class for these kinds (the ends share one shape, a subclass per kind)."""
    def register(cls: type) -> type:
        cls.kind, cls.details = kinds[0], _details
        for kind in kinds:
            record = cls if len(kinds) == 1 else type(cls.__name__, (cls,), {"kind": kind, "__slots__": ()})
            KINDS[kind] = record
            _DEFAULTS[record] = tuple(cls._field_defaults.get(name) for name in cls._fields)
        return cls

    return register


@_event("queued")
class Queued(NamedTuple):
    topic: str | None
    priority: int
    skill_ids: list[int]
    department_id: int | None


@_event("assigned")
class Assigned(NamedTuple):
    agent_id: int
    reason: dict  # routing's reason for the choice (routing/decisions.py), or {"manual": True}


@_event("accepted")
class Accepted(NamedTuple):
    agent_id: int
    auto: bool  # the department accepts at once, so the system accepted


@_event("message")
class MessagePosted(NamedTuple):
    seq: int
    author: str
    visibility: str
    chars: int
    canned_response_id: int | None = None
    recipient_id: int | None = None  # a whisper's agent


@_event("seen")
class Seen(NamedTuple):
    seq: int


@_event("transferred")
class Transferred(NamedTuple):
    from_agent_id: int | None
    to_agent_id: int | None
    to_department_id: int | None
    to_skill_id: int | None
    note: str


@_event("requeued")
class Requeued(NamedTuple):
    from_agent_id: int | None
    reason: str  # "offer_timeout", "agent_disconnected", or the agent's or supervisor's own
    offer_event_id: int | None = None  # the `assigned` event of an offer that timed out


@_event("closed", "missed", "abandoned")
class Ended(NamedTuple):
    """The chat ended; the kind is its outcome (lifecycle.close_conversation)."""

    agent_id: int | None
    resolved: bool | None
    summary: str
    # Set by an agent's close (lifecycle.close_with_wrapup): the chat's tags after it, and when
    # the after-chat work began ("wrapup", "last_message" or None).
    tags: list[str] | None = None
    wrapup_started_at: str | None = None
    wrapup_source: str | None = None
    reason: str | None = None  # "visitor_left" (conversations/departures.py), "banned" (conversations/bans.py)
    ban_ids: list[int] | None = None  # the bans that ended it


@_event("offline_message")
class OfflineMessage(NamedTuple):
    chars: int


@_event("context")
class PageViewed(NamedTuple):
    url: str


@_event("tagged")
class Tagged(NamedTuple):
    tag_id: int
    tag: str


@_event("untagged")
class Untagged(NamedTuple):
    tag_id: int
    tag: str


@_event("wrapup")
class WrapupStarted(NamedTuple):
    agent_id: int | None


@_event("rated")
class Rated(NamedTuple):
    agent_id: int | None  # who held the chat when it ended: the rating is theirs
    csat: int
    nps: int | None
    ces: int | None
    channel: str
    commented: bool


@_event("transcript_requested")
class TranscriptRequested(NamedTuple):
    request_id: str
    needs_confirmation: bool = False


# The kinds that change a chat's status or who has it: what the queue, the board and the
# wallboard show.
STATE_KINDS = ("queued", "assigned", "accepted", "requeued", "transferred", "closed", "missed", "abandoned",
               "offline_message")


def topics(*kinds: str) -> tuple[str, ...]:
    """The subscription topics of these kinds (reactions/subscriptions.py)."""
    return tuple(f"conversation.{kind}" for kind in kinds)


class InvalidEvent(ValueError):
    pass


def parse(kind: str, details: dict | None) -> Event:
    """The record of a row; keys it does not know are ignored, missing ones take their default
    (None where a field has none: a row older than the field)."""
    cls = _class_of(kind)
    return tuple.__new__(cls, map((details or {}).get, cls._fields, _DEFAULTS[cls]))


def check(kind: str, details: dict) -> Event:
    """The record of a row written now: exactly the class's fields, each of its declared type."""
    cls = _class_of(kind)
    hints = typing.get_type_hints(cls)
    expected = set(cls._fields)
    if set(details) != expected:
        raise InvalidEvent(f"{kind}: keys {sorted(details)} are not {sorted(expected)}")
    for name, value in details.items():
        if not is_of(value, hints[name]):
            raise InvalidEvent(f"{kind}.{name} = {value!r} is not {hints[name]}")
    return cls(**details)


def _class_of(kind: str) -> type[Event]:
    try:
        return KINDS[kind]
    except KeyError:
        raise InvalidEvent(f"no event kind {kind!r}") from None


def is_of(value, hint) -> bool:
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        return any(is_of(value, option) for option in typing.get_args(hint))
    if hint is type(None):
        return value is None
    if origin is list:
        (item,) = typing.get_args(hint)
        return isinstance(value, list) and all(is_of(element, item) for element in value)
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool)
    return isinstance(value, origin or hint)



@dataclass(frozen=True)
class Change:
    """An event as the lifecycle wrote it, handed to the subscribers of "conversation.<kind>"
    (reactions/subscriptions.py): which row, which chat, when, by whom."""

    event_id: int
    conversation_id: int
    site_id: int
    at: datetime
    actor: str
    actor_agent_id: int | None
    event: Event

    @property
    def topic(self) -> str:
        return f"conversation.{self.event.kind}"
