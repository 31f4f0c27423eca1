"""The site's wait limit: a visitor queued longer than Site.queue_wait_limit_seconds is offered the
offline-message form, once per chat, and keeps their place in the queue.

Run by the beat sweep (routing.tasks.sweep_queues, every 10 s), so the offer comes at most one sweep
interval after the limit. The RoutingEvent row (kind "offline") is the record that it was sent; its
unique constraint lets exactly one of two concurrent sweeps insert it, and only that one publishes.
"""

from datetime import datetime

from django.db import IntegrityError, transaction
from django.utils import timezone

from agents.models import RoutingEvent
from conversations.models import Conversation
from conversations.publish import publish_on_commit, visitor_group


def offline_offer_frame(conversation_public_id: str) -> dict:
    return {"type": "offline_offer", "conversation_id": conversation_public_id}


def offer_offline_forms(now: datetime | None = None) -> int:
    """Send the offline_offer frame to every visitor waiting past their site's limit; returns how many."""
    now = now or timezone.now()
    rows = (
        Conversation.objects.filter(status=Conversation.Status.QUEUED, queued_at__isnull=False)
        .exclude(routing_events__kind=RoutingEvent.Kind.OFFLINE_OFFERED)
        .values_list("id", "public_id", "visitor_id", "queued_at", "site__queue_wait_limit_seconds")
    )
    offered = 0
    for pk, public_id, visitor_id, queued_at, limit in list(rows):
        waited = (now - queued_at).total_seconds()
        if waited < limit:
            continue
        try:
            with transaction.atomic():
                RoutingEvent.objects.create(
                    conversation_id=pk, kind=RoutingEvent.Kind.OFFLINE_OFFERED, at=now,
                    details={"waited_seconds": round(waited, 3), "limit_seconds": limit},
                )
                publish_on_commit([visitor_group(visitor_id)], offline_offer_frame(str(public_id)))
        except IntegrityError:
            continue  # another sweep offered it first
        offered += 1
    return offered
