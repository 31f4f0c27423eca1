"""The agent console socket, frame by frame: each frame type, each permission, each error code."""

import asyncio

import pytest
from channels.db import database_sync_to_async
from channels.layers import get_channel_layer
from django.contrib.auth import get_user_model

from agents.models import Agent, AgentStatusEvent, CannedResponse, Department
from conversations import frames, lifecycle
from conversations.lifecycle import Actor
from conversations.models import Conversation, ConversationEvent, Message, Tag
from conversations.publish import staff_group
from routing import grace
from tests.console.console import chat_with, connect, queued_chat, switch_routing_off
from tests.personas import make_agent, make_site
from tests.widget.conftest import open_widget  # noqa: F401  (fixture)
from widget.tokens import make_visitor_token

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.asyncio]
db = database_sync_to_async
Kind = ConversationEvent.Kind


@pytest.fixture(autouse=True)
def no_routing(monkeypatch):
    switch_routing_off(monkeypatch)


@pytest.fixture(autouse=True)
def grace_checks(monkeypatch):
    """Grace checks the consoles schedule when an agent's last one closes (not run here)."""
    scheduled = []
    monkeypatch.setattr(grace, "schedule_check", scheduled.append)
    return scheduled


@pytest.fixture
def acme():
    site = make_site()
    Tag.objects.create(site=site, name="refund")
    Tag.objects.create(site=site, name="shipping")
    return site


@pytest.fixture
def alice():
    return make_agent("alice", cap=2, skills={"orders": 5})


@pytest.fixture
def bob():
    return make_agent("bob", cap=2, skills={"orders": 2})


@pytest.fixture
def sam():
    """A supervisor."""
    return make_agent("sam", role=Agent.Role.SUPERVISOR)


@pytest.fixture
def alices_chat(acme, alice):
    return chat_with(alice, acme, "Ann")


def counts():
    return (ConversationEvent.objects.count(), Message.objects.count(),
            list(Conversation.objects.order_by("id").values_list("status", "assigned_agent_id")))


# --- signing in --------------------------------------------------------------------------------

async def test_a_signed_in_agent_is_welcomed_with_their_chats_unread_counts_and_the_queue(acme, alice, alices_chat):
    await db(queued_chat)(acme, "Carl")
    console = await connect(alice)
    welcome = await console.hello()
    assert welcome["agent"] == {"id": alice.pk, "name": "Alice", "role": "agent", "supervisor": False,
                                "status": "online", "cap": 2}
    [chat] = welcome["chats"]
    assert (chat["conversation_id"], chat["status"], chat["unread"], chat["visitor_name"]) == (
        str(alices_chat.public_id), "active", 1, "Ann")
    assert welcome["queue"]["waiting"] == 1
    assert welcome["queue"]["chats"][0]["visitor_name"] == "Carl"


async def test_an_anonymous_socket_gets_not_authenticated_and_close_4001(acme):
    console = await connect(None)
    assert (await console.receive())["code"] == "not_authenticated"
    assert await console.close_code() == 4001


async def test_a_user_without_an_agent_profile_gets_not_an_agent_and_close_4001(acme):
    user = await db(get_user_model().objects.create_user)("charlie", password="pw-charlie")
    console = await connect(user)
    assert (await console.receive())["code"] == "not_an_agent"
    assert await console.close_code() == 4001


async def test_a_page_of_another_origin_gets_origin_not_allowed_and_close_4003(acme, alice):
    console = await connect(alice, origin="https://evil.example")
    assert (await console.receive())["code"] == "origin_not_allowed"
    assert await console.close_code() == 4003


async def test_frames_before_hello_are_refused_and_hello_is_sent_once(acme, alice):
    console = await connect(alice)
    await console.send({"type": "status", "status": "away"})
    assert (await console.error())["code"] == "hello_required"
    await console.send({"type": "ping"})
    await console.receive_until("pong")
    await console.hello()
    await console.send({"type": "hello"})
    assert (await console.error())["code"] == "already_greeted"


@pytest.mark.parametrize("frame, code, field", [
    ("not json", "bad_json", None),
    ({"type": "dance"}, "unknown_type", None),
    ({"type": "status", "status": "busy"}, "invalid_field", "status"),
    ({"type": "open"}, "invalid_field", "conversation_id"),
    ({"type": "open", "conversation_id": "x", "extra": 1}, "invalid_field", "extra"),
    ({"type": "seen", "conversation_id": "x", "seq": True}, "invalid_field", "seq"),
    ({"type": "message", "conversation_id": "x", "client_id": "c1", "text": "  "}, "message_empty", "text"),
    ({"type": "message", "conversation_id": "x", "client_id": "c1", "text": "a" * 4001}, "message_too_long", "text"),
    ({"type": "transfer", "conversation_id": "x", "agent": 1, "department": 1}, "invalid_field", "agent"),
    ({"type": "close", "conversation_id": "x", "resolved": True, "tags": [1]}, "invalid_field", "tags"),
    ({"type": "hello", "conversations": {"x": -1}}, "invalid_field", "conversations.x"),
])
async def test_a_malformed_frame_gets_its_specific_error_code(acme, alice, frame, code, field):
    console = await connect(alice)
    if not (isinstance(frame, dict) and frame["type"] == "hello"):
        await console.hello()
    await console.send(frame)
    error = await console.error()
    assert (error["code"], error.get("field")) == (code, field)
    if isinstance(frame, dict) and "client_id" in frame:
        assert error["ref"] == "c1"


async def test_an_unknown_conversation_is_not_found(acme, alice):
    console = await connect(alice)
    await console.hello()
    for conversation_id in ("not-a-uuid", "7d3c8f9e-1111-4222-8333-944455556666"):
        await console.send({"type": "open", "conversation_id": conversation_id})
        assert (await console.error())["code"] == "not_found"


async def test_a_burst_beyond_the_bucket_is_rate_limited(acme, alice):
    console = await connect(alice)
    for _ in range(41):
        await console.send({"type": "ping"})
    error = await console.error()
    assert (error["code"], error["retry"]) == ("rate_limited", True)
    assert error["retry_after_ms"] > 0


# --- status, take, open ------------------------------------------------------------------------

async def test_status_goes_through_presence_and_reaches_every_tab(acme, alice):
    first, second = await connect(alice), await connect(alice)
    await first.hello()
    await second.hello()
    await first.send({"type": "status", "status": "away"})
    assert (await first.receive_until("status"))["status"] == "away"
    assert (await second.receive_until("status"))["status"] == "away"
    event = await db(AgentStatusEvent.objects.get)()
    assert (event.previous, event.status, event.changed_by_id) == ("online", "away", alice.pk)


async def test_take_assigns_and_accepts_a_queued_chat(acme, alice):
    chat = await db(queued_chat)(acme)
    console = await connect(alice)
    await console.hello()
    await console.send({"type": "take", "conversation_id": str(chat.public_id)})
    state = await console.receive_until("state", status="active")
    assert (state["agent_id"], state["agent_name"]) == (alice.pk, "Alice")
    kinds = await db(lambda: list(chat.events.values_list("kind", flat=True)))()
    assert kinds == [Kind.QUEUED, Kind.ASSIGNED, Kind.ACCEPTED]


async def test_take_never_exceeds_the_cap(acme, alice):
    chats = [await db(queued_chat)(acme, f"V{i}") for i in range(3)]
    console = await connect(alice)
    await console.hello()
    for chat in chats:
        await console.send({"type": "take", "conversation_id": str(chat.public_id)})
    error = await console.error()
    assert (error["code"], error["conversation_id"]) == ("agent_at_capacity", str(chats[2].public_id))
    assert await db(Conversation.objects.filter(assigned_agent=alice).count)() == 2


async def test_taking_a_chat_someone_already_has_is_an_illegal_transition(acme, alice, bob):
    chat = await db(chat_with)(bob, acme)
    console = await connect(alice)
    await console.hello()
    await console.send({"type": "take", "conversation_id": str(chat.public_id)})
    assert (await console.error())["code"] == "illegal_transition"


async def test_open_sends_the_state_the_whole_history_and_the_visitor_context(acme, alice, alices_chat):
    await db(lifecycle.post_message)(conversation_id=alices_chat.pk, actor=Actor.of_agent(alice), text="note",
                                     visibility=Message.Visibility.INTERNAL)
    earlier = await db(queued_chat)(acme, "Dora")
    await db(Conversation.objects.filter(pk=earlier.pk).update)(visitor=alices_chat.visitor, status="closed")
    console = await connect(alice)
    await console.hello()
    await console.send({"type": "open", "conversation_id": str(alices_chat.public_id)})
    assert (await console.receive_until("state"))["status"] == "active"
    first, second, replayed = [await console.receive_until(t) for t in ("message", "message", "replayed")]
    assert [(first["seq"], first["visibility"]), (second["seq"], second["visibility"])] == [
        (1, "public"), (2, "internal")]
    assert replayed["last_seq"] == 2
    context = await console.receive_until("context")
    assert context["visitor"]["name"] == "Ann"
    assert [c["conversation_id"] for c in context["earlier"]] == [str(earlier.public_id)]


async def test_an_agent_may_open_a_queued_chat_but_not_act_on_it(acme, alice):
    chat = await db(queued_chat)(acme)
    console = await connect(alice)
    await console.hello()
    await console.send({"type": "open", "conversation_id": str(chat.public_id)})
    await console.receive_until("context")
    await console.send({"type": "note", "conversation_id": str(chat.public_id), "client_id": "n1", "text": "hm"})
    assert (await console.error(ref="n1"))["code"] == "forbidden"


# --- writing -----------------------------------------------------------------------------------

async def test_a_reply_is_acked_reaches_the_visitor_and_records_its_canned_response(acme, alice, alices_chat):
    canned = await db(CannedResponse.objects.create)(shortcut="hi", title="Hi", text="Hello!")
    console = await connect(alice)
    await console.hello()
    frame = {"type": "message", "conversation_id": str(alices_chat.public_id), "client_id": "a1", "text": "Hello!",
             "canned_response_id": canned.pk}
    for _ in range(2):  # a resend is acknowledged again with the same seq
        await console.send(frame)
        ack = await console.receive_until("ack")
        assert (ack["client_id"], ack["seq"]) == ("a1", 2)
    live = await console.receive_until("message", seq=2)
    assert (live["author"], live["agent_name"]) == ("agent", "Alice")
    message = await db(Message.objects.get)(seq=2)
    assert message.canned_response_id == canned.pk
    event = await db(ConversationEvent.objects.filter(kind=Kind.MESSAGE).last)()
    assert event.details["canned_response_id"] == canned.pk
    assert await db(Message.objects.count)() == 2


async def test_a_canned_response_of_another_agent_is_not_found(acme, alice, bob, alices_chat):
    canned = await db(CannedResponse.objects.create)(owner=bob, shortcut="mine", title="Mine", text="x")
    console = await connect(alice)
    await console.hello()
    await console.send({"type": "message", "conversation_id": str(alices_chat.public_id), "client_id": "a1",
                        "text": "x", "canned_response_id": canned.pk})
    error = await console.error()
    assert (error["code"], error["field"], error["ref"]) == ("not_found", "canned_response_id", "a1")


async def test_a_reply_to_a_closed_chat_is_an_illegal_transition(acme, alice, alices_chat):
    await db(lifecycle.close_conversation)(conversation_id=alices_chat.pk, actor=Actor.visitor())
    console = await connect(alice)
    await console.hello()
    await console.send({"type": "message", "conversation_id": str(alices_chat.public_id), "client_id": "a1",
                        "text": "still there?"})
    assert (await console.error(ref="a1"))["code"] == "illegal_transition"


async def test_notes_and_whispers_reach_staff_but_never_the_visitor(acme, alice, sam, open_widget):
    chat = await db(chat_with)(alice, acme)
    widget = await open_widget()
    token = make_visitor_token(site_key="acme", visitor_public_id=str(chat.visitor.public_id))
    await widget.hello(token=token)
    await widget.receive_until("replayed")
    agent, supervisor = await connect(alice), await connect(sam)
    await agent.hello()
    await supervisor.hello()
    conversation_id = str(chat.public_id)
    await agent.send({"type": "note", "conversation_id": conversation_id, "client_id": "n1", "text": "VIP"})
    assert (await agent.receive_until("ack"))["seq"] == 2
    await supervisor.send({"type": "whisper", "conversation_id": conversation_id, "client_id": "w1",
                           "text": "offer a refund"})
    assert (await supervisor.receive_until("ack"))["seq"] == 3
    whisper = await agent.receive_until("message", seq=3)
    assert (whisper["visibility"], whisper["agent_name"]) == ("whisper", "Sam")
    await agent.send({"type": "message", "conversation_id": conversation_id, "client_id": "a1", "text": "Hi"})
    assert (await widget.receive_until("message"))["seq"] == 4  # 2 and 3 never came


async def test_only_supervisors_whisper_barge_and_reassign(acme, alice, bob, alices_chat):
    console = await connect(alice)
    await console.hello()
    conversation_id = str(alices_chat.public_id)
    for frame in ({"type": "whisper", "client_id": "w1", "text": "x"}, {"type": "barge", "client_id": "b1", "text": "x"},
                  {"type": "reassign", "agent": bob.pk}):
        await console.send({**frame, "conversation_id": conversation_id})
        assert (await console.error())["code"] == "forbidden"


async def test_barge_writes_to_the_visitor_as_the_supervisor(acme, alice, sam, alices_chat, open_widget):
    widget = await open_widget()
    await widget.hello(token=make_visitor_token(site_key="acme", visitor_public_id=str(alices_chat.visitor.public_id)))
    await widget.receive_until("replayed")
    supervisor = await connect(sam)
    await supervisor.hello()
    await supervisor.send({"type": "barge", "conversation_id": str(alices_chat.public_id), "client_id": "b1",
                           "text": "I am the supervisor"})
    await supervisor.receive_until("ack")
    message = await widget.receive_until("message")
    assert (message["text"], message["agent_name"], message["author"]) == ("I am the supervisor", "Sam", "agent")


async def test_a_supervisor_replies_with_barge_not_message(acme, alice, sam, alices_chat):
    supervisor = await connect(sam)
    await supervisor.hello()
    await supervisor.send({"type": "message", "conversation_id": str(alices_chat.public_id), "client_id": "m1",
                           "text": "x"})
    assert (await supervisor.error(ref="m1"))["code"] == "forbidden"


async def test_typing_goes_both_ways(acme, alice, alices_chat, open_widget):
    widget = await open_widget()
    await widget.hello(token=make_visitor_token(site_key="acme", visitor_public_id=str(alices_chat.visitor.public_id)))
    await widget.receive_until("replayed")
    console = await connect(alice)
    await console.hello()
    await console.send({"type": "typing", "conversation_id": str(alices_chat.public_id), "is_typing": True})
    typing = await widget.receive_until("typing")
    assert (typing["by"], typing["agent_name"], typing["is_typing"]) == ("agent", "Alice", True)
    await widget.send({"type": "typing", "is_typing": True, "preview": "Where is"})
    typing = await console.receive_until("typing")
    assert (typing["by"], typing["preview"]) == ("visitor", "Where is")


async def test_seen_moves_the_agents_read_marker(acme, alice, alices_chat):
    console = await connect(alice)
    await console.hello()
    await console.send({"type": "seen", "conversation_id": str(alices_chat.public_id), "seq": 5})
    seen = await console.receive_until("seen")
    assert (seen["by"], seen["seq"]) == ("agent", 1)
    await alices_chat.arefresh_from_db()
    assert alices_chat.agent_seen_seq == 1


# --- tags, transfers, closing ------------------------------------------------------------------

async def test_tag_and_untag_write_one_event_each_and_reach_every_tab(acme, alice, alices_chat):
    first, second = await connect(alice), await connect(alice)
    await first.hello()
    await second.hello()
    conversation_id = str(alices_chat.public_id)
    await first.send({"type": "tag", "conversation_id": conversation_id, "tag": "refund"})
    assert (await second.receive_until("tags"))["tags"] == ["refund"]
    await first.send({"type": "tag", "conversation_id": conversation_id, "tag": "refund"})  # already: nothing
    await first.send({"type": "untag", "conversation_id": conversation_id, "tag": "refund"})
    assert (await second.receive_until("tags"))["tags"] == []
    await first.send({"type": "tag", "conversation_id": conversation_id, "tag": "no-such-tag"})
    error = await first.error()
    assert (error["code"], error["field"]) == ("unknown_tag", "tag")
    kinds = await db(lambda: list(alices_chat.events.filter(kind__in=[Kind.TAGGED, Kind.UNTAGGED])
                                  .values_list("kind", flat=True)))()
    assert kinds == [Kind.TAGGED, Kind.UNTAGGED]


async def test_a_transfer_moves_the_chat_from_one_console_to_the_other(acme, alice, bob, alices_chat):
    alices, bobs = await connect(alice), await connect(bob)
    await alices.hello()
    assert (await bobs.hello())["chats"] == []
    conversation_id = str(alices_chat.public_id)
    await alices.send({"type": "transfer", "conversation_id": conversation_id, "agent": bob.pk, "note": "refund"})
    state = await bobs.receive_until("state", conversation_id=conversation_id)
    assert (state["status"], state["agent_name"]) == ("assigned", "Bob")
    for _ in range(2):  # the answer to her frame and the published change: the chat's last states for her
        await alices.receive_until("state", agent_name="Bob")
    # From now on the chat is Bob's: Alice's console hears nothing more of it, and may not write.
    await db(lifecycle.post_message)(conversation_id=alices_chat.pk, actor=Actor.visitor(), text="hello?")
    assert (await bobs.receive_until("message", conversation_id=conversation_id))["text"] == "hello?"
    assert await alices.frames_about(conversation_id) == []
    await alices.send({"type": "note", "conversation_id": conversation_id, "client_id": "n1", "text": "x"})
    assert (await alices.error(ref="n1"))["code"] == "forbidden"


async def test_a_transfer_to_a_department_or_an_unknown_target(acme, alice, alices_chat):
    department = await db(Department.objects.create)(name="Billing")
    console = await connect(alice)
    await console.hello()
    conversation_id = str(alices_chat.public_id)
    await console.send({"type": "transfer", "conversation_id": conversation_id, "department": 999})
    error = await console.error()
    assert (error["code"], error["field"]) == ("not_found", "department")
    await console.send({"type": "transfer", "conversation_id": conversation_id, "department": department.pk})
    assert (await console.receive_until("state", conversation_id=conversation_id))["status"] == "queued"


async def test_a_transfer_to_an_agent_at_their_cap_is_refused(acme, alice, bob, alices_chat):
    await db(Agent.objects.filter(pk=bob.pk).update)(max_concurrent_chats=0)
    console = await connect(alice)
    await console.hello()
    await console.send({"type": "transfer", "conversation_id": str(alices_chat.public_id), "agent": bob.pk})
    assert (await console.error())["code"] == "agent_at_capacity"


async def test_a_supervisor_reassigns_a_chat(acme, alice, bob, sam, alices_chat):
    supervisor = await connect(sam)
    await supervisor.hello()
    await supervisor.send({"type": "reassign", "conversation_id": str(alices_chat.public_id), "agent": bob.pk})
    state = await supervisor.receive_until("state", agent_name="Bob")
    assert state["agent_id"] == bob.pk
    event = await db(alices_chat.events.last)()
    assert (event.kind, event.actor_agent_id, event.details["to_agent_id"]) == (Kind.TRANSFERRED, sam.pk, bob.pk)


async def test_close_needs_a_tag_when_the_site_requires_one(acme, alice, alices_chat):
    await db(type(acme).objects.filter(pk=acme.pk).update)(require_tag_on_close=True)
    console = await connect(alice)
    await console.hello()
    conversation_id = str(alices_chat.public_id)
    await console.send({"type": "close", "conversation_id": conversation_id, "resolved": True})
    assert (await console.error())["code"] == "tag_required"
    await console.send({"type": "close", "conversation_id": conversation_id, "resolved": True, "tags": ["nope"]})
    assert (await console.error())["code"] == "unknown_tag"
    assert (await db(Conversation.objects.get)(pk=alices_chat.pk)).status == "active"
    await console.send({"type": "close", "conversation_id": conversation_id, "resolved": True, "tags": ["refund"],
                        "summary": "refunded"})
    assert (await console.receive_until("state", conversation_id=conversation_id))["status"] == "missed"
    event = await db(alices_chat.events.last)()
    assert (event.kind, event.details["tags"], event.details["resolved"], event.details["summary"]) == (
        Kind.MISSED, ["refund"], True, "refunded")
    assert event.details["wrapup_source"] == "last_message"


async def test_wrapup_records_when_the_after_chat_work_started(acme, alice, alices_chat):
    console = await connect(alice)
    await console.hello()
    conversation_id = str(alices_chat.public_id)
    await console.send({"type": "message", "conversation_id": conversation_id, "client_id": "a1", "text": "Bye"})
    await console.receive_until("ack")
    await console.send({"type": "wrapup", "conversation_id": conversation_id})
    started = await console.receive_until("wrapup")
    await console.send({"type": "wrapup", "conversation_id": conversation_id})  # once only
    await asyncio.sleep(0.05)
    await console.send({"type": "close", "conversation_id": conversation_id, "resolved": False})
    await console.receive_until("state", status="closed")
    kinds = await db(lambda: list(alices_chat.events.values_list("kind", flat=True)))()
    assert kinds.count(Kind.WRAPUP) == 1
    closed = await db(alices_chat.events.last)()
    assert (closed.details["wrapup_started_at"], closed.details["wrapup_source"]) == (started["started_at"], "wrapup")


# --- permissions -------------------------------------------------------------------------------

@pytest.mark.parametrize("frame", [
    {"type": "open"},
    {"type": "message", "client_id": "x1", "text": "hi"},
    {"type": "note", "client_id": "x2", "text": "hi"},
    {"type": "tag", "tag": "refund"},
    {"type": "untag", "tag": "refund"},
    {"type": "transfer", "department": 1},
    {"type": "close", "resolved": True, "tags": ["refund"]},
    {"type": "wrapup"},
    {"type": "typing", "is_typing": True},
    {"type": "seen", "seq": 1},
])
async def test_an_agent_cannot_touch_another_agents_chat(acme, alice, bob, alices_chat, frame):
    await db(Department.objects.create)(pk=1, name="Sales")
    before = await db(counts)()
    console = await connect(bob)
    await console.hello()
    conversation_id = str(alices_chat.public_id)
    await console.send({**frame, "conversation_id": conversation_id})
    error = await console.error()
    assert (error["code"], error["conversation_id"]) == ("forbidden", conversation_id)
    # Nothing changed, and nothing about the chat reaches Bob afterwards either.
    await db(lifecycle.post_message)(conversation_id=alices_chat.pk, actor=Actor.visitor(), text="secret")
    assert await console.frames_about(conversation_id) == []
    after = await db(counts)()
    assert (after[0] - 1, after[1] - 1, after[2]) == before


async def test_replaying_another_agents_chat_after_reconnect_is_forbidden(acme, alice, bob, alices_chat):
    console = await connect(bob)
    await console.hello(conversations={str(alices_chat.public_id): 0})
    assert (await console.error())["code"] == "forbidden"
    assert await console.frames_about(str(alices_chat.public_id)) == []


async def test_a_supervisor_monitors_any_chat_silently(acme, alice, sam, alices_chat):
    supervisor = await connect(sam)
    welcome = await supervisor.hello()
    assert welcome["agent"]["supervisor"] is True
    board = await supervisor.receive_until("board")
    assert [c["conversation_id"] for c in board["conversations"]] == [str(alices_chat.public_id)]
    assert {a["name"]: (a["status"], a["active"], a["cap"]) for a in board["agents"]}["Alice"] == ("online", 1, 2)
    events_before = await db(ConversationEvent.objects.count)()
    await supervisor.send({"type": "open", "conversation_id": str(alices_chat.public_id)})
    await supervisor.receive_until("context")
    await supervisor.send({"type": "seen", "conversation_id": str(alices_chat.public_id), "seq": 1})
    await db(lifecycle.post_message)(conversation_id=alices_chat.pk, actor=Actor.visitor(), text="more")
    assert (await supervisor.receive_until("message", seq=2))["text"] == "more"
    assert await db(ConversationEvent.objects.count)() == events_before + 1  # only the message


async def test_an_admin_without_the_supervisor_role_sees_everything_too(acme, alice, alices_chat):
    admin = await db(make_agent)("root")
    await db(get_user_model().objects.filter(pk=admin.user_id).update)(is_superuser=True)
    console = await connect(admin)
    assert (await console.hello())["agent"]["supervisor"] is True
    await console.send({"type": "open", "conversation_id": str(alices_chat.public_id)})
    await console.receive_until("context")


async def test_a_visitor_token_reaches_only_that_visitors_conversation(acme, alice, open_widget):
    anns = await db(chat_with)(alice, acme, "Ann")
    bens = await db(chat_with)(alice, acme, "Ben")
    widget = await open_widget()
    welcome = await widget.hello(token=make_visitor_token(site_key="acme", visitor_public_id=str(anns.visitor.public_id)),
                                 conversation_id=str(bens.public_id), last_seq=0)
    assert welcome["conversation"]["conversation_id"] == str(anns.public_id)
    await widget.receive_until("replayed")
    await db(lifecycle.post_message)(conversation_id=bens.pk, actor=Actor.of_agent(alice), text="for Ben")
    await db(lifecycle.post_message)(conversation_id=anns.pk, actor=Actor.of_agent(alice), text="for Ann")
    assert (await widget.receive_until("message"))["text"] == "for Ann"


# --- reconnecting and several tabs -------------------------------------------------------------

async def test_a_reconnecting_console_gets_only_what_it_missed(acme, alice, alices_chat):
    console = await connect(alice)
    await console.hello()
    await console.disconnect()
    for text in ("two", "three"):
        await db(lifecycle.post_message)(conversation_id=alices_chat.pk, actor=Actor.visitor(), text=text)
    again = await connect(alice)
    await again.hello(conversations={str(alices_chat.public_id): 1})
    replay = [await again.receive_until(t) for t in ("message", "message", "replayed")]
    assert [f.get("seq") for f in replay] == [2, 3, None]
    assert replay[-1]["last_seq"] == 3


async def test_two_tabs_of_one_agent_stay_consistent(acme, alice):
    chat = await db(queued_chat)(acme)
    first, second = await connect(alice), await connect(alice)
    await first.hello()
    await second.hello()
    conversation_id = str(chat.public_id)
    await first.send({"type": "take", "conversation_id": conversation_id})
    assert (await second.receive_until("state", conversation_id=conversation_id, status="active"))["agent_id"] == alice.pk
    await first.send({"type": "message", "conversation_id": conversation_id, "client_id": "a1", "text": "Hi"})
    await first.receive_until("ack")
    assert (await second.receive_until("message", conversation_id=conversation_id))["client_id"] == "a1"
    await db(lifecycle.post_message)(conversation_id=chat.pk, actor=Actor.visitor(), text="thanks")
    for tab in (first, second):
        assert (await tab.receive_until("message", seq=2))["text"] == "thanks"


async def test_the_queue_is_refreshed_when_a_chat_arrives(acme, alice):
    console = await connect(alice)
    await console.hello()
    await db(queued_chat)(acme, "Eve")
    queue = await console.receive_until("queue")
    assert (queue["waiting"], queue["chats"][0]["visitor_name"]) == (1, "Eve")
    assert queue["by_skill"] == [{"skill": None, "waiting": 1, "longest_wait_seconds": queue["longest_wait_seconds"]}]


async def test_the_last_console_to_close_schedules_the_grace_check(acme, alice, grace_checks):
    first, second = await connect(alice), await connect(alice)
    await first.disconnect()
    assert grace_checks == []
    await second.disconnect()
    assert grace_checks == [alice.pk]


# --- accepting ---------------------------------------------------------------------------------

@pytest.fixture
def sales():
    """An offer-and-accept department: its chats wait, assigned, for the agent to accept them."""
    return Department.objects.create(name="Sales", accept_mode=Department.AcceptMode.OFFER, offer_timeout_seconds=30)


def offered_to(agent, site, department, visitor_name="Ann"):
    conversation = queued_chat(site, visitor_name)
    Conversation.objects.filter(pk=conversation.pk).update(department=department)
    lifecycle.assign_conversation(conversation_id=conversation.pk, agent=agent, actor=Actor.system())
    return Conversation.objects.get(pk=conversation.pk)


async def test_an_agent_accepts_their_offer_and_the_chat_becomes_active(acme, alice, sales):
    chat = await db(offered_to)(alice, acme, sales)
    console = await connect(alice)
    [offer] = (await console.hello())["chats"]
    assert (offer["status"], offer["site_id"]) == ("assigned", acme.pk)
    assert 25 <= offer["offer_seconds_left"] <= 30
    await console.send({"type": "accept", "conversation_id": str(chat.public_id)})
    state = await console.receive_until("state", status="active")
    assert (state["agent_id"], state["offer_seconds_left"]) == (alice.pk, None)
    accepted = await db(lambda: list(chat.events.filter(kind=Kind.ACCEPTED).values_list(
        "actor", "actor_agent_id", "details")))()
    assert accepted == [("agent", alice.pk, {"agent_id": alice.pk, "auto": False})]


async def test_a_chat_transferred_to_an_agent_waits_for_their_accept_without_a_timer(acme, alice, bob, alices_chat):
    await db(lifecycle.transfer_conversation)(conversation_id=alices_chat.pk, actor=Actor.of_agent(alice), to_agent=bob)
    console = await connect(bob)
    [chat] = (await console.hello())["chats"]
    assert (chat["status"], chat["offer_seconds_left"]) == ("assigned", None)
    await console.send({"type": "accept", "conversation_id": str(alices_chat.public_id)})
    assert (await console.receive_until("state", status="active"))["agent_id"] == bob.pk


@pytest.mark.parametrize("accepter", ["bob", "sam"])
async def test_only_the_assigned_agent_accepts_a_chat(acme, alice, bob, sam, sales, accepter):
    chat = await db(offered_to)(alice, acme, sales)
    before = await db(counts)()
    console = await connect({"bob": bob, "sam": sam}[accepter])
    await console.hello()
    await console.send({"type": "accept", "conversation_id": str(chat.public_id)})
    error = await console.error()
    assert (error["code"], error["conversation_id"]) == ("forbidden", str(chat.public_id))
    assert await db(counts)() == before


async def test_accepting_a_queued_or_ended_chat_is_an_illegal_transition(acme, alice, alices_chat):
    waiting = await db(queued_chat)(acme, "Carl")
    await db(lifecycle.close_conversation)(conversation_id=alices_chat.pk, actor=Actor.visitor())
    before = await db(counts)()
    console = await connect(alice)
    await console.hello()
    for chat in (waiting, alices_chat):
        await console.send({"type": "accept", "conversation_id": str(chat.public_id)})
        error = await console.error()
        assert (error["code"], error["conversation_id"]) == ("illegal_transition", str(chat.public_id))
    assert await db(counts)() == before


async def test_an_active_chat_cannot_be_accepted_again(acme, alice, alices_chat):
    console = await connect(alice)
    await console.hello()
    await console.send({"type": "accept", "conversation_id": str(alices_chat.public_id)})
    assert (await console.error())["code"] == "illegal_transition"
    assert await db(alices_chat.events.filter(kind=Kind.ACCEPTED).count)() == 1


# --- whispers go to the agent they were written for ----------------------------------------------

def whisper(supervisor, conversation, text, client_id):
    message, _ = lifecycle.post_message(conversation_id=conversation.pk, actor=Actor.of_agent(supervisor), text=text,
                                        client_id=client_id, visibility=Message.Visibility.WHISPER)
    return message


async def test_a_whisper_records_the_agent_it_coaches(acme, alice, sam, alices_chat):
    supervisor = await connect(sam)
    await supervisor.hello()
    await supervisor.send({"type": "whisper", "conversation_id": str(alices_chat.public_id), "client_id": "w1",
                           "text": "offer a refund"})
    ack = await supervisor.receive_until("ack")
    message = await db(Message.objects.get)(seq=ack["seq"])
    assert (message.agent_id, message.recipient_id) == (sam.pk, alice.pk)
    event = await db(ConversationEvent.objects.filter(kind=Kind.MESSAGE).last)()
    assert event.details["recipient_id"] == alice.pk
    live = await supervisor.receive_until("message", seq=ack["seq"])
    assert (live["visibility"], live["recipient_id"]) == ("whisper", alice.pk)


async def test_a_whisper_to_a_chat_nobody_has_is_an_illegal_transition(acme, sam):
    chat = await db(queued_chat)(acme)
    supervisor = await connect(sam)
    await supervisor.hello()
    await supervisor.send({"type": "whisper", "conversation_id": str(chat.public_id), "client_id": "w1", "text": "x"})
    assert (await supervisor.error(ref="w1"))["code"] == "illegal_transition"
    assert await db(Message.objects.filter(visibility="whisper").count)() == 0


async def test_the_next_agent_does_not_see_whispers_for_the_one_before_in_open_or_replay(acme, alice, bob, sam,
                                                                                        alices_chat):
    await db(whisper)(sam, alices_chat, "for Alice", "w1")
    await db(lifecycle.transfer_conversation)(conversation_id=alices_chat.pk, actor=Actor.of_agent(alice), to_agent=bob)
    await db(whisper)(sam, alices_chat, "for Bob", "w2")
    conversation_id = str(alices_chat.public_id)

    bobs = await connect(bob)
    await bobs.hello()
    await bobs.send({"type": "open", "conversation_id": conversation_id})
    opened = [await bobs.receive_until(t) for t in ("message", "message", "replayed")]
    assert [(f.get("seq"), f.get("text")) for f in opened] == [(1, "Where is my order?"), (3, "for Bob"), (None, None)]
    assert opened[-1]["last_seq"] == 3

    again = await connect(bob)
    await again.hello(conversations={conversation_id: 1})
    replay = [await again.receive_until(t) for t in ("message", "replayed")]
    assert [(replay[0]["seq"], replay[0]["text"]), replay[1]["last_seq"]] == [(3, "for Bob"), 3]

    supervisor = await connect(sam)
    await supervisor.hello()
    await supervisor.send({"type": "open", "conversation_id": conversation_id})
    seen = [await supervisor.receive_until("message") for _ in range(3)]
    assert [f["text"] for f in seen] == ["Where is my order?", "for Alice", "for Bob"]


async def test_a_whisper_for_the_agent_before_arriving_live_after_a_transfer_reaches_only_supervisors(
        acme, alice, bob, sam, alices_chat):
    # A whisper for Alice committed just before the transfer, whose frame comes late.
    for_alice = await db(whisper)(sam, alices_chat, "for Alice", "w1")
    await db(lifecycle.transfer_conversation)(conversation_id=alices_chat.pk, actor=Actor.of_agent(alice), to_agent=bob)
    bobs, supervisor = await connect(bob), await connect(sam)
    await bobs.hello()
    await supervisor.hello()
    conversation_id = str(alices_chat.public_id)
    late = {**frames.message_frame(for_alice, alices_chat), "prev_seq": for_alice.seq - 1}
    await get_channel_layer().group_send(staff_group(alices_chat.pk), {"type": "conv.frame", "frame": late})
    await supervisor.send({"type": "open", "conversation_id": conversation_id})
    assert (await supervisor.receive_until("message", seq=2))["text"] == "for Alice"
    await supervisor.receive_until("context")
    assert await bobs.frames_about(conversation_id) == []
    # A whisper written now is Bob's.
    await supervisor.send({"type": "whisper", "conversation_id": conversation_id, "client_id": "w2", "text": "for Bob"})
    assert (await bobs.receive_until("message", client_id="w2"))["recipient_id"] == bob.pk


# --- what docs/protocol.md promises a client written from it alone ------------------------------

def sign_in_through_the_login_page(username: str, password: str):
    """The console's login form filled by a client other than a browser: the page sets the CSRF cookie,
    then a POST without the token and one with it. Returns both answers and the session cookie set."""
    from django.test import Client

    client = Client(enforce_csrf_checks=True)
    client.get("/accounts/login/")
    form = {"username": username, "password": password}
    refused = client.post("/accounts/login/", form)
    answered = client.post("/accounts/login/", {**form, "csrfmiddlewaretoken": client.cookies["csrftoken"].value})
    session = client.cookies.get("sessionid")
    return refused, answered, session.value if session else None


async def test_a_client_signs_in_on_the_login_page_and_opens_the_socket_with_the_session_cookie(acme, alice):
    from channels.testing import WebsocketCommunicator

    from chatdesk.asgi import application
    from tests.console.console import CONSOLE_ORIGIN, Console

    refused, answered, session = await db(sign_in_through_the_login_page)("alice", "pw-alice")
    assert (refused.status_code, answered.status_code, answered["Location"]) == (403, 302, "/console/")
    communicator = WebsocketCommunicator(application, "/ws/agent/", headers=[
        (b"host", b"localhost:8000"), (b"origin", CONSOLE_ORIGIN.encode()), (b"cookie", f"sessionid={session}".encode())])
    assert (await communicator.connect())[0]
    console = Console(communicator)
    assert (await console.hello())["agent"]["id"] == alice.pk
    await console.disconnect()


async def test_a_wrong_password_sets_no_session(acme, alice):
    _, answered, session = await db(sign_in_through_the_login_page)("alice", "wrong")
    assert (answered.status_code, session) == (200, None)


@pytest.mark.parametrize("targets", [{}, {"agent": 1, "skill": 1}])
async def test_a_transfer_to_no_target_or_two_is_refused_before_the_chat_is_looked_up(acme, alice, alices_chat,
                                                                                     targets):
    console = await connect(alice)
    await console.hello()
    before = await db(counts)()
    for conversation_id in (str(alices_chat.public_id), "no-such-chat"):
        await console.send({"type": "transfer", "conversation_id": conversation_id, **targets})
        error = await console.error()
        assert (error["code"], error["field"]) == ("invalid_field", "agent")
    assert await db(counts)() == before


async def test_a_hello_naming_more_than_100_chats_is_refused_and_the_socket_stays_ungreeted(acme, alice):
    console = await connect(alice)
    await console.send({"type": "hello", "conversations": {f"chat-{i}": 0 for i in range(101)}})
    error = await console.error()
    assert (error["code"], error["field"]) == ("invalid_field", "conversations")
    await console.send({"type": "status", "status": "away"})
    assert (await console.error())["code"] == "hello_required"
    assert (await console.hello())["agent"]["id"] == alice.pk


async def test_take_checks_the_agent_before_the_chat(acme, alice, bob):
    bobs_chat = await db(chat_with)(bob, acme)
    await db(Agent.objects.filter(pk=alice.pk).update)(status=Agent.Status.AWAY)
    console = await connect(alice)
    await console.hello()
    await console.send({"type": "take", "conversation_id": str(bobs_chat.public_id)})
    assert (await console.error())["code"] == "agent_unavailable"


async def test_accepting_another_agents_ended_chat_is_forbidden_before_it_is_illegal(acme, alice, bob):
    bobs_chat = await db(chat_with)(bob, acme)
    await db(lifecycle.close_conversation)(conversation_id=bobs_chat.pk, actor=Actor.visitor())
    console = await connect(alice)
    await console.hello()
    await console.send({"type": "accept", "conversation_id": str(bobs_chat.public_id)})
    assert (await console.error())["code"] == "forbidden"


async def test_a_note_keeps_its_line_breaks_and_a_tag_with_one_is_refused(acme, alice, alices_chat):
    console = await connect(alice)
    await console.hello()
    conversation_id = str(alices_chat.public_id)
    await console.send({"type": "note", "conversation_id": conversation_id, "client_id": "n1",
                        "text": "Refund sent.\nCheck again on Monday."})
    await console.receive_until("ack", client_id="n1")
    await console.send({"type": "tag", "conversation_id": conversation_id, "tag": "vip\nadmin"})
    error = await console.error()
    assert (error["code"], error["field"], error["conversation_id"]) == ("invalid_field", "tag", conversation_id)
    notes = await db(lambda: list(Message.objects.filter(visibility="internal").values_list("text", flat=True)))()
    assert notes == ["Refund sent.\nCheck again on Monday."]
