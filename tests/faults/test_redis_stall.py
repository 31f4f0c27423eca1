"""Redis stalled (SIGSTOP) for two seconds mid-chat, then a daphne process killed: nothing acked is lost."""

import pytest

from tests.faults.scenarios import Size, chats_under, stall_redis_then_kill_a_daphne

pytestmark = [pytest.mark.multiprocess, pytest.mark.faults]


async def test_chats_lose_nothing_when_redis_stalls_and_then_a_daphne_is_killed(fault_servers):
    outcome = await chats_under(fault_servers, Size(), stall_redis_then_kill_a_daphne(stall=2.0))

    assert outcome.tally.clean, outcome.tally.report()
