"""Routing decisions: pure functions over a snapshot of agents and queued chats.

Nothing here touches the database, the clock or the channel layer: callers pass `now` and
snapshots, and get back decisions with the reason they were made. routing/dispatch.py builds the
snapshots and carries the decisions out through conversations.lifecycle.assign_conversation,
which is what guarantees caps under concurrency. docs/routing.md explains the rules.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime
from enum import IntEnum

BEST_SKILL = "best_skill"
ROUND_ROBIN = "round_robin"
LEAST_BUSY = "least_busy"
LONGEST_IDLE = "longest_idle"
STRATEGIES = (BEST_SKILL, ROUND_ROBIN, LEAST_BUSY, LONGEST_IDLE)

# Measured handle times are replaced by this until there are enough of them (DOMAIN: 8-12 minutes).
DEFAULT_HANDLE_SECONDS = 600.0
MIN_HANDLE_SAMPLES = 5
# How many candidates a reason lists; the count is always complete.
REASON_CANDIDATES = 5


class Stage(IntEnum):
    """How wide a waiting chat's search is; it only ever widens, with the time it has waited."""

    SKILLED = 0  # department members with every required skill at the department's minimum
    ANY_PROFICIENCY = 1  # department members with every required skill, at any proficiency
    ANY_AGENT = 2  # any member of the department
    FALLBACK = 3  # any member of the department or of its fallback department

    @property
    def label(self) -> str:
        return self.name.lower()


@dataclass(frozen=True)
class AgentSnapshot:
    id: int
    name: str
    cap: int
    active: int
    skills: dict[int, int] = field(default_factory=dict, hash=False)  # skill id -> proficiency 1..5
    departments: frozenset[int] = frozenset()
    online: bool = True
    last_assigned_at: datetime | None = None
    # When the agent last came online; with last_assigned_at it tells how long they have been idle.
    online_since: datetime | None = None

    @property
    def free(self) -> int:
        return self.cap - self.active if self.online else 0

    @property
    def idle_since(self) -> datetime | None:
        moments = [m for m in (self.last_assigned_at, self.online_since) if m is not None]
        return max(moments) if moments else None


@dataclass(frozen=True)
class Policy:
    """A department's routing settings; `Policy()` is the one for chats without a department."""

    department_id: int | None = None
    strategy: str = BEST_SKILL
    min_proficiency: int = 1
    lower_proficiency_after: int | None = None  # seconds of waiting before each widening; None: never
    any_agent_after: int | None = None
    fallback_after: int | None = None
    fallback_department_id: int | None = None

    def stage_thresholds(self) -> list[tuple[Stage, int]]:
        steps = [(Stage.ANY_PROFICIENCY, self.lower_proficiency_after), (Stage.ANY_AGENT, self.any_agent_after)]
        if self.fallback_department_id is not None:
            steps.append((Stage.FALLBACK, self.fallback_after))
        return [(stage, after) for stage, after in steps if after is not None and self.department_id is not None]


@dataclass(frozen=True)
class ChatSnapshot:
    id: int
    queued_at: datetime
    priority: int = 0
    required_skills: frozenset[int] = frozenset()
    department_id: int | None = None
    # Agents who let an offer of this chat expire: chosen again only if nobody else can take it.
    passed_over: frozenset[int] = frozenset()

    @property
    def order_key(self) -> tuple:
        """The queue order: higher priority first, then longer waiting, then earlier id."""
        return (-self.priority, self.queued_at, self.id)


@dataclass(frozen=True)
class Decision:
    chat_id: int
    agent_id: int
    stage: Stage
    reason: dict


def stage_for(chat: ChatSnapshot, policy: Policy, now: datetime) -> Stage:
    """The widest stage the chat has reached after waiting since queued_at."""
    waited = (now - chat.queued_at).total_seconds()
    reached = [stage for stage, after in policy.stage_thresholds() if waited >= after]
    return max(reached, default=Stage.SKILLED)


def proficiency(agent: AgentSnapshot, chat: ChatSnapshot) -> int:
    """Sum of the agent's proficiency in the chat's required skills (a missing skill counts 0)."""
    return sum(agent.skills.get(skill, 0) for skill in chat.required_skills)


def matches(agent: AgentSnapshot, chat: ChatSnapshot, policy: Policy, stage: Stage) -> bool:
    """Whether the agent may take the chat at this stage, regardless of free slots."""
    if not agent.online:
        return False
    if chat.department_id is not None:
        pool = {chat.department_id}
        if stage >= Stage.FALLBACK and policy.fallback_department_id is not None:
            pool.add(policy.fallback_department_id)
        if not agent.departments & pool:
            return False
    if stage >= Stage.ANY_AGENT:
        return True
    floor = policy.min_proficiency if stage == Stage.SKILLED else 1
    return all(agent.skills.get(skill, 0) >= floor for skill in chat.required_skills)


def _since(moment: datetime | None) -> tuple:
    """Sort key for a moment where None ("never") comes first, as the longest ago."""
    return (0, 0.0) if moment is None else (1, moment.timestamp())


def _rank_key(strategy: str, chat: ChatSnapshot):

    if strategy == LEAST_BUSY:
        return lambda a: (a.active, a.active / a.cap if a.cap else 1, _since(a.last_assigned_at), a.id)
    if strategy == LONGEST_IDLE:
        return lambda a: (_since(a.idle_since), a.id)
    return lambda a: (-proficiency(a, chat), a.active, _since(a.last_assigned_at), a.id)


def _round_robin(candidates: list[AgentSnapshot], pool: list[AgentSnapshot]) -> AgentSnapshot:
    """The next candidate by id after the pool's most recently assigned agent, wrapping around."""
    assigned = [a for a in pool if a.last_assigned_at is not None]
    cursor = max(assigned, key=lambda a: (a.last_assigned_at, a.id)).id if assigned else -1
    ordered = sorted(candidates, key=lambda a: a.id)
    return next((a for a in ordered if a.id > cursor), ordered[0])


def _describe(agent: AgentSnapshot, chat: ChatSnapshot, now: datetime) -> dict:
    idle = agent.idle_since
    return {
        "agent_id": agent.id, "name": agent.name, "proficiency": proficiency(agent, chat),
        "active": agent.active, "cap": agent.cap,
        "idle_seconds": None if idle is None else round((now - idle).total_seconds()),
    }


def choose(chat: ChatSnapshot, agents: list[AgentSnapshot], policy: Policy, now: datetime) -> Decision | None:
    """Pick the agent for one chat, or None when nobody matching has a free slot.

    The reason lists the strategy, the stage, how many candidates there were, the best few, and
    in words why the winner won; it is stored with the assignment event.
    """
    stage = stage_for(chat, policy, now)
    pool = [a for a in agents if matches(a, chat, policy, stage)]
    candidates = [a for a in pool if a.free > 0]
    if not candidates:
        return None
    fresh = [a for a in candidates if a.id not in chat.passed_over]
    candidates = fresh or candidates
    strategy = policy.strategy if policy.strategy in STRATEGIES else BEST_SKILL
    if strategy == ROUND_ROBIN:
        winner = _round_robin(candidates, pool)
        ranked = [winner] + sorted((a for a in candidates if a is not winner), key=lambda a: a.id)
        why = "next in turn after the last agent assigned"
    else:
        ranked = sorted(candidates, key=_rank_key(strategy, chat))
        winner = ranked[0]
        why = {
            BEST_SKILL: "highest proficiency in the required skills, then fewest active chats, "
                        "then longest since last assignment",
            LEAST_BUSY: "fewest active chats, then lowest share of cap, then longest since last assignment",
            LONGEST_IDLE: "longest since last assignment or coming online",
        }[strategy]
    reason = {
        "strategy": strategy,
        "stage": stage.label,
        "waited_seconds": round((now - chat.queued_at).total_seconds(), 3),
        "candidate_count": len(candidates),
        "candidates": [_describe(a, chat, now) for a in ranked[:REASON_CANDIDATES]],
        "chosen": winner.id,
        "why": why,
    }
    return Decision(chat_id=chat.id, agent_id=winner.id, stage=stage, reason=reason)


def _signature(chat: ChatSnapshot, stage: Stage) -> tuple:
    return (chat.department_id, chat.required_skills, stage)


class Planner:
    """`plan` in installments: feed it waiting chats in queue order, a batch at a time.

    Each decision takes its slot in the planner's copy of the roster, so later decisions (in this
    batch or the next) cannot reuse it. Chats with the same department, skills and stage compete
    for the same agents, so once one of them finds no candidate the rest are skipped without
    another scan (slots only shrink within a plan). Given the whole queue in one call or in
    consecutive slices, it makes the same decisions.
    """

    def __init__(self, agents: list[AgentSnapshot], policies: dict[int | None, Policy], now: datetime):
        self.roster = list(agents)
        self.index = {a.id: i for i, a in enumerate(self.roster)}
        self.policies, self.now = policies, now
        self.exhausted: set[tuple] = set()

    @property
    def free_slots(self) -> int:
        return sum(a.free for a in self.roster if a.free > 0)

    def take(self, chats: list[ChatSnapshot]) -> list[Decision]:
        """Decisions for these chats, which come after every chat given before, in queue order."""
        decisions = []
        for chat in sorted(chats, key=lambda c: c.order_key):
            policy = self.policies.get(chat.department_id) or Policy(department_id=chat.department_id)
            signature = _signature(chat, stage_for(chat, policy, self.now))
            if signature in self.exhausted:
                continue
            decision = choose(chat, self.roster, policy, self.now)
            if decision is None:
                self.exhausted.add(signature)
                continue
            decisions.append(decision)
            i = self.index[decision.agent_id]
            self.roster[i] = replace(self.roster[i], active=self.roster[i].active + 1, last_assigned_at=self.now)
        return decisions


def plan(
    queue: list[ChatSnapshot], agents: list[AgentSnapshot], policies: dict[int | None, Policy], now: datetime,
) -> list[Decision]:
    """Decisions for a whole queue in order, each taking a slot the later ones cannot reuse.

    A chat nobody can take does not block chats behind it that need other agents (see Planner).
    """
    return Planner(agents, policies, now).take(queue)


@dataclass(frozen=True)
class Reach:
    """Which waiting chats the agents with a free slot could possibly take, at the widest stage.

    A chat is within reach if it has no department and all its skills are among the free agents'
    skills; or its department is one of theirs and either all its skills are theirs or the
    department widens to any member (the any_agent or the fallback stage); or its department falls
    back to one of theirs. That is a superset of what `plan` can assign (it ignores proficiency,
    stages not reached yet and skills split between agents), so leaving the rest out changes no
    decision.
    """

    skills: frozenset[int]
    departments: frozenset[int]
    any_agent_departments: frozenset[int]  # of those, the departments that widen to any member
    fallback_departments: frozenset[int]  # departments whose fallback is one of theirs


def reach(agents: list[AgentSnapshot], policies: dict[int | None, Policy]) -> Reach | None:
    """The Reach of the agents with a free slot, or None when nobody has one."""
    free = [a for a in agents if a.free > 0]
    if not free:
        return None
    departments = frozenset().union(*(a.departments for a in free))
    widest = {d: max((stage for stage, _ in p.stage_thresholds()), default=Stage.SKILLED)
              for d, p in policies.items() if d is not None}
    return Reach(
        skills=frozenset().union(*(a.skills.keys() for a in free)),
        departments=departments,
        # From the any_agent stage on (fallback included) skills no longer matter.
        any_agent_departments=frozenset(d for d in departments if widest.get(d, Stage.SKILLED) >= Stage.ANY_AGENT),
        fallback_departments=frozenset(
            d for d, stage in widest.items()
            if stage == Stage.FALLBACK and policies[d].fallback_department_id in departments),
    )


def matching_capacity(chat: ChatSnapshot, agents: list[AgentSnapshot], policy: Policy, now: datetime) -> int:
    """Total cap of the online agents who could take this chat at its current stage."""
    stage = stage_for(chat, policy, now)
    return sum(a.cap for a in agents if matches(a, chat, policy, stage))


def estimate_wait(*, position: int, capacity: int, handle_seconds: float) -> int | None:
    """Estimated seconds until a queued chat is assigned; None while nobody who can take it is online.

    A queued chat means every matching slot is busy. Busy slots free up, on average, one every
    handle_seconds / capacity; with the chats' progress spread evenly, the k-th slot to free up
    does so after k * handle_seconds / (capacity + 1). The chat needs the position-th free slot.
    """
    if capacity <= 0:
        return None
    return round(position * handle_seconds / (capacity + 1))


def handle_time(samples: list[float]) -> float:
    """Mean of measured handle times (seconds), or the default until there are enough samples."""
    if len(samples) < MIN_HANDLE_SAMPLES:
        return DEFAULT_HANDLE_SECONDS
    return sum(samples) / len(samples)
