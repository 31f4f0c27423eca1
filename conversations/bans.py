"""Bans: a supervisor keeps a visitor, or the network they write from, from chatting on a site.

`ban_visitor` writes the Ban rows and ends the visitor's open chat in one transaction (the chat's
closing event says it was a ban, and who banned); after commit the visitor's sockets are told
(`banned`) and closed. `ban_for` is what the widget socket asks at hello and before a visitor
starts a chat or leaves a message (docs/protocol.md, "Bans").
"""

from datetime import timedelta

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from conversations import lifecycle
from conversations.lifecycle import Actor, LifecycleError
from conversations.models import Ban, Conversation, Visitor
from conversations.networks import BAN_SCOPES as SCOPES
from conversations.networks import contains, network_of, parse_network
from conversations.publish import publish_on_commit, visitor_group

CLOSE_REASON = "banned"  # of the chats a ban ends

BANNED = "this visitor may not chat on this site"


class NotASupervisor(LifecycleError):
    code = "forbidden"


def in_force(site_id: int, now=None):
    now = now or timezone.now()
    return Ban.objects.filter(site_id=site_id, lifted_at__isnull=True).filter(
        Q(expires_at__isnull=True) | Q(expires_at__gt=now))


def ban_for(*, site_id: int, visitor_id: int | None, address: str | None) -> Ban | None:
    """The ban in force on this visitor or on a network holding this address, if any."""
    named = ~Q(network="") | Q(visitor_id=visitor_id) if visitor_id is not None else ~Q(network="")
    for ban in in_force(site_id).filter(named).order_by("id"):
        if ban.network == "" or contains(ban.network, address):
            return ban
    return None


def ban_visitor(*, conversation_id: int, actor: Actor, scope: str = "visitor", reason: str = "",
                hours: int | None = None) -> list[Ban]:
    """Ban the visitor of a conversation (and, by `scope`, their address or network) on its site,
    for `hours` or until lifted; their open chat ends. Supervisors only."""
    if actor.agent is None or not actor.agent.is_supervisor:
        raise NotASupervisor("only supervisors ban visitors")
    if scope not in SCOPES:
        raise LifecycleError(f"scope is one of {', '.join(SCOPES)}", code="invalid_field")
    now = timezone.now()
    expires_at = now + timedelta(hours=hours) if hours else None
    with transaction.atomic():
        conversation = Conversation.objects.get(pk=conversation_id)
        visitor = Visitor.objects.select_for_update().get(pk=conversation.visitor_id)
        common = {"site_id": conversation.site_id, "reason": reason, "created_by": actor.agent,
                  "created_at": now, "expires_at": expires_at}
        bans = [Ban.objects.create(visitor=visitor, **common)]
        if SCOPES[scope] and visitor.last_ip:
            bans.append(Ban.objects.create(network=network_of(visitor.last_ip, SCOPES[scope]), **common))
        for open_chat in visitor.conversations.filter(status__in=Conversation.OPEN_STATUSES):
            lifecycle.close_conversation(conversation_id=open_chat.pk, actor=actor,
                                         details={"reason": CLOSE_REASON, "ban_ids": [ban.pk for ban in bans]})
        publish_on_commit([visitor_group(visitor.pk)], {"type": "banned"})
    return bans


def ban_network(*, site_id: int, network: str, actor: Actor, reason: str = "", expires_at=None) -> Ban:
    """Ban an address or range on a site, whoever writes from it (the admin's "add ban")."""
    return Ban.objects.create(site_id=site_id, network=str(parse_network(network)), reason=reason,
                              created_by=actor.agent, created_at=timezone.now(), expires_at=expires_at)


def lift_ban(*, ban_id: int) -> Ban:
    """End a ban now (callers check who may: the admin is staff only)."""
    with transaction.atomic():
        ban = Ban.objects.select_for_update().get(pk=ban_id)
        if ban.lifted_at is None:
            ban.lifted_at = timezone.now()
            ban.save(update_fields=["lifted_at"])
    return ban
