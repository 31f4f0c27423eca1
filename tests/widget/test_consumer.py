"""The visitor socket, frame by frame: each frame type, each error code, and what survives them."""

import asyncio
import json

import pytest
from channels.db import database_sync_to_async

from agents.models import Agent
from conversations import lifecycle
from conversations.lifecycle import Actor
from conversations.models import Conversation, Message
from tests.personas import FIRST_MESSAGE, make_agent, make_site
from widget.tokens import make_visitor_token

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.asyncio]
db = database_sync_to_async


@pytest.fixture
def alice():
    return make_agent("alice", skills={"orders": 5})


async def started(widget, name="Ann", **fields):
    """A greeted widget with a queued chat; returns the welcome frame."""
    welcome = await widget.hello(**fields)
    await widget.send({"type": "start", "name": name, "topic": welcome["site"]["topics"][0]["id"],
                       **FIRST_MESSAGE})
    # The state comes twice (directly, and through the channel layer for the visitor's other tabs);
    # the first message is acknowledged directly and delivered through the layer as seq 1.
    received = [(await widget.receive())["type"] for _ in range(5)]
    assert sorted(received) == ["ack", "message", "queue", "state", "state"]
    return welcome


async def stored_texts():
    """The texts stored after each chat's first message (the one `start` carries)."""
    return await db(lambda: list(Message.objects.exclude(client_id=FIRST_MESSAGE["client_id"])
                                 .order_by("conversation_id", "seq").values_list("text", flat=True)))()


async def test_hello_without_a_token_creates_a_visitor_and_describes_the_site(acme, alice, open_widget):
    widget = await open_widget()
    welcome = await widget.hello()
    assert welcome["token"]
    assert welcome["conversation"] is None
    assert welcome["site"]["name"] == "Acme"
    assert [t["label"] for t in welcome["site"]["topics"]] == ["Orders"]
    assert welcome["site"]["can_chat"] is True
    assert welcome["site"]["max_message_chars"] == 4000


async def test_the_site_offers_no_chat_when_no_agent_is_online(acme, open_widget):
    await db(make_agent)("olga", status=Agent.Status.OFFLINE)
    welcome = await (await open_widget()).hello()
    assert welcome["site"]["agents_online"] is False
    assert welcome["site"]["can_chat"] is False


async def test_start_queues_a_chat_with_the_visitor_context(acme, open_widget):
    widget = await open_widget()
    await widget.hello(page={"url": "https://shop.acme.test/cart", "title": "Cart", "referrer": "https://search.test"},
                       language="lt-LT", time_on_site=42)
    await widget.send({"type": "start", "name": "Ann", "email": "ann@example.com", **FIRST_MESSAGE})
    frames = await widget.collect("state", "queue")
    state, queue = frames["state"], frames["queue"]
    assert state["status"] == "queued"
    assert queue["position"] == 1
    conversation = await db(Conversation.objects.select_related("visitor").get)()
    assert (conversation.visitor.name, conversation.visitor.email) == ("Ann", "ann@example.com")
    context = conversation.context
    assert (context["page_url"], context["referrer"], context["language"]) == (
        "https://shop.acme.test/cart", "https://search.test", "lt-LT")
    assert (context["browser"], context["os"], context["device_class"]) == ("Firefox Mobile", "Android", "mobile")
    assert context["time_on_site"] == 42
    assert context["earlier_conversations"] == 0


async def test_a_message_is_acknowledged_with_its_seq_and_delivered(acme, open_widget):
    widget = await open_widget()
    await started(widget)
    await widget.send({"type": "message", "client_id": "c1", "text": "Where is my order?"})
    frames = await widget.collect("ack", "message")
    ack, delivered = frames["ack"], frames["message"]
    assert (ack["client_id"], ack["seq"]) == ("c1", 2)  # 1 is the question the chat started with
    assert (delivered["seq"], delivered["text"], delivered["author"]) == (2, "Where is my order?", "visitor")


async def test_a_resent_message_is_acknowledged_again_and_stored_once(acme, open_widget):
    widget = await open_widget()
    await started(widget)
    for _ in range(2):
        await widget.send({"type": "message", "client_id": "c1", "text": "hello"})
        ack = await widget.receive_until("ack")
        assert ack["seq"] == 2
    assert await stored_texts() == ["hello"]


async def test_a_second_tab_resumes_the_chat_and_receives_live_messages(acme, open_widget):
    first = await open_widget()
    welcome = await started(first)
    await first.send({"type": "message", "client_id": "c1", "text": "one"})
    await first.receive_until("ack")
    second = await open_widget()
    resumed = await second.hello(token=welcome["token"])
    assert resumed["conversation"]["status"] == "queued"
    replayed = [await second.receive_until("message") for _ in range(2)]
    assert [m["text"] for m in replayed] == [FIRST_MESSAGE["text"], "one"]
    await first.send({"type": "message", "client_id": "c2", "text": "two"})
    # "one" may arrive a second time (replayed, and live if it was still in flight): clients drop
    # a seq they already have.
    live = await second.receive_until("message")
    while live["seq"] <= 2:
        live = await second.receive_until("message")
    assert (live["seq"], live["text"]) == (3, "two")


async def test_reconnecting_with_last_seq_replays_only_what_was_missed(acme, open_widget):
    widget = await open_widget()
    welcome = await started(widget)
    for i in range(3):
        await widget.send({"type": "message", "client_id": f"c{i}", "text": f"m{i}"})
        await widget.receive_until("ack")
    conversation_id = (await widget.receive_until("message"))["conversation_id"]
    await widget.disconnect()
    again = await open_widget()
    await again.hello(token=welcome["token"], conversation_id=conversation_id, last_seq=2)
    replay = [await again.receive() for _ in range(3)]
    assert [(f["type"], f.get("seq")) for f in replay] == [("message", 3), ("message", 4), ("replayed", None)]
    assert replay[-1]["last_seq"] == 4


async def test_agent_messages_and_names_reach_the_visitor_but_notes_do_not(acme, open_widget):
    alice = await db(make_agent)("alice", status=Agent.Status.OFFLINE)  # offline: routing leaves the chat queued
    widget = await open_widget()
    await started(widget)
    conversation = await db(Conversation.objects.get)()
    await db(Agent.objects.filter(pk=alice.pk).update)(status=Agent.Status.ONLINE)
    await db(lifecycle.assign_conversation)(conversation_id=conversation.pk, agent=alice, actor=Actor.system())
    assigned = await widget.receive_until("state")
    assert (assigned["status"], assigned["agent_name"]) == ("assigned", "Alice")
    await db(lifecycle.post_message)(conversation_id=conversation.pk, actor=Actor.of_agent(alice),
                                     text="secret note", visibility=Message.Visibility.INTERNAL)
    await db(lifecycle.post_message)(conversation_id=conversation.pk, actor=Actor.of_agent(alice), text="Hi Ann")
    reply = await widget.receive_until("message")
    assert (reply["text"], reply["agent_name"], reply["seq"]) == ("Hi Ann", "Alice", 3)
    await widget.send({"type": "seen", "seq": 3})
    seen = await widget.receive_until("seen")
    assert (seen["by"], seen["seq"]) == ("visitor", 3)


async def test_visitor_typing_goes_to_staff_not_to_the_visitors_other_tabs(acme, open_widget):
    from channels.layers import get_channel_layer

    from conversations.publish import staff_group

    widget = await open_widget()
    welcome = await started(widget)
    other_tab = await open_widget()
    await other_tab.hello(token=welcome["token"])
    await other_tab.collect("replayed", "queue")
    conversation = await db(Conversation.objects.get)()
    layer = get_channel_layer()
    console = await layer.new_channel()
    await layer.group_add(staff_group(conversation.pk), console)
    await widget.send({"type": "typing", "is_typing": True, "preview": "Where is"})
    event = await asyncio.wait_for(layer.receive(console), 3)
    assert event["frame"] == {"type": "typing", "conversation_id": str(conversation.public_id), "by": "visitor",
                              "is_typing": True, "preview": "Where is"}
    assert await other_tab.nothing_more()


async def test_closing_a_queued_chat_abandons_it_and_a_later_message_is_refused(acme, open_widget):
    widget = await open_widget()
    await started(widget)
    await widget.send({"type": "close"})
    assert (await widget.receive_until("state"))["status"] == "abandoned"
    await widget.send({"type": "message", "client_id": "late", "text": "still there?"})
    error = await widget.receive_until("error")
    assert (error["code"], error["ref"], error["retry"]) == ("illegal_transition", "late", False)


async def test_a_page_change_is_recorded_in_the_open_chat(acme, open_widget):
    widget = await open_widget()
    await started(widget)
    await widget.send({"type": "page", "url": "https://shop.acme.test/checkout", "title": "Checkout"})
    await widget.send({"type": "ping"})
    await widget.receive_until("pong")
    conversation = await db(Conversation.objects.get)()
    assert conversation.context["pages"][-1]["url"] == "https://shop.acme.test/checkout"


async def test_an_offline_message_is_stored_and_acknowledged(acme, open_widget):
    widget = await open_widget()
    await widget.hello()
    frame = {"type": "offline_message", "client_id": "o1", "name": "Ann", "email": "ann@example.com", "text": "Call"}
    await widget.send(frame)
    assert (await widget.receive_until("offline_received"))["client_id"] == "o1"
    await widget.send(frame)
    await widget.receive_until("offline_received")
    assert await db(Conversation.objects.filter(status="offline").count)() == 1


@pytest.mark.parametrize("raw, code, field", [
    ("{not json", "bad_json", None),
    ("[1, 2]", "bad_json", None),
    (json.dumps({"type": "dance"}), "unknown_type", None),
    (json.dumps({"no": "type"}), "unknown_type", None),
    (json.dumps({"type": "message", "text": "hi"}), "invalid_field", "client_id"),
    (json.dumps({"type": "message", "client_id": 7, "text": "hi"}), "invalid_field", "client_id"),
    (json.dumps({"type": "message", "client_id": "c", "text": "hi", "extra": 1}), "invalid_field", "extra"),
    (json.dumps({"type": "message", "client_id": "c", "text": "   "}), "message_empty", "text"),
    (json.dumps({"type": "message", "client_id": "c", "text": "x" * 4001}), "message_too_long", "text"),
    (json.dumps({"type": "seen", "seq": True}), "invalid_field", "seq"),
    (json.dumps({"type": "seen", "seq": -1}), "invalid_field", "seq"),
    (json.dumps({"type": "start", "name": "Ann", "email": "not-an-email", **FIRST_MESSAGE}), "invalid_field", "email"),
    (json.dumps({"type": "typing", "is_typing": "yes"}), "invalid_field", "is_typing"),
    (json.dumps({"type": "message", "client_id": "c", "text": "x" * 50000}), "frame_too_large", None),
    ("[" * 5000 + "]" * 5000, "bad_json", None),
    ('{"type": "message", "client_id": "c", "text": ' + "[" * 5000 + "]" * 5000 + "}", "bad_json", None),
    (json.dumps({"type": "goal", "client_id": "g", "name": "signup", "value": [[[1]]]}), "bad_json", None),
    ('{"type": "message", "client_id": "\\ud800", "text": "hi"}', "invalid_field", "client_id"),
    ('{"type": "message", "client_id": "c", "text": "broken \\udfff half"}', "invalid_field", "text"),
    (json.dumps({"type": "message", "client_id": "c", "text": "nul\u0000byte"}), "invalid_field", "text"),
    (json.dumps({"type": "start", "name": "Ann\nBcc: x@example.com", **FIRST_MESSAGE}), "invalid_field", "name"),
    (json.dumps({"type": "page", "url": "https://acme.test/\u2028"}), "invalid_field", "url"),
])
async def test_bad_frames_get_a_specific_error_and_the_next_valid_message_still_lands(acme, open_widget, raw, code,
                                                                                      field):
    widget = await open_widget()
    await started(widget)
    await widget.send(raw)
    error = await widget.receive_until("error")
    assert error["code"] == code
    assert error.get("field") == field
    await widget.send({"type": "message", "client_id": "valid", "text": "still here"})
    assert (await widget.receive_until("ack"))["client_id"] == "valid"
    assert await stored_texts() == ["still here"]


async def test_a_message_of_several_lines_lands_as_written(acme, open_widget):
    widget = await open_widget()
    await started(widget)
    await widget.send({"type": "message", "client_id": "lines", "text": "first line\n\tsecond line\r\n"})
    await widget.receive_until("ack")
    assert await stored_texts() == ["first line\n\tsecond line\r\n"]


async def test_frames_before_hello_are_refused(acme, open_widget):
    widget = await open_widget()
    await widget.send({"type": "message", "client_id": "c1", "text": "hi"})
    error = await widget.receive_until("error")
    assert (error["code"], error["ref"]) == ("hello_required", "c1")


async def test_a_second_hello_is_refused(acme, open_widget):
    widget = await open_widget()
    await widget.hello()
    await widget.send({"type": "hello"})
    assert (await widget.receive_until("error"))["code"] == "already_greeted"


async def test_a_message_without_a_chat_is_refused(acme, open_widget):
    widget = await open_widget()
    await widget.hello()
    await widget.send({"type": "message", "client_id": "c1", "text": "hi"})
    assert (await widget.receive_until("error"))["code"] == "no_conversation"


async def test_an_unknown_topic_is_refused(acme, open_widget):
    widget = await open_widget()
    await widget.hello()
    await widget.send({"type": "start", "name": "Ann", "topic": 999, **FIRST_MESSAGE})
    assert (await widget.receive_until("error"))["code"] == "invalid_topic"
    assert await db(Conversation.objects.count)() == 0


@pytest.mark.parametrize("token", ["garbage", "eyJzIjoiYWNtZSJ9:tampered:sig"])
async def test_a_wrong_or_tampered_token_closes_with_4001(acme, open_widget, token):
    widget = await open_widget()
    await widget.send({"type": "hello", "token": token})
    assert (await widget.receive_until("error"))["code"] == "bad_token"
    assert await widget.close_code() == 4001


async def test_a_token_of_another_site_is_refused(acme, open_widget):
    await db(make_site)("other", allowed_origins=["https://shop.acme.test"])
    welcome = await (await open_widget("other")).hello()
    widget = await open_widget()
    await widget.send({"type": "hello", "token": welcome["token"]})
    assert (await widget.receive_until("error"))["code"] == "bad_token"


async def test_a_token_for_a_visitor_that_does_not_exist_is_refused(acme, open_widget):
    widget = await open_widget()
    forged = make_visitor_token(site_key="acme", visitor_public_id="00000000-0000-0000-0000-000000000000")
    await widget.send({"type": "hello", "token": forged})
    assert await widget.close_code() == 4001


async def test_an_origin_the_site_does_not_allow_closes_with_4003(acme, open_widget):
    widget = await open_widget(origin="https://evil.test")
    assert (await widget.receive_until("error"))["code"] == "origin_not_allowed"
    assert await widget.close_code() == 4003


async def test_a_missing_origin_is_refused(acme, open_widget):
    widget = await open_widget(origin=None)
    assert await widget.close_code() == 4003


async def test_a_page_served_by_this_server_may_open_the_widget(acme, open_widget):
    widget = await open_widget(origin="http://chat.acme.test")
    assert (await widget.hello())["token"]


async def test_an_unknown_site_closes_with_4004(acme, open_widget):
    widget = await open_widget("nope")
    assert (await widget.receive_until("error"))["code"] == "unknown_site"
    assert await widget.close_code() == 4004


async def test_a_flood_is_rate_limited_then_closed_and_no_acknowledged_message_is_lost(acme, open_widget, settings):
    settings.WIDGET_RATE_BURST, settings.WIDGET_RATE_PER_SECOND, settings.WIDGET_FLOOD_CLOSE_AFTER = 8, 0.5, 6
    widget = await open_widget()
    await started(widget)  # hello + start take 2 of the 8
    for i in range(8):
        await widget.send({"type": "message", "client_id": f"c{i}", "text": f"m{i}"})
    acked, limited = [], []
    for _ in range(8):
        frame = await widget.receive()
        while frame["type"] not in ("ack", "error"):
            frame = await widget.receive()
        (acked if frame["type"] == "ack" else limited).append(frame)
    assert [f["client_id"] for f in acked] == [f"c{i}" for i in range(6)]
    assert [(f["code"], f["ref"], f["retry"]) for f in limited] == [("rate_limited", "c6", True),
                                                                     ("rate_limited", "c7", True)]
    assert all(f["retry_after_ms"] > 0 for f in limited)
    assert await stored_texts() == [f"m{i}" for i in range(6)]
    for _ in range(4):
        await widget.send({"type": "ping"})
    assert (await widget.receive_until("error"))["code"] == "rate_limited"
    assert await widget.close_code() == 4008


async def test_outside_business_hours_a_chat_cannot_start_but_a_message_can_be_left(open_widget):
    always_closed = {"timezone": "Europe/Vilnius"}  # hours given, but no day has any
    await db(make_site)(business_hours=always_closed)
    widget = await open_widget()
    welcome = await widget.hello()
    assert (welcome["site"]["open"], welcome["site"]["can_chat"]) == (False, False)
    await widget.send({"type": "start", "name": "Ann", **FIRST_MESSAGE})
    assert (await widget.receive_until("error"))["code"] == "site_closed"
    await widget.send({"type": "offline_message", "client_id": "o1", "name": "Ann", "email": "ann@example.com",
                       "text": "Call me"})
    assert (await widget.receive_until("offline_received"))["client_id"] == "o1"
    assert await db(Conversation.objects.filter(status="queued").count)() == 0


async def test_a_page_of_this_server_over_another_scheme_may_not_open_the_widget(acme, open_widget):
    widget = await open_widget(origin="https://chat.acme.test")  # the socket is plain ws
    assert await widget.close_code() == 4003


async def test_a_last_seq_of_another_conversation_does_not_hide_this_ones_history(acme, open_widget):
    widget = await open_widget()
    welcome = await started(widget)
    await widget.send({"type": "message", "client_id": "c1", "text": "one"})
    await widget.receive_until("ack")
    again = await open_widget()
    await again.hello(token=welcome["token"], conversation_id="an-older-conversation", last_seq=5)
    frames = [await again.receive() for _ in range(3)]
    assert [(f["type"], f.get("seq"), f.get("last_seq")) for f in frames] == [
        ("message", 1, None), ("message", 2, None), ("replayed", None, 2)]


async def test_a_chat_routed_at_once_is_never_shown_as_queued_after_it_was_assigned(acme, alice, open_widget):
    widget = await open_widget()
    welcome = await widget.hello()
    await widget.send({"type": "start", "name": "Ann", "topic": welcome["site"]["topics"][0]["id"],
                       **FIRST_MESSAGE})
    # One direct state, then one per published change (queued, assigned, accepted: a chat without
    # a department is accepted at once), each read when sent.
    states = [await widget.receive_until("state") for _ in range(4)]
    assert [(s["status"], s["agent_name"]) for s in states] == [("active", "Alice")] * 4


async def test_a_visitor_waiting_past_the_site_limit_is_offered_the_offline_form_once_and_keeps_the_chat(
        acme, open_widget):
    from datetime import timedelta

    from django.utils import timezone

    from routing.tasks import sweep_queues

    widget = await open_widget()
    await started(widget)  # nobody online: Ann waits
    conversation = await db(Conversation.objects.get)()
    await db(Conversation.objects.filter(pk=conversation.pk).update)(
        queued_at=timezone.now() - timedelta(seconds=acme.queue_wait_limit_seconds + 1))
    await db(sweep_queues)()
    offer = await widget.receive_until("offline_offer")
    assert offer == {"type": "offline_offer", "conversation_id": str(conversation.public_id)}
    await db(sweep_queues)()
    await widget.send({"type": "ping"})
    later = []
    while (frame := await widget.receive())["type"] != "pong":
        later.append(frame["type"])
    assert "offline_offer" not in later
    await widget.send({"type": "offline_message", "client_id": "o1", "name": "Ann", "email": "ann@example.com",
                       "text": "Please call me back"})
    assert (await widget.receive_until("offline_received"))["client_id"] == "o1"
    statuses = await db(lambda: sorted(Conversation.objects.values_list("status", flat=True)))()
    assert statuses == ["offline", "queued"]


# --- what docs/protocol.md promises a client written from it alone ------------------------------

async def test_a_required_field_sent_as_null_is_reported_as_required(acme, open_widget):
    widget = await open_widget()
    await started(widget)
    await widget.send({"type": "message", "client_id": None, "text": "hi"})
    error = await widget.receive_until("error")
    assert (error["code"], error["field"], error["message"]) == ("invalid_field", "client_id", "client_id is required")


async def test_an_empty_token_counts_as_none_and_makes_a_new_visitor(acme, open_widget):
    first = await (await open_widget()).hello()
    again = await (await open_widget()).hello(token="")
    assert again["token"] and again["token"] != first["token"]
    assert await db(lambda: acme.visitors.count())() == 2


async def test_the_refusal_that_ends_a_flood_is_flooding_instead_of_one_more_rate_limited(acme, open_widget, settings):
    settings.WIDGET_RATE_BURST, settings.WIDGET_RATE_PER_SECOND, settings.WIDGET_FLOOD_CLOSE_AFTER = 1, 0.1, 3
    widget = await open_widget()
    for _ in range(4):
        await widget.send({"type": "ping"})
    answers = [await widget.receive() for _ in range(4)]
    assert [(a["type"], a.get("code")) for a in answers] == [
        ("pong", None), ("error", "rate_limited"), ("error", "rate_limited"), ("error", "flooding")]
    assert await widget.close_code() == 4008


async def test_the_agents_get_an_empty_preview_whenever_the_visitor_stops_typing(acme, open_widget):
    from channels.layers import get_channel_layer

    from conversations.publish import staff_group

    widget = await open_widget()
    await started(widget)
    conversation = await db(Conversation.objects.get)()
    layer = get_channel_layer()
    console = await layer.new_channel()
    await layer.group_add(staff_group(conversation.pk), console)
    await widget.send({"type": "typing", "is_typing": False, "preview": "Where is"})
    event = await asyncio.wait_for(layer.receive(console), 3)
    assert (event["frame"]["is_typing"], event["frame"]["preview"]) == (False, "")


EMOJI = "\N{GRINNING FACE}"  # outside the Basic Multilingual Plane: "\ud83d\ude00" when \u-escaped


async def test_a_longest_message_of_emoji_fits_a_frame_whether_escaped_or_not(acme, open_widget, settings):
    assert settings.WIDGET_MAX_FRAME_BYTES == 12 * 4000 + 1024
    widget = await open_widget()
    await started(widget)
    frame = {"type": "message", "client_id": "e" * 64, "text": EMOJI * 4000}
    await widget.send(json.dumps(frame, ensure_ascii=False))  # 16,000 bytes of text
    assert (await widget.receive_until("ack"))["client_id"] == "e" * 64
    await widget.send(json.dumps({**frame, "client_id": "f" * 64}))  # 48,000 bytes of text
    assert (await widget.receive_until("ack"))["client_id"] == "f" * 64
    await widget.send(json.dumps({**frame, "client_id": "g" * 64, "text": EMOJI * 4100}))
    assert (await widget.receive_until("error"))["code"] == "frame_too_large"


async def test_refusing_to_rate_a_conversation_of_someone_else_names_it(acme, open_widget):
    other = await open_widget()
    await started(other)
    conversation_id = str((await db(Conversation.objects.get)()).public_id)
    widget = await open_widget()
    await widget.hello()
    await widget.send({"type": "rate", "conversation_id": conversation_id, "csat": 5})
    error = await widget.receive_until("error")
    assert (error["code"], error["conversation_id"]) == ("no_conversation", conversation_id)


async def test_a_rating_refused_while_read_or_while_handled_names_its_conversation(open_widget):
    from tests.widget.test_survey_frames import greeted

    widget, chat_id = await greeted(open_widget)
    await widget.send({"type": "rate", "conversation_id": chat_id, "csat": 6})
    out_of_scale = await widget.receive_until("error")
    await widget.send({"type": "rate", "conversation_id": chat_id, "csat": 5, "ces": 3})  # the site asks no CES
    not_asked = await widget.receive_until("error")
    assert (out_of_scale["field"], out_of_scale["conversation_id"]) == ("csat", chat_id)
    assert (not_asked["field"], not_asked["conversation_id"]) == ("ces", chat_id)
