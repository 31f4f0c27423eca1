"""What one change of the floor costs with many consoles and wallboards open.

    .venv/bin/python bench/floor_bench.py                         # SQLite file in a temp folder
    .venv/bin/python bench/floor_bench.py --postgres              # a throwaway PostgreSQL cluster
    .venv/bin/python bench/floor_bench.py --queued 500 --changes 20 --json out.json

With QUEUED chats waiting (routing off, so they stay), it opens the consoles and wallboards of
each configuration (`--setups`, CONSOLES:WALLBOARDS; one console is a supervisor's) as real
WebSockets against the ASGI application in this process, then makes CHANGES changes one after
another: a waiting chat is abandoned through the lifecycle. Each change is done once every
console shows the new queue and every wallboard a snapshot taken after it.

Reported per setup, as medians over the changes: database queries in this process (the change,
the read models and whatever any socket reads), CPU seconds of this process (the change, the read
models, and every socket taking in and sending its frames), and milliseconds until the last
socket showed it; and each ratio against the first setup, the baseline of the same run. A
wallboard snapshot is taken at most once a second (metrics/subscribers.py), so a setup with
wallboards waits about a second per change. Frames go through the in-memory channel layer, so
the numbers are ours, not Redis's.
"""

import argparse
import asyncio
import json
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--setups", nargs="+", default=["1:0", "10:0", "50:0", "1:10", "1:50"],
                    help="CONSOLES:WALLBOARDS pairs; the first is the baseline")
parser.add_argument("--queued", type=int, default=500)
parser.add_argument("--changes", type=int, default=20)
parser.add_argument("--postgres", action="store_true", help="start a temporary PostgreSQL cluster for the run")
parser.add_argument("--json", type=Path, help="also write the results to this file")
ARGS = parser.parse_args()

os.environ["DELIVERY_CHECK_SECONDS"] = "3600"  # no periodic check in the numbers
os.environ["UNLIMITED_LOOPBACK"] = "1"

from bench.django_setup import setup  # noqa: E402

setup("floor-bench-", postgres=ARGS.postgres, layer_capacity=10_000)

from channels.db import database_sync_to_async as db  # noqa: E402
from django.conf import settings  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.utils import timezone  # noqa: E402

from agents.models import Agent  # noqa: E402
from conversations import lifecycle  # noqa: E402
from conversations.models import Conversation, Site, Visitor  # noqa: E402
from routing import dispatch  # noqa: E402
from tests.console.console import connect, open_staff_socket  # noqa: E402
from tests.personas import make_agent  # noqa: E402
from tests.queries import QueryCounter  # noqa: E402

# Waiting chats stay where the bench puts them.
dispatch.route_waiting = lambda *args, **kwargs: None
dispatch.route_all_sites = lambda *args, **kwargs: 0


def prepare(queued: int, agents: int) -> tuple[Site, list[Agent]]:
    call_command("migrate", "--noinput", verbosity=0)
    site = Site.objects.create(key="bench", name="Bench", allowed_origins=["https://bench.test"])
    now = timezone.now()
    visitors = Visitor.objects.bulk_create([Visitor(site=site, name=f"V{n}") for n in range(queued)])
    Conversation.objects.bulk_create([Conversation(site=site, visitor=visitor, status=Conversation.Status.QUEUED,
                                                   queued_at=now) for visitor in visitors])
    staff = [make_agent("sam", role=Agent.Role.SUPERVISOR)]
    staff += [make_agent(f"agent{n}") for n in range(agents - 1)]
    for agent in staff:
        agent.user.is_staff = True
        agent.user.save(update_fields=["is_staff"])
    return site, staff


class Wallboard:
    def __init__(self, communicator):
        self.communicator = communicator

    async def next_snapshot(self, timeout: float = 10) -> dict:
        while True:
            frame = json.loads(await self.communicator.receive_from(timeout=timeout))
            if frame["type"] == "wallboard":
                return frame


async def open_wallboard(user) -> Wallboard:
    board = Wallboard(await open_staff_socket("/ws/wallboard/", user))
    await board.communicator.send_to(text_data=json.dumps({"type": "hello"}))
    await board.next_snapshot()
    return board


async def one_change(site: Site, consoles, wallboards) -> float:
    waiting = await db(Conversation.objects.filter(status=Conversation.Status.QUEUED).count)()
    chat_id = await db(lambda: Conversation.objects.filter(site=site, status=Conversation.Status.QUEUED)
                       .values_list("pk", flat=True).first())()
    started = time.monotonic()
    await db(lifecycle.close_conversation)(conversation_id=chat_id, actor=lifecycle.Actor.visitor())
    for each in consoles:
        await each.receive_until("queue", timeout=10, waiting=waiting - 1)
    for board in wallboards:
        while (await board.next_snapshot())["queue"]["waiting"] != waiting - 1:
            pass
    return (time.monotonic() - started) * 1000


async def measure(site: Site, staff: list[Agent], consoles_wanted: int, wallboards_wanted: int, changes: int,
                  queries: QueryCounter) -> dict:
    consoles = [await connect(agent) for agent in staff[:consoles_wanted]]
    for each in consoles:
        await each.hello()
    wallboards = [await open_wallboard(staff[0].user) for _ in range(wallboards_wanted)]
    await asyncio.sleep(1.2)  # the greetings' reads are over, and the wallboards' interval too
    counted, cpu, waited = [], [], []
    for _ in range(changes):
        before_queries, before_cpu = queries.count, time.process_time()
        waited.append(await one_change(site, consoles, wallboards))
        await asyncio.sleep(0.2)  # anything a socket would still read or send
        counted.append(queries.count - before_queries)
        cpu.append(time.process_time() - before_cpu)
    for socket in consoles:
        await socket.disconnect()
    for board in wallboards:
        await board.communicator.disconnect()
    return {"consoles": consoles_wanted, "wallboards": wallboards_wanted, "changes": changes,
            "queries_per_change": statistics.median(counted),
            "cpu_ms_per_change": round(statistics.median(cpu) * 1000, 1),
            "ms_until_every_socket_shows_it": round(statistics.median(waited), 1)}


async def main() -> None:
    setups = [tuple(int(n) for n in setup.split(":")) for setup in ARGS.setups]
    site, staff = await db(prepare)(ARGS.queued + ARGS.changes * len(setups), max(c for c, _ in setups))
    queries = QueryCounter()
    results = []
    for consoles, wallboards in setups:
        result = await measure(site, staff, consoles, wallboards, ARGS.changes, queries)
        if results:
            base = results[0]
            for key in ("queries_per_change", "cpu_ms_per_change"):
                result[f"{key}_vs_baseline"] = round(result[key] / base[key], 2) if base[key] else None
        results.append(result)
        print(json.dumps(result), flush=True)
    if ARGS.json:
        ARGS.json.write_text(json.dumps({"queued": ARGS.queued, "database": settings.DATABASES["default"]["ENGINE"],
                                         "results": results}, indent=2))


if __name__ == "__main__":
    asyncio.run(main())
