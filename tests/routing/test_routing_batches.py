"""routing.decisions's Planner and Reach: what lets a routing pass read the queue in bounded batches.

Random queues and rosters (no database): planning the queue in consecutive slices makes the same
decisions as planning it whole, and every chat the plan assigns lies within the free agents' Reach,
so a pass that reads only those chats, a batch at a time, assigns exactly what a full pass would.
"""

from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from routing.decisions import (
    BEST_SKILL, LEAST_BUSY, LONGEST_IDLE, ROUND_ROBIN, AgentSnapshot, ChatSnapshot, Planner, Policy, plan, reach,
)

NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
SKILLS = (1, 2, 3)
SUPPORT, SALES = 10, 20

agents = st.lists(st.builds(
    lambda pk, cap, active, skills, departments, online: AgentSnapshot(
        id=pk, name=f"A{pk}", cap=cap, active=min(active, cap + 1), skills=skills,
        departments=frozenset(departments), online=online),
    st.integers(1, 10**6), st.integers(0, 3), st.integers(0, 3),
    st.dictionaries(st.sampled_from(SKILLS), st.integers(1, 5), max_size=3),
    st.sets(st.sampled_from((SUPPORT, SALES)), max_size=2), st.booleans(),
), max_size=6, unique_by=lambda a: a.id)

chats = st.lists(st.builds(
    lambda pk, waited, priority, skills, department: ChatSnapshot(
        id=pk, queued_at=NOW - timedelta(seconds=waited), priority=priority, required_skills=frozenset(skills),
        department_id=department),
    st.integers(1, 10**6), st.integers(0, 300), st.integers(0, 1), st.sets(st.sampled_from(SKILLS), max_size=2),
    st.sampled_from((None, SUPPORT, SALES)),
), max_size=25, unique_by=lambda c: c.id)

policies = st.builds(
    lambda strategy, minimum, lower, any_agent, fallback: {
        None: Policy(),
        SUPPORT: Policy(department_id=SUPPORT, strategy=strategy, min_proficiency=minimum,
                        lower_proficiency_after=lower, any_agent_after=any_agent, fallback_after=fallback,
                        fallback_department_id=SALES if fallback is not None else None),
        SALES: Policy(department_id=SALES, strategy=strategy),
    },
    st.sampled_from((BEST_SKILL, ROUND_ROBIN, LEAST_BUSY, LONGEST_IDLE)), st.integers(1, 5),
    st.none() | st.integers(0, 200), st.none() | st.integers(0, 200), st.none() | st.integers(0, 200),
)


def within(chat: ChatSnapshot, r) -> bool:
    """The filter dispatch._within applies in SQL, in Python."""
    theirs = chat.required_skills <= r.skills
    if chat.department_id is None:
        return theirs
    return ((chat.department_id in r.departments and (theirs or chat.department_id in r.any_agent_departments))
            or chat.department_id in r.fallback_departments)


@settings(max_examples=300, deadline=None)
@given(queue=chats, roster=agents, rules=policies, size=st.integers(1, 6))
def test_planning_within_reach_a_batch_at_a_time_decides_the_same_as_planning_the_whole_queue(
        queue, roster, rules, size):
    whole = plan(queue, roster, rules, NOW)
    r = reach(roster, rules)
    if r is None:
        assert whole == []
        return
    assert all(within(chat, r) for chat in queue if chat.id in {d.chat_id for d in whole})
    ordered = sorted((c for c in queue if within(c, r)), key=lambda c: c.order_key)
    planner, batched = Planner(roster, rules, NOW), []
    for start in range(0, len(ordered), size):
        if not planner.free_slots:
            break
        batched += planner.take(ordered[start:start + size])
    assert batched == whole


def test_nobody_with_a_free_slot_means_no_reach():
    busy = AgentSnapshot(id=1, name="Alice", cap=2, active=2, skills={1: 5}, departments=frozenset({SUPPORT}))
    away = AgentSnapshot(id=2, name="Bob", cap=2, active=0, online=False)
    assert reach([busy, away], {None: Policy()}) is None
