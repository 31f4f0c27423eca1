from celery import shared_task

from reactions import dispatcher

# A tick queued while no worker could take it (a broker outage, every worker busy) is worth nothing
# later: the next tick does the same work. Expiring ticks keeps them from piling up.
TICK_EXPIRES_SECONDS = 5


# acks_late off: the lease on each row, not the message, makes the work durable; a tick held by a
# worker that dies must not come back an hour later (the broker's visibility timeout).
@shared_task(expires=TICK_EXPIRES_SECONDS, acks_late=False)
def dispatch_due() -> int:
    """Run the due reactions; celery beat sends one every second (reactions/migrations/0002)."""
    return dispatcher.run_due()
