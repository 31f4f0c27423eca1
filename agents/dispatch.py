"""Routing passes: snapshot the queue and the agents, let agents.routing choose, assign through the lifecycle.

A pass runs whenever a slot or a queue place may have opened (lifecycle and presence call it after
commit) and from the beat sweep as a safety net. It reads a constant number of queries however
many agents or chats there are, then makes one lifecycle.assign_conversation call per decision.

Concurrency: passes in several processes may pick the same agent or chat from their snapshots.
The cap and the single owner are guaranteed by assign_conversation (agent row lock, then
conversation row lock, status check), not here: a pass that loses a race gets AgentAtCapacity,
AgentUnavailable or IllegalTransition, takes a fresh snapshot and tries again, a bounded number of
times. Anything left over is picked up by the next pass or the sweep.
"""

import logging
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.db import transaction
from django.db.models import Count, Max, OuterRef, Q, Subquery
from django.utils import timezone

from agents import offers, routing
from agents.models import Agent, AgentSkill, Department, RoutingEvent
from conversations import lifecycle
from conversations.models import Conversation, ConversationEvent
from conversations.publish import visitor_group

log = logging.getLogger(__name__)

Status = Conversation.Status
ACTIVE_STATUSES = (Status.ASSIGNED, Status.ACTIVE)
MAX_ROUNDS = 5
HANDLE_SAMPLES = 200  # the most recent closed chats of a site that the wait estimate averages over
RACES = (lifecycle.AgentAtCapacity, lifecycle.AgentUnavailable, lifecycle.IllegalTransition)


@dataclass
class Waiting:
    """A queued chat as a routing pass sees it: the pure snapshot plus where to tell the visitor."""

    chat: routing.ChatSnapshot
    visitor_id: int
    public_id: str
    recorded_stage: int = 0


@dataclass
class Snapshot:
    now: datetime
    queue: list[Waiting]
    agents: list[routing.AgentSnapshot]
    policies: dict[int | None, routing.Policy]
    handle_seconds: dict[int | None, float] = field(default_factory=dict)


@dataclass
class PassResult:
    assigned: list[int] = field(default_factory=list)  # conversation ids, in order
    moved_keys: list[tuple] = field(default_factory=list)  # queue places the assigned chats left
    widened: int = 0
    notified: int = 0
    rounds: int = 0


def snapshot(site_id: int, now: datetime | None = None) -> Snapshot:
    """The site's queue and every online agent, in seven queries whatever their numbers."""
    now = now or timezone.now()
    rows = list(
        Conversation.objects.filter(site_id=site_id, status=Status.QUEUED)
        .values_list("id", "priority", "queued_at", "department_id", "visitor_id", "public_id")
    )
    skills_of = defaultdict(set)
    for conversation_id, skill_id in Conversation.required_skills.through.objects.filter(
        conversation__site_id=site_id, conversation__status=Status.QUEUED
    ).values_list("conversation_id", "skill_id"):
        skills_of[conversation_id].add(skill_id)
    # Agents who let an offer of a waiting chat expire (lifecycle.expire_offer): routing prefers others.
    passed_over = defaultdict(set)
    for conversation_id, agent_id in ConversationEvent.objects.filter(
        conversation__site_id=site_id, conversation__status=Status.QUEUED, kind=ConversationEvent.Kind.REQUEUED,
        details__reason="offer_timeout",
    ).values_list("conversation_id", "details__from_agent_id"):
        passed_over[conversation_id].add(agent_id)
    recorded = dict(
        RoutingEvent.objects.filter(
            kind=RoutingEvent.Kind.WIDENED, conversation__site_id=site_id, conversation__status=Status.QUEUED,
        ).values("conversation_id").annotate(stage=Max("stage")).values_list("conversation_id", "stage")
    )
    queue = [
        Waiting(
            chat=routing.ChatSnapshot(id=pk, queued_at=queued_at or now, priority=priority,
                                      required_skills=frozenset(skills_of[pk]), department_id=department_id,
                                      passed_over=frozenset(passed_over[pk])),
            visitor_id=visitor_id, public_id=str(public_id), recorded_stage=recorded.get(pk, 0),
        )
        for pk, priority, queued_at, department_id, visitor_id, public_id in rows
    ]
    queue.sort(key=lambda w: w.chat.order_key)
    return Snapshot(now=now, queue=queue, agents=online_agents(), policies=policies())


def online_agents() -> list[routing.AgentSnapshot]:
    """Every online agent with their active chats, skills and departments (three queries)."""
    rows = Agent.objects.filter(status=Agent.Status.ONLINE).annotate(
        active_chats=Count("conversations", filter=Q(conversations__status__in=ACTIVE_STATUSES))
    ).values_list("id", "display_name", "max_concurrent_chats", "active_chats", "last_assigned_at", "status_changed_at")
    skills = defaultdict(dict)
    for agent_id, skill_id, level in AgentSkill.objects.filter(agent__status=Agent.Status.ONLINE).values_list(
        "agent_id", "skill_id", "proficiency"
    ):
        skills[agent_id][skill_id] = level
    departments = defaultdict(set)
    for agent_id, department_id in Agent.departments.through.objects.filter(
        agent__status=Agent.Status.ONLINE
    ).values_list("agent_id", "department_id"):
        departments[agent_id].add(department_id)
    return [
        routing.AgentSnapshot(id=pk, name=name, cap=cap, active=active, skills=skills[pk],
                              departments=frozenset(departments[pk]), last_assigned_at=last_assigned_at,
                              online_since=online_since)
        for pk, name, cap, active, last_assigned_at, online_since in rows
    ]


def policies() -> dict[int | None, routing.Policy]:
    result = {None: routing.Policy()}
    for department in Department.objects.all():
        result[department.pk] = routing.Policy(
            department_id=department.pk, strategy=department.strategy, min_proficiency=department.min_proficiency,
            lower_proficiency_after=department.lower_proficiency_after_seconds,
            any_agent_after=department.any_agent_after_seconds,
            fallback_after=department.fallback_after_seconds,
            fallback_department_id=department.fallback_department_id,
            offer_timeout=offers.offer_timeout_of(department),
        )
    return result


def handle_times(site_id: int) -> dict[int | None, float]:
    """Mean slot occupancy (assignment to close) of recent chats, per department and site-wide (None).

    One query over the site's latest closed chats; the newest assignment event of each gives its start.
    """
    assigned_at = ConversationEvent.objects.filter(
        conversation=OuterRef("pk"), kind=ConversationEvent.Kind.ASSIGNED
    ).order_by("-id").values("at")[:1]
    rows = (
        Conversation.objects.filter(site_id=site_id, status__in=(Status.CLOSED, Status.MISSED), closed_at__isnull=False)
        .order_by("-closed_at").annotate(assigned_at=Subquery(assigned_at))
        .values_list("department_id", "assigned_at", "closed_at")[:HANDLE_SAMPLES]
    )
    samples = defaultdict(list)
    for department_id, start, end in rows:
        if start is not None and end >= start:
            seconds = (end - start).total_seconds()
            samples[None].append(seconds)
            if department_id is not None:
                samples[department_id].append(seconds)
    site_wide = routing.handle_time(samples[None])
    result = {None: site_wide}
    for department_id, values in samples.items():
        if department_id is not None and len(values) >= routing.MIN_HANDLE_SAMPLES:
            result[department_id] = routing.handle_time(values)
    return result


def route_waiting(site_id: int, *, trigger_id: int | None = None, refresh_all: bool = False) -> PassResult:
    """Assign every waiting chat of the site that has a matching free slot, then update the waiting visitors.

    trigger_id: the conversation whose change caused this pass; if it is waiting, its visitor learns
    their position and estimate, and that estimate is recorded. refresh_all: tell every waiting
    visitor, not only those whose place moved (capacity changes and the sweep).
    """
    result = PassResult()
    snap = None
    for result.rounds in range(1, MAX_ROUNDS + 1):
        snap = snapshot(site_id)
        result.widened += _record_widenings(snap)
        if not _execute(snap, result):
            break
    else:
        log.warning("routing pass for site %s stopped after %s rounds of races", site_id, MAX_ROUNDS)
        snap = snapshot(site_id)
    _notify(site_id, snap, result, trigger_id=trigger_id, refresh_all=refresh_all)
    return result


def route_all_sites(*, refresh_all: bool = False) -> int:
    """A pass for every site with waiting chats; returns how many chats were assigned."""
    site_ids = Conversation.objects.filter(status=Status.QUEUED).values_list("site_id", flat=True).distinct()
    return sum(len(route_waiting(site_id, refresh_all=refresh_all).assigned) for site_id in list(site_ids))


def _execute(snap: Snapshot, result: PassResult) -> bool:
    """Carry out the plan for this snapshot; True if a race made the snapshot stale."""
    if not any(agent.free > 0 for agent in snap.agents) or not snap.queue:
        return False
    decisions = routing.plan([w.chat for w in snap.queue], snap.agents, snap.policies, snap.now)
    keys = {w.chat.id: w.chat.order_key for w in snap.queue}
    chat_departments = {w.chat.id: w.chat.department_id for w in snap.queue}
    for decision in decisions:
        policy = snap.policies.get(chat_departments[decision.chat_id]) or routing.Policy()
        try:
            offers.hand_over(
                conversation_id=decision.chat_id, agent_id=decision.agent_id,
                actor=lifecycle.Actor.system(), reason=decision.reason, offer_timeout=policy.offer_timeout,
            )
        except RACES as error:
            log.info("routing race on conversation %s: %s; taking a new snapshot", decision.chat_id, error)
            return True
        result.assigned.append(decision.chat_id)
        result.moved_keys.append(keys[decision.chat_id])
    return False


def _record_widenings(snap: Snapshot) -> int:
    """One RoutingEvent for every stage a waiting chat has newly reached (the unique constraint keeps it once)."""
    events = []
    for waiting in snap.queue:
        chat = waiting.chat
        policy = snap.policies.get(chat.department_id) or routing.Policy()
        stage = routing.stage_for(chat, policy, snap.now)
        if stage <= waiting.recorded_stage:
            continue
        waited = round((snap.now - chat.queued_at).total_seconds(), 3)
        for reached, after in policy.stage_thresholds():
            if waiting.recorded_stage < reached <= stage:
                events.append(RoutingEvent(
                    conversation_id=chat.id, kind=RoutingEvent.Kind.WIDENED, at=snap.now, stage=reached,
                    details={"stage": reached.label, "after_seconds": after, "waited_seconds": waited},
                ))
        waiting.recorded_stage = stage
    if events:
        RoutingEvent.objects.bulk_create(events, ignore_conflicts=True)
    return len(events)


def _notify(site_id: int, snap: Snapshot, result: PassResult, *, trigger_id: int | None, refresh_all: bool) -> None:
    """Send a queue frame to each waiting visitor whose place may have moved, after commit."""
    assigned = set(result.assigned)
    remaining = [w for w in snap.queue if w.chat.id not in assigned]
    if not remaining:
        return
    if refresh_all:
        first = 0
    else:
        moved = result.moved_keys + _trigger_keys(trigger_id, snap)
        if not moved:
            return
        start = min(moved)
        first = next((i for i, w in enumerate(remaining) if w.chat.order_key >= start), len(remaining))
        if first == len(remaining):
            return
    estimator = _Estimator(snap, handle_times(site_id))
    frames, estimates = [], []
    for position, waiting in enumerate(remaining[first:], start=first + 1):
        frame, details = estimator.frame(waiting, position)
        frames.append((visitor_group(waiting.visitor_id), frame))
        if waiting.chat.id == trigger_id:
            estimates.append(RoutingEvent(conversation_id=waiting.chat.id, kind=RoutingEvent.Kind.ESTIMATE,
                                          at=snap.now, details=details))
    if estimates:
        RoutingEvent.objects.bulk_create(estimates)
    result.notified = len(frames)
    _publish_frames(frames)


class _Estimator:
    """Queue frames for waiting chats of one snapshot; matching capacity is computed once per kind of chat."""

    def __init__(self, snap: Snapshot, handle: dict[int | None, float]):
        self.snap, self.handle, self.capacity_of = snap, handle, {}

    def frame(self, waiting: Waiting, position: int) -> tuple[dict, dict]:
        chat, now = waiting.chat, self.snap.now
        policy = self.snap.policies.get(chat.department_id) or routing.Policy()
        key = (chat.department_id, chat.required_skills, routing.stage_for(chat, policy, now))
        if key not in self.capacity_of:
            self.capacity_of[key] = routing.matching_capacity(chat, self.snap.agents, policy, now)
        handle_seconds = self.handle.get(chat.department_id, self.handle[None])
        estimate = routing.estimate_wait(position=position, capacity=self.capacity_of[key],
                                         handle_seconds=handle_seconds)
        frame = {"type": "queue", "conversation_id": waiting.public_id, "position": position,
                 "estimated_wait_seconds": estimate}
        details = {"position": position, "estimated_wait_seconds": estimate,
                   "matching_capacity": self.capacity_of[key], "handle_seconds": round(handle_seconds, 1)}
        return frame, details


def queue_frame(conversation: Conversation) -> dict | None:
    """Where a waiting chat stands now (position and estimate), for a visitor who reconnects; None if not waiting."""
    if conversation.status != Status.QUEUED:
        return None
    snap = snapshot(conversation.site_id)
    for position, waiting in enumerate(snap.queue, start=1):
        if waiting.chat.id == conversation.pk:
            return _Estimator(snap, handle_times(conversation.site_id)).frame(waiting, position)[0]
    return None


def _trigger_keys(trigger_id: int | None, snap: Snapshot) -> list[tuple]:
    """The queue place the triggering chat took (arrival, requeue) or left (abandoned), if any."""
    if trigger_id is None:
        return []
    for waiting in snap.queue:
        if waiting.chat.id == trigger_id:
            return [waiting.chat.order_key]
    row = Conversation.objects.filter(pk=trigger_id, status=Status.ABANDONED).values_list(
        "priority", "queued_at").first()
    if row is None or row[1] is None:
        return []
    return [(-row[0], row[1], trigger_id)]


def _publish_frames(frames: list[tuple[str, dict]]) -> None:
    """Send many frames in one trip to the event loop, once the surrounding transaction (if any) commits."""
    if not frames:
        return

    async def send_all() -> None:
        layer = get_channel_layer()
        for group, frame in frames:
            await layer.group_send(group, {"type": "conv.frame", "frame": frame})

    transaction.on_commit(lambda: async_to_sync(send_all)(), robust=True)
