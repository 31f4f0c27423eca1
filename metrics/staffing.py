"""Staffing planner: agents needed per hour of the week for a service-level target (docs/staffing.md).

Pure functions, no database, except `plan_from_history`, which reads the recorded arrivals
(`queued` events) and handle times (metrics.selectors) and calls them.

The model is Erlang C (M/M/n: Poisson arrivals, exponential handle times, n servers, one FIFO
queue, nobody leaves the queue), with each agent counted as `concurrency` slots and the handle time
of a chat stretched by how much slower an agent works with that many chats open:

    slowdown(c)  = 1 + alpha * (c - 1)
    AHT(c)       = AHT_observed * slowdown(c) / slowdown(c_observed)
    servers      = agents * c,   offered load A = arrivals per second * AHT(c)

Dividing by slowdown(c_observed) takes out the slowdown already inside the measured handle time
(agents had c_observed chats open on average while busy), so planning at the concurrency the
team worked at uses the measured handle time as it is, whatever alpha is.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

DEFAULT_TARGET = 0.8
DEFAULT_THRESHOLD_SECONDS = 20.0
DEFAULT_CONCURRENCY = 3
DEFAULT_SLOWDOWN = 0.25
DEFAULT_WEEKS = 4
# A plan never recommends more agents than this for one hour; beyond it the input is nonsense.
MAX_AGENTS = 10_000

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


# --- Erlang C -----------------------------------------------------------------------------------

def erlang_b(servers: int, load: float) -> float:
    """Blocking probability of M/M/n/n, by the recursion B(k) = A B(k-1) / (k + A B(k-1)), B(0) = 1.

    The recursion never forms A^n or n!, so it stays exact for thousands of servers.
    """
    if servers < 0 or load < 0:
        raise ValueError("servers and load must not be negative")
    b = 1.0
    for k in range(1, servers + 1):
        b = load * b / (k + load * b)
    return b


def erlang_c(servers: int, load: float) -> float:
    """Probability that an arrival waits, for `servers` servers and an offered load of `load`
    erlangs (arrival rate x mean handle time).

    C = n B / (n - A (1 - B)) with B = erlang_b(n, A); 1 when the queue is unstable (A >= n).
    """
    if load <= 0:
        return 0.0
    if servers <= load:
        return 1.0
    b = erlang_b(servers, load)
    return servers * b / (servers - load * (1 - b))


def service_level(servers: int, load: float, handle_seconds: float, threshold_seconds: float) -> float:
    """Share of arrivals that wait at most `threshold_seconds` for a server:
    1 - C e^(-(n - A) t / AHT). 0 when the queue is unstable."""
    if load <= 0:
        return 1.0
    if servers <= load:
        return 0.0
    return 1.0 - erlang_c(servers, load) * math.exp(-(servers - load) * threshold_seconds / handle_seconds)


def average_wait_seconds(servers: int, load: float, handle_seconds: float) -> float | None:
    """Mean wait over all arrivals (ASA): C AHT / (n - A); None when the queue is unstable."""
    if load <= 0:
        return 0.0
    if servers <= load:
        return None
    return erlang_c(servers, load) * handle_seconds / (servers - load)


# --- Concurrency ---------------------------------------------------------------------------------

def slowdown(concurrency: float, alpha: float) -> float:
    """How much longer a chat takes when the agent has `concurrency` chats open: 1 + alpha (c - 1)."""
    return 1.0 + alpha * (max(concurrency, 1.0) - 1.0)


def handle_seconds_at(concurrency: int, *, observed_handle_seconds: float, observed_concurrency: float,
                      alpha: float) -> float:
    """The mean handle time at `concurrency`, from the one measured at `observed_concurrency`."""
    return observed_handle_seconds * slowdown(concurrency, alpha) / slowdown(observed_concurrency, alpha)


@dataclass(frozen=True)
class Staffing:
    agents: int
    slots: int
    load: float  # offered load in erlangs of slots: arrivals per second x handle seconds
    probability_of_waiting: float
    service_level: float
    average_wait_seconds: float | None
    occupancy: float | None  # load / slots: the share of slots busy on average


def agents_needed(*, arrivals_per_hour: float, handle_seconds: float, concurrency: int = DEFAULT_CONCURRENCY,
                  target: float = DEFAULT_TARGET, threshold_seconds: float = DEFAULT_THRESHOLD_SECONDS) -> Staffing:
    """The fewest agents (each `concurrency` slots, each chat taking `handle_seconds` on average at
    that concurrency) whose predicted service level reaches `target` for waits of at most
    `threshold_seconds`."""
    if arrivals_per_hour < 0 or handle_seconds <= 0 or concurrency < 1 or not 0 < target < 1:
        raise ValueError("arrivals >= 0, handle time > 0, concurrency >= 1 and 0 < target < 1")
    load = arrivals_per_hour / 3600 * handle_seconds
    if load == 0:
        return Staffing(0, 0, 0.0, 0.0, 1.0, 0.0, None)
    # Start at the fewest agents that keep the queue stable; the service level rises with each agent.
    agents = math.floor(load / concurrency) + 1
    while True:
        slots = agents * concurrency
        level = service_level(slots, load, handle_seconds, threshold_seconds)
        if level >= target or agents >= MAX_AGENTS:
            return Staffing(agents, slots, round(load, 4), round(erlang_c(slots, load), 4), round(level, 4),
                            _round(average_wait_seconds(slots, load, handle_seconds), 1), round(load / slots, 4))
        agents += 1


def _round(value: float | None, places: int) -> float | None:
    return None if value is None else round(value, places)


# --- Arrivals per hour of the week ---------------------------------------------------------------

HourOfWeek = tuple[int, int]  # (weekday 0 = Monday, local hour 0-23)


def window(today: date, weeks: int, tz: ZoneInfo) -> tuple[datetime, datetime]:
    """The last `weeks` whole weeks before today, between local midnights: [today - weeks, today)."""
    end = datetime.combine(today, datetime.min.time(), tzinfo=tz)
    start = datetime.combine(today - timedelta(weeks=weeks), datetime.min.time(), tzinfo=tz)
    return start, end


def hours_observed(start: datetime, end: datetime, tz: ZoneInfo) -> Counter:
    """How many real hours of [start, end) fell in each local (weekday, hour).

    Normally `weeks` each; a DST change gives the local hour it repeats one more and the hour it
    skips one fewer, so dividing arrivals by these counts gives true rates per hour.
    """
    utc = ZoneInfo("UTC")
    counts: Counter = Counter()
    cursor, stop = start.astimezone(utc), end.astimezone(utc)
    while cursor < stop:
        local = cursor.astimezone(tz)
        counts[(local.weekday(), local.hour)] += 1
        cursor += timedelta(hours=1)
    return counts


def arrival_rates(arrivals: list[datetime], *, start: datetime, end: datetime, tz: ZoneInfo) -> dict[HourOfWeek, float]:
    """Mean arrivals per hour for each local hour of the week, over [start, end)."""
    observed = hours_observed(start, end, tz)
    counts = Counter((at.astimezone(tz).weekday(), at.astimezone(tz).hour) for at in arrivals if start <= at < end)
    return {key: counts.get(key, 0) / observed[key] if observed.get(key) else 0.0
            for key in ((d, h) for d in range(7) for h in range(24))}


@dataclass(frozen=True)
class Plan:
    handle_seconds_observed: float | None
    concurrency_observed: float | None
    handle_seconds_planned: float | None
    rows: list[dict]


def plan(rates: dict[HourOfWeek, float], *, handle_seconds_observed: float | None,
         concurrency_observed: float | None, concurrency: int = DEFAULT_CONCURRENCY,
         alpha: float = DEFAULT_SLOWDOWN, target: float = DEFAULT_TARGET,
         threshold_seconds: float = DEFAULT_THRESHOLD_SECONDS) -> Plan:
    """One row per hour of the week (Monday 00:00 first). Without a measured handle time there is
    nothing to plan with: the rows give the arrivals and null staffing."""
    observed_c = concurrency_observed if concurrency_observed and concurrency_observed >= 1 else 1.0
    planned = (handle_seconds_at(concurrency, observed_handle_seconds=handle_seconds_observed,
                                 observed_concurrency=observed_c, alpha=alpha)
               if handle_seconds_observed else None)
    rows = []
    for (day, hour), rate in sorted(rates.items()):
        row = {"weekday": WEEKDAYS[day], "hour": hour, "arrivals_per_hour": round(rate, 3)}
        if planned is None:
            row.update(agents=None, slots=None, load=None, probability_of_waiting=None, service_level=None,
                       average_wait_seconds=None, occupancy=None)
        else:
            s = agents_needed(arrivals_per_hour=rate, handle_seconds=planned, concurrency=concurrency,
                              target=target, threshold_seconds=threshold_seconds)
            row.update(agents=s.agents, slots=s.slots, load=s.load, probability_of_waiting=s.probability_of_waiting,
                       service_level=s.service_level, average_wait_seconds=s.average_wait_seconds,
                       occupancy=s.occupancy)
        rows.append(row)
    return Plan(handle_seconds_observed=_round(handle_seconds_observed, 1),
                concurrency_observed=_round(concurrency_observed, 3),
                handle_seconds_planned=_round(planned, 1), rows=rows)


# --- From the recorded history -------------------------------------------------------------------

def plan_from_history(*, today: date, weeks: int = DEFAULT_WEEKS, tz: ZoneInfo, concurrency: int = DEFAULT_CONCURRENCY,
                      alpha: float = DEFAULT_SLOWDOWN, target: float = DEFAULT_TARGET,
                      threshold_seconds: float = DEFAULT_THRESHOLD_SECONDS, site_id: int | None = None,
                      as_of: datetime | None = None) -> tuple[tuple[datetime, datetime], Plan]:
    """Arrivals from the `queued` events of the last `weeks` whole weeks; the mean handle time and
    the concurrency while busy from the same weeks' metrics (metrics.selectors, so they agree with
    the reports)."""
    from conversations.models import ConversationEvent
    from metrics import compute, selectors

    start, end = window(today, weeks, tz)
    events = ConversationEvent.objects.filter(kind=compute.QUEUED, at__gte=start, at__lt=end)
    if site_id is not None:
        events = events.filter(conversation__site_id=site_id)
    arrivals = list(events.values_list("at", flat=True))
    query = selectors.Query(first_day=start.date(), last_day=end.date() - timedelta(days=1), granularity="week",
                            tz=tz, site_id=site_id)
    _, tallies = selectors.compute_tallies(query, as_of=as_of, scopes=(compute.TOTAL,))
    total = selectors.combine(tallies, compute.TOTAL).get(compute.NO_KEY, compute.Tally())
    handle = total.samples.values("handle")  # milliseconds
    observed_handle = int(handle.sum()) / handle.size / 1000 if handle.size else None
    # Chat-seconds over busy seconds: the mean number of chats an agent had open while busy.
    observed_concurrency = total.chat_seconds / total.busy_seconds if total.busy_seconds else None
    return (start, end), plan(
        arrival_rates(arrivals, start=start, end=end, tz=tz), handle_seconds_observed=observed_handle,
        concurrency_observed=observed_concurrency, concurrency=concurrency, alpha=alpha, target=target,
        threshold_seconds=threshold_seconds)
