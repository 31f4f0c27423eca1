"""The live wallboard's snapshot: the floor right now, and today's numbers so far.

One read, `snapshot()`, gives everything the wallboard page shows: queue length and longest wait
per skill (console.workspace.queue_summary, the console's own queue), agents by status and load,
chats in progress, and today's service level, first response and CSAT computed with the same code
as the metrics API (metrics.selectors), so the wallboard and /reports/ never disagree about today.

"Today" is the local day in the server's TIME_ZONE, from local midnight until now.
"""

from __future__ import annotations

from collections import Counter
from datetime import datetime
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db.models import Count, Q
from django.utils import timezone

from agents.models import Agent, Skill
from agents.permissions import is_manager
from console.workspace import queue_summary
from conversations.models import Conversation
from metrics import compute, selectors
from realtime.connections import consoles

# Today's numbers on the board; any CSAT number the metrics provide is shown too.
TODAY_METRICS = (
    "chats", "ended", "closed", "missed", "abandoned", "service_level", "service_level_answered",
    "service_level_eligible", "abandonment_rate", "first_response_seconds", "wait_seconds", "handle_seconds",
)


def may_watch(user) -> bool:
    """Staff, superusers and supervisors: the wallboard shows every agent and the whole queue."""
    return user is not None and is_manager(user)


def today_metrics(now: datetime, tz: ZoneInfo | None = None) -> dict:
    """The metrics of the local day containing `now`, up to `now`: the API's summary for today."""
    tz = tz or ZoneInfo(settings.TIME_ZONE)
    day = now.astimezone(tz).date()
    query = selectors.Query(first_day=day, last_day=day, granularity="day", tz=tz)
    _, tallies = selectors.compute_tallies(query, as_of=now, scopes=(compute.TOTAL,))
    row = selectors.combine(tallies, compute.TOTAL).get(compute.NO_KEY, compute.Tally()).metrics()
    shown = {name: row[name] for name in TODAY_METRICS if name in row}
    shown.update({name: value for name, value in row.items() if name.startswith("csat")})
    return {"day": day.isoformat(), "tz": str(tz), **shown}


def agents_on_the_floor() -> list[dict]:
    """Every agent: status, chats in progress against their cap, console connected (one query + Redis)."""
    agents = list(Agent.objects.annotate(
        active=Count("conversations", filter=Q(conversations__status__in=Conversation.ACTIVE_STATUSES))
    ).order_by("display_name", "id"))
    connected = consoles.connected([a.pk for a in agents])
    return [{"id": a.pk, "name": a.display_name, "role": a.role, "status": a.status, "active": a.active,
             "cap": a.max_concurrent_chats, "connected": a.pk in connected} for a in agents]


def snapshot(now: datetime | None = None) -> dict:
    """The `wallboard` frame."""
    now = now or timezone.now()
    queue = queue_summary(now)
    skill_names = dict(Skill.objects.values_list("slug", "name"))
    agents = agents_on_the_floor()
    by_status = Counter(a["status"] for a in agents)
    in_progress = Counter(Conversation.objects.filter(status__in=Conversation.ACTIVE_STATUSES).values_list("status", flat=True))
    return {
        "type": "wallboard",
        "at": now.isoformat(),
        "queue": {
            "waiting": queue["waiting"],
            "longest_wait_seconds": queue["longest_wait_seconds"],
            "by_skill": [{**entry, "name": skill_names.get(entry["skill"], entry["skill"])}
                         for entry in queue["by_skill"]],
        },
        "agents": agents,
        "agents_by_status": {status: by_status.get(status, 0) for status in Agent.Status.values},
        "chats_in_progress": sum(in_progress.values()),
        "chats_assigned": in_progress.get(Conversation.Status.ASSIGNED, 0),
        "load": {"active": sum(a["active"] for a in agents if a["status"] == Agent.Status.ONLINE),
                 "capacity": sum(a["cap"] for a in agents if a["status"] == Agent.Status.ONLINE)},
        "today": today_metrics(now),
    }
