"""Read-only queries over conversations."""

from datetime import timedelta

from django.utils import timezone

from agents.models import Agent
from conversations.hours import is_open
from conversations.models import Conversation, Message, Site

# A chat closed this recently is still shown on reload (with its end state) instead of the form.
RECENTLY_CLOSED = timedelta(hours=12)
REPLAY_LIMIT = 1000


def current_conversation(visitor_id: int) -> Conversation | None:
    """The visitor's open chat, else the one that closed most recently (if recent)."""
    latest = (
        Conversation.objects.filter(visitor_id=visitor_id)
        .exclude(status=Conversation.Status.OFFLINE)
        .select_related("assigned_agent")
        .order_by("-id")
        .first()
    )
    if latest is None or latest.is_open or latest.closed_at >= timezone.now() - RECENTLY_CLOSED:
        return latest
    return None


def messages_after(conversation_id: int, seq: int, *, public_only: bool, up_to: int | None = None) -> list[Message]:
    """Messages after seq (and up to up_to), in order: the replay a reconnecting client asks for, or
    the gap a socket fills (conversations/delivery.py). At most REPLAY_LIMIT."""
    messages = Message.objects.filter(conversation_id=conversation_id, seq__gt=seq).select_related(
        "agent", "conversation")
    if up_to is not None:
        messages = messages.filter(seq__lte=up_to)
    if public_only:
        messages = messages.filter(visibility=Message.Visibility.PUBLIC)
    return list(messages.order_by("seq")[:REPLAY_LIMIT])


def read_to(messages: list, after: int, up_to: int | None) -> int:
    """The seq a read of messages_after accounted for: up_to, unless the limit cut it short."""
    if len(messages) >= REPLAY_LIMIT or up_to is None:
        return messages[-1].seq if messages else after
    return max(up_to, after)


def site_availability(site: Site) -> dict:
    """Whether a visitor can chat now: inside business hours and with an agent online."""
    open_now = is_open(site.business_hours, timezone.now())
    online = Agent.objects.filter(status=Agent.Status.ONLINE).exists()
    return {"open": open_now, "agents_online": online, "can_chat": open_now and online}
