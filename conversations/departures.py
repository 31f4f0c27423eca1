"""Visitors who leave while they wait: their chat ends as abandoned, at the moment they left.

A visitor who closes the tab (or whose network is gone) while their chat is queued will never read
an answer: left in the queue, the chat would take an agent's slot when its turn came and end as a
missed chat, the agent's failure instead of the visitor's abandon. Every widget socket beats in
Redis (realtime/connections.py `widgets`); when all of a visitor's sockets have been gone
for VISITOR_ABANDON_GRACE_SECONDS (a reload or the next page of the site reconnects well within
it), their queued chats are closed by the lifecycle as abandoned, reason "visitor_left", with the
time they left as the end (so an abandon after 5 s of waiting is a short abandon, whenever it is
found).

Run by the routing beat sweep (routing.tasks.sweep_queues, every 10 s). Idempotent: the lifecycle
locks the chat and refuses to close it twice, so two sweeps at once end it once. A visitor never
seen on a socket (a chat started over an API, or before the socket registry held it) is left alone.
"""

import time
from datetime import datetime, timezone

from django.conf import settings

from conversations import lifecycle
from conversations.models import Conversation
from realtime.connections import widgets

REASON = "visitor_left"


def departed(since: dict[int, float | None], *, now: float) -> dict[int, float]:
    """The visitors gone for the whole grace period, with when they left (unix time)."""
    grace = settings.VISITOR_ABANDON_GRACE_SECONDS
    return {visitor: left for visitor, left in since.items() if left is not None and now - left >= grace}


def abandon_departed(*, now: float | None = None) -> list[int]:
    """Close every queued chat whose visitor has left; returns their ids."""
    now = time.time() if now is None else now
    queued = list(Conversation.objects.filter(status=Conversation.Status.QUEUED).order_by("id")
                  .values_list("id", "visitor_id"))
    if not queued:
        return []
    gone = departed(widgets.disconnected_since(sorted({visitor for _, visitor in queued}), now=now), now=now)
    closed = []
    for conversation_id, visitor_id in queued:
        if visitor_id not in gone:
            continue
        try:
            lifecycle.close_conversation(
                conversation_id=conversation_id, actor=lifecycle.Actor.system(), details={"reason": REASON},
                ended_at=datetime.fromtimestamp(gone[visitor_id], tz=timezone.utc),
            )
        except lifecycle.IllegalTransition:
            continue  # assigned or closed meanwhile
        closed.append(conversation_id)
    return closed
