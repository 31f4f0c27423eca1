"""Durable side effects ("reactions"): the intent to do something later is a row, written in the
same transaction as the change that calls for it.

`schedule(kind, key=..., due_at=..., **payload)` writes a Reaction row; the app that owns the effect
registers its handler for the kind (`@handles(kind)` in its `reactions.py`, found at start); the
dispatcher (reactions/dispatcher.py), ticked by celery beat every second, claims each due row
with a lease, runs its handler and marks it done. A worker killed mid-run delays its effect by at
most the lease, a broker outage until the broker is back (and the workers reconnected); neither
loses it or runs it twice.
"""

from datetime import datetime

from django.utils import timezone

from reactions.registry import handles

__all__ = ["handles", "schedule"]

Payload = str | int | float | bool | None | list | dict


def schedule(kind: str, *, key: str, due_at: datetime | None = None, **payload: Payload) -> None:
    """Write the reaction in the caller's transaction, so it commits or rolls back with the change.

    `key` names the effect (say "survey:<conversation id>"): scheduling the same key again changes
    nothing, whatever became of the first row. `due_at` defaults to now; the payload is the
    handler's keyword arguments and must be JSON.
    """
    # Imported here: Django imports this package (INSTALLED_APPS) before models may be defined.
    from reactions.models import Reaction

    Reaction.objects.bulk_create(
        [Reaction(kind=kind, key=key, payload=payload, due_at=due_at or timezone.now())],
        ignore_conflicts=True,  # ON CONFLICT DO NOTHING: a repeat leaves the caller's transaction intact
    )
