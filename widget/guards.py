"""What keeps the anonymous widget socket from being turned against anyone: bans, and the limits
on new visitors, chats, transcript emails and offline messages (realtime/limits.py).

Each check runs before the write it guards and raises: Banned (the socket is refused and closed),
limits.Limited (the frame gets its error and nothing is written), limits.LimitsUnavailable (Redis
did not answer; the client retries). A resend of something already done is not counted again.
"""

from realtime import limits
from conversations.bans import BANNED, ban_for
from conversations.models import Conversation, Message, Site, Visitor
from surveys.models import TranscriptRequest


class Banned(Exception):
    code = "banned"

    def __init__(self):
        super().__init__(BANNED)


def not_banned(*, site: Site, visitor_id: int | None, address: str | None) -> None:
    if ban_for(site_id=site.pk, visitor_id=visitor_id, address=address) is not None:
        raise Banned()


def new_visitor(*, site: Site, address: str | None) -> None:
    not_banned(site=site, visitor_id=None, address=address)
    limits.take("new_visitor", code="too_many_visitors", ip=address, site=site.pk)


def new_chat(*, site: Site, visitor: Visitor, address: str | None) -> None:
    """A start that would open a chat (not one that joins the visitor's open chat)."""
    not_banned(site=site, visitor_id=visitor.pk, address=address)
    if visitor.conversations.filter(status__in=Conversation.OPEN_STATUSES).exists():
        return
    limits.take("new_chat", code="too_many_chats", visitor=visitor.pk, ip=address, site=site.pk)


def transcript_email(*, conversation: Conversation, request_id: str, address: str | None) -> None:
    if TranscriptRequest.objects.filter(conversation=conversation, request_id=request_id).exists():
        return
    limits.take("transcript_email", code="email_limited", chat=conversation.pk, visitor=conversation.visitor_id,
                ip=address, site=conversation.site_id)


def offline_message(*, site: Site, visitor: Visitor, client_id: str, address: str | None) -> None:
    not_banned(site=site, visitor_id=visitor.pk, address=address)
    if Message.objects.filter(conversation__visitor=visitor, conversation__status=Conversation.Status.OFFLINE,
                              client_id=client_id).exists():
        return
    limits.take("offline_message", code="offline_limited", visitor=visitor.pk, ip=address, site=site.pk)
