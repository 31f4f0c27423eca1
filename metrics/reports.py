"""The tallies of a report: whole settled days from the daily rollup, the other days from the events.

`compute_tallies` gives the same answer as selectors.compute_tallies (the API called that before),
so the numbers do not depend on whether a day has been rolled up. A day is read from its
DailyRollup rows only when its rows cannot differ from a computation now:

* the query is per day (granularity `day`), in the rollup's zone, without a site, department or tag
  filter: rollup rows are per calendar day of the server zone and hold no per-site split, and a
  week or month counts an agent's chat once however many days it was assigned on;
* the day is settled: its rows were computed, and the report is computed, at least the FCR window
  (7 days) after the day ended, so every first-contact window of the day had passed both times.
  Until then a day's FCR numbers still change, so the last 8 days of a report always come from the
  events. Days without rows, or with rows computed earlier, come from the events too.

The other days are computed from the events in runs of consecutive days (one load per run).
"""

from __future__ import annotations

import dataclasses
from datetime import date, datetime, timedelta

from django.utils import timezone

from metrics import compute, rollup, selectors
from metrics.models import DailyRollup


def rollups_apply(query: selectors.Query) -> bool:
    """Whether whole days of this query may come from rollup rows at all."""
    return (query.granularity == "day" and str(query.tz) == str(rollup.rollup_zone())
            and query.site_id is None and query.department_id is None and query.tag_id is None)


def settled_days(query: selectors.Query, *, as_of: datetime,
                 config: compute.Config = compute.DEFAULT_CONFIG) -> set[date]:
    """The days of the query whose rollup rows were computed, and whose report is, after day end + FCR window."""
    days = set()
    for day, computed_at in DailyRollup.objects.filter(
            scope=compute.TOTAL, key=compute.NO_KEY, day__gte=query.first_day, day__lte=query.last_day,
            time_zone=str(query.tz)).values_list("day", "computed_at"):
        settled_at = compute.periods(day, day, "day", query.tz)[0].end + config.fcr_window
        if settled_at <= min(computed_at, as_of):
            days.add(day)
    return days


def _runs(days: list[date]) -> list[tuple[date, date]]:
    """Consecutive days grouped: [(first, last), ...]."""
    runs: list[list[date]] = []
    for day in sorted(days):
        if runs and day == runs[-1][1] + timedelta(days=1):
            runs[-1][1] = day
        else:
            runs.append([day, day])
    return [(first, last) for first, last in runs]


def compute_tallies(query: selectors.Query, *, as_of: datetime | None = None,
                    scopes: tuple[str, ...] = compute.SCOPES, config: compute.Config = compute.DEFAULT_CONFIG,
                    ) -> tuple[list[compute.Period], dict[compute.Key, compute.Tally]]:
    """As selectors.compute_tallies; settled days read from DailyRollup rows (see the module docstring)."""
    if not rollups_apply(query):
        return selectors.compute_tallies(query, as_of=as_of, scopes=scopes, config=config)
    as_of = as_of or timezone.now()
    buckets = compute.periods(query.first_day, query.last_day, query.granularity, query.tz)
    index = {date.fromisoformat(bucket.label): i for i, bucket in enumerate(buckets)}
    stored = settled_days(query, as_of=as_of, config=config)
    tallies: dict[compute.Key, compute.Tally] = {}
    # Plain values, not model instances: a 30-day per-agent report reads thousands of rows.
    names = DailyRollup.TALLY_FIELDS
    for day, scope, key, sample_data, *values in DailyRollup.objects.filter(
            day__in=sorted(stored), scope__in=scopes).values_list("day", "scope", "key", "sample_data", *names):
        tally = compute.Tally(*values, samples=compute.Samples.from_bytes(sample_data))
        if scope == compute.TOTAL and tally == compute.Tally():
            continue  # the row rollup_day writes for a day without activity; the live tallies have none
        tallies[(index[day], scope, key)] = tally
    for first, last in _runs([day for day in index if day not in stored]):
        _, live = selectors.compute_tallies(dataclasses.replace(query, first_day=first, last_day=last),
                                            as_of=as_of, scopes=scopes, config=config)
        offset = index[first]
        tallies.update({(i + offset, scope, key): tally for (i, scope, key), tally in live.items()})
    return buckets, tallies
