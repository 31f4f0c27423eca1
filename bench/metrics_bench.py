"""The daily rollup and the report API over a generated history (bench/metrics_history.py).

    .venv/bin/python bench/metrics_history.py --pgdata /tmp/chatdesk-metrics-pg     # first, once
    .venv/bin/python bench/metrics_bench.py --pgdata /tmp/chatdesk-metrics-pg

It starts the cluster the generator left in --pgdata (or uses --database-url), then times:

1. the backfill of every day of the history (`rollup.rollup_day` per day, as the management command
   does): the whole run once, and the median and max of its days;
2. one full day's rollup recomputed: a busy weekday in the middle of the history, --runs times;
3. `GET /api/metrics/agents/` over the last 30 settled days (they end 8 days before the last day of
   the history: see metrics/reports.py), through DRF as a staff user: from the rollup rows, --runs
   times; then the same request with the rollup switched off (every day replayed from the events,
   as before), --live-runs times, in the same run; the two answers are compared.

Medians in seconds, with the ratio; JSON to stdout. The server TIME_ZONE is UTC, as at generation.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.metrics_history import Cluster  # noqa: E402


def timed(fn, runs: int) -> tuple[list[float], object]:
    seconds, result = [], None
    for _ in range(runs):
        started = time.perf_counter()
        result = fn()
        seconds.append(time.perf_counter() - started)
    return seconds, result


def summary(seconds: list[float]) -> dict:
    return {"runs": len(seconds), "median_s": round(statistics.median(seconds), 4),
            "min_s": round(min(seconds), 4), "max_s": round(max(seconds), 4)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    where = parser.add_mutually_exclusive_group()
    where.add_argument("--pgdata", type=Path, default=Path("/tmp/chatdesk-metrics-pg"))
    where.add_argument("--database-url")
    parser.add_argument("--runs", type=int, default=5, help="repetitions of the day rollup and the rollup report")
    parser.add_argument("--live-runs", type=int, default=5, help="repetitions of the live (events) report")
    parser.add_argument("--skip-backfill", action="store_true", help="the rollup rows are there already")
    parser.add_argument("--report-days", type=int, default=30)
    args = parser.parse_args()

    cluster = None
    if args.database_url:
        url = args.database_url
    else:
        cluster = Cluster(args.pgdata)
        url = cluster.start()
    os.environ.update(DATABASE_URL=url, TIME_ZONE="UTC", DEBUG="0", CHATDESK_DEMO="1", LOG_LEVEL="WARNING")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "chatdesk.settings")
    try:
        print(json.dumps(run(args), indent=2))
    finally:
        if cluster is not None:
            cluster.stop()


def run(args) -> dict:
    import django

    django.setup()
    from django.contrib.auth import get_user_model
    from django.core.management import call_command
    from django.db.models import Max, Min
    from django.utils import timezone
    from rest_framework.test import APIClient

    from conversations.models import Conversation, ConversationEvent, Message
    from metrics import reports, rollup
    from metrics.models import DailyRollup

    call_command("migrate", verbosity=0)  # a history written by an earlier version gets today's schema
    span = Conversation.objects.aggregate(first=Min("created_at"), last=Max("created_at"))
    first_day, last_day = span["first"].date(), span["last"].date()
    out: dict = {"history": {"first_day": first_day.isoformat(), "last_day": last_day.isoformat(),
                             "conversations": Conversation.objects.count(), "messages": Message.objects.count(),
                             "events": ConversationEvent.objects.count()}}

    # 1. The backfill of the whole history, one "now" for the run (as the management command).
    if not args.skip_backfill:
        as_of, per_day = timezone.now(), []
        started = time.perf_counter()
        day = first_day
        while day <= last_day:
            t = time.perf_counter()
            rollup.rollup_day(day, as_of=as_of)
            per_day.append(time.perf_counter() - t)
            print(f"\rbackfill {day} {per_day[-1]:.2f} s", end="", file=sys.stderr, flush=True)
            day += timedelta(days=1)
        print(file=sys.stderr)
        out["backfill"] = {"days": len(per_day), "total_s": round(time.perf_counter() - started, 1),
                           "per_day_median_s": round(statistics.median(per_day), 3),
                           "per_day_max_s": round(max(per_day), 3), "rows": DailyRollup.objects.count()}

    # 2. One busy day recomputed (a Tuesday in the middle of the history).
    day = first_day + timedelta(days=(last_day - first_day).days // 2)
    day += timedelta(days=(1 - day.weekday()) % 7)
    seconds, rows = timed(lambda: rollup.rollup_day(day), args.runs)
    out["rollup_day"] = {"day": day.isoformat(), "rows": rows,
                         "chats_queued": ConversationEvent.objects.filter(kind="queued", at__date=day).count(),
                         **summary(seconds)}

    # 3. The 30-day per-agent report: from the rollup, then replayed from the events.
    to_day = last_day - timedelta(days=8)
    from_day = to_day - timedelta(days=args.report_days - 1)
    User = get_user_model()
    staff, _ = User.objects.get_or_create(username="bench-staff", defaults={"is_staff": True})
    client = APIClient()
    client.force_authenticate(staff)
    params = {"from": from_day.isoformat(), "to": to_day.isoformat(), "tz": "UTC"}

    def report():
        response = client.get("/api/metrics/agents/", params, HTTP_HOST="localhost")
        assert response.status_code == 200, response.content[:500]
        return response.json()

    settled = reports.settled_days(
        reports.selectors.Query(first_day=from_day, last_day=to_day, tz=rollup.rollup_zone()), as_of=timezone.now())
    seconds, from_rollups = timed(report, args.runs)
    out["report_from_rollups"] = {"range": [from_day.isoformat(), to_day.isoformat()],
                                  "settled_days": len(settled), "agent_rows": len(from_rollups["rows"]),
                                  **summary(seconds)}
    original = reports.settled_days
    reports.settled_days = lambda *a, **k: set()  # every day from the events, as before the rollup was read
    try:
        seconds, live = timed(report, args.live_runs)
    finally:
        reports.settled_days = original
    out["report_from_events"] = summary(seconds)
    out["report_ratio_events_over_rollups"] = round(
        out["report_from_events"]["median_s"] / out["report_from_rollups"]["median_s"], 1)
    out["report_answers_equal"] = live == from_rollups
    return out


if __name__ == "__main__":
    main()
