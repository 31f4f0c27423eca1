"""What happens once routing (or a supervisor) has picked an agent for a queued chat: accept or offer.

Auto-accept departments, and chats without a department: the chat is assigned and accepted in one
transaction (two events, `assigned` then `accepted`). Offer-and-accept departments: the chat stays
`assigned`, as an offer the agent accepts in the console. A reaction written with the offer, due
the department's offer_timeout_seconds later, takes it back through lifecycle.expire_offer unless
it was accepted meanwhile (routing/reactions.py); the beat sweep (routing.tasks.sweep_queues) is the
safety net that expires any offer past its timeout. docs/routing.md describes the rules.
"""

import logging
from datetime import datetime, timedelta

from django.db import transaction
from django.db.models import OuterRef, Subquery
from django.utils import timezone

import reactions
from agents.models import Agent, Department
from conversations import lifecycle
from conversations.models import Conversation, ConversationEvent

log = logging.getLogger(__name__)

Status = Conversation.Status
Kind = ConversationEvent.Kind


def offer_timeout_of(department: Department | None) -> int | None:
    """Seconds an agent has to accept a chat of this department; None when chats are accepted at once."""
    if department is None or department.accept_mode != Department.AcceptMode.OFFER:
        return None
    return department.offer_timeout_seconds


def assign(*, conversation_id: int, agent_id: int, actor: lifecycle.Actor, reason: dict,
           accept_now: bool = False) -> Conversation:
    """The one way a queued chat gets an agent, for routing passes, a supervisor's assignment (REST
    or console) and an agent's take: assigned, then accepted at once (accept_now, or a department
    that accepts at once) or left as an offer that expires after the department's timeout.

    One transaction: raises what assign_conversation raises (AgentAtCapacity, AgentUnavailable,
    IllegalTransition) and then changes nothing.
    """
    with transaction.atomic():
        conversation = lifecycle.assign_conversation(
            conversation_id=conversation_id, agent=Agent(pk=agent_id), actor=actor, reason=reason,
        )
        offer_timeout = None if accept_now else offer_timeout_of(conversation.department)
        if offer_timeout is None:
            # Same transaction, locks still held: nothing can come between the assignment and the accept.
            return lifecycle.accept_conversation(conversation_id=conversation_id, agent=conversation.assigned_agent,
                                                 auto=not accept_now)
        offer_event_id, offered_at = ConversationEvent.objects.filter(
            conversation_id=conversation_id, kind=Kind.ASSIGNED
        ).order_by("-id").values_list("id", "at").first()
        _schedule_expiry(conversation_id, offer_event_id, offered_at + timedelta(seconds=offer_timeout))
    return conversation


def _schedule_expiry(conversation_id: int, offer_event_id: int, due_at: datetime) -> None:
    """In the offer's transaction: the offer and its expiry commit together, or neither does."""
    reactions.schedule("agents.expire_offer", key=f"offer:{offer_event_id}", due_at=due_at,
                       conversation_id=conversation_id, offer_event_id=offer_event_id)


def expire_stale_offers(now: datetime | None = None) -> int:
    """Take back every offer older than its department's timeout (the sweep's safety net); returns how many.

    One query finds the pending offers: assigned chats of offer-and-accept departments whose latest
    assignment or transfer is an `assigned` event. lifecycle.expire_offer checks each again under lock.
    """
    now = now or timezone.now()
    latest = ConversationEvent.objects.filter(
        conversation=OuterRef("pk"), kind__in=(Kind.ASSIGNED, Kind.TRANSFERRED)
    ).order_by("-id")
    rows = Conversation.objects.filter(
        status=Status.ASSIGNED, department__accept_mode=Department.AcceptMode.OFFER
    ).annotate(
        offer_id=Subquery(latest.values("id")[:1]), offer_kind=Subquery(latest.values("kind")[:1]),
        offer_at=Subquery(latest.values("at")[:1]),
    ).values_list("id", "offer_id", "offer_kind", "offer_at", "department__offer_timeout_seconds")
    expired = 0
    for conversation_id, offer_id, kind, at, timeout in list(rows):
        if kind != Kind.ASSIGNED or at is None or (now - at).total_seconds() < timeout:
            continue
        if lifecycle.expire_offer(conversation_id=conversation_id, offer_event_id=offer_id) is not None:
            expired += 1
    return expired
