"""Timed routing effects, carried out by the reaction dispatcher (reactions/). Both are idempotent
by construction: each re-reads the state and acts only if it still holds."""

from conversations import lifecycle
from reactions import handles
from routing import grace


@handles("agents.expire_offer")
def expire_offer(*, conversation_id: int, offer_event_id: int) -> None:
    """Due the department's offer timeout after the offer (routing.offers); acts only on that same offer."""
    lifecycle.expire_offer(conversation_id=conversation_id, offer_event_id=offer_event_id)


@handles("agents.release_disconnected_agent")
def release_disconnected_agent(*, agent_id: int) -> None:
    """Due just after the grace period that began when the agent's last console closed (routing.grace)."""
    grace.release_if_disconnected(agent_id)
