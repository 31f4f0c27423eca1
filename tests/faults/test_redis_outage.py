"""Redis stopped for eight seconds mid-chat and started again (empty) on the same port: open sockets are
told (`service` degraded, then ok), a new socket is refused as documented (error service_unavailable, close
4013, never HTTP 500), a chat closed meanwhile shows closed everywhere, and every message catches up
without any page being reloaded."""

import asyncio

import pytest

from tests.faults.clients import ENDED, page_of
from tests.faults.scenarios import Scenario, Size, chats_under, probe, stop_redis, until

pytestmark = [pytest.mark.multiprocess, pytest.mark.faults]

OUTAGE_SECONDS = 8.0
NOTICE_SECONDS = 2.0  # the servers have noticed the outage by then (DELIVERY_CHECK_SECONDS)
REFUSAL = "service_unavailable, close 4013"
PROBES = ("widget, daphne 0", "console, daphne 0", "widget, daphne 1", "console, daphne 1")


async def test_a_redis_outage_is_announced_refused_to_new_sockets_and_caught_up_after(fault_servers):
    probes, open_tabs = {}, []

    async def while_down(scenario: Scenario) -> None:
        open_tabs.extend(tab for tab in scenario.tabs if tab.connected_to is not None)
        await asyncio.sleep(NOTICE_SECONDS)
        agent = scenario.agents[0]
        for index, endpoint in enumerate(scenario.servers.endpoints):
            probes[f"widget, daphne {index}"] = await probe(f"{endpoint}/ws/widget/demo/",
                                                             origin=scenario.servers.origin)
            probes[f"console, daphne {index}"] = await probe(f"{endpoint}/ws/agent/", origin=page_of(endpoint),
                                                              headers={"Cookie": f"sessionid={agent.cookie}"})
        scenario.close_gates[0].set()
        first_chat = scenario.visitor_tabs[0][0].conversation_id
        closer = scenario.owner(first_chat)
        await until(lambda: closer.views[first_chat].status in ENDED, "the first chat to close during the outage",
                    timeout=OUTAGE_SECONDS - NOTICE_SECONDS)

    outcome = await chats_under(fault_servers, Size(closed_by_fault=1),
                                stop_redis(seconds=OUTAGE_SECONDS, while_down=while_down))

    assert probes == dict.fromkeys(PROBES, REFUSAL)
    not_told = {tab.name: [status for _, status in tab.service] for tab in open_tabs
                if not _told_degraded_then_ok(tab.service)}
    assert not_told == {}, f"open tabs not told degraded, then ok: {not_told}"
    assert outcome.tally.clean, outcome.tally.report()


def _told_degraded_then_ok(service: list[tuple[float, str]]) -> bool:
    statuses = [status for _, status in service]
    return statuses[-1:] == ["ok"] and "degraded" in statuses[:-1]
