"""Conversion rate and visitor engagement (docs/metrics.md), per local day.

Pure counting first (no database), then the reads that feed it (`load_conversion`,
`load_engagement`: a constant number of queries whatever the range).

* Conversion: a chat that ended `closed` (the lifecycle closes a chat as `closed` only when an
  agent wrote a public message; otherwise it is `missed` or `abandoned`) converted when the same
  visitor reached a goal from the moment the chat was queued until 7 days after it ended. It counts
  on the day it ended, once its window has passed, like first contact resolution.
* Engagement: of the visitors whose widget connected (a WidgetLoad row, one per greeted socket) on
  a day, the share who started a chat (a `queued` event) that day.
"""

from __future__ import annotations

from bisect import bisect_right
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

from conversations import events
from metrics import compute

CONVERSION_WINDOW = timedelta(days=7)


@dataclass(frozen=True)
class ClosedChat:
    conversation_id: int
    visitor_id: int
    queued_at: datetime
    ended_at: datetime
    agent_id: int | None  # who held the chat when it closed


@dataclass(frozen=True)
class Goal:
    visitor_id: int
    at: datetime
    name: str
    value: Decimal | None = None


@dataclass
class ConversionTally:
    closed_chats: int = 0  # closed in the period
    eligible: int = 0  # of those, whose window has passed
    converted: int = 0
    pending: int = 0  # window still open: not counted yet
    converted_value: Decimal = Decimal("0")  # the first goal's value of each converted chat

    def merge(self, other: ConversionTally) -> ConversionTally:
        self.closed_chats += other.closed_chats
        self.eligible += other.eligible
        self.converted += other.converted
        self.pending += other.pending
        self.converted_value += other.converted_value
        return self

    def metrics(self) -> dict:
        return {"closed_chats": self.closed_chats, "conversion_eligible": self.eligible,
                "converted_chats": self.converted, "conversion_pending": self.pending,
                "conversion_rate": compute.ratio(self.converted, self.eligible),
                "converted_value": f"{self.converted_value:.2f}"}


def _index(starts: list[datetime], end: datetime, at: datetime) -> int | None:
    if not starts or at < starts[0] or at >= end:
        return None
    return bisect_right(starts, at) - 1


def conversion(chats: list[ClosedChat], goals: list[Goal], *, buckets: list[compute.Period], as_of: datetime,
               window: timedelta = CONVERSION_WINDOW, goal_name: str | None = None) -> list[ConversionTally]:
    """One tally per bucket, from the chats that closed in it."""
    starts, end = [b.start for b in buckets], buckets[-1].end
    by_visitor: dict[int, list[Goal]] = defaultdict(list)
    for goal in sorted(goals, key=lambda g: g.at):
        if goal_name is None or goal.name == goal_name:
            by_visitor[goal.visitor_id].append(goal)
    tallies = [ConversionTally() for _ in buckets]
    for chat in chats:
        i = _index(starts, end, chat.ended_at)
        if i is None:
            continue
        t = tallies[i]
        t.closed_chats += 1
        if chat.ended_at + window > as_of:
            t.pending += 1
            continue
        t.eligible += 1
        first = next((g for g in by_visitor.get(chat.visitor_id, ())
                      if chat.queued_at <= g.at <= chat.ended_at + window), None)
        if first is not None:
            t.converted += 1
            t.converted_value += first.value or Decimal("0")
    return tallies


@dataclass
class EngagementTally:
    widget_loads: int = 0  # greeted sockets with new_visit: browser sessions whose widget connected
    chats: int = 0  # chats queued
    visitors: set[int] = field(default_factory=set)  # visitors whose widget connected
    engaged: set[int] = field(default_factory=set)  # of those, visitors who started a chat

    def metrics(self) -> dict:
        return {"visitors": len(self.visitors), "engaged_visitors": len(self.engaged),
                "engagement": compute.ratio(len(self.engaged), len(self.visitors)),
                "widget_loads": self.widget_loads, "chats": self.chats,
                "chats_per_load": compute.ratio(self.chats, self.widget_loads)}


def engagement(loads: list[tuple[int, datetime, bool]], starts: list[tuple[int, datetime]], *,
               buckets: list[compute.Period]) -> tuple[list[EngagementTally], EngagementTally]:
    """Per bucket and over the whole range (where a visitor counts once however many days).

    loads: (visitor, at, new_visit) of each greeted socket; starts: (visitor, queued at) of each chat.
    A visitor is engaged in a period when they both connected and started a chat in it.
    """
    bucket_starts, end = [b.start for b in buckets], buckets[-1].end
    tallies = [EngagementTally() for _ in buckets]
    total = EngagementTally()
    for visitor_id, at, new_visit in loads:
        i = _index(bucket_starts, end, at)
        if i is not None:
            for t in (tallies[i], total):
                t.visitors.add(visitor_id)
                t.widget_loads += bool(new_visit)
    started: list[set[int]] = [set() for _ in buckets]
    for visitor_id, at in starts:
        i = _index(bucket_starts, end, at)
        if i is not None:
            tallies[i].chats += 1
            total.chats += 1
            started[i].add(visitor_id)
    for t, visitors in zip(tallies, started):
        t.engaged = t.visitors & visitors
        total.engaged |= t.engaged
    return tallies, total


def ratio_rows(buckets: list[compute.Period], tallies: list) -> list[dict]:
    return [{"period": b.label, "start": b.start.isoformat(), "end": b.end.isoformat(), **t.metrics()}
            for b, t in zip(buckets, tallies)]


# --- Reads --------------------------------------------------------------------------------------

def day_buckets(first_day: date, last_day: date, tz: ZoneInfo) -> list[compute.Period]:
    return compute.periods(first_day, last_day, "day", tz)


def load_conversion(start: datetime, end: datetime, *, site_id: int | None = None, agent_id: int | None = None,
                    window: timedelta = CONVERSION_WINDOW) -> tuple[list[ClosedChat], list[Goal]]:
    """Chats closed in [start, end) and their visitors' goals up to end + window. Three queries."""
    from conversations.models import ConversationEvent
    from metrics.models import VisitorGoal

    closes = ConversationEvent.objects.filter(kind=compute.CLOSED, at__gte=start, at__lt=end)
    if site_id is not None:
        closes = closes.filter(conversation__site_id=site_id)
    rows = [(pk, visitor_id, at, events.parse(compute.CLOSED, details).agent_id) for pk, visitor_id, at, details in
            closes.values_list("conversation_id", "conversation__visitor_id", "at", "details")]
    if agent_id is not None:
        rows = [row for row in rows if row[3] == agent_id]
    ids = {row[0] for row in rows}
    queued: dict[int, datetime] = {}
    for conversation_id, at in ConversationEvent.objects.filter(
            kind=compute.QUEUED, conversation_id__in=ids).order_by("at", "id").values_list("conversation_id", "at"):
        queued.setdefault(conversation_id, at)
    chats = [ClosedChat(pk, visitor_id, queued.get(pk, at), at, agent) for pk, visitor_id, at, agent in rows]
    earliest = min((c.queued_at for c in chats), default=start)
    goals = [Goal(visitor_id, at, name, value) for visitor_id, at, name, value in VisitorGoal.objects.filter(
        visitor_id__in={c.visitor_id for c in chats}, at__gte=earliest, at__lte=end + window,
    ).values_list("visitor_id", "at", "name", "value")]
    return chats, goals


def load_engagement(start: datetime, end: datetime, *, site_id: int | None = None,
                    ) -> tuple[list[tuple[int, datetime, bool]], list[tuple[int, datetime]]]:
    """Widget loads and chat starts in [start, end). Two queries."""
    from conversations.models import ConversationEvent
    from metrics.models import WidgetLoad

    loads = WidgetLoad.objects.filter(at__gte=start, at__lt=end)
    starts = ConversationEvent.objects.filter(kind=compute.QUEUED, at__gte=start, at__lt=end)
    if site_id is not None:
        loads = loads.filter(site_id=site_id)
        starts = starts.filter(conversation__site_id=site_id)
    return (list(loads.values_list("visitor_id", "at", "new_visit")),
            list(starts.values_list("conversation__visitor_id", "at")))
