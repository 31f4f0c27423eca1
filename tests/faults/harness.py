"""Live servers a test may break: two daphne processes on one database and a Redis of their own.

The Redis is a DedicatedRedis (tests/servers.py): it may be stalled with SIGSTOP, stopped and started
again on the same port, because no other test uses it. With `postgres=True` the database lives on a
throwaway PostgreSQL server of this set alone (tests/pg.py), which a test may restart; otherwise on a
SQLite file. Either daphne may be killed with SIGKILL and started again on its port.

A pool of agents (users without passwords, signed in by a session made on the server, as
tests/console/workspace.py does in process) is made once; each scenario starts from a clear floor: every
agent offline and every open chat closed.
"""

import asyncio
import contextlib
import json
import sys
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from tests import pg, servers
from tests.faults.clients import Agent
from tests.faults.ledger import Stored, StoredMessage

AGENTS = 4  # the pool's size and each agent's cap, unless start_fault_servers is told otherwise
CAP = 2
SETTINGS = {
    # Presence windows of seconds instead of a minute, so a test can wait for them: a console silent
    # for three beats (3 s) stops counting, and an agent gone for 4 s more is released.
    "AGENT_CONSOLE_HEARTBEAT_SECONDS": "1",
    "AGENT_DISCONNECT_GRACE_SECONDS": "4",
}


@dataclass
class FaultServers:
    live: servers.LiveServer
    redis: servers.DedicatedRedis
    postgres_url: str | None  # the PostgreSQL server of this set alone; None on SQLite
    agents: list[Agent]
    # The one thread that (re)starts processes while a test runs. A child started with die_with_parent
    # gets SIGTERM when the *thread* that started it ends (PR_SET_PDEATHSIG), and asyncio's worker
    # threads end with each test's event loop: a daphne restarted from one would die with the test.
    starter: ThreadPoolExecutor

    async def call(self, function: Callable, *args):
        """A blocking call (one that may start a process) in the starter thread, off the event loop."""
        return await asyncio.get_running_loop().run_in_executor(self.starter, function, *args)

    @property
    def endpoints(self) -> list[str]:
        return [daphne.ws_url for daphne in self.live.daphnes]

    @property
    def origin(self) -> str:
        """The demo shop's page: the origin load_demo allows for the widget."""
        return self.live.url

    def kill_daphne(self, index: int) -> None:
        self.live.daphnes[index].kill()

    def restart_daphne(self, index: int) -> None:
        self.live.restart_daphne(self.live.daphnes[index])

    def restart_postgres(self) -> None:
        servers.restart_postgres(self.postgres_url)

    def make_whole(self) -> None:
        """Redis and both daphnes running, whatever the last scenario left."""
        if not self.redis.alive():
            self.redis.start_again()
        for index, daphne in enumerate(self.live.daphnes):
            if not daphne.process.alive():
                self.restart_daphne(index)

    def shell(self, code: str) -> str:
        return servers.shell(self.live, code)


@contextlib.contextmanager
def start_fault_servers(folder: Path, *, postgres: bool, agents: int = AGENTS,
                        cap: int = CAP) -> Iterator[FaultServers]:
    starter = ThreadPoolExecutor(max_workers=1, thread_name_prefix="fault-servers")
    redis = starter.submit(servers.DedicatedRedis(folder / "redis").start).result()
    try:
        with pg.postgres_server() if postgres else contextlib.nullcontext() as postgres_url:
            live = starter.submit(servers.start_live_server, postgres_url=postgres_url, folder=folder / "live",
                                  redis_url=redis.url, settings=SETTINGS).result()
            try:
                starter.submit(live.start_another_daphne).result()
                yield FaultServers(live=live, redis=redis, postgres_url=postgres_url,
                                   agents=make_agents(live, agents, cap), starter=starter)
            finally:
                # Processes that died by themselves, not by a fault's kill -9: their end is worth showing.
                crashed = [p for p in live.processes if not p.alive() and p.popen.returncode != -9]
                live.stop()
                for process in crashed:
                    print(f"\n{process.name} had exited with status {process.popen.returncode}:\n{process.tail()}",
                          file=sys.__stderr__)
    finally:
        redis.stop()
        starter.shutdown()


def make_agents(live: servers.LiveServer, count: int, cap: int) -> list[Agent]:
    """Agents with every skill in the demo department, each signed in."""
    rows = json.loads(servers.shell(live, (
        "import json\n"
        "from django.contrib.auth import get_user_model\n"
        "from django.test import Client\n"
        "from agents.models import Agent, AgentSkill, Department, Skill\n"
        "department = Department.objects.get(name='Support')\n"
        "rows = []\n"
        f"for number in range(1, {count + 1}):\n"
        "    user, _ = get_user_model().objects.get_or_create(username=f'fault{number}')\n"
        "    agent, _ = Agent.objects.update_or_create(user=user, defaults={\n"
        f"        'display_name': f'Fault agent {{number}}', 'role': 'agent', 'max_concurrent_chats': {cap}}})\n"
        "    agent.departments.add(department)\n"
        "    for skill in Skill.objects.all():\n"
        "        AgentSkill.objects.update_or_create(agent=agent, skill=skill, defaults={'proficiency': 3})\n"
        "    client = Client()\n"
        "    client.force_login(user)\n"
        "    rows.append([agent.pk, user.username, agent.display_name, client.cookies['sessionid'].value])\n"
        "print(json.dumps(rows))\n"
    )))
    return [Agent(agent_id=pk, username=username, name=name, cookie=cookie) for pk, username, name, cookie in rows]


def clear_floor(fault_servers: FaultServers) -> None:
    """Every agent offline and every open chat closed: the next chats go to the agents a scenario puts
    online, with all their slots free."""
    fault_servers.shell(
        "from agents.models import Agent\n"
        "from agents.presence import set_agent_status\n"
        "from conversations import lifecycle\n"
        "from conversations.models import Conversation\n"
        "for agent in Agent.objects.exclude(status='offline'):\n"
        "    set_agent_status(agent, 'offline')\n"
        "for pk in Conversation.objects.filter(status__in=Conversation.OPEN_STATUSES).values_list('pk', flat=True):\n"
        "    lifecycle.close_conversation(conversation_id=pk, actor=lifecycle.Actor.system())\n"
    )


def read_stored(fault_servers: FaultServers, conversation_ids: list[str]) -> Stored:
    rows = json.loads(fault_servers.shell(
        "import json\n"
        "from conversations.models import Conversation, Message\n"
        f"ids = {conversation_ids!r}\n"
        "chats = {str(c.public_id): [c.status, c.assigned_agent_id, c.last_seq]\n"
        "         for c in Conversation.objects.filter(public_id__in=ids)}\n"
        "messages = list(Message.objects.filter(conversation__public_id__in=ids).order_by('conversation', 'seq')\n"
        "                .values_list('conversation__public_id', 'seq', 'client_id', 'author', 'visibility', 'text'))\n"
        "print(json.dumps({'chats': chats, 'messages': [[str(m[0]), *m[1:]] for m in messages]}))\n"
    ))
    messages = {conversation_id: [] for conversation_id in rows["chats"]}
    for conversation_id, *message in rows["messages"]:
        messages[conversation_id].append(StoredMessage(*message))
    return Stored(messages=messages, status={cid: chat[0] for cid, chat in rows["chats"].items()},
                  agent_of={cid: chat[1] for cid, chat in rows["chats"].items()},
                  last_seq={cid: chat[2] for cid, chat in rows["chats"].items()})


@dataclass
class Handovers:
    """Who had which chat when, from the event log (the scenarios transfer nothing: a chat is assigned,
    then requeued or ended): the most chats each agent held at once, and chats assigned while an agent
    still had them."""

    most_at_once: dict[int, int]
    caps: dict[int, int]
    double_assignments: list[str]

    @property
    def over_cap(self) -> dict[int, int]:
        return {agent: most for agent, most in self.most_at_once.items() if most > self.caps[agent]}


def read_handovers(fault_servers: FaultServers, conversation_ids: list[str]) -> Handovers:
    rows = json.loads(fault_servers.shell(
        "import json\n"
        "from agents.models import Agent\n"
        "from conversations.models import ConversationEvent\n"
        f"ids = {conversation_ids!r}\n"
        "kinds = ['assigned', 'requeued', 'closed', 'missed', 'abandoned']\n"
        "events = ConversationEvent.objects.filter(conversation__public_id__in=ids, kind__in=kinds).order_by('id')\n"
        "print(json.dumps({'events': [[str(e.conversation.public_id), e.kind, e.details.get('agent_id')]\n"
        "                             for e in events.select_related('conversation')],\n"
        "                  'caps': {a.pk: a.max_concurrent_chats for a in Agent.objects.all()}}))\n"
    ))
    holder: dict[str, int | None] = {}
    held: dict[int, set[str]] = {}
    most: dict[int, int] = {}
    doubles = []
    for conversation_id, kind, agent_id in rows["events"]:
        previous = holder.pop(conversation_id, None)
        if previous is not None:
            held[previous].discard(conversation_id)
        if kind == "assigned":
            if previous is not None:
                doubles.append(f"{conversation_id[:8]} assigned to {agent_id} while agent {previous} had it")
            holder[conversation_id] = agent_id
            held.setdefault(agent_id, set()).add(conversation_id)
            most[agent_id] = max(most.get(agent_id, 0), len(held[agent_id]))
    return Handovers(most_at_once=most, caps={int(pk): cap for pk, cap in rows["caps"].items()},
                     double_assignments=doubles)


def consoles_counted(fault_servers: FaultServers, agent_id: int, *, until: float) -> int:
    """How many of the agent's console sockets count as connected (realtime.connections.consoles),
    read until none does or until the unix time `until`."""
    return int(fault_servers.shell(
        "import time\n"
        "from realtime.connections import consoles\n"
        f"while consoles.live_sockets({agent_id}) and time.time() < {until}:\n"
        "    time.sleep(0.1)\n"
        f"print(consoles.live_sockets({agent_id}))\n"
    ))


@dataclass
class Release:
    """What the disconnect grace period did to an agent (routing/grace.py)."""

    status: str
    requeued_at: dict[str, float]  # conversation id -> unix time of its requeue for agent_disconnected


def read_release(fault_servers: FaultServers, agent_id: int) -> Release:
    row = json.loads(fault_servers.shell(
        "import json\n"
        "from agents.models import Agent\n"
        "from conversations.models import ConversationEvent\n"
        f"events = ConversationEvent.objects.filter(kind='requeued', details__from_agent_id={agent_id})\n"
        f"status = Agent.objects.get(pk={agent_id}).status\n"
        "requeued = {str(e.conversation.public_id): e.at.timestamp() for e in events.select_related('conversation')\n"
        "            if e.details.get('reason') == 'agent_disconnected'}\n"
        "print(json.dumps([status, requeued]))\n"
    ))
    return Release(status=row[0], requeued_at=row[1])
