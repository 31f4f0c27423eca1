"""routing.decisions: the pure choice, tested on snapshots only (no database).

Personas: Alice is an orders expert (5), Bob knows orders a little (2), Carol knows billing (5)
and orders (3), Dave knows nothing yet; all are in Support unless said otherwise. Frank is in
Sales, the fallback department.
"""

from datetime import UTC, datetime, timedelta

from routing.decisions import (
    BEST_SKILL, LEAST_BUSY, LONGEST_IDLE, ROUND_ROBIN, AgentSnapshot, ChatSnapshot, Policy, Stage, choose,
    estimate_wait, handle_time, matching_capacity, plan, stage_for,
)

NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
ORDERS, BILLING = 1, 2
SUPPORT, SALES = 10, 20


def ago(seconds: float) -> datetime:
    return NOW - timedelta(seconds=seconds)


def agent(pk, name, *, skills=None, cap=3, active=0, departments=(SUPPORT,), last=None, online_since=None, online=True):
    return AgentSnapshot(id=pk, name=name, cap=cap, active=active, skills=skills or {},
                         departments=frozenset(departments), last_assigned_at=last, online_since=online_since,
                         online=online)


def alice(**kw):
    return agent(1, "Alice", skills={ORDERS: 5}, **kw)


def bob(**kw):
    return agent(2, "Bob", skills={ORDERS: 2}, **kw)


def carol(**kw):
    return agent(3, "Carol", skills={BILLING: 5, ORDERS: 3}, **kw)


def dave(**kw):
    return agent(4, "Dave", **kw)


def frank(**kw):
    return agent(6, "Frank", skills={ORDERS: 4}, departments=(SALES,), **kw)


def orders_chat(pk=100, *, waited=0.0, priority=0, department=SUPPORT):
    return ChatSnapshot(id=pk, queued_at=ago(waited), priority=priority, required_skills=frozenset({ORDERS}),
                        department_id=department)


SUPPORT_DEFAULT = Policy(department_id=SUPPORT)
SUPPORT_WIDENING = Policy(department_id=SUPPORT, min_proficiency=4, lower_proficiency_after=30,
                          any_agent_after=60, fallback_after=120, fallback_department_id=SALES)


def test_the_most_proficient_agent_wins_and_the_reason_says_why():
    decision = choose(orders_chat(), [bob(), alice(), carol()], SUPPORT_DEFAULT, NOW)
    assert decision.agent_id == 1
    assert decision.reason["strategy"] == BEST_SKILL
    assert decision.reason["stage"] == "skilled"
    assert decision.reason["candidate_count"] == 3
    assert [c["name"] for c in decision.reason["candidates"]] == ["Alice", "Carol", "Bob"]
    assert "highest proficiency" in decision.reason["why"]


def test_an_agent_without_every_required_skill_is_not_a_candidate():
    chat = ChatSnapshot(id=1, queued_at=NOW, required_skills=frozenset({ORDERS, BILLING}), department_id=SUPPORT)
    decision = choose(chat, [alice(), bob(), carol()], SUPPORT_DEFAULT, NOW)
    assert decision.agent_id == 3
    assert decision.reason["candidate_count"] == 1


def test_a_full_agent_is_skipped_for_the_next_best():
    decision = choose(orders_chat(), [alice(active=3), carol()], SUPPORT_DEFAULT, NOW)
    assert decision.agent_id == 3


def test_nobody_is_chosen_when_every_matching_agent_is_full_or_offline():
    assert choose(orders_chat(), [alice(active=3), bob(online=False), dave()], SUPPORT_DEFAULT, NOW) is None


def test_a_cap_of_zero_pauses_an_agent():
    assert choose(orders_chat(), [alice(cap=0)], SUPPORT_DEFAULT, NOW) is None


def test_equal_proficiency_goes_to_the_agent_with_fewer_chats_then_the_longest_since_assigned():
    twin = agent(5, "Alice's twin", skills={ORDERS: 5})
    assert choose(orders_chat(), [alice(active=2), twin], SUPPORT_DEFAULT, NOW).agent_id == 5
    busy_equal = [alice(active=1, last=ago(10)), agent(5, "Twin", skills={ORDERS: 5}, active=1, last=ago(300))]
    assert choose(orders_chat(), busy_equal, SUPPORT_DEFAULT, NOW).agent_id == 5


def test_an_agent_outside_the_chats_department_is_not_a_candidate_before_fallback():
    assert choose(orders_chat(), [frank()], SUPPORT_DEFAULT, NOW) is None


def test_a_chat_without_a_department_may_go_to_any_skilled_agent():
    decision = choose(orders_chat(department=None), [frank(), bob()], Policy(), NOW)
    assert decision.agent_id == 6


def test_least_busy_prefers_the_agent_with_fewest_chats_even_if_less_skilled():
    policy = Policy(department_id=SUPPORT, strategy=LEAST_BUSY)
    assert choose(orders_chat(), [alice(active=2), bob(active=0)], policy, NOW).agent_id == 2


def test_longest_idle_prefers_the_agent_idle_longest_counting_from_coming_online():
    policy = Policy(department_id=SUPPORT, strategy=LONGEST_IDLE)
    # Alice was last assigned long ago but only just came online; Bob has been free for ten minutes.
    agents = [alice(last=ago(3600), online_since=ago(5)), bob(last=ago(600), online_since=ago(7200))]
    assert choose(orders_chat(), agents, policy, NOW).agent_id == 2


def test_round_robin_takes_turns_in_id_order_after_the_last_assigned_agent():
    policy = Policy(department_id=SUPPORT, strategy=ROUND_ROBIN)
    agents = [alice(last=ago(60)), bob(last=ago(5)), carol(last=ago(30))]
    assert choose(orders_chat(), agents, policy, NOW).agent_id == 3  # Bob (id 2) was last; Carol is next
    agents = [alice(last=ago(60)), bob(last=ago(30)), carol(last=ago(5))]
    assert choose(orders_chat(), agents, policy, NOW).agent_id == 1  # wraps around after Carol


def test_round_robin_skips_a_full_agent_without_losing_its_turn_order():
    policy = Policy(department_id=SUPPORT, strategy=ROUND_ROBIN)
    agents = [alice(last=ago(60)), bob(last=ago(5)), carol(active=3, last=ago(30))]
    assert choose(orders_chat(), agents, policy, NOW).agent_id == 1


def test_a_new_chat_waits_for_the_departments_minimum_proficiency():
    assert choose(orders_chat(), [bob(), carol()], SUPPORT_WIDENING, NOW) is None


def test_after_waiting_a_chat_accepts_lower_proficiency_then_any_agent_then_the_fallback_department():
    chat = orders_chat(waited=10)
    assert stage_for(chat, SUPPORT_WIDENING, NOW) == Stage.SKILLED
    assert stage_for(orders_chat(waited=19.9), SUPPORT_WIDENING, NOW) == Stage.SKILLED  # widens at 20 s

    lower = orders_chat(waited=30)
    assert stage_for(lower, SUPPORT_WIDENING, NOW) == Stage.ANY_PROFICIENCY
    decision = choose(lower, [bob(), dave()], SUPPORT_WIDENING, NOW)
    assert (decision.agent_id, decision.reason["stage"]) == (2, "any_proficiency")

    anyone = orders_chat(waited=61)
    decision = choose(anyone, [dave(), frank()], SUPPORT_WIDENING, NOW)
    assert (decision.agent_id, decision.stage) == (4, Stage.ANY_AGENT)

    fallback = orders_chat(waited=500)
    decision = choose(fallback, [dave(active=3), frank()], SUPPORT_WIDENING, NOW)
    assert (decision.agent_id, decision.stage) == (6, Stage.FALLBACK)
    assert stage_for(orders_chat(waited=50_000), SUPPORT_WIDENING, NOW) == Stage.FALLBACK  # the last stage


def test_a_department_without_a_fallback_never_reaches_the_fallback_stage():
    policy = Policy(department_id=SUPPORT, any_agent_after=10, fallback_after=20)
    assert stage_for(orders_chat(waited=1000), policy, NOW) == Stage.ANY_AGENT


def test_widening_still_ranks_skilled_agents_first():
    decision = choose(orders_chat(waited=61), [dave(), bob()], SUPPORT_WIDENING, NOW)
    assert decision.agent_id == 2


def test_a_plan_serves_higher_priority_first_then_the_longest_waiting():
    queue = [orders_chat(1, waited=50), orders_chat(2, waited=10, priority=1), orders_chat(3, waited=90)]
    decisions = plan(queue, [alice(cap=2)], {SUPPORT: SUPPORT_DEFAULT}, NOW)
    assert [d.chat_id for d in decisions] == [2, 3]


def test_a_plan_never_gives_an_agent_more_chats_than_free_slots():
    queue = [orders_chat(pk, waited=pk) for pk in range(1, 11)]
    decisions = plan(queue, [alice(cap=3, active=1), bob(cap=2)], {SUPPORT: SUPPORT_DEFAULT}, NOW)
    per_agent = {a: sum(d.agent_id == a for d in decisions) for a in (1, 2)}
    assert per_agent == {1: 2, 2: 2}


def test_a_chat_nobody_can_take_does_not_block_the_chats_behind_it():
    billing = ChatSnapshot(id=1, queued_at=ago(100), required_skills=frozenset({BILLING}), department_id=SUPPORT)
    decisions = plan([billing, orders_chat(2, waited=5)], [alice()], {SUPPORT: SUPPORT_DEFAULT}, NOW)
    assert [(d.chat_id, d.agent_id) for d in decisions] == [(2, 1)]


def test_within_a_plan_the_load_of_earlier_decisions_counts():
    twin = agent(5, "Twin", skills={ORDERS: 5})
    decisions = plan([orders_chat(1, waited=2), orders_chat(2, waited=1)], [alice(), twin],
                     {SUPPORT: SUPPORT_DEFAULT}, NOW)
    assert sorted(d.agent_id for d in decisions) == [1, 5]


def test_matching_capacity_counts_busy_matching_agents_but_not_offline_or_unskilled_ones():
    agents = [alice(active=3), bob(cap=2, active=2), dave(cap=4), carol(online=False)]
    assert matching_capacity(orders_chat(), agents, SUPPORT_DEFAULT, NOW) == 5


def test_the_wait_estimate_grows_with_position_and_shrinks_with_capacity():
    assert estimate_wait(position=1, capacity=1, handle_seconds=600) == 300
    assert estimate_wait(position=4, capacity=3, handle_seconds=600) == 600
    assert estimate_wait(position=4, capacity=7, handle_seconds=600) == 300
    assert estimate_wait(position=1, capacity=0, handle_seconds=600) is None


def test_handle_time_falls_back_to_ten_minutes_until_there_are_enough_samples():
    assert handle_time([60.0, 120.0]) == 600.0
    assert handle_time([60.0, 120.0, 180.0, 240.0, 300.0]) == 180.0
