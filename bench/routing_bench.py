"""Routing under load: a burst of arriving chats, then a steady stream of closes that free slots.

    .venv/bin/python bench/routing_bench.py                                  # SQLite file in a temp folder
    DATABASE_URL=postgres://user@host:port/emptydb .venv/bin/python bench/routing_bench.py
    .venv/bin/python bench/routing_bench.py --sizes 50:500 200:2000 --closes 300

For each size AGENTS:CHATS it migrates a fresh database (SQLite) or flushes the given one
(PostgreSQL: use a throwaway database), puts AGENTS agents online (cap 3, two or three of five
skills at mixed proficiency), then starts CHATS chats one after another through the lifecycle,
as visitors would, each followed by its on-commit routing pass. Then it closes CLOSES assigned
chats one by one; each close's pass gives the freed slot to the next matching waiting chat.
Reported: time to route the burst, assignments per second, database queries per assignment
(burst) and per close-and-reassign (closes), and queue frames sent. Frames go to the in-memory
channel layer, so the numbers are routing and database work, not Redis.
"""

import argparse
import json
import os
import random
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DEBUG", "1")
os.environ.setdefault("LOG_LEVEL", "WARNING")
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "chatdesk.settings")
_tmp = tempfile.TemporaryDirectory(prefix="routing-bench-")
os.environ.setdefault("DATABASE_URL", f"sqlite:///{_tmp.name}/bench.sqlite3")

import django  # noqa: E402

django.setup()

from django.conf import settings  # noqa: E402

# No sockets listen here; the in-memory layer keeps Redis out of the numbers.
settings.CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}

from django.contrib.auth import get_user_model  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.db import connection, reset_queries  # noqa: E402

from agents import dispatch  # noqa: E402
from agents.models import Agent, AgentSkill, Department, Skill  # noqa: E402
from conversations import lifecycle  # noqa: E402
from conversations.models import Conversation, Site, Topic, Visitor  # noqa: E402

SKILLS = ["orders", "billing", "technical", "returns", "lithuanian"]


class Counter:
    """Counts queries and queue frames without keeping them."""

    def __init__(self):
        self.queries = 0
        self.frames = 0
        real = dispatch._publish_frames

        def count_frames(frames):
            self.frames += len(frames)
            real(frames)

        dispatch._publish_frames = count_frames

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


def run(agents: int, chats: int, closes: int, seed_value: int) -> dict:
    rng = random.Random(seed_value)
    fresh_database()
    site, topics = seed(agents, rng)
    visitors = Visitor.objects.bulk_create(Visitor(site=site, name=f"V{n}") for n in range(chats))
    counter = Counter()
    reset_queries()
    with connection.execute_wrapper(counter):
        started = time.perf_counter()
        for visitor in visitors:
            lifecycle.start_conversation(site=site, visitor=visitor, topic=rng.choice(topics))
        burst_seconds = time.perf_counter() - started
        burst_queries, burst_frames = counter.queries, counter.frames
        burst_assigned = Conversation.objects.filter(status=Conversation.Status.ASSIGNED).count()
        queued = Conversation.objects.filter(status=Conversation.Status.QUEUED).count()
        counter.queries = counter.frames = 0

        assigned_ids = list(Conversation.objects.filter(status=Conversation.Status.ASSIGNED)
                            .values_list("id", flat=True))
        rng.shuffle(assigned_ids)
        before = Conversation.objects.filter(status=Conversation.Status.ASSIGNED).count()
        counter.queries = counter.frames = 0
        started = time.perf_counter()
        for conversation_id in assigned_ids[:closes]:
            lifecycle.close_conversation(conversation_id=conversation_id, actor=lifecycle.Actor.system())
        close_seconds = time.perf_counter() - started
        close_queries, close_frames = counter.queries, counter.frames
    after = Conversation.objects.filter(status=Conversation.Status.ASSIGNED).count()
    reassigned = after - before + min(closes, len(assigned_ids))
    return {
        "database": connection.vendor, "agents": agents, "chats": chats,
        "burst": {
            "seconds": round(burst_seconds, 2), "assigned": burst_assigned, "left_queued": queued,
            "chats_per_second": round(chats / burst_seconds, 1),
            "queries_per_chat": round(burst_queries / chats, 1),
            "queue_frames": burst_frames,
        },
        "closes": {
            "closed": min(closes, len(assigned_ids)), "reassigned": reassigned, "seconds": round(close_seconds, 2),
            "assignments_per_second": round(reassigned / close_seconds, 1) if close_seconds else None,
            "queries_per_close_and_reassign": round(close_queries / max(1, min(closes, len(assigned_ids))), 1),
            "queue_frames": close_frames,
        },
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", nargs="+", default=["50:500", "200:2000"], help="AGENTS:CHATS pairs")
    parser.add_argument("--closes", type=int, default=300)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--json", type=Path, help="also write the results to this file")
    args = parser.parse_args()
    results = []
    for size in args.sizes:
        agents, chats = map(int, size.split(":"))
        result = run(agents, chats, args.closes, args.seed)
        results.append(result)
        print(json.dumps(result), flush=True)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
