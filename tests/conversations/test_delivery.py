"""Gap-free delivery (conversations/delivery.py): a frame lost between a commit and the sockets is
sent from the database, in seq order, once.

A frame is lost for real here: the change is made with the channel layer under another prefix, so
its publish reaches no socket of this test, as when the process that committed it died before
publishing.
"""

import asyncio

import pytest
from channels.db import database_sync_to_async
from django.db import connection
from django.test import override_settings

from chatdesk.embedded_redis import free_port
from conversations import lifecycle
from conversations.lifecycle import Actor
from conversations.models import Conversation, Message
from tests.console.console import chat_with, connect, switch_routing_off
from tests.personas import make_agent, make_site, make_visitor
from tests.widget.conftest import open_widget  # noqa: F401  (fixture)
from widget.tokens import make_visitor_token

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.asyncio]
db = database_sync_to_async
CHECK_SECONDS = 0.2


@pytest.fixture(autouse=True)
def quick_checks(settings, monkeypatch):
    settings.DELIVERY_CHECK_SECONDS = CHECK_SECONDS
    switch_routing_off(monkeypatch)


@pytest.fixture
def alice():
    return make_agent("alice")


@pytest.fixture
def chat(alice):
    return Conversation.objects.select_related("visitor", "site").get(pk=chat_with(alice, make_site()).pk)


def layers_elsewhere(settings_layers: dict) -> dict:
    default = settings_layers["default"]
    return {"default": {**default, "CONFIG": {**default["CONFIG"], "prefix": "elsewhere"}}}


async def lost_in_transit(change, *args, **kwargs):
    """Make a lifecycle change whose frames reach no socket."""
    from django.conf import settings

    def run():
        try:
            with override_settings(CHANNEL_LAYERS=layers_elsewhere(settings.CHANNEL_LAYERS)):
                return change(*args, **kwargs)
        finally:
            connection.close()

    # A plain thread: the publish runs inside the change, while the other layer is in place.
    return await asyncio.to_thread(run)


def visitor_says(chat, text, client_id):
    return lifecycle.post_message(conversation_id=chat.pk, actor=Actor.visitor(), text=text, client_id=client_id)[0]


def agent_says(chat, agent, text, client_id, visibility=Message.Visibility.PUBLIC):
    return lifecycle.post_message(conversation_id=chat.pk, actor=Actor.of_agent(agent), text=text,
                                  client_id=client_id, visibility=visibility)[0]


async def visitors_widget(open_widget, chat):
    widget = await open_widget()
    token = make_visitor_token(site_key=chat.site.key, visitor_public_id=str(chat.visitor.public_id))
    await widget.hello(token=token, conversation_id=str(chat.public_id), last_seq=1)
    assert (await widget.receive_until("replayed"))["last_seq"] == 1
    return widget


async def messages(socket, count, timeout=3):
    return [await socket.receive_until("message", timeout=timeout) for _ in range(count)]


def chain(frames):
    return [(frame["prev_seq"], frame["seq"]) for frame in frames]


async def test_a_message_whose_frame_was_lost_reaches_the_visitor_before_the_next_one(chat, alice, open_widget):
    widget = await visitors_widget(open_widget, chat)
    await lost_in_transit(agent_says, chat, alice, "Let me look", "a1")
    await db(agent_says)(chat, alice, "Found it", "a2")
    received = await messages(widget, 2)
    assert [frame["text"] for frame in received] == ["Let me look", "Found it"]
    assert chain(received) == [(1, 2), (2, 3)]
    assert await widget.nothing_more()


async def test_an_internal_note_between_two_replies_is_no_gap_for_the_visitor(chat, alice, open_widget):
    widget = await visitors_widget(open_widget, chat)
    await db(agent_says)(chat, alice, "Let me look", "a1")
    await db(agent_says)(chat, alice, "VIP customer", "n1", Message.Visibility.INTERNAL)
    await db(agent_says)(chat, alice, "Found it", "a2")
    received = await messages(widget, 2)
    assert [(frame["text"], frame["prev_seq"], frame["seq"]) for frame in received] == [
        ("Let me look", 1, 2), ("Found it", 2, 4)]


async def test_the_last_message_of_a_chat_lost_on_the_way_arrives_at_the_next_checks(chat, alice, open_widget):
    widget = await visitors_widget(open_widget, chat)
    await lost_in_transit(agent_says, chat, alice, "Anything else?", "a1")
    [received] = await messages(widget, 1, timeout=10 * CHECK_SECONDS + 2)
    assert (received["text"], received["prev_seq"], received["seq"]) == ("Anything else?", 1, 2)


async def test_a_close_whose_state_was_lost_reaches_the_visitor(chat, alice, open_widget):
    widget = await visitors_widget(open_widget, chat)
    await lost_in_transit(lifecycle.close_conversation, conversation_id=chat.pk, actor=Actor.of_agent(alice))
    state = await widget.receive_until("state", timeout=10 * CHECK_SECONDS + 2)
    assert state["status"] == Conversation.Status.MISSED


async def test_sync_sends_what_follows_the_clients_last_seq_then_replayed(chat, alice, open_widget, settings):
    settings.DELIVERY_CHECK_SECONDS = 60  # only the sync sends them
    widget = await visitors_widget(open_widget, chat)
    await lost_in_transit(agent_says, chat, alice, "One", "a1")
    await lost_in_transit(agent_says, chat, alice, "Note", "n1", Message.Visibility.INTERNAL)
    await lost_in_transit(agent_says, chat, alice, "Two", "a2")
    await widget.send({"type": "sync", "conversation_id": str(chat.public_id), "last_seq": 1})
    received, frame = [], await widget.receive()
    while frame["type"] != "replayed":
        if frame["type"] == "message":
            received.append((frame["text"], frame["prev_seq"]))
        frame = await widget.receive()
    # A delivery check of the socket's own may send a message too, before the sync's copy (on a busy
    # machine its first run can fall in here): a client drops a seq it has, so only order matters.
    assert list(dict.fromkeys(received)) == [("One", 1), ("Two", 2)]
    assert frame["last_seq"] == 4


async def test_sync_of_a_conversation_of_someone_else_is_refused_with_its_id(chat, open_widget):
    widget = await visitors_widget(open_widget, chat)
    other = await db(lambda: lifecycle.start_conversation(
        site=chat.site, visitor=make_visitor(chat.site, "Bea"), name="Bea")[0])()
    await widget.send({"type": "sync", "conversation_id": str(other.public_id), "last_seq": 0})
    error = await widget.receive_until("error")
    assert (error["code"], error["conversation_id"]) == ("no_conversation", str(other.public_id))


async def test_rating_an_unknown_conversation_names_it_in_the_error(chat, open_widget):
    widget = await visitors_widget(open_widget, chat)
    unknown = "5f0c7a52-0000-4000-8000-000000000000"
    await widget.send({"type": "rate", "conversation_id": unknown, "csat": 5})
    error = await widget.receive_until("error")
    assert (error["code"], error["conversation_id"]) == ("no_conversation", unknown)


async def test_a_visitor_message_lost_on_the_way_reaches_the_console_in_order(chat, alice):
    console = await connect(alice)
    await console.hello(conversations={str(chat.public_id): 1})
    await console.receive_until("replayed")
    await lost_in_transit(visitor_says, chat, "Hello?", "v2")
    await db(visitor_says)(chat, "Anyone there?", "v3")
    received = await messages(console, 2)
    assert [(frame["text"], frame["prev_seq"], frame["seq"]) for frame in received] == [
        ("Hello?", 1, 2), ("Anyone there?", 2, 3)]


async def test_a_resent_message_is_published_again(chat, alice, open_widget, settings):
    settings.DELIVERY_CHECK_SECONDS = 60  # only the resend can bring it
    console = await connect(alice)
    await console.hello(conversations={str(chat.public_id): 1})
    await console.receive_until("replayed")
    widget = await visitors_widget(open_widget, chat)
    await lost_in_transit(visitor_says, chat, "Hello?", "v2")
    await widget.send({"type": "message", "client_id": "v2", "text": "Hello?"})
    assert (await widget.receive_until("ack"))["seq"] == 2
    assert (await console.receive_until("message"))["text"] == "Hello?"


async def test_a_chat_given_to_an_agent_whose_state_was_lost_appears_in_their_console(alice):
    console = await connect(alice)
    await console.hello()
    site = await db(make_site)()
    waiting = await db(lambda: lifecycle.start_conversation(site=site, visitor=make_visitor(site, "Ann"),
                                                            name="Ann")[0])()
    await lost_in_transit(lifecycle.assign_conversation, conversation_id=waiting.pk, agent=alice,
                          actor=Actor.system())
    state = await console.receive_until("state", timeout=10 * CHECK_SECONDS + 2, conversation_id=str(waiting.public_id))
    assert (state["status"], state["agent_id"]) == (Conversation.Status.ASSIGNED, alice.pk)


async def test_a_widget_that_cannot_reach_redis_is_refused_with_4013(open_widget, settings):
    unreachable = f"redis://127.0.0.1:{free_port()}/0"
    layers = {"default": {**settings.CHANNEL_LAYERS["default"], "CONFIG": {
        **settings.CHANNEL_LAYERS["default"]["CONFIG"], "hosts": [{"address": unreachable, "socket_timeout": 0.5,
                                                                    "socket_connect_timeout": 0.5}]}}}
    with override_settings(CHANNEL_LAYERS=layers):
        widget = await open_widget()
        error = await widget.receive()
        assert (error["type"], error["code"], error["retry"]) == ("error", "service_unavailable", True)
        assert await widget.close_code() == 4013
