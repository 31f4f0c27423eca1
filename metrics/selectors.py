"""Reads for metrics: the event rows of a time range, in a constant number of queries.

`load` gathers everything metrics/compute.py needs for [start, end): a few queries, and three
more per ID_CHUNK chats (the chats, their events, their visitors' other chats), each an index
lookup by id. `compute` turns a request (local days, granularity, time zone,
filters) into tallies; the REST API and the daily rollup both call it, so they cannot disagree.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from django.db import connection
from django.db.models import OuterRef, Subquery
from django.utils import timezone

from agents.models import Agent, AgentStatusEvent
from conversations.models import Conversation, ConversationEvent, Tag
from metrics import compute

# A chat queued this long before the range start and still open counts (its handling time) even
# when nothing happens to it inside the range; older silent chats are not looked for.
OPEN_CHAT_LOOKBACK = timedelta(days=7)
# The events metrics replay; seen markers and page views are left in the database.
REPLAYED_KINDS = (
    compute.QUEUED, compute.ASSIGNED, compute.ACCEPTED, compute.MESSAGE, compute.TRANSFERRED, compute.REQUEUED,
    compute.TAGGED, compute.UNTAGGED, compute.OFFLINE_MESSAGE, *compute.END_KINDS, compute.RATED,
)
# Chats per IN (...) list when loading a range.
ID_CHUNK = 5000


@dataclass
class Dataset:
    facts: list[compute.ChatFacts]
    online: dict[int, list[tuple[datetime, datetime]]]
    contacts: dict[int, list[tuple[datetime, int]]]


def _conversation_ids(start: datetime, end: datetime) -> list[int]:
    """Chats with a replayed event in the range, or queued before it and not ended before it.

    Two index range scans ((kind, at)), joined here: one query that ORed the two sets made
    PostgreSQL scan every event (bench/README.md).
    """
    in_range = ConversationEvent.objects.filter(kind__in=REPLAYED_KINDS, at__gte=start, at__lt=end)
    since = start - OPEN_CHAT_LOOKBACK
    queued_before = ConversationEvent.objects.filter(kind=compute.QUEUED, at__gte=since, at__lt=start)
    ended_before = ConversationEvent.objects.filter(kind__in=compute.END_KINDS, at__gte=since, at__lt=start)
    ids = set(in_range.values_list("conversation_id", flat=True).distinct())
    ids |= set(queued_before.values_list("conversation_id", flat=True)) - set(
        ended_before.values_list("conversation_id", flat=True))
    return sorted(ids)


def _chunks(ids: list[int]) -> list[list[int]]:
    """Ids in lists short enough for one IN (...) on every database (SQLite limits parameters)."""
    size = min(connection.features.max_query_params or ID_CHUNK, ID_CHUNK)
    return [ids[i:i + size] for i in range(0, len(ids), size)]


def load(start: datetime, end: datetime, *, config: compute.Config = compute.DEFAULT_CONFIG) -> Dataset:
    """Every fact needed for [start, end) (aware datetimes).

    Six queries (three find the chats), and three more per ID_CHUNK chats.
    """
    ids = _conversation_ids(start, end)
    chats: dict[int, compute.Chat] = {}
    events: dict[int, list[compute.Event]] = defaultdict(list)
    contacts: dict[int, list[tuple[datetime, int]]] = defaultdict(list)
    for chunk in _chunks(ids):
        for pk, site_id, visitor_id, department_id in Conversation.objects.filter(pk__in=chunk).values_list(
                "pk", "site_id", "visitor_id", "department_id"):
            chats[pk] = compute.Chat(id=pk, site_id=site_id, visitor_id=visitor_id, department_id=department_id)
        for pk, conversation_id, kind, at, agent_id, details in ConversationEvent.objects.filter(
                conversation_id__in=chunk, kind__in=REPLAYED_KINDS,
        ).values_list("pk", "conversation_id", "kind", "at", "actor_agent_id", "details"):
            events[conversation_id].append(compute.Event(conversation_id, kind, at, agent_id, details or {}, pk))
        # First contact resolution: the visitors' chats up to a window after the range.
        visitors = sorted({chats[pk].visitor_id for pk in chunk if pk in chats})
        for visitor_id, at, conversation_id in ConversationEvent.objects.filter(
                kind__in=(compute.QUEUED, compute.OFFLINE_MESSAGE), at__gt=start, at__lte=end + config.fcr_window,
                conversation__visitor_id__in=visitors,
        ).values_list("conversation__visitor_id", "at", "conversation_id"):
            contacts[visitor_id].append((at, conversation_id))
    for found in contacts.values():
        found[:] = sorted(set(found))  # a visitor of two chunks was looked up twice
    tag_ids = {(site_id, name): pk for pk, site_id, name in Tag.objects.values_list("pk", "site_id", "name")}
    facts = [compute.chat_facts(chats[pk], events.get(pk, []), tag_ids) for pk in sorted(chats)]

    changes: dict[int, list[compute.StatusChange]] = defaultdict(list)
    for agent_id, at, status in AgentStatusEvent.objects.filter(
        kind=AgentStatusEvent.Kind.STATUS, at__gte=start, at__lt=end,
    ).values_list("agent_id", "at", "status"):
        changes[agent_id].append(compute.StatusChange(agent_id, at, status))
    last_before = AgentStatusEvent.objects.filter(
        agent=OuterRef("pk"), kind=AgentStatusEvent.Kind.STATUS, at__lt=start).order_by("-at", "-id")
    online = {}
    for agent_id, status_before in Agent.objects.annotate(
        status_before=Subquery(last_before.values("status")[:1])
    ).values_list("pk", "status_before"):
        stretches = compute.online_intervals(changes.get(agent_id, []), status_before, start, end)
        if stretches:
            online[agent_id] = stretches
    return Dataset(facts=facts, online=online, contacts=dict(contacts))


@dataclass(frozen=True)
class Query:
    first_day: date
    last_day: date
    granularity: str = "day"
    tz: ZoneInfo = ZoneInfo("UTC")
    site_id: int | None = None
    department_id: int | None = None
    tag_id: int | None = None


def compute_tallies(query: Query, *, as_of: datetime | None = None, scopes: tuple[str, ...] = compute.SCOPES,
                    config: compute.Config = compute.DEFAULT_CONFIG,
                    ) -> tuple[list[compute.Period], dict[compute.Key, compute.Tally]]:
    """The periods of the query and the tallies per (period index, scope, key)."""
    buckets = compute.periods(query.first_day, query.last_day, query.granularity, query.tz)
    data = load(buckets[0].start, buckets[-1].end, config=config)
    facts = compute.filter_facts(data.facts, site_id=query.site_id, department_id=query.department_id,
                                 tag_id=query.tag_id)
    tallies = compute.aggregate(facts, buckets=buckets, as_of=as_of or timezone.now(), online=data.online,
                                contacts=data.contacts, config=config, scopes=scopes)
    return buckets, tallies


def combine(tallies: dict[compute.Key, compute.Tally], scope: str) -> dict[int, compute.Tally]:
    """One tally per key of a scope over all periods."""
    out: dict[int, compute.Tally] = {}
    for (_, s, key), tally in sorted(tallies.items()):
        if s == scope:
            out.setdefault(key, compute.Tally()).merge(tally)
    return {key: t.normalised() for key, t in out.items()}
