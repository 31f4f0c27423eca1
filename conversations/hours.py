"""Business hours: whether a site is open now, from Site.business_hours."""

from datetime import datetime, time
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.core.exceptions import ValidationError

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


def validate_business_hours(value: dict) -> None:
    if not isinstance(value, dict):
        raise ValidationError("business hours must be an object")
    if not value:
        return
    try:
        ZoneInfo(value.get("timezone", "UTC"))
    except (ZoneInfoNotFoundError, ValueError, TypeError):
        raise ValidationError(f"unknown timezone {value.get('timezone')!r}") from None
    for key, ranges in value.items():
        if key == "timezone":
            continue
        if key not in DAYS or not isinstance(ranges, list):
            raise ValidationError(f"{key!r} is not a day (mon..sun) with a list of [from, to] ranges")
        for pair in ranges:
            try:
                start, end = (time.fromisoformat(t) for t in pair)
            except (TypeError, ValueError):
                raise ValidationError(f"{key}: {pair!r} is not a [\"HH:MM\", \"HH:MM\"] range") from None
            if start >= end:
                raise ValidationError(f"{key}: {pair!r} ends before it starts")


def is_open(business_hours: dict, at: datetime) -> bool:
    """Empty hours mean always open; else the local time must fall in one of the day's ranges."""
    if not business_hours:
        return True
    local = at.astimezone(ZoneInfo(business_hours.get("timezone", "UTC")))
    ranges = business_hours.get(DAYS[local.weekday()], [])
    now = local.time()
    return any(time.fromisoformat(start) <= now < time.fromisoformat(end) for start, end in ranges)
