"""Routing passes: find free slots, read just enough of the queue, let routing.decisions choose, assign
through the lifecycle; then tell waiting visitors where they stand.

A pass runs whenever a slot or a queue place may have opened (subscribed to the lifecycle's and
presence's changes, after commit: routing/subscribers.py) and from the beat sweep as a safety
net. Its cost does not grow with the queue:

* It first asks whether any online agent has a free slot (one query). If nobody has, nothing can
  be assigned and the queue is not read.
* Otherwise it reads the online agents and the waiting chats that the free agents could possibly
  take (decisions.Reach), in queue order, BATCH at a time, and plans batch by batch until the free
  slots are used up or the queue ends. Then one lifecycle.assign_conversation call per decision.
* A waiting chat that triggered the pass (an arrival, a requeue) is told its own position (a COUNT
  over the chats ahead of it) and estimate at once. Everyone else whose place moved is told by a
  position broadcast, at most one per site per POSITIONS_INTERVAL_MS (request_positions).

The beat sweep runs full passes: the whole queue (widening recorded for every chat) and a
broadcast to every waiting visitor.

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

import redis
from celery import shared_task
from django.db.models import Count, Exists, F, Max, OuterRef, Q, Subquery
from django.utils import timezone

from agents.models import Agent, AgentSkill, Department, RoutingEvent
from conversations import lifecycle
from conversations.models import Conversation, ConversationEvent
from conversations.publish import publish_frames_on_commit, visitor_group
from realtime import redis_keys
from routing import decisions, offers

log = logging.getLogger(__name__)

Status = Conversation.Status
MAX_ROUNDS = 5
BATCH = 50  # waiting chats read per query while a pass plans
HANDLE_SAMPLES = 200  # the most recent closed chats of a site that the wait estimate averages over
POSITIONS_INTERVAL_MS = 1000  # at most one position broadcast per site this often
POSITIONS_PENDING_MS = 5000  # a deferred broadcast is scheduled once per site within this time
RACES = (lifecycle.AgentAtCapacity, lifecycle.AgentUnavailable, lifecycle.IllegalTransition)
QUEUE_ORDER = ("-priority", "queued_at", "id")  # served by the conv_queue_order index


@dataclass
class Waiting:
    """A queued chat as a routing pass sees it: the pure snapshot plus where to tell the visitor."""

    chat: decisions.ChatSnapshot
    visitor_id: int
    public_id: str
    recorded_stage: int = 0


@dataclass
class Snapshot:
    now: datetime
    queue: list[Waiting]  # the whole queue if complete, else the chats a pass has read so far
    agents: list[decisions.AgentSnapshot]
    policies: dict[int | None, decisions.Policy]
    complete: bool = True


@dataclass
class PassResult:
    assigned: list[int] = field(default_factory=list)  # conversation ids, in order
    moved_keys: list[tuple] = field(default_factory=list)  # queue places the assigned chats left
    widened: int = 0
    notified: int = 0  # queue frames this pass sent itself (its own broadcast included)
    rounds: int = 0
    read: int = 0  # waiting chats the pass read to plan (the whole queue only in the sweep's full passes)


def has_free_slot() -> bool:
    """Whether any online agent has fewer open chats than their cap: one query, no rows."""
    return Agent.objects.filter(status=Agent.Status.ONLINE, max_concurrent_chats__gt=0).annotate(
        active_chats=Count("conversations", filter=Q(conversations__status__in=Conversation.ACTIVE_STATUSES))
    ).filter(active_chats__lt=F("max_concurrent_chats")).exists()


def snapshot(site_id: int, now: datetime | None = None, *, full: bool = True) -> Snapshot:
    """Online agents and policies, plus (full) the site's whole queue, in eight queries whatever their numbers.

    Without full the queue is left empty: plan_pass reads it batch by batch as it plans.
    """
    now = now or timezone.now()
    queue = []
    if full:
        queue = _waiting(_queued(site_id), now, scope=Q(conversation__site_id=site_id,
                                                        conversation__status=Status.QUEUED))
        queue.sort(key=lambda w: w.chat.order_key)
    return Snapshot(now=now, queue=queue, agents=online_agents(), policies=policies(), complete=full)


def _queued(site_id: int):
    return Conversation.objects.filter(site_id=site_id, status=Status.QUEUED)


def _waiting(rows, now: datetime, *, scope: Q | None = None) -> list[Waiting]:
    """Waiting chats for these rows with their skills, passed-over agents and recorded widening (four queries).

    scope selects the same conversations in the related tables; by default, by their ids (a batch).
    """
    rows = list(rows.values_list("id", "priority", "queued_at", "department_id", "visitor_id", "public_id"))
    if not rows:
        return []
    if scope is None:
        scope = Q(conversation_id__in=[row[0] for row in rows])
    skills_of = defaultdict(set)
    for conversation_id, skill_id in Conversation.required_skills.through.objects.filter(scope).values_list(
            "conversation_id", "skill_id"):
        skills_of[conversation_id].add(skill_id)
    # Agents who let an offer of a waiting chat expire (lifecycle.expire_offer): routing prefers others.
    passed_over = defaultdict(set)
    for conversation_id, agent_id in ConversationEvent.objects.filter(
        scope, kind=ConversationEvent.Kind.REQUEUED, details__reason="offer_timeout",
    ).values_list("conversation_id", "details__from_agent_id"):
        passed_over[conversation_id].add(agent_id)
    recorded = dict(
        RoutingEvent.objects.filter(scope, kind=RoutingEvent.Kind.WIDENED)
        .values("conversation_id").annotate(stage=Max("stage")).values_list("conversation_id", "stage")
    )
    return [
        Waiting(
            chat=decisions.ChatSnapshot(id=pk, queued_at=queued_at or now, priority=priority,
                                      required_skills=frozenset(skills_of[pk]), department_id=department_id,
                                      passed_over=frozenset(passed_over[pk])),
            visitor_id=visitor_id, public_id=str(public_id), recorded_stage=recorded.get(pk, 0),
        )
        for pk, priority, queued_at, department_id, visitor_id, public_id in rows
    ]


def _behind(key: tuple) -> Q:
    """Queued chats after this place in queue order (key = ChatSnapshot.order_key)."""
    minus_priority, queued_at, pk = key
    priority = -minus_priority
    return (Q(priority__lt=priority) | Q(priority=priority, queued_at__gt=queued_at)
            | Q(priority=priority, queued_at=queued_at, id__gt=pk))


def _ahead(key: tuple) -> Q:
    """Queued chats before this place in queue order."""
    minus_priority, queued_at, pk = key
    priority = -minus_priority
    return (Q(priority__gt=priority) | Q(priority=priority, queued_at__lt=queued_at)
            | Q(priority=priority, queued_at=queued_at, id__lt=pk))


def _within(reach: decisions.Reach) -> Q:
    """The waiting chats within the free agents' reach (decisions.Reach), as a filter."""
    through = Conversation.required_skills.through.objects.filter(conversation_id=OuterRef("pk"))
    all_skills_theirs = ~Exists(through.exclude(skill_id__in=reach.skills))
    return (
        (Q(department__isnull=True) & all_skills_theirs)
        | (Q(department_id__in=reach.departments)
           & (all_skills_theirs | Q(department_id__in=reach.any_agent_departments)))
        | Q(department_id__in=reach.fallback_departments)
    )


def plan_pass(site_id: int, snap: Snapshot) -> list[decisions.Decision]:
    """Decisions for the site: over the whole queue if the snapshot has it, else reading it batch by batch.

    A bounded read stops as soon as the free slots of the snapshot are all planned, so an
    assignment costs the same few queries with 5 or 5,000 chats waiting.
    """
    if snap.complete:
        return decisions.plan([w.chat for w in snap.queue], snap.agents, snap.policies, snap.now)
    reach = decisions.reach(snap.agents, snap.policies)
    if reach is None:
        return []
    planner = decisions.Planner(snap.agents, snap.policies, snap.now)
    rows = _queued(site_id).filter(_within(reach), queued_at__isnull=False).order_by(*QUEUE_ORDER)
    planned, after = [], None
    while planner.free_slots:
        page = rows.filter(_behind(after)) if after else rows
        batch = _waiting(page[:BATCH], snap.now)
        snap.queue.extend(batch)
        planned.extend(planner.take([w.chat for w in batch]))
        if len(batch) < BATCH:
            break
        after = batch[-1].chat.order_key
    return planned


def online_agents() -> list[decisions.AgentSnapshot]:
    """Every online agent with their active chats, skills and departments (three queries)."""
    rows = Agent.objects.filter(status=Agent.Status.ONLINE).annotate(
        active_chats=Count("conversations", filter=Q(conversations__status__in=Conversation.ACTIVE_STATUSES))
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
        decisions.AgentSnapshot(id=pk, name=name, cap=cap, active=active, skills=skills[pk],
                              departments=frozenset(departments[pk]), last_assigned_at=last_assigned_at,
                              online_since=online_since)
        for pk, name, cap, active, last_assigned_at, online_since in rows
    ]


def policies() -> dict[int | None, decisions.Policy]:
    result = {None: decisions.Policy()}
    for department in Department.objects.all():
        result[department.pk] = decisions.Policy(
            department_id=department.pk, strategy=department.strategy, min_proficiency=department.min_proficiency,
            lower_proficiency_after=department.lower_proficiency_after_seconds,
            any_agent_after=department.any_agent_after_seconds,
            fallback_after=department.fallback_after_seconds,
            fallback_department_id=department.fallback_department_id,
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
    site_wide = decisions.handle_time(samples[None])
    result = {None: site_wide}
    for department_id, values in samples.items():
        if department_id is not None and len(values) >= decisions.MIN_HANDLE_SAMPLES:
            result[department_id] = decisions.handle_time(values)
    return result


def route_waiting(site_id: int, *, trigger_id: int | None = None, refresh_all: bool = False,
                  full: bool = False) -> PassResult:
    """Assign every waiting chat of the site that has a matching free slot, then update the waiting visitors.

    trigger_id: the conversation whose change caused this pass; if it is waiting, its visitor learns
    their position and estimate at once, and that estimate is recorded. Visitors behind a place
    that moved get a position broadcast (request_positions). refresh_all: everyone waiting gets
    one (capacity changes). full: the sweep's pass: the whole queue is read, widening recorded for
    every chat, and every waiting visitor is told at once.
    """
    result = PassResult()
    snap = None
    for result.rounds in range(1, MAX_ROUNDS + 1):
        if not full and not has_free_slot():
            break
        snap = snapshot(site_id, full=full)
        decisions = plan_pass(site_id, snap)
        result.read += len(snap.queue)
        result.widened += _record_widenings(snap)
        if not _execute(snap, decisions, result):
            break
    else:
        log.warning("routing pass for site %s stopped after %s rounds of races", site_id, MAX_ROUNDS)
    _notify(site_id, snap, result, trigger_id=trigger_id, refresh_all=refresh_all, full=full)
    return result


def route_all_sites(*, refresh_all: bool = False, full: bool = False) -> int:
    """A pass for every site with waiting chats; returns how many chats were assigned."""
    site_ids = Conversation.objects.filter(status=Status.QUEUED).values_list("site_id", flat=True).distinct()
    return sum(len(route_waiting(site_id, refresh_all=refresh_all, full=full).assigned) for site_id in list(site_ids))


def _execute(snap: Snapshot, decisions: list[decisions.Decision], result: PassResult) -> bool:
    """Carry out the decisions planned on this snapshot; True if a race made the snapshot stale."""
    waiting = {w.chat.id: w.chat for w in snap.queue}
    for decision in decisions:
        chat = waiting[decision.chat_id]
        try:
            offers.assign(conversation_id=decision.chat_id, agent_id=decision.agent_id,
                          actor=lifecycle.Actor.system(), reason=decision.reason)
        except RACES as error:
            log.info("routing race on conversation %s: %s; taking a new snapshot", decision.chat_id, error)
            return True
        result.assigned.append(decision.chat_id)
        result.moved_keys.append(chat.order_key)
    return False


def _record_widenings(snap: Snapshot) -> int:
    """One RoutingEvent for every stage a chat the pass read has newly reached (the unique constraint keeps it once)."""
    events = []
    for waiting in snap.queue:
        chat = waiting.chat
        policy = snap.policies.get(chat.department_id) or decisions.Policy()
        stage = decisions.stage_for(chat, policy, snap.now)
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


def _notify(site_id: int, snap: Snapshot | None, result: PassResult, *, trigger_id: int | None,
            refresh_all: bool, full: bool) -> None:
    """Tell the triggering chat's visitor where they stand now; ask for a broadcast if others moved."""
    if full:
        _mark_told(site_id)
        result.notified += broadcast_positions(site_id)
        return
    moved = list(result.moved_keys)  # places left by the chats this pass assigned
    wanted = refresh_all
    trigger = _trigger(trigger_id) if trigger_id not in result.assigned else None
    if trigger is not None and trigger[0] == Status.QUEUED:
        waiting = _for_frames([trigger[1:]], scope=Q(conversation_id=trigger_id))[0]
        context = _EstimateContext.of(site_id, snap)
        position, behind = _place(site_id, waiting.chat.order_key)
        frame, details = context.frame(waiting, position)
        RoutingEvent.objects.create(conversation_id=trigger_id, kind=RoutingEvent.Kind.ESTIMATE,
                                    at=context.now, details=details)
        publish_frames_on_commit([(visitor_group(waiting.visitor_id), frame)])
        result.notified += 1
        wanted = wanted or behind > 0  # it took a place in front of others (a requeue, a higher priority)
    elif trigger is not None and trigger[0] == Status.ABANDONED:
        moved.append((-trigger[2], trigger[3], trigger_id))  # the place its visitor gave up
    if not wanted and moved:
        wanted = _queued(site_id).filter(_behind(min(moved)), queued_at__isnull=False).exists()
    if wanted:
        result.notified += request_positions(site_id)


def _trigger(trigger_id: int | None) -> tuple | None:
    """(status, id, priority, queued_at, department_id, visitor_id, public_id) of the chat that caused the pass."""
    if trigger_id is None:
        return None
    return Conversation.objects.filter(pk=trigger_id, queued_at__isnull=False).values_list(
        "status", "id", "priority", "queued_at", "department_id", "visitor_id", "public_id").first()


def _for_frames(rows, *, scope: Q) -> list[Waiting]:
    """Waiting chats from (id, priority, queued_at, department_id, visitor_id, public_id) rows, with
    their skills (one query; scope selects their rows of the skills table)."""
    skills_of = defaultdict(set)
    for conversation_id, skill_id in Conversation.required_skills.through.objects.filter(scope).values_list(
            "conversation_id", "skill_id"):
        skills_of[conversation_id].add(skill_id)
    return [
        Waiting(chat=decisions.ChatSnapshot(id=pk, queued_at=queued_at, priority=priority,
                                          required_skills=frozenset(skills_of[pk]), department_id=department_id),
                visitor_id=visitor_id, public_id=str(public_id))
        for pk, priority, queued_at, department_id, visitor_id, public_id in rows
    ]


def _place(site_id: int, key: tuple) -> tuple[int, int]:
    """1-based place in the site's queue of the chat at this key, and how many wait behind it (one query)."""
    counts = _queued(site_id).filter(queued_at__isnull=False).aggregate(
        ahead=Count("pk", filter=_ahead(key)), behind=Count("pk", filter=_behind(key)))
    return counts["ahead"] + 1, counts["behind"]


class _EstimateContext:
    """What queue frames of one site are computed from: online agents, policies, handle times, the moment.

    Matching capacity is computed once per kind of chat (department, skills, stage).
    """

    def __init__(self, now: datetime, agents: list[decisions.AgentSnapshot],
                 policies: dict[int | None, decisions.Policy], handle: dict[int | None, float]):
        self.now, self.agents, self.policies, self.handle = now, agents, policies, handle
        self.capacity_of: dict[tuple, int] = {}

    @classmethod
    def of(cls, site_id: int, snap: Snapshot | None = None) -> "_EstimateContext":
        """Reusing a pass's agents and policies if it read them: its assignments changed active counts,
        which the estimate does not use (matching capacity counts caps)."""
        if snap is None:
            return cls(timezone.now(), online_agents(), policies(), handle_times(site_id))
        return cls(timezone.now(), snap.agents, snap.policies, handle_times(site_id))

    def frame(self, waiting: Waiting, position: int) -> tuple[dict, dict]:
        chat = waiting.chat
        policy = self.policies.get(chat.department_id) or decisions.Policy()
        key = (chat.department_id, chat.required_skills, decisions.stage_for(chat, policy, self.now))
        if key not in self.capacity_of:
            self.capacity_of[key] = decisions.matching_capacity(chat, self.agents, policy, self.now)
        handle_seconds = self.handle.get(chat.department_id, self.handle[None])
        estimate = decisions.estimate_wait(position=position, capacity=self.capacity_of[key],
                                         handle_seconds=handle_seconds)
        frame = {"type": "queue", "conversation_id": waiting.public_id, "position": position,
                 "estimated_wait_seconds": estimate}
        details = {"position": position, "estimated_wait_seconds": estimate,
                   "matching_capacity": self.capacity_of[key], "handle_seconds": round(handle_seconds, 1)}
        return frame, details


def queue_frame(conversation: Conversation) -> dict | None:
    """Where a waiting chat stands now (position and estimate), for a visitor who reconnects; None if not waiting."""
    if conversation.status != Status.QUEUED or conversation.queued_at is None:
        return None
    row = (conversation.pk, conversation.priority, conversation.queued_at, conversation.department_id,
           conversation.visitor_id, conversation.public_id)
    waiting = _for_frames([row], scope=Q(conversation_id=conversation.pk))[0]
    context = _EstimateContext.of(conversation.site_id)
    return context.frame(waiting, _place(conversation.site_id, waiting.chat.order_key)[0])[0]


def broadcast_positions(site_id: int) -> int:
    """A queue frame to every waiting visitor of the site, positions from one ordered query; returns how many.

    Seven queries whatever the queue's length: the ordered queue, its skills, online agents (three),
    departments, handle times. Frames go out after commit.
    """
    rows = list(_queued(site_id).filter(queued_at__isnull=False).order_by(*QUEUE_ORDER).values_list(
        "id", "priority", "queued_at", "department_id", "visitor_id", "public_id"))
    if not rows:
        return 0
    queue = _for_frames(rows, scope=Q(conversation__site_id=site_id, conversation__status=Status.QUEUED))
    context = _EstimateContext.of(site_id)
    frames = [(visitor_group(waiting.visitor_id), context.frame(waiting, position)[0])
              for position, waiting in enumerate(queue, start=1)]
    publish_frames_on_commit(frames)
    return len(frames)


# --- Coalescing position broadcasts ------------------------------------------------------------
#
# A close or an assignment moves everyone behind it up by one place, so telling each waiting
# visitor after every change costs O(waiting) frames per change. Instead, per site, the first
# process to want a broadcast takes a Redis key that lives POSITIONS_INTERVAL_MS ("told") and
# broadcasts at once; anyone wanting one while the key lives schedules a single trailing broadcast
# (the "pending" key makes it one) for when it expires, as the Celery task
# broadcast_queue_positions below. So every waiting visitor's frame reflects every queue
# move within about POSITIONS_INTERVAL_MS, and a site gets at most one broadcast per interval
# however busy it is. A lost task is covered by the beat sweep, which broadcasts every 10 s.
#
#     <prefix>:routing:<site_id>:told      set for POSITIONS_INTERVAL_MS by each broadcast
#     <prefix>:routing:<site_id>:pending   a trailing broadcast is scheduled (POSITIONS_PENDING_MS at most)

def _key(site_id: int, name: str) -> str:
    return redis_keys.key("routing", site_id, name)


def request_positions(site_id: int) -> int:
    """Broadcast positions now if the site had none in the last interval, else make sure one follows; returns frames sent."""
    try:
        client = redis_keys.client()
        if client.set(_key(site_id, "told"), 1, nx=True, px=POSITIONS_INTERVAL_MS):
            return broadcast_positions(site_id)
        if client.set(_key(site_id, "pending"), 1, nx=True, px=POSITIONS_PENDING_MS):
            left_ms = client.pttl(_key(site_id, "told"))  # -2 if it expired meanwhile: run at once
            _schedule_positions(site_id, max(left_ms, 0) / 1000)
        return 0
    except redis.RedisError:
        log.warning("no Redis to coalesce queue positions of site %s: broadcasting now", site_id, exc_info=True)
        return broadcast_positions(site_id)


# Named as in agents/tasks.py, where it lived before: tasks queued before an upgrade still run.
@shared_task(name="agents.tasks.broadcast_queue_positions")
def broadcast_queue_positions(site_id: int) -> int:
    """The trailing broadcast of a busy site (request_positions): clear the mark, then broadcast if due."""
    redis_keys.client().delete(_key(site_id, "pending"))
    return request_positions(site_id)


def _mark_told(site_id: int) -> None:
    try:
        redis_keys.client().set(_key(site_id, "told"), 1, px=POSITIONS_INTERVAL_MS)
    except redis.RedisError:
        pass  # only coalescing is lost


def _schedule_positions(site_id: int, delay: float) -> None:
    try:
        broadcast_queue_positions.apply_async((site_id,), countdown=delay)
    except Exception:  # a broker outage: the beat sweep broadcasts within 10 s instead
        log.warning("could not schedule queue positions of site %s", site_id, exc_info=True)
        redis_keys.client().delete(_key(site_id, "pending"))
