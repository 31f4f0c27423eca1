"""What the visitor socket does with the database, kept out of the consumer's event loop."""

import uuid
from dataclasses import dataclass

from django.db.models import F
from django.utils import timezone

from conversations.hours import is_open
from conversations.models import Conversation, Message, Site, Visitor
from conversations.selectors import current_conversation, site_availability
from routing import dispatch
from widget import guards
from widget.tokens import make_visitor_token, read_visitor_token


class UnknownVisitorToken(Exception):
    pass


@dataclass
class Greeting:
    visitor: Visitor
    token: str
    conversation: Conversation | None
    queue: dict | None
    availability: dict
    topics: list[dict]


def load_site(site_key: str) -> Site | None:
    return Site.objects.filter(key=site_key).first()


def greet_visitor(*, site: Site, token: str | None, new_visit: bool, address: str | None) -> Greeting:
    """Resolve (or create) the visitor behind a hello frame and load what the widget shows first.

    Raises guards.Banned for a banned visitor or address, limits.Limited past the new visitors an
    address or site may make (widget/guards.py)."""
    if token:
        public_id = read_visitor_token(token, site_key=site.key)
        visitor = _visitor_by_public_id(site, public_id) if public_id else None
        if visitor is None:
            raise UnknownVisitorToken()
        guards.not_banned(site=site, visitor_id=visitor.pk, address=address)
        updates = {"last_seen_at": timezone.now()}
        if new_visit:
            updates["visit_count"] = F("visit_count") + 1
        if address and visitor.last_ip != address:
            updates["last_ip"] = visitor.last_ip = address
        Visitor.objects.filter(pk=visitor.pk).update(**updates)
    else:
        guards.new_visitor(site=site, address=address)
        visitor = Visitor.objects.create(site=site, last_ip=address)
        token = make_visitor_token(site_key=site.key, visitor_public_id=str(visitor.public_id))
    conversation = current_conversation(visitor.pk)
    return Greeting(
        visitor=visitor, token=token, conversation=conversation,
        queue=dispatch.queue_frame(conversation) if conversation else None,
        availability=site_availability(site),
        topics=[{"id": t.pk, "label": t.label} for t in site.topics.all()],
    )


def _visitor_by_public_id(site: Site, public_id: str) -> Visitor | None:
    try:
        return Visitor.objects.filter(site=site, public_id=uuid.UUID(public_id)).first()
    except ValueError:
        return None


def visitor_history(visitor: Visitor) -> dict:
    """Earlier visits and chats, recorded in a new conversation's context."""
    visitor.refresh_from_db(fields=["visit_count", "first_seen_at"])
    return {
        "visits": visitor.visit_count,
        "first_seen_at": visitor.first_seen_at.isoformat(),
        "earlier_conversations": visitor.conversations.exclude(status=Conversation.Status.OFFLINE).count(),
    }


def site_is_open(site: Site) -> bool:
    return is_open(site.business_hours, timezone.now())


def topic_for(site: Site, topic_id: int | None):
    if topic_id is None:
        return None
    return site.topics.filter(pk=topic_id).first()


def fetch_conversation(conversation_id: int) -> Conversation:
    return Conversation.objects.select_related("assigned_agent").get(pk=conversation_id)


def fetch_conversation_by_public_id(public_id: str) -> Conversation | None:
    return Conversation.objects.select_related("assigned_agent").filter(public_id=public_id).first()



def message_seq(conversation_id: int, client_id: str) -> int | None:
    return Message.objects.filter(conversation_id=conversation_id, client_id=client_id).values_list(
        "seq", flat=True).first()
