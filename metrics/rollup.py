"""The daily rollup: one day's tallies stored as DailyRollup rows, recomputed from the events.

A day is a calendar day in the server time zone (settings.TIME_ZONE, UTC unless set). Computing a
day deletes that day's rows and writes the new ones in one transaction, so a reader sees the old
rows or the new ones, never a mix, and running it again gives the same rows (it reads only event
rows; `as_of` fixes "now" for chats still open and for the first-contact-resolution window).
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from metrics import compute, selectors
from metrics.models import DailyRollup


def rollup_zone() -> ZoneInfo:
    return ZoneInfo(settings.TIME_ZONE)


def local_today(now: datetime | None = None) -> date:
    return (now or timezone.now()).astimezone(rollup_zone()).date()


def rollup_day(day: date, *, as_of: datetime | None = None) -> int:
    """Recompute one day's rows (total, per agent, per department, per tag); returns how many."""
    as_of = as_of or timezone.now()
    tz = rollup_zone()
    _, tallies = selectors.compute_tallies(selectors.Query(first_day=day, last_day=day, tz=tz), as_of=as_of)
    tallies.setdefault((0, compute.TOTAL, compute.NO_KEY), compute.Tally())  # a computed empty day has its row
    rows = [DailyRollup.from_tally(tally, day=day, time_zone=str(tz), scope=scope, key=key, computed_at=as_of)
            for (_, scope, key), tally in sorted(tallies.items())]
    for attempt in (1, 2):
        try:
            with transaction.atomic():
                DailyRollup.objects.filter(day=day).delete()
                DailyRollup.objects.bulk_create(rows)
            return len(rows)
        except IntegrityError:
            # Another run wrote the same day between our delete and insert (PostgreSQL: it had not
            # committed when we deleted). It has committed now; replace its rows with ours.
            if attempt == 2:
                raise
    return 0


def days_to_refresh(now: datetime | None = None, *, config: compute.Config = compute.DEFAULT_CONFIG) -> list[date]:
    """Today, yesterday (its last minutes and late closes) and the day whose FCR window just ended."""
    today = local_today(now)
    settled = today - timedelta(days=config.fcr_window.days + 1)
    return [settled, today - timedelta(days=1), today]
