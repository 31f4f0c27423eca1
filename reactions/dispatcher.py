"""Carrying out due reactions: claim with a lease, run the handler, mark done.

Any number of runners (Celery processes, each tick of reactions.tasks.dispatch_due) may run
run_due at once. Each row is claimed by a conditional UPDATE that exactly one of them can win: the
row is still pending, due, and its lease is free (never taken, or expired). The winner holds it
for REACTION_LEASE_SECONDS, runs the handler and marks it done only after the handler returned,
that is after the effect happened.

So a runner killed mid-run (a worker killed while sending an email) loses nothing: its lease
expires and the next tick runs the row again. The one way to a duplicate effect is a runner killed
after the effect but before the row is marked done (for an email: between the SMTP send and the
UPDATEs that follow it); handlers are idempotent so that everything short of that repeats nothing.

A handler that raises is retried after a backoff (the lease is pushed out: REACTION_LEASE_SECONDS
doubling per attempt, at most an hour); after REACTION_MAX_ATTEMPTS runs the row is marked failed,
logged, and left for an operator in the admin (which can schedule it again: `retry`).
"""

import logging
import traceback
from collections.abc import Iterable
from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import F, Q
from django.utils import timezone

from reactions.models import PENDING, Reaction
from reactions.registry import handler_of

log = logging.getLogger(__name__)

BATCH = 100
MAX_BACKOFF = timedelta(hours=1)
MAX_ERROR_CHARS = 4000


def run_due(*, now: datetime | None = None, limit: int = BATCH) -> int:
    """Run up to `limit` due reactions, oldest first; returns how many this runner claimed.

    `now` fixes the clock (tests); otherwise each claim reads the time when it is made, so a long
    batch does not claim rows early or lease them short.
    """
    ran = 0
    for reaction_id in due_ids(now or timezone.now(), limit):
        reaction = claim(reaction_id, now=now or timezone.now())
        if reaction is not None:
            run(reaction, now=now)
            ran += 1
    return ran


def _lease_free(now: datetime) -> Q:
    return Q(lease_until__isnull=True) | Q(lease_until__lte=now)


def due_ids(now: datetime, limit: int) -> list[int]:
    rows = Reaction.objects.filter(PENDING, _lease_free(now), due_at__lte=now).order_by("due_at", "id")
    return list(rows.values_list("id", flat=True)[:limit])


def claim(reaction_id: int, *, now: datetime) -> Reaction | None:
    """Take the row for one run if no other runner holds it; the attempt counts from here, so a run
    that kills its process every time still ends as failed."""
    won = Reaction.objects.filter(PENDING, _lease_free(now), pk=reaction_id, due_at__lte=now).update(
        lease_until=now + timedelta(seconds=settings.REACTION_LEASE_SECONDS), attempts=F("attempts") + 1,
    )
    return Reaction.objects.get(pk=reaction_id) if won == 1 else None


def run(reaction: Reaction, *, now: datetime | None = None) -> None:
    try:
        handler_of(reaction.kind)(**reaction.payload)
    except Exception:
        error = traceback.format_exc()[-MAX_ERROR_CHARS:]
        if reaction.attempts >= settings.REACTION_MAX_ATTEMPTS:
            mark_failed(reaction, error=error, now=now or timezone.now())
        else:
            back_off(reaction, error=error, now=now or timezone.now())
    else:
        mark_done(reaction, now=now or timezone.now())


def mark_done(reaction: Reaction, *, now: datetime) -> None:
    Reaction.objects.filter(pk=reaction.pk).update(done_at=now, lease_until=None)


def back_off(reaction: Reaction, *, error: str, now: datetime) -> None:
    """Keep the lease past now for longer each attempt: the next run waits out the backoff."""
    backoff = min(timedelta(seconds=settings.REACTION_LEASE_SECONDS) * 2 ** (reaction.attempts - 1), MAX_BACKOFF)
    Reaction.objects.filter(pk=reaction.pk).update(lease_until=now + backoff, last_error=error)
    log.warning("reaction %s (%s) attempt %d failed, next in %s:\n%s", reaction.key, reaction.kind,
                reaction.attempts, backoff, error)


def mark_failed(reaction: Reaction, *, error: str, now: datetime) -> None:
    Reaction.objects.filter(pk=reaction.pk).update(failed_at=now, lease_until=None, last_error=error)
    log.error("reaction %s (%s) failed after %d attempts:\n%s", reaction.key, reaction.kind, reaction.attempts,
              error)


def retry(reaction_ids: Iterable[int], *, now: datetime | None = None) -> int:
    """An operator's second chance for failed reactions: due now, with a fresh count of attempts."""
    return Reaction.objects.filter(pk__in=list(reaction_ids), failed_at__isnull=False).update(
        failed_at=None, attempts=0, lease_until=None, due_at=now or timezone.now(),
    )
