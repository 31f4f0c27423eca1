from celery import shared_task

from conversations import departures
from routing import dispatch, grace, offers, wait_limit


@shared_task(name="agents.tasks.sweep_queues")  # the name beat's schedule rows hold (agents/migrations)
def sweep_queues() -> int:
    """Safety net for event-driven routing, run by beat (agents/migrations/0003): a pass for every site.

    Routing normally happens when something changes (routing/subscribers.py runs a pass after each
    commit that may open a slot or a place). The sweep catches what a lost trigger would leave
    waiting (a process that died between commit and its pass, a pass that gave up after races, an
    offer past its timeout whose expiry reaction has not run yet), ends the chats of visitors who
    left while waiting (first, so no agent is given one), applies timed widening to every waiting chat, offers the offline form
    to visitors past their site's wait limit, and refreshes every waiting visitor's position and
    estimate (full passes, which read whole queues). Running it twice at once is harmless:
    the assignments themselves are cap-safe, an offer expires once, a chat ends once, and a widening
    or an offline offer is recorded once.
    """
    departures.abandon_departed()
    offers.expire_stale_offers()
    wait_limit.offer_offline_forms()
    return dispatch.route_all_sites(full=True)


@shared_task(name="agents.tasks.sweep_disconnected_agents")
def sweep_disconnected_agents() -> int:
    """Beat safety net for the grace check scheduled at a disconnect (routing.grace.schedule_check): it
    also catches a daphne process that died with consoles open, which scheduled none."""
    return sum(outcome.action == "released" for outcome in grace.sweep())
