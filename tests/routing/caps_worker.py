"""One OS process of tests/routing/test_caps_processes.py (and bench/routing_bench.py does not use it).

    python tests/routing/caps_worker.py seed CHATS AGENTS CAP      -> {"site_id": ...}
    python tests/routing/caps_worker.py work SITE_ID START_AT SEED -> {"assigned": n, "races": n}
    python tests/routing/caps_worker.py report SITE_ID             -> loads and assignment counts

The database comes from DATABASE_URL, like any chatdesk process.
"""

import json
import os
import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "chatdesk.settings")

import django  # noqa: E402

django.setup()

from django.conf import settings  # noqa: E402

settings.CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}  # no sockets here

from django.contrib.auth import get_user_model  # noqa: E402
from django.db.models import Count, Q  # noqa: E402

from agents.models import Agent, AgentSkill, Department, Skill  # noqa: E402
from conversations import lifecycle  # noqa: E402
from conversations.models import Conversation, ConversationEvent, Site, Topic, Visitor  # noqa: E402
from routing import dispatch  # noqa: E402


def seed(chats: int, agents: int, cap: int) -> dict:
    site = Site.objects.create(key=f"caps{os.getpid()}", name="Caps")
    department = Department.objects.create(name=f"Caps {os.getpid()}")
    skill = Skill.objects.create(slug=f"caps{os.getpid()}", name="Caps")
    topic = Topic.objects.create(site=site, label="Orders", department=department)
    topic.skills.add(skill)
    for n in range(chats):  # before any agent exists, so the chats stay queued
        visitor = Visitor.objects.create(site=site, name=f"V{n}")
        lifecycle.start_conversation(site=site, visitor=visitor, topic=topic)
    for n in range(agents):
        user = get_user_model().objects.create_user(f"caps{os.getpid()}_{n}")
        agent = Agent.objects.create(user=user, display_name=f"A{n}", max_concurrent_chats=cap,
                                     status=Agent.Status.ONLINE)
        agent.departments.add(department)
        AgentSkill.objects.create(agent=agent, skill=skill, proficiency=1 + n % 5)
    return {"site_id": site.pk}


def agents_of(site_id: int):
    members = Agent.departments.through.objects.filter(department__topic__site_id=site_id).values("agent_id")
    return Agent.objects.filter(pk__in=members).order_by("id")


def work(site_id: int, start_at: float, seed_value: int) -> dict:
    """Routing passes and direct assignments of random chats to random agents, as fast as possible."""
    rng = random.Random(seed_value)
    chats = list(Conversation.objects.filter(site_id=site_id).values_list("id", flat=True))
    agents = list(agents_of(site_id))
    time.sleep(max(0.0, start_at - time.time()))
    assigned = races = 0
    for round_ in range(40):
        if round_ % 4 == 0:
            assigned += len(dispatch.route_waiting(site_id).assigned)
            continue
        try:
            lifecycle.assign_conversation(conversation_id=rng.choice(chats), agent=rng.choice(agents),
                                          actor=lifecycle.Actor.system(), reason={"test": "direct"})
            assigned += 1
        except lifecycle.LifecycleError:
            races += 1
    return {"assigned": assigned, "races": races}


def report(site_id: int) -> dict:
    loads = agents_of(site_id).annotate(
        active=Count("conversations", filter=Q(conversations__status__in=Conversation.ACTIVE_STATUSES))
    ).values_list("active", "max_concurrent_chats")
    per_conversation = ConversationEvent.objects.filter(
        conversation__site_id=site_id, kind=ConversationEvent.Kind.ASSIGNED
    ).values("conversation_id").annotate(n=Count("id")).values_list("n", flat=True)
    return {
        "loads": [list(pair) for pair in loads],
        "assigned_events": sum(per_conversation),
        "most_assignments_of_one_chat": max(per_conversation, default=0),
        # Routing passes accept at once (auto-accept); direct assignments stay assigned.
        "assigned_now": Conversation.objects.filter(site_id=site_id, status__in=Conversation.ACTIVE_STATUSES).count(),
        "queued_now": Conversation.objects.filter(site_id=site_id, status=Conversation.Status.QUEUED).count(),
    }


if __name__ == "__main__":
    mode, *args = sys.argv[1:]
    if mode == "seed":
        result = seed(*map(int, args))
    elif mode == "work":
        result = work(int(args[0]), float(args[1]), int(args[2]))
    else:
        result = report(int(args[0]))
    print(json.dumps(result))
