from celery import shared_task

from agents import dispatch


@shared_task
def sweep_queues() -> int:
    """Safety net for event-driven routing, run by beat (agents/migrations/0003): a pass for every site.

    Routing normally happens when something changes (lifecycle and presence trigger a pass after
    commit). The sweep catches what a lost trigger would leave waiting (a process that died
    between commit and its pass, a pass that gave up after races), applies timed widening, and
    refreshes every waiting visitor's estimate. Running it twice at once is harmless: the
    assignments themselves are cap-safe and a widening is recorded once.
    """
    return dispatch.route_all_sites(refresh_all=True)
