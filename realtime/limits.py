"""Limits on what anonymous clients may do, counted in Redis so every process shares them.

An action (starting a chat, asking for a transcript by email…) is limited per subject: the IP
address it came from, the visitor, the chat, the site. `take(action, ip=..., site=...)` counts
one against every subject's limit at once, or none when any of them is spent: a Lua script runs
the check and the counting as one step, so two processes cannot both take the last one.

Each limit is a fixed window that opens with its first use ("3/day": three, then none until a
day after the first). The limits are settings (`LIMITS`, each overridable from the environment
as LIMIT_<ACTION>_PER_<SUBJECT>=N/period) and documented in docs/protocol.md.
"""

import os
import re
from dataclasses import dataclass

from django.conf import settings
from redis.exceptions import RedisError

from realtime import redis_keys

_PERIODS = {"s": 1, "second": 1, "m": 60, "minute": 60, "h": 3600, "hour": 3600, "d": 86400, "day": 86400}
_RATE = re.compile(r"^\s*(\d+)\s*/\s*(\d*)\s*([a-z]+)\s*$")

# Every key first, checked; then all counted, each window opened by its first use.
_TAKE = """
for i, key in ipairs(KEYS) do
  local used = tonumber(redis.call('GET', key) or '0')
  if used >= tonumber(ARGV[2 * i - 1]) then
    return {i, redis.call('PTTL', key)}
  end
end
for i, key in ipairs(KEYS) do
  if redis.call('INCR', key) == 1 then
    redis.call('PEXPIRE', key, ARGV[2 * i])
  end
end
return {0, 0}
"""


@dataclass(frozen=True)
class Rate:
    count: int
    seconds: int

    def __str__(self) -> str:
        return f"{self.count}/{self.seconds}s"


def parse_rate(text: str) -> Rate:
    """ "20/hour", "3/day", "10/15m" → Rate; raises ValueError on anything else."""
    match = _RATE.match(text.lower())
    if not match or match.group(3) not in _PERIODS:
        raise ValueError(f"{text!r} is not a rate like 20/hour, 3/day or 10/15m")
    periods = int(match.group(2) or 1)
    if periods < 1:
        raise ValueError(f"{text!r} has an empty period")
    return Rate(int(match.group(1)), periods * _PERIODS[match.group(3)])


def rates_from_environment(defaults: dict[str, dict[str, str]]) -> dict[str, dict[str, Rate]]:
    """The LIMITS setting: each default rate, or LIMIT_<ACTION>_PER_<SUBJECT> where that is set."""
    from django.core.exceptions import ImproperlyConfigured

    limits = {}
    for action, subjects in defaults.items():
        limits[action] = {}
        for subject, default in subjects.items():
            name = f"LIMIT_{action.upper()}_PER_{subject.upper()}"
            try:
                limits[action][subject] = parse_rate(os.environ.get(name, default))
            except ValueError as error:
                raise ImproperlyConfigured(f"{name}: {error}") from None
    return limits


class Limited(Exception):
    """The action's limit for one of its subjects is spent; `retry_after_ms` until it opens again."""

    retry = False

    def __init__(self, code: str, action: str, subject: str, retry_after_ms: int):
        super().__init__(f"too many {action.replace('_', ' ')} requests for this {subject}; "
                         f"try again in {max(1, retry_after_ms // 1000)} s")
        self.code, self.action, self.subject, self.retry_after_ms = code, action, subject, retry_after_ms

    def details(self) -> dict:
        return {"limit": self.subject, "retry_after_ms": self.retry_after_ms}


class LimitsUnavailable(Exception):
    """Redis did not answer: the action is refused (never let through uncounted); the client retries."""

    code, retry = "service_unavailable", True

    def details(self) -> dict:
        return {}


def take(action: str, *, code: str, **subjects: str | int | None) -> None:
    """Count one `action` for each subject given (ip="203.0.113.9", visitor=12, site=3, …), or raise
    Limited naming the first whose limit is spent. Subjects that are None are not limited."""
    rates = settings.LIMITS[action]
    named = [(subject, value) for subject, value in subjects.items() if value is not None]
    keys = [redis_keys.key("limit", action, subject, value) for subject, value in named]
    window_args = []
    for subject, _ in named:
        window_args += [rates[subject].count, rates[subject].seconds * 1000]
    try:
        spent, pttl = redis_keys.client().eval(_TAKE, len(keys), *keys, *window_args)
    except (RedisError, OSError) as error:
        raise LimitsUnavailable("the server cannot count this request now; try again shortly") from error
    if spent:
        subject = named[spent - 1][0]
        raise Limited(code, action, subject, retry_after_ms=max(int(pttl), 1))
