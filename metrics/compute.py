"""Support metrics replayed from event timelines: pure functions, no database (docs/metrics.md).

Two steps. `chat_facts` replays one conversation's ConversationEvent rows (as `Event`s) into the
facts a manager asks about: when it was queued, accepted, first answered and ended, who held it
when, its wrap-up, tags, transfers and messages. `aggregate` then counts those facts, with the
agents' online time replayed from AgentStatusEvent rows, into a `Tally` per period and per scope
(total, agent, department, tag). A Tally holds only sums, counts and the duration samples, so
tallies of days merge into weeks and months and the rollup rows are tallies stored as they are.

Which period a fact counts in is fixed per metric and stated in docs/metrics.md: volume by the
time the chat was queued, outcomes and durations by the time the chat ended, messages by the
time they were sent, online and handling time sliced across the periods they overlap.
"""

from __future__ import annotations

import math
from bisect import bisect_right
from dataclasses import dataclass, field, fields
from datetime import date, datetime, time, timedelta
from itertools import accumulate
from zoneinfo import ZoneInfo

import numpy as np

from conversations import events as ev

# The kinds metrics read, named by the event records (conversations/events.py).
QUEUED, ASSIGNED, ACCEPTED, MESSAGE = ev.Queued.kind, ev.Assigned.kind, ev.Accepted.kind, ev.MessagePosted.kind
TRANSFERRED, REQUEUED, TAGGED, UNTAGGED = ev.Transferred.kind, ev.Requeued.kind, ev.Tagged.kind, ev.Untagged.kind
OFFLINE_MESSAGE, RATED = ev.OfflineMessage.kind, ev.Rated.kind
END_KINDS = tuple(kind for kind, record in ev.KINDS.items() if issubclass(record, ev.Ended))
CLOSED, MISSED, ABANDONED = END_KINDS
# The outcomes whose visitor is asked to rate the chat (surveys.services.RATED_STATUSES).
SURVEYED_OUTCOMES = (CLOSED, MISSED)
# The events that change who holds a chat, or end it; a chat's history is read from these.
HANDOVER_KINDS = (ASSIGNED, ACCEPTED, TRANSFERRED, REQUEUED)

TOTAL, AGENT, DEPARTMENT, TAG = "total", "agent", "department", "tag"
SCOPES = (TOTAL, AGENT, DEPARTMENT, TAG)
# The key of the total row, and of the department row for chats without a department.
NO_KEY = 0

GRANULARITIES = ("hour", "day", "week", "month")


@dataclass(frozen=True)
class Config:
    """The thresholds of the definitions; the defaults are the industry's (docs/metrics.md)."""

    service_level_seconds: float = 20.0
    short_abandon_seconds: float = 10.0
    fcr_window: timedelta = timedelta(days=7)


DEFAULT_CONFIG = Config()


@dataclass(frozen=True)
class Event:
    """One ConversationEvent row: only the columns metrics read (`details` as stored; `record` parses it)."""

    conversation_id: int
    kind: str
    at: datetime
    actor_agent_id: int | None = None
    details: dict = field(default_factory=dict)
    id: int = 0


@dataclass(frozen=True)
class Chat:
    """The conversation columns metrics group by (the department is the chat's current one)."""

    id: int
    site_id: int
    visitor_id: int
    department_id: int | None = None


@dataclass(frozen=True)
class StatusChange:
    """One AgentStatusEvent row: the agent's status from `at` on."""

    agent_id: int
    at: datetime
    status: str


@dataclass
class Segment:
    """A stretch during which one agent held the chat: from assignment (or a transfer to them) until
    a transfer, a requeue or the end took it away. Handling counts from `accepted_at`."""

    agent_id: int
    assigned_at: datetime
    accepted_at: datetime | None = None
    released_at: datetime | None = None  # None: still held


@dataclass(frozen=True)
class Message:
    at: datetime
    author: str  # visitor, agent or system
    visibility: str
    agent_id: int | None
    canned: bool


@dataclass
class ChatFacts:
    chat: Chat
    queued_at: datetime | None = None
    offline_at: datetime | None = None
    first_accepted_at: datetime | None = None
    first_accepted_agent_id: int | None = None
    first_reply_at: datetime | None = None
    first_reply_agent_id: int | None = None
    ended_at: datetime | None = None
    outcome: str | None = None  # closed, missed, abandoned; None while open
    end_agent_id: int | None = None  # details.agent_id of the end event: who held the chat then
    resolved: bool | None = None
    wrapup_started_at: datetime | None = None
    segments: list[Segment] = field(default_factory=list)
    assignments: list[tuple[datetime, int]] = field(default_factory=list)  # (at, agent) incl. transfers to an agent
    transfers: list[tuple[datetime, int | None]] = field(default_factory=list)  # (at, from agent)
    tag_ids: frozenset[int] = frozenset()
    messages: list[Message] = field(default_factory=list)
    # The visitor's survey answer (the `rated` event; one per chat): CSAT 1-5, NPS 0-10, CES 1-7.
    csat: int | None = None
    nps: int | None = None
    ces: int | None = None

    @property
    def wait_seconds(self) -> float | None:
        """Speed of answer: queued to the first accept."""
        return _seconds(self.queued_at, self.first_accepted_at)

    @property
    def first_response_seconds(self) -> float | None:
        return _seconds(self.queued_at, self.first_reply_at)

    @property
    def queued_seconds_at_end(self) -> float | None:
        return _seconds(self.queued_at, self.ended_at)

    @property
    def wrapup_seconds(self) -> float | None:
        if self.wrapup_started_at is None or self.ended_at is None:
            return None
        return max(0.0, _seconds(self.wrapup_started_at, self.ended_at))

    def handled_seconds(self, agent_id: int | None = None) -> float:
        """Accept to release, summed over the segments (of one agent, or of all)."""
        return sum(_seconds(s.accepted_at, s.released_at) for s in self.segments
                   if s.accepted_at and s.released_at and (agent_id is None or s.agent_id == agent_id))

    @property
    def handling_agent_ids(self) -> list[int]:
        """Agents who accepted the chat at some point, in order of first accept."""
        seen: list[int] = []
        for segment in self.segments:
            if segment.accepted_at is not None and segment.agent_id not in seen:
                seen.append(segment.agent_id)
        return seen

    @property
    def public_messages(self) -> int:
        return sum(1 for m in self.messages if m.visibility == "public" and m.author in ("visitor", "agent"))


def _seconds(start: datetime | None, end: datetime | None) -> float | None:
    if start is None or end is None:
        return None
    return round((end - start).total_seconds(), 3)


def _parse_time(value) -> datetime | None:
    if not value:
        return None
    if isinstance(value, datetime):
        return value
    try:
        return datetime.fromisoformat(value)
    except (TypeError, ValueError):
        return None


def chat_facts(chat: Chat, events: list[Event], tag_ids_by_name: dict[tuple[int, str], int] | None = None) -> ChatFacts:
    """Replay one conversation's events (any order; sorted here by time, then id)."""
    facts = ChatFacts(chat=chat)
    tags: set[int] = set()
    holding: Segment | None = None

    def release(at: datetime) -> None:
        nonlocal holding
        if holding is not None:
            holding.released_at = at
            holding = None

    for event in sorted(events, key=lambda e: (e.at, e.id)):
        if event.kind not in ev.KINDS:
            continue
        r = ev.parse(event.kind, event.details)
        if isinstance(r, ev.Queued) and facts.queued_at is None:
            facts.queued_at = event.at
        elif isinstance(r, ev.OfflineMessage) and facts.offline_at is None:
            facts.offline_at = event.at
        elif isinstance(r, ev.Assigned) and r.agent_id is not None:
            release(event.at)
            holding = Segment(agent_id=r.agent_id, assigned_at=event.at)
            facts.segments.append(holding)
            facts.assignments.append((event.at, r.agent_id))
        elif isinstance(r, ev.Accepted):
            if holding is not None and holding.agent_id == r.agent_id and holding.accepted_at is None:
                holding.accepted_at = event.at
            if facts.first_accepted_at is None:
                facts.first_accepted_at, facts.first_accepted_agent_id = event.at, r.agent_id
        elif isinstance(r, ev.Transferred):
            facts.transfers.append((event.at, r.from_agent_id))
            release(event.at)
            if r.to_agent_id is not None:
                holding = Segment(agent_id=r.to_agent_id, assigned_at=event.at)
                facts.segments.append(holding)
                facts.assignments.append((event.at, r.to_agent_id))
        elif isinstance(r, ev.Requeued):
            release(event.at)
        elif isinstance(r, ev.MessagePosted):
            author, visibility = r.author or "system", r.visibility or "public"
            agent_id = event.actor_agent_id if author == "agent" else None
            facts.messages.append(Message(event.at, author, visibility, agent_id, bool(r.canned_response_id)))
            if author == "agent" and visibility == "public" and facts.first_reply_at is None:
                facts.first_reply_at, facts.first_reply_agent_id = event.at, agent_id
        elif isinstance(r, ev.Tagged) and r.tag_id is not None:
            tags.add(r.tag_id)
        elif isinstance(r, ev.Untagged) and r.tag_id is not None:
            tags.discard(r.tag_id)
        elif isinstance(r, ev.Rated) and facts.csat is None:
            facts.csat, facts.nps, facts.ces = r.csat, r.nps, r.ces
        elif isinstance(r, ev.Ended) and facts.outcome is None:
            release(event.at)
            facts.ended_at, facts.outcome = event.at, event.kind
            facts.end_agent_id, facts.resolved = r.agent_id, r.resolved
            facts.wrapup_started_at = _parse_time(r.wrapup_started_at)
            if r.tags is not None and tag_ids_by_name is not None:
                # close_with_wrapup adds its tags without tagged events; its list is the whole set.
                tags = {tag_ids_by_name[(chat.site_id, name)] for name in r.tags
                        if (chat.site_id, name) in tag_ids_by_name}
    facts.tag_ids = frozenset(tags)
    return facts


# --- Online time ------------------------------------------------------------------------------

def online_intervals(changes: list[StatusChange], status_before: str | None, start: datetime,
                     end: datetime) -> list[tuple[datetime, datetime]]:
    """The agent's online stretches inside [start, end), from their status changes.

    status_before is the status set by the last change before `start` (None: no change yet, which
    counts as offline: online time comes only from recorded changes).
    """
    intervals: list[tuple[datetime, datetime]] = []
    online_since = start if status_before == "online" else None
    for change in sorted(changes, key=lambda c: c.at):
        if change.at < start or change.at >= end:
            continue
        if change.status == "online" and online_since is None:
            online_since = change.at
        elif change.status != "online" and online_since is not None:
            if change.at > online_since:
                intervals.append((online_since, change.at))
            online_since = None
    if online_since is not None and end > online_since:
        intervals.append((online_since, end))
    return intervals


def _overlap(a: tuple[datetime, datetime], b: tuple[datetime, datetime]) -> tuple[datetime, datetime] | None:
    start, end = max(a[0], b[0]), min(a[1], b[1])
    return (start, end) if end > start else None


def _union(intervals: list[tuple[datetime, datetime]]) -> list[tuple[datetime, datetime]]:
    merged: list[list[datetime]] = []
    for start, end in sorted(intervals):
        if merged and start <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], end)
        else:
            merged.append([start, end])
    return [(s, e) for s, e in merged]


# --- Periods ----------------------------------------------------------------------------------

@dataclass(frozen=True)
class Period:
    label: str  # the local start: 2026-11-02, 2026-11-02T13:00, 2026-W45 is given as its Monday
    start: datetime  # aware
    end: datetime


def _local_midnight(day: date, tz: ZoneInfo) -> datetime:
    return datetime.combine(day, time(0), tzinfo=tz)


def periods(first_day: date, last_day: date, granularity: str, tz: ZoneInfo) -> list[Period]:
    """The buckets covering the local days first_day..last_day (inclusive) in tz.

    Weeks start on Monday and months on the 1st; the first and last bucket are cut to the range.
    Hours are real hours (a DST day has 23 or 25 of them), labelled by their local start.
    """
    if granularity not in GRANULARITIES:
        raise ValueError(f"granularity must be one of {', '.join(GRANULARITIES)}")
    range_start, range_end = _local_midnight(first_day, tz), _local_midnight(last_day + timedelta(days=1), tz)
    if granularity == "hour":
        result, cursor = [], range_start.astimezone(ZoneInfo("UTC"))
        stop = range_end.astimezone(ZoneInfo("UTC"))
        while cursor < stop:
            local = cursor.astimezone(tz)
            result.append(Period(local.strftime("%Y-%m-%dT%H:%M%z"), cursor, cursor + timedelta(hours=1)))
            cursor += timedelta(hours=1)
        return result
    result, day = [], first_day
    while day <= last_day:
        if granularity == "day":
            next_day = day + timedelta(days=1)
        elif granularity == "week":
            next_day = day + timedelta(days=7 - day.weekday())
        else:
            next_day = (day.replace(day=1) + timedelta(days=32)).replace(day=1)
        next_day = min(next_day, last_day + timedelta(days=1))
        result.append(Period(day.isoformat(), _local_midnight(day, tz), _local_midnight(next_day, tz)))
        day = next_day
    return result


class _Bucketer:
    def __init__(self, buckets: list[Period]):
        self.buckets = buckets
        self.starts = [p.start for p in buckets]
        self.start, self.end = buckets[0].start, buckets[-1].end

    def index(self, at: datetime | None) -> int | None:
        if at is None or at < self.start or at >= self.end:
            return None
        return bisect_right(self.starts, at) - 1

    def split(self, interval: tuple[datetime, datetime]):
        """(bucket index, part of the interval inside it) for every bucket it overlaps."""
        first = self.index(max(interval[0], self.start))
        if first is None:
            return
        for i in range(first, len(self.buckets)):
            part = _overlap(interval, (self.buckets[i].start, self.buckets[i].end))
            if part is None:
                if self.buckets[i].start >= interval[1]:
                    return
                continue
            yield i, part


# --- Tallies ----------------------------------------------------------------------------------

DURATION_NAMES = ("first_response", "wait", "handle", "wrapup", "resolution")
# Survey answers are kept as samples too (each chat's score), so days merge into any range exactly.
SCORE_NAMES = ("csat", "nps", "ces")
SAMPLE_NAMES = DURATION_NAMES + SCORE_NAMES
# The first response time distribution: counts between these bounds (seconds; the last is open).
FRT_HISTOGRAM_BOUNDS = (10, 20, 30, 45, 60, 90, 120, 180, 300, 600)
INT32 = np.iinfo(np.int32)


class Samples:
    """The samples of one tally: each duration in whole milliseconds, each survey score as given.

    Integers, so sums and medians stay exact however days are merged into ranges. numpy, because
    a 30-day per-agent report merges and sorts about two million of them (bench/README.md); they
    are kept as the stored arrays and only concatenated and sorted when a metric asks (`values`).
    `to_bytes` is the stored form (DailyRollup.sample_data), little-endian: the count of each name
    in SAMPLE_NAMES order (int32), then each name's values, sorted, as int32 when all fit (under
    24.8 days), else int64; the width follows from the length. Half the bytes to read for a report.
    """

    __slots__ = ("_stored", "_added", "_sorted")

    def __init__(self):
        self._stored: list[tuple[np.ndarray, tuple[int, ...]]] = []  # (array, start offset of each name)
        self._added: dict[str, list[int]] = {}
        self._sorted: dict[str, np.ndarray] = {}

    def add(self, name: str, value: float) -> None:
        self._added.setdefault(name, []).append(round(value * 1000) if name in DURATION_NAMES else int(value))
        self._sorted.pop(name, None)

    def merge(self, other: Samples) -> None:
        self._stored.extend(other._stored)
        for name, values in other._added.items():
            self._added.setdefault(name, []).extend(values)
        self._sorted.clear()

    def values(self, name: str) -> np.ndarray:
        """The sorted values of a name (int64)."""
        if name not in self._sorted:
            i = SAMPLE_NAMES.index(name)
            parts = [array[offsets[i]:offsets[i + 1]] for array, offsets in self._stored]
            if name in self._added:
                parts.append(np.array(self._added[name], dtype=np.int64))
            values = np.concatenate(parts, dtype=np.int64) if parts else np.zeros(0, dtype=np.int64)
            # Stable is timsort here: it merges the stored days' sorted runs instead of sorting anew.
            values.sort(kind="stable")
            self._sorted[name] = values
        return self._sorted[name]

    def to_bytes(self) -> bytes:
        arrays = [self.values(name) for name in SAMPLE_NAMES]
        header = np.array([a.size for a in arrays], dtype="<i4").tobytes()
        values = np.concatenate(arrays)
        narrow = values.size == 0 or (values.min() >= INT32.min and values.max() <= INT32.max)
        return header + values.astype("<i4" if narrow else "<i8").tobytes()

    @classmethod
    def from_bytes(cls, data: bytes) -> Samples:
        samples = cls()
        if data:
            count = len(SAMPLE_NAMES)
            sizes = np.frombuffer(data, dtype="<i4", count=count).tolist()
            total, body = sum(sizes), len(data) - 4 * count
            values = np.frombuffer(data, dtype="<i8" if total and body == 8 * total else "<i4", offset=4 * count)
            samples._stored.append((values, tuple(accumulate(sizes, initial=0))))
        return samples

    def __eq__(self, other) -> bool:
        return isinstance(other, Samples) and all(
            np.array_equal(self.values(name), other.values(name)) for name in SAMPLE_NAMES)

    def __repr__(self) -> str:
        return f"Samples({ {name: self.values(name).tolist() for name in SAMPLE_NAMES} })"


@dataclass(eq=True)
class Tally:
    """Counts, sums, duration samples and survey scores of one scope in one period; additive."""

    chats: int = 0  # volume: chats queued (agent rows: chats assigned to the agent)
    offline_messages: int = 0
    ended: int = 0
    closed: int = 0
    missed: int = 0
    abandoned: int = 0  # waited at least the short-abandon threshold
    short_abandoned: int = 0
    sl_eligible: int = 0
    sl_met: int = 0
    handled_chats: int = 0  # ended chats that an agent accepted
    transferred_chats: int = 0
    public_messages: int = 0  # visitor and agent public messages of the closed chats
    agent_messages: int = 0  # agent public messages sent in the period
    canned_messages: int = 0
    fcr_eligible: int = 0
    fcr_met: int = 0
    online_seconds: float = 0.0
    busy_seconds: float = 0.0
    chat_seconds: float = 0.0
    handled_segments: int = 0
    samples: Samples = field(default_factory=Samples)

    def add_sample(self, name: str, value: float | None) -> None:
        if value is not None:
            self.samples.add(name, value)

    def merge(self, other: Tally) -> Tally:
        mine, theirs = self.__dict__, other.__dict__
        for name in COUNT_FIELDS:
            mine[name] += theirs[name]
        self.samples.merge(other.samples)
        return self

    def normalised(self) -> Tally:
        """Seconds rounded to the millisecond, so equal tallies compare equal."""
        for name in ("online_seconds", "busy_seconds", "chat_seconds"):
            setattr(self, name, round(getattr(self, name), 3))
        return self

    def metrics(self) -> dict:
        """The reported numbers; None where the denominator is zero."""
        online_hours = self.online_seconds / 3600
        return {
            "chats": self.chats,
            "offline_messages": self.offline_messages,
            "ended": self.ended,
            "closed": self.closed,
            "missed": self.missed,
            "abandoned": self.abandoned,
            "short_abandoned": self.short_abandoned,
            "abandonment_rate": ratio(self.abandoned, self.ended - self.short_abandoned),
            "missed_rate": ratio(self.missed, self.ended - self.short_abandoned),
            "service_level": ratio(self.sl_met, self.sl_eligible),
            "service_level_answered": self.sl_met,
            "service_level_eligible": self.sl_eligible,
            "first_response_seconds": summarise(self.samples.values("first_response")),
            "first_response_histogram": histogram(self.samples.values("first_response"), FRT_HISTOGRAM_BOUNDS),
            "wait_seconds": summarise(self.samples.values("wait")),
            "handle_seconds": summarise(self.samples.values("handle")),
            "wrapup_seconds": summarise(self.samples.values("wrapup")),
            "resolution_seconds": summarise(self.samples.values("resolution")),
            "messages_per_chat": ratio(self.public_messages, self.closed, digits=2),
            "agent_messages": self.agent_messages,
            "canned_messages": self.canned_messages,
            "canned_share": ratio(self.canned_messages, self.agent_messages),
            "handled_chats": self.handled_chats,
            "transferred_chats": self.transferred_chats,
            "transfer_rate": ratio(self.transferred_chats, self.handled_chats),
            "fcr_eligible": self.fcr_eligible,
            "fcr_resolved": self.fcr_met,
            "fcr_rate": ratio(self.fcr_met, self.fcr_eligible),
            "online_seconds": round(self.online_seconds, 3),
            "busy_seconds": round(self.busy_seconds, 3),
            "occupancy": ratio(self.busy_seconds, self.online_seconds),
            "average_concurrency": ratio(self.chat_seconds, self.online_seconds, digits=2),
            "chats_per_hour": ratio(self.handled_segments, online_hours, digits=2),
            **self.survey_metrics(),
        }

    def survey_metrics(self) -> dict:
        """CSAT, NPS and CES from the chats' survey answers (docs/metrics.md)."""
        csat, nps, ces = (self.samples.values(name) for name in SCORE_NAMES)
        promoters, detractors = int((nps >= 9).sum()), int((nps <= 6).sum())
        return {
            "csat_responses": csat.size,
            "csat_mean": _mean(csat, digits=2),
            "csat_satisfied_share": ratio(int((csat >= 4).sum()), csat.size),
            "survey_response_rate": ratio(csat.size, self.closed + self.missed),
            "nps_responses": nps.size,
            "nps_promoters": promoters,
            "nps_detractors": detractors,
            # The usual -100..100 score: percentage points of promoters minus detractors.
            "nps": round(100 * (promoters - detractors) / nps.size, 1) if nps.size else None,
            "ces_responses": ces.size,
            "ces_mean": _mean(ces, digits=2),
        }


# The additive number fields of a Tally (everything but the samples).
COUNT_FIELDS = tuple(f.name for f in fields(Tally) if f.name != "samples")


def ratio(numerator: float, denominator: float, digits: int = 4) -> float | None:
    return round(numerator / denominator, digits) if denominator > 0 else None


def _mean(values: np.ndarray, *, digits: int, scale: int = 1) -> float | None:
    """The exact mean of integer values (their sum is exact), divided by scale, rounded."""
    return round(int(values.sum()) / values.size / scale, digits) if values.size else None


def _nearest_rank(ordered, share: float):
    """Nearest rank: the smallest value with at least `share` of the values at or below it."""
    return ordered[max(1, math.ceil(share * len(ordered))) - 1]


def summarise(milliseconds: np.ndarray) -> dict:
    """Count, mean, median and p90 in seconds of sorted durations in milliseconds."""
    n = milliseconds.size
    if not n:
        return {"count": 0, "mean": None, "median": None, "p90": None}
    middle = (int(milliseconds[(n - 1) // 2]) + int(milliseconds[n // 2])) / 2
    return {"count": n, "mean": _mean(milliseconds, digits=3, scale=1000), "median": round(middle / 1000, 3),
            "p90": int(_nearest_rank(milliseconds, 0.9)) / 1000}


def histogram(milliseconds: np.ndarray, bounds: tuple[int, ...]) -> dict[str, int]:
    """Counts of sorted durations between bounds in seconds: {"0-10": n, "10-20": n, ..., "600+": n}."""
    below = np.searchsorted(milliseconds, np.array(bounds, dtype=np.int64) * 1000, side="left").tolist()
    counts = np.diff([0, *below, milliseconds.size]).tolist()
    labels = [f"{low}-{high}" for low, high in zip((0, *bounds), bounds)] + [f"{bounds[-1]}+"]
    return dict(zip(labels, counts))


# --- Aggregation ------------------------------------------------------------------------------

Key = tuple[int, str, int]  # (period index, scope, key)


def aggregate(
    facts: list[ChatFacts], *, buckets: list[Period], as_of: datetime,
    online: dict[int, list[tuple[datetime, datetime]]] | None = None,
    contacts: dict[int, list[tuple[datetime, int]]] | None = None,
    config: Config = DEFAULT_CONFIG, scopes: tuple[str, ...] = SCOPES,
) -> dict[Key, Tally]:
    """Count the facts into tallies per (period index, scope, key).

    online: each agent's online stretches covering the buckets (online_intervals).
    contacts: per visitor, (queued or offline-message time, conversation id) of their chats, for
    first contact resolution: every chat of the visitor from the range start to its end + window.
    as_of: the time of computation; holds still open count until then, and a chat counts for FCR
    only once its window has passed.
    """
    bucketer = _Bucketer(buckets)
    online = online or {}
    contacts = contacts or {}
    tallies: dict[Key, Tally] = {}
    wanted = set(scopes)

    def tally(i: int, scope: str, key: int | None) -> Tally:
        k = (i, scope, key if key is not None else NO_KEY)
        if k not in tallies:
            tallies[k] = Tally()
        return tallies[k]

    def chat_scopes(f: ChatFacts, i: int, agent_id: int | None = None, include_agent: bool = True):
        """The tallies a chat-level fact goes to: total, its department, its tags, and the agent."""
        out = []
        if TOTAL in wanted:
            out.append(tally(i, TOTAL, NO_KEY))
        if DEPARTMENT in wanted:
            out.append(tally(i, DEPARTMENT, f.chat.department_id))
        if TAG in wanted:
            out.extend(tally(i, TAG, tag_id) for tag_id in sorted(f.tag_ids))
        if include_agent and agent_id is not None and AGENT in wanted:
            out.append(tally(i, AGENT, agent_id))
        return out

    busy: dict[int, list[tuple[datetime, datetime]]] = {}
    for f in facts:
        # Volume: by the time the chat was queued (agent rows: by the time it was assigned to them).
        i = bucketer.index(f.queued_at)
        if i is not None:
            for t in chat_scopes(f, i, include_agent=False):
                t.chats += 1
        i = bucketer.index(f.offline_at)
        if i is not None:
            for t in chat_scopes(f, i, include_agent=False):
                t.offline_messages += 1
        if AGENT in wanted:
            counted: set[tuple[int, int]] = set()
            for at, agent_id in f.assignments:
                i = bucketer.index(at)
                if i is not None and (i, agent_id) not in counted:
                    counted.add((i, agent_id))
                    tally(i, AGENT, agent_id).chats += 1

        # Messages: by the time they were sent, to the agent who wrote them.
        for message in f.messages:
            if message.author != "agent" or message.visibility != "public":
                continue
            i = bucketer.index(message.at)
            if i is not None:
                for t in chat_scopes(f, i, message.agent_id):
                    t.agent_messages += 1
                    t.canned_messages += message.canned

        # Handling time: sliced across periods, for occupancy, concurrency and chats per hour.
        for segment in f.segments:
            if segment.accepted_at is None:
                continue
            end = segment.released_at or as_of
            if end > segment.accepted_at:
                busy.setdefault(segment.agent_id, []).append((segment.accepted_at, end))
            i = bucketer.index(segment.released_at)
            if i is not None:
                for t in _agent_and_total(tally, wanted, i, segment.agent_id):
                    t.handled_segments += 1

        # Outcomes and durations: by the time the chat ended.
        i = bucketer.index(f.ended_at)
        if i is None:
            continue
        short = f.outcome == ABANDONED and (f.queued_seconds_at_end or 0) < config.short_abandon_seconds
        for t in chat_scopes(f, i, f.end_agent_id):
            t.ended += 1
            if short:
                t.short_abandoned += 1
            else:
                setattr(t, f.outcome, getattr(t, f.outcome) + 1)
        if not short:
            # Service level: the first reply's agent, else whoever held the chat when it ended.
            met = f.first_response_seconds is not None and f.first_response_seconds <= config.service_level_seconds
            for t in chat_scopes(f, i, f.first_reply_agent_id or f.end_agent_id):
                t.sl_eligible += 1
                t.sl_met += met
        for t in chat_scopes(f, i, f.first_reply_agent_id):
            t.add_sample("first_response", f.first_response_seconds)
        for t in chat_scopes(f, i, f.first_accepted_agent_id):
            t.add_sample("wait", f.wait_seconds)
        handlers = f.handling_agent_ids
        if handlers:
            for t in chat_scopes(f, i, include_agent=False):
                t.handled_chats += 1
                t.add_sample("handle", f.handled_seconds())
                t.transferred_chats += bool(f.transfers)
            if AGENT in wanted:
                transferred_by = {agent_id for _, agent_id in f.transfers}
                for agent_id in handlers:
                    t = tally(i, AGENT, agent_id)
                    t.handled_chats += 1
                    t.add_sample("handle", f.handled_seconds(agent_id))
                    t.transferred_chats += agent_id in transferred_by
        for t in chat_scopes(f, i, f.end_agent_id):
            t.add_sample("wrapup", f.wrapup_seconds)
        if f.outcome in SURVEYED_OUTCOMES:
            # Survey answers count with the chat's end, for the agent who held it then.
            for t in chat_scopes(f, i, f.end_agent_id):
                for name in SCORE_NAMES:
                    t.add_sample(name, getattr(f, name))
        if f.outcome == CLOSED:
            for t in chat_scopes(f, i, f.end_agent_id):
                t.public_messages += f.public_messages
                if f.resolved is True:
                    t.add_sample("resolution", _seconds(f.queued_at, f.ended_at))
            if f.ended_at + config.fcr_window <= as_of:
                returned = any(f.ended_at < at <= f.ended_at + config.fcr_window and other != f.chat.id
                               for at, other in contacts.get(f.chat.visitor_id, ()))
                for t in chat_scopes(f, i, f.end_agent_id):
                    t.fcr_eligible += 1
                    t.fcr_met += f.resolved is True and not returned

    # Occupancy: online time, the part of it with at least one chat accepted, and chat-seconds.
    for agent_id in sorted(set(online) | set(busy)):
        # Nothing counts past the time of computation (an agent still online is online until now).
        stretches = [(s, min(e, as_of)) for s, e in online.get(agent_id, []) if min(e, as_of) > s]
        held = busy.get(agent_id, [])
        for stretch in stretches:
            for i, part in bucketer.split(stretch):
                for t in _agent_and_total(tally, wanted, i, agent_id):
                    t.online_seconds += (part[1] - part[0]).total_seconds()
        for stretch in stretches:
            for interval in held:
                inside = _overlap(stretch, interval)
                if inside:
                    for i, part in bucketer.split(inside):
                        for t in _agent_and_total(tally, wanted, i, agent_id):
                            t.chat_seconds += (part[1] - part[0]).total_seconds()
            for interval in _union(held):
                inside = _overlap(stretch, interval)
                if inside:
                    for i, part in bucketer.split(inside):
                        for t in _agent_and_total(tally, wanted, i, agent_id):
                            t.busy_seconds += (part[1] - part[0]).total_seconds()

    return {key: t.normalised() for key, t in tallies.items()}


def _agent_and_total(tally, wanted, i: int, agent_id: int) -> list[Tally]:
    out = []
    if TOTAL in wanted:
        out.append(tally(i, TOTAL, NO_KEY))
    if AGENT in wanted:
        out.append(tally(i, AGENT, agent_id))
    return out


def filter_facts(facts: list[ChatFacts], *, site_id: int | None = None, department_id: int | None = None,
                 tag_id: int | None = None) -> list[ChatFacts]:
    """The chats of one site, department or tag (combined: all of them)."""
    return [f for f in facts
            if (site_id is None or f.chat.site_id == site_id)
            and (department_id is None or f.chat.department_id == department_id)
            and (tag_id is None or tag_id in f.tag_ids)]
