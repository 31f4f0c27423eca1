"""PostgreSQL restarted twice mid-chat (PostgreSQL pass only): every session of both daphne processes
ends; clients get server_error and resend, and nothing is lost."""

import pytest

from tests.faults.scenarios import Size, chats_under, restart_postgres

pytestmark = [pytest.mark.multiprocess, pytest.mark.faults]


async def test_chats_lose_nothing_when_postgresql_restarts_twice(fault_servers):
    if fault_servers.postgres_url is None:
        pytest.skip("needs a PostgreSQL server to restart: the PostgreSQL pass of tests/run.py")

    outcome = await chats_under(fault_servers, Size(), restart_postgres(times=2))

    felt = outcome.events.get("error server_error", 0) + outcome.tally.reconnects
    assert felt > 0, "no tab noticed the restarts: the test proves nothing"
    assert outcome.tally.clean, outcome.tally.report()
