from datetime import date

from celery import shared_task

from metrics import rollup


@shared_task
def rollup_recent_days() -> int:
    """Run by beat every 5 minutes (metrics/migrations/0002): today's, yesterday's and the FCR-settled
    day's rollup rows. Idempotent: each run replaces those days' rows with a fresh computation."""
    return sum(rollup.rollup_day(day) for day in rollup.days_to_refresh())


@shared_task
def rollup_day(day_iso: str) -> int:
    """Recompute one day (YYYY-MM-DD in the server time zone)."""
    return rollup.rollup_day(date.fromisoformat(day_iso))
