"""Recompute the daily rollup for a range of days: manage.py backfill_metrics --from 2026-01-01 --to 2026-01-31"""

from datetime import date, timedelta

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from metrics import rollup


def _day(value: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise CommandError(f"not a date (YYYY-MM-DD): {value!r}") from None


class Command(BaseCommand):
    help = "Recompute the daily metrics rollup rows of each day in a range (server time zone), replacing them."

    def add_arguments(self, parser):
        parser.add_argument("--from", dest="first", required=True, help="first day, YYYY-MM-DD")
        parser.add_argument("--to", dest="last", required=True, help="last day, YYYY-MM-DD (included)")

    def handle(self, *args, first, last, **options):
        first_day, last_day = _day(first), _day(last)
        if last_day < first_day:
            raise CommandError("--to is before --from")
        total = (last_day - first_day).days + 1
        as_of = timezone.now()  # one "now" for the whole run
        rows = 0
        for done in range(total):
            day = first_day + timedelta(days=done)
            rows += rollup.rollup_day(day, as_of=as_of)
            filled = (done + 1) * 30 // total
            self.stdout.write(f"\r[{'#' * filled}{'.' * (30 - filled)}] {done + 1}/{total} {day}", ending="")
            self.stdout.flush()
        self.stdout.write("")
        self.stdout.write(self.style.SUCCESS(f"{total} days, {rows} rows ({rollup.rollup_zone()})"))
