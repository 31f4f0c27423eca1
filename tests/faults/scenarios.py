"""Chats driven through a FaultServers set while a fault happens, for the tests and bench/faults.py.

A scenario: agents sign in (two console tabs each, on different daphne processes, the first tab sets
them online); visitors open the widget (two tabs each, spread over both processes) and start a chat;
once an agent has it both sides write their messages at once (every few agent messages an internal
note, which the visitor must never see), and when everything is acked the agent closes it. A fault
runs meanwhile. Then the scenario settles (bounded) and ledger.compare says what was lost.
"""

import asyncio
import json
import os
import random
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import websockets
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus

from tests.faults import harness, ledger
from tests.faults.clients import AgentTab, SocketClient, Visitor, VisitorTab, page_of
from tests.faults.harness import FaultServers

WAIT_SECONDS = 60.0  # for one chat to reach an agent, a tab to be ready, a scenario to settle


@dataclass
class Size:
    chats: int = 6
    agents: int = 3  # of harness.AGENTS, each with harness.CAP slots
    messages: int = 16  # written by each side of each chat
    interval: float = 0.8  # seconds between two messages of one side
    note_every: int = 4  # every note_every-th agent message is an internal note
    visitor_tabs: int = 2
    agent_tabs: int = 2
    # The first closed_by_fault chats write a quarter of the messages, then wait for the fault to open
    # their close gate (Scenario.close_gates): a state change the fault can time.
    closed_by_fault: int = 0

    def messages_of(self, chat: int) -> int:
        return max(1, self.messages // 4) if chat < self.closed_by_fault else self.messages


@dataclass
class Outcome:
    tally: ledger.Tally
    stored: ledger.Stored
    seconds: float
    events: dict[str, int] = field(default_factory=dict)  # summed over every tab: errors, syncs, failovers


async def until(condition: Callable[[], object], what: str, timeout: float = WAIT_SECONDS):
    """condition()'s first true value, polled; AssertionError naming `what` after the timeout."""
    deadline = time.monotonic() + timeout
    while not (value := condition()):
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")
        await asyncio.sleep(0.1)
    return value


class Scenario:
    """Agents and visitors, their tabs, and the chats between them."""

    def __init__(self, fault_servers: FaultServers, size: Size, *, max_backoff: float = 4.0):
        """max_backoff: the ceiling of the reconnect delay. The protocol's 30 s would make a test wait that
        long after an outage; the doubling and the jitter are the same."""
        self.servers, self.size = fault_servers, size
        self.options = {"max_backoff": max_backoff}
        self.agents = fault_servers.agents[:size.agents]
        self.agent_tabs: dict[int, list[AgentTab]] = {}
        self.visitor_tabs: list[list[VisitorTab]] = []
        # A chat is closed once its messages are acked and its gate is open (a fault may hold one).
        self.close_gates = [asyncio.Event() for _ in range(size.chats)]
        for gate in self.close_gates[size.closed_by_fault:]:
            gate.set()
        self.writing = asyncio.Event()  # the first chat has begun to write: a fault may start
        self.started_at = time.monotonic()

    @property
    def tabs(self) -> list[SocketClient]:
        return [tab for tabs in self.agent_tabs.values() for tab in tabs] + [
            tab for tabs in self.visitor_tabs for tab in tabs]

    @property
    def conversation_ids(self) -> list[str]:
        return [tabs[0].conversation_id for tabs in self.visitor_tabs if tabs[0].conversation_id]

    async def open(self) -> None:
        """A clear floor, the agents online with every console tab ready, then every visitor's first tab."""
        await asyncio.to_thread(harness.clear_floor, self.servers)
        endpoints = self.servers.endpoints
        for number, agent in enumerate(self.agents):
            self.agent_tabs[agent.agent_id] = [
                AgentTab(agent, tab, endpoints, first=(number + tab + 1) % len(endpoints), sets_online=tab == 0,
                         **self.options) for tab in range(self.size.agent_tabs)]
        for tab in self.tabs:
            tab.start()
        await until(lambda: all(tab.ready for tab in self.tabs), "every console tab to be ready")
        await until(lambda: all(tabs[0].status == "online" for tabs in self.agent_tabs.values()),
                    "every agent to be online")
        self.started_at = time.monotonic()
        for number in range(self.size.chats):
            visitor = Visitor(f"visitor{number}")
            self.visitor_tabs.append([
                VisitorTab(visitor, tab, endpoints, origin=self.servers.origin, first=(number + tab) % len(endpoints),
                           starts=tab == 0, **self.options) for tab in range(self.size.visitor_tabs)])
            self.visitor_tabs[-1][0].start()

    async def run(self, fault: Callable[["Scenario"], Awaitable[None]] | None = None) -> None:
        """Every chat from start to close, with the fault running alongside."""
        work = [self.chat(number) for number in range(self.size.chats)]
        if fault is not None:
            work.append(fault(self))
        await asyncio.gather(*work)

    async def chat(self, number: int) -> None:
        first, *others = self.visitor_tabs[number]
        conversation_id = await until(lambda: first.conversation_id, f"{first.name}'s chat to start")
        for tab in others:  # the other tabs open once the chat exists, as a visitor opens another page
            tab.start()
        agent_tab = await until(lambda: self.assignee(conversation_id), f"an agent to take {first.name}'s chat")
        self.writing.set()
        count = self.size.messages_of(number)
        await asyncio.gather(self.visitor_writes(first, count), self.agent_writes(agent_tab, conversation_id, count))
        await until(lambda: first.drained() and not agent_tab.unacked(conversation_id),
                    f"{first.name}'s chat to be acked")
        await self.close_gates[number].wait()
        await agent_tab.close_chat(conversation_id)

    def owner(self, conversation_id: str) -> AgentTab | None:
        """The first console tab of the agent whose chat this is, once it shows it as theirs."""
        for tabs in self.agent_tabs.values():
            if tabs[0].owns(conversation_id):
                return tabs[0]
        return None

    def assignee(self, conversation_id: str) -> AgentTab | None:
        """The owner, once the chat is active (accepted): both sides may write."""
        owner = self.owner(conversation_id)
        return owner if owner is not None and owner.views[conversation_id].status == "active" else None

    async def visitor_writes(self, tab: VisitorTab, count: int) -> None:
        for number in range(count):
            await tab.say(f"{tab.visitor.name} says {number}")
            await asyncio.sleep(self.size.interval)

    async def agent_writes(self, tab: AgentTab, conversation_id: str, count: int) -> None:
        await asyncio.sleep(self.size.interval / 2)  # the two sides interleave
        for number in range(1, count + 1):
            await tab.say(conversation_id, f"{tab.agent.name} answers {number}",
                          note=number % self.size.note_every == 0)
            await asyncio.sleep(self.size.interval)

    def busiest_daphne(self) -> int:
        """The daphne process holding the most open sockets of this scenario."""
        held = [0] * len(self.servers.endpoints)
        for tab in self.tabs:
            if tab.connected_to is not None:
                held[tab.connected_to] += 1
        return held.index(max(held))

    async def settle(self, timeout: float = WAIT_SECONDS) -> ledger.Stored:
        """Wait until nothing is in flight (outboxes empty, closes confirmed), read the database, then wait
        until every tab shows what it must; bounded, so a loss ends as a count instead of a hang."""
        deadline = time.monotonic() + timeout
        while not all(tab.drained() for tab in self.tabs) and time.monotonic() < deadline:
            await asyncio.sleep(0.2)
        stored = await asyncio.to_thread(harness.read_stored, self.servers, self.conversation_ids)
        while not ledger.settled(self.tabs, stored) and time.monotonic() < deadline:
            await asyncio.sleep(0.2)
        return stored

    async def finish(self) -> Outcome:
        """Settle, compare, print the counts, stop every tab."""
        try:
            stored = await self.settle()
            tally = ledger.compare(self.tabs, stored)
        finally:
            await asyncio.gather(*(tab.stop() for tab in self.tabs))
        events = sum((tab.events for tab in self.tabs), start=Counter())
        for view in (view for tab in self.tabs for view in tab.views.values()):
            events["frames held after a gap"] += view.gaps
            events["duplicate frames dropped"] += view.duplicates
        outcome = Outcome(tally=tally, stored=stored, seconds=time.monotonic() - self.started_at, events=dict(events))
        print(f"\n{tally.report()}\nevents: {summary(outcome.events)}")
        return outcome


def summary(events: dict[str, int]) -> str:
    return ", ".join(f"{name} {count}" for name, count in sorted(events.items()) if not name.startswith("frame "))


async def chats_under(fault_servers: FaultServers, size: Size,
                      fault: Callable[[Scenario], Awaitable[None]] | None = None) -> Outcome:
    """A whole scenario: open, run with the fault, finish. The servers are made whole first."""
    await fault_servers.call(fault_servers.make_whole)
    scenario = Scenario(fault_servers, size)
    try:
        await scenario.open()
        await scenario.run(fault)
    except BaseException:
        print("\n".join(describe(tab) for tab in scenario.tabs))
        await asyncio.gather(*(tab.stop() for tab in scenario.tabs))
        raise
    return await scenario.finish()


def describe(tab: SocketClient) -> str:
    """One line about a tab, for a scenario that failed before its comparison."""
    return (f"{tab.name}: on daphne {tab.connected_to}, ready {tab.ready}, {tab.welcomes} welcomes, "
            f"{len(tab.outbox)} in the outbox, last refusals {tab.refusals[-3:]}, {summary(tab.events)}")


# --- faults -----------------------------------------------------------------------------------------

def kill_daphnes(*, rounds: int, lead_in: float = 2.0, down: float = 1.0, between: float = 2.0):
    """kill -9 the daphne process holding the most sockets, start it again `down` seconds later; `rounds`
    times, `between` seconds apart. Its clients fail over to the other one."""
    async def fault(scenario: Scenario) -> None:
        await scenario.writing.wait()
        await asyncio.sleep(lead_in)
        for round_ in range(rounds):
            if round_:
                await asyncio.sleep(between)
            victim = scenario.busiest_daphne()
            scenario.servers.kill_daphne(victim)
            await asyncio.sleep(down)
            await scenario.servers.call(scenario.servers.restart_daphne, victim)
    return fault


def stall_redis_then_kill_a_daphne(*, stall: float = 2.0, lead_in: float = 3.0):
    """SIGSTOP Redis for `stall` seconds, SIGCONT, and right after kill -9 the busiest daphne (started
    again a second later)."""
    async def fault(scenario: Scenario) -> None:
        await scenario.writing.wait()
        await asyncio.sleep(lead_in)
        scenario.servers.redis.pause()
        await asyncio.sleep(stall)
        scenario.servers.redis.resume()
        await asyncio.sleep(0.5)
        await kill_daphnes(rounds=1, lead_in=0)(scenario)
    return fault


def stop_redis(*, seconds: float, lead_in: float = 3.0,
               while_down: Callable[[Scenario], Awaitable[None]] | None = None):
    """Stop Redis (SIGTERM: it exits and forgets everything), run `while_down`, start it again on the same
    port `seconds` after it stopped."""
    async def fault(scenario: Scenario) -> None:
        await scenario.writing.wait()
        await asyncio.sleep(lead_in)
        await scenario.servers.call(scenario.servers.redis.stop)
        stopped = time.monotonic()
        if while_down is not None:
            await while_down(scenario)
        await asyncio.sleep(max(0.0, seconds - (time.monotonic() - stopped)))
        await scenario.servers.call(scenario.servers.redis.start_again)
    return fault


def restart_postgres(*, times: int = 2, lead_in: float = 3.0, between: float = 4.0):
    """pg_ctl restart -m fast: every database session of both daphnes ends mid-chat."""
    async def fault(scenario: Scenario) -> None:
        await scenario.writing.wait()
        await asyncio.sleep(lead_in)
        for round_ in range(times):
            if round_:
                await asyncio.sleep(between)
            await scenario.servers.call(scenario.servers.restart_postgres)
    return fault


# --- a new socket while the servers cannot serve it ---------------------------------------------------

async def probe(url: str, *, origin: str, headers: dict[str, str] | None = None, timeout: float = 5.0) -> str:
    """Open a socket and tell how the server answered: "<error codes>, close <code>", "welcome" or
    "HTTP <status>". A refusal may come at once; a socket that says nothing is greeted."""
    try:
        async with websockets.connect(url, origin=origin, additional_headers=headers or {}, open_timeout=timeout,
                                      close_timeout=1) as socket:
            errors, greeted = [], False
            try:
                async with asyncio.timeout(timeout):
                    while True:
                        try:
                            frame = json.loads(await asyncio.wait_for(socket.recv(), 1.0))
                        except TimeoutError:
                            if not greeted:
                                await socket.send(json.dumps({"type": "hello"}))
                                greeted = True
                            continue
                        if frame["type"] == "welcome":
                            return "welcome"
                        if frame["type"] == "error":
                            errors.append(frame["code"])
            except (ConnectionClosed, TimeoutError):
                pass
            return f"{'+'.join(errors) or 'no error'}, close {socket.close_code}"
    except InvalidStatus as error:
        return f"HTTP {error.response.status_code}"
    except (OSError, TimeoutError, InvalidHandshake) as error:
        return type(error).__name__


# --- consoles closing while frames are sent to them ---------------------------------------------------

async def flicker_consoles(fault_servers: FaultServers, agent, conversation_ids: list[str], *, cycles: int,
                           at_once: int = 3) -> Counter:
    """Console tabs of one agent opened and closed in quick succession on both daphne processes while
    frames flow to them. Each asks in its hello for the replay of the agent's chats and goes a moment
    later: half close cleanly right after a `ping` (both frames in one write, so the server reads the
    close before it answers the ping: its `pong` is sent to a socket that is closing), half drop the
    connection without a close frame, as a network does. Returns how many of each happened."""
    done = Counter()
    endpoints = fault_servers.endpoints

    async def tab(number: int) -> None:
        endpoint = endpoints[number % len(endpoints)]
        try:
            socket = await websockets.connect(f"{endpoint}/ws/agent/", origin=page_of(endpoint), open_timeout=5,
                                              additional_headers={"Cookie": f"sessionid={agent.cookie}"})
        except (OSError, TimeoutError, InvalidHandshake) as error:
            done[f"not opened: {type(error).__name__}"] += 1
            return
        try:
            await socket.send(json.dumps({"type": "hello", "conversations": {cid: 0 for cid in conversation_ids}}))
            await asyncio.sleep(random.uniform(0.0, 0.25))
        except ConnectionClosed:
            done["closed by the server"] += 1
            return
        if number % 2:
            socket.transport.abort()
            done["dropped"] += 1
            return
        socket.transport.write(client_frame(OPCODE_TEXT, json.dumps({"type": "ping"}).encode())
                               + client_frame(OPCODE_CLOSE, CLOSE_NORMAL.to_bytes(2, "big")))
        await asyncio.sleep(0.2)  # the server's close; the connection is dropped after it either way
        socket.transport.abort()
        done["closed right after a ping"] += 1

    async def one_after_another(first: int) -> None:
        for number in range(first, cycles, at_once):
            await tab(number)

    await asyncio.gather(*(one_after_another(first) for first in range(at_once)))
    return done


OPCODE_TEXT, OPCODE_CLOSE = 0x1, 0x8
CLOSE_NORMAL = 1000


def client_frame(opcode: int, payload: bytes) -> bytes:
    """One final WebSocket frame as a client sends it (RFC 6455: masked), for payloads under 126 bytes."""
    mask = os.urandom(4)
    return bytes([0x80 | opcode, 0x80 | len(payload)]) + mask + bytes(
        byte ^ mask[index % 4] for index, byte in enumerate(payload))
