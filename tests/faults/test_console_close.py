"""An agent's consoles closed while frames are being sent to them (many quick open/close cycles while both
chats flow, half of them dropping the connection without a close frame): once all are closed the agent
stops counting as connected within the heartbeat window, and the disconnect grace then applies (not
before): set away, both chats back in the queue, the one they had answered with a note for the next
agent, and nothing the visitors wrote lost."""

import asyncio
import time

import pytest

from tests.faults import harness
from tests.faults.clients import AgentTab
from tests.faults.scenarios import Scenario, Size, flicker_consoles, until
from tests.reactions.live import start_dispatching

pytestmark = [pytest.mark.multiprocess, pytest.mark.faults]

HEARTBEAT = int(harness.SETTINGS["AGENT_CONSOLE_HEARTBEAT_SECONDS"])
GRACE = int(harness.SETTINGS["AGENT_DISCONNECT_GRACE_SECONDS"])
WINDOW = 3 * HEARTBEAT  # docs/protocol.md: three missed beats and a console no longer counts
CYCLES = 25
SLACK = 1.0  # for the worker to pick up the grace check, and clocks read a moment apart


@pytest.fixture
async def dispatching(fault_servers, tmp_path):
    """Celery beat and a worker, which carry out the grace period's check (routing/grace.py, reactions/)."""
    processes = await fault_servers.call(start_dispatching, fault_servers.live, tmp_path / "dispatching")
    yield processes
    processes.stop()


async def test_consoles_closed_mid_send_stop_counting_in_the_window_and_the_grace_then_applies(
        fault_servers, dispatching):
    await fault_servers.call(fault_servers.make_whole)
    scenario = Scenario(fault_servers, Size(chats=2, agents=1, agent_tabs=1, visitor_tabs=1, messages=30,
                                            interval=0.25))
    await scenario.open()
    [agent] = scenario.agents
    [console] = scenario.agent_tabs[agent.agent_id]
    unanswered, answered = [tabs[0] for tabs in scenario.visitor_tabs]
    for visitor in (unanswered, answered):
        await until(lambda: visitor.conversation_id and scenario.assignee(visitor.conversation_id),
                    f"{visitor.name}'s chat to reach {agent.name}")
    await console.say(answered.conversation_id, "On it.")
    await until(console.drained, "the answer to be acked")

    chats = [unanswered.conversation_id, answered.conversation_id]
    writes = [scenario.visitor_writes(visitor, scenario.size.messages) for visitor in (unanswered, answered)]
    closes, *_ = await asyncio.gather(flicker_consoles(fault_servers, agent, chats, cycles=CYCLES), *writes)
    await console.stop()
    all_closed_at = time.time()

    counted = await asyncio.to_thread(harness.consoles_counted, fault_servers, agent.agent_id,
                                      until=all_closed_at + WINDOW + SLACK)
    assert counted == 0, f"{counted} consoles still count {WINDOW + SLACK:.0f}s after all closed ({dict(closes)})"

    await until(lambda: unanswered.view.status == answered.view.status == "queued",
                "both chats to go back to the queue", timeout=GRACE + WINDOW + 10)
    release = await asyncio.to_thread(harness.read_release, fault_servers, agent.agent_id)
    assert release.status == "away"
    assert sorted(release.requeued_at) == sorted(chats), release
    assert min(release.requeued_at.values()) - all_closed_at >= GRACE - SLACK, "released before the grace period"

    # A console opened now shows none of them (they are nobody's), both visitors everything they wrote.
    scenario.agent_tabs[agent.agent_id] = [AgentTab(agent, 1, fault_servers.endpoints, **scenario.options)]
    scenario.agent_tabs[agent.agent_id][0].start()
    outcome = await scenario.finish()
    notes = {cid: [m.text for m in messages if m.author == "system" and m.visibility == "internal"]
             for cid, messages in outcome.stored.messages.items()}
    assert notes[unanswered.conversation_id] == []
    assert len(notes[answered.conversation_id]) == 1 and agent.name in notes[answered.conversation_id][0]
    assert outcome.tally.clean, outcome.tally.report()
