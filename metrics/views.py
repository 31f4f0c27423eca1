"""The pages where people read the metrics: /reports/ and the live wallboard /reports/wallboard/.

Both are one template and plain JavaScript modules (metrics/static/metrics/). The reports page
draws everything from the metrics REST API (/api/metrics/...), so the page and the API cannot
disagree; who sees what is the API's rule (metrics/permissions.py), and the page only leaves out
what the API would refuse: an agent sees their own numbers, without the team breakdowns.
The wallboard is fed by its socket (metrics/consumers.py) and is for supervisors and admins.
"""

from datetime import timedelta
from zoneinfo import ZoneInfo

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.shortcuts import render
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from agents.models import Department
from agents.permissions import agent_of, is_manager
from console.views import LOGIN_URL
from conversations.models import Site
from metrics.serializers import DEFAULT_DAYS, MAX_DAYS, MAX_HOUR_DAYS
from metrics.wallboard import may_watch

# Every string the pages' JavaScript shows; {n}, {name}… are filled in by the scripts.
UI_STRINGS = {
    "loading": _("Loading…"),
    "load_failed": _("Could not load the numbers: {reason}"),
    "no_data": _("No data in this range."),
    "chats": _("Chats"),
    "service_level": _("Service level"),
    "service_level_hint": _("answered within 20 s"),
    "frt_median": _("First response (median)"),
    "frt_hint": _("mean {mean} · p90 {p90}"),
    "wait_median": _("Speed of answer (median)"),
    "abandonment_rate": _("Abandonment rate"),
    "missed_rate": _("Missed rate"),
    "aht_mean": _("Handle time (mean)"),
    "fcr_rate": _("First contact resolution"),
    "occupancy": _("Occupancy"),
    "csat": _("CSAT"),
    "csat_hint": _("{n} responses"),
    "of_n": _("{a} of {b}"),
    "ended_hint": _("{n} ended · {closed} closed"),
    "missed_hint": _("{n} missed"),
    "abandoned_hint": _("{n} abandoned"),
    "volume": _("Chat volume"),
    "volume_legend_chats": _("Chats"),
    "volume_legend_offline": _("Offline messages"),
    "frt_chart": _("First response time"),
    "frt_legend_median": _("Median"),
    "frt_legend_p90": _("p90"),
    "frt_legend_mean": _("Mean"),
    "frt_distribution": _("Distribution over the range"),
    "frt_histogram": _("First replies per response time"),
    "sl_chart": _("Service level"),
    "sl_target": _("Target {n}"),
    "csat_chart": _("CSAT trend"),
    "agents": _("Agents"),
    "agent": _("Agent"),
    "closed": _("Closed"),
    "missed": _("Missed"),
    "aht": _("Handle time"),
    "frt": _("First response"),
    "chats_per_hour": _("Chats per hour"),
    "transfer_rate": _("Transfers"),
    "canned_share": _("Canned"),
    "tags": _("Tags"),
    "tag": _("Tag"),
    "share_of_ended": _("Share of ended chats"),
    "ended": _("Ended"),
    "departments": _("Departments"),
    "department": _("Department"),
    "no_department": _("(none)"),
    "download_csv": _("CSV"),
    "download_csv_of": _("Download {name} as CSV"),
    "sort_by": _("Sort by {name}"),
    "seconds": _("{n} s"),
    "minutes": _("{m} min {s} s"),
    "hours": _("{h} h {m} min"),
    "online": _("Online"),
    "away": _("Away"),
    "offline": _("Offline"),
    "waiting": _("Waiting"),
    "longest_wait": _("Longest wait"),
    "in_progress": _("Chats in progress"),
    "awaiting_accept": _("{n} awaiting accept"),
    "agents_online": _("Agents online"),
    "load": _("Load"),
    "load_of": _("{n} of {cap}"),
    "any_skill": _("Any skill"),
    "queue_by_skill": _("Queue by skill"),
    "nobody_waiting": _("Nobody is waiting."),
    "floor": _("Agents"),
    "status": _("Status"),
    "console_closed": _("console closed"),
    "today": _("Today"),
    "today_sl_hint": _("{a} of {b} answered within 20 s"),
    "today_chats_hint": _("{n} ended"),
    "updated": _("Updated {time}"),
    "live": _("Live"),
    "reconnecting": _("Reconnecting…"),
    "signed_out": _("You are signed out. Reload the page to sign in again."),
    "forbidden": _("Only supervisors and admins see the wallboard."),
    "err_range": _("The first day must not be after the last."),
}


def _config(request, **extra) -> dict:
    agent = agent_of(request.user)
    return {
        "strings": {key: str(value) for key, value in UI_STRINGS.items()},
        "me": {"name": agent.display_name if agent else request.user.get_username(),
               "agent_id": agent.pk if agent else None, "manager": is_manager(request.user)},
        "server_tz": settings.TIME_ZONE,
        **extra,
    }


def _forbidden(request, message):
    return render(request, "metrics/forbidden.html", {"message": message}, status=403)


@never_cache
@require_GET
@login_required(login_url=LOGIN_URL)
def reports_page(request):
    """Managers see the team; an agent sees their own numbers (the API forces the same)."""
    manager = is_manager(request.user)
    agent = agent_of(request.user)
    if not manager and agent is None:
        return _forbidden(request, _("This account has no agent profile. Ask an administrator to create one."))
    today = timezone.now().astimezone(ZoneInfo(settings.TIME_ZONE)).date()
    config = _config(
        request,
        api="/api/metrics/",
        defaults={"from": (today - timedelta(days=DEFAULT_DAYS - 1)).isoformat(), "to": today.isoformat(),
                  "granularity": "day"},
        limits={"max_days": MAX_DAYS, "max_hour_days": MAX_HOUR_DAYS},
        departments=[{"id": d.pk, "name": d.name} for d in Department.objects.order_by("name")] if manager else [],
        sites=[{"id": s.pk, "name": s.name} for s in Site.objects.order_by("name")] if manager else [],
    )
    return render(request, "metrics/reports.html", {
        "config": config, "manager": manager, "agent": agent, "page": "reports",
    })


@never_cache
@require_GET
@login_required(login_url=LOGIN_URL)
def wallboard_page(request):
    if not may_watch(request.user):
        return _forbidden(request, UI_STRINGS["forbidden"])
    config = _config(request, socket="/ws/wallboard/")
    return render(request, "metrics/wallboard.html", {
        "config": config, "manager": True, "agent": agent_of(request.user), "page": "wallboard",
    })
