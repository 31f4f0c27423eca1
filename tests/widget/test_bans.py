"""Supervisors ban a visitor (and their address or network) from the console; the banned client
gets `banned` and close 4009 wherever it connects, while everyone else chats on."""

from datetime import timedelta

import pytest
from channels.db import database_sync_to_async as db
from django.utils import timezone

from agents.models import Agent
from conversations import bans
from conversations.lifecycle import Actor
from conversations.models import Ban, Conversation, ConversationEvent
from tests.console.console import connect
from tests.personas import FIRST_MESSAGE, make_agent, make_site

pytestmark = pytest.mark.django_db(transaction=True)

MALLORY, HER_NEIGHBOUR, ELSEWHERE = "203.0.113.66", "203.0.113.99", "198.51.100.7"


@pytest.fixture
def sam():
    return make_agent("sam", role=Agent.Role.SUPERVISOR, status=Agent.Status.OFFLINE)


async def mallory_chatting(open_widget, address=MALLORY):
    widget = await open_widget(address=address)
    welcome = await widget.hello()
    await widget.send({"type": "start", "name": "Mallory", **FIRST_MESSAGE})
    state = await widget.receive_until("state")
    return widget, welcome["token"], state["conversation_id"]


async def refused_as_banned(widget, **hello) -> bool:
    await widget.send({"type": "hello", **hello})
    error = await widget.receive_until("error")
    return error["code"] == "banned" and await widget.close_code() == 4009


async def test_a_supervisor_bans_a_visitor_whose_socket_is_told_and_closed_and_who_cannot_come_back(
        acme, sam, open_widget):
    widget, token, conversation_id = await mallory_chatting(open_widget)
    console = await connect(sam)
    await console.hello()
    await console.send({"type": "ban", "conversation_id": conversation_id, "reason": "spam", "hours": 24})
    assert (await console.receive_until("banned"))["conversation_id"] == conversation_id

    assert (await widget.receive_until("error"))["code"] == "banned"
    assert await widget.close_code() == 4009
    chat = await db(Conversation.objects.get)(public_id=conversation_id)
    assert chat.status == "abandoned"  # it was still queued
    closing = await db(lambda: chat.events.get(kind=ConversationEvent.Kind.ABANDONED))()
    assert (closing.actor_agent_id, closing.details["reason"]) == (sam.pk, bans.CLOSE_REASON)
    ban = await db(Ban.objects.get)()
    assert (ban.reason, ban.created_by_id, ban.network) == ("spam", sam.pk, "")
    assert timedelta(hours=23) < ban.expires_at - timezone.now() <= timedelta(hours=24)

    assert await refused_as_banned(await open_widget(address=ELSEWHERE), token=token)
    # Her address is not banned (scope "visitor"): a new visitor there may chat.
    other, _, _ = await mallory_chatting(open_widget, address=HER_NEIGHBOUR)


async def test_a_network_ban_covers_every_visitor_of_the_range_and_nobody_else(acme, sam, open_widget):
    _, _, conversation_id = await mallory_chatting(open_widget)
    conversation = await db(Conversation.objects.get)(public_id=conversation_id)
    await db(bans.ban_visitor)(conversation_id=conversation.pk, actor=Actor.of_agent(sam), scope="network")
    assert await db(lambda: sorted(Ban.objects.values_list("network", flat=True)))() == ["", "203.0.113.0/24"]
    assert await refused_as_banned(await open_widget(address=HER_NEIGHBOUR))
    await mallory_chatting(open_widget, address=ELSEWHERE)


async def test_only_supervisors_ban(acme, open_widget):
    _, _, conversation_id = await mallory_chatting(open_widget)
    alice = await db(make_agent)("alice", skills={"orders": 5})
    console = await connect(alice)
    await console.hello()
    await console.send({"type": "ban", "conversation_id": conversation_id})
    assert (await console.error())["code"] in ("forbidden", "not_allowed")
    assert await db(Ban.objects.count)() == 0


async def test_a_lifted_or_expired_ban_lets_the_visitor_chat_again(acme, sam, open_widget):
    widget, token, conversation_id = await mallory_chatting(open_widget)
    conversation = await db(Conversation.objects.get)(public_id=conversation_id)
    [ban] = await db(bans.ban_visitor)(conversation_id=conversation.pk, actor=Actor.of_agent(sam), hours=1)
    assert await refused_as_banned(await open_widget(), token=token)
    await db(Ban.objects.filter(pk=ban.pk).update)(expires_at=timezone.now() - timedelta(seconds=1))
    assert (await (await open_widget()).hello(token=token))["token"]
    await db(Ban.objects.filter(pk=ban.pk).update)(expires_at=None)
    assert await refused_as_banned(await open_widget(), token=token)
    await db(bans.lift_ban)(ban_id=ban.pk)
    assert (await (await open_widget()).hello(token=token))["token"]


async def test_a_ban_from_the_admin_holds_on_its_site_only(acme, sam, open_widget):
    await db(bans.ban_network)(site_id=acme.pk, network="203.0.113.0/24", actor=Actor.of_agent(sam))
    await db(make_site)("globex", name="Globex")
    assert await refused_as_banned(await open_widget(address=MALLORY))
    assert (await (await open_widget("globex", address=MALLORY)).hello())["site"]["name"] == "Globex"


def test_a_ban_may_not_name_a_range_wider_than_a_provider_block():
    from conversations.networks import parse_network

    for too_wide in ["10.0.0.0/8", "2001:db8::/16"]:
        with pytest.raises(ValueError):
            parse_network(too_wide)
    assert str(parse_network("203.0.113.7/24")) == "203.0.113.0/24"
