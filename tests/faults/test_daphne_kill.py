"""kill -9 of a daphne process mid-chat, in several rounds (started again between them): the clients on it
fail over to the other one, nothing acked is lost, doubled or shown out of order, and routing keeps every
cap."""

import asyncio

import pytest

from tests.faults import harness
from tests.faults.scenarios import Size, chats_under, kill_daphnes

pytestmark = [pytest.mark.multiprocess, pytest.mark.faults]


async def test_chats_lose_nothing_when_a_daphne_is_killed_three_times(fault_servers):
    size = Size(chats=8, agents=4, messages=20, interval=0.4)
    outcome = await chats_under(fault_servers, size, kill_daphnes(rounds=3))

    assert outcome.events.get("failovers", 0) > 0, "no tab failed over: the kills missed the chats"
    assert outcome.tally.clean, outcome.tally.report()


async def test_no_agent_goes_over_cap_and_no_chat_is_assigned_twice_while_daphnes_are_killed(fault_servers):
    # Twice as many chats as slots: every close hands a slot to a waiting chat, while processes die.
    size = Size(chats=12, agents=3, messages=4, interval=0.4)
    outcome = await chats_under(fault_servers, size, kill_daphnes(rounds=2, lead_in=1.0, between=1.0))
    handovers = await asyncio.to_thread(harness.read_handovers, fault_servers, list(outcome.stored.status))

    assert handovers.over_cap == {}, handovers
    assert handovers.double_assignments == []
    assert max(handovers.most_at_once.values()) == harness.CAP, "no agent was ever full: nothing was tested"
    assert outcome.tally.clean, outcome.tally.report()
