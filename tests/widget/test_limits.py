"""Abuse limits of the anonymous widget socket (widget/guards.py, realtime/limits.py): what an
attacker tried against `make run` (issue table: spam relay, junk visitors and chats, offline
flood) now gets a specific error and writes nothing, while other visitors are served."""

import pytest
from channels.db import database_sync_to_async as db
from django.core import mail

from realtime import limits
from conversations.models import Conversation, Message, Visitor
from reactions import dispatcher
from reactions.models import Reaction
from surveys.models import TranscriptRequest
from tests.personas import FIRST_MESSAGE, make_agent

pytestmark = pytest.mark.django_db(transaction=True)

ATTACKER, CUSTOMER = "203.0.113.66", "198.51.100.7"


def limited(settings, action: str, **rates: str) -> None:
    """Set some of one action's limits for this test (the others stay as configured)."""
    settings.LIMITS = {**settings.LIMITS, action: {**settings.LIMITS[action],
                                                  **{subject: limits.parse_rate(rate) for subject, rate in rates.items()}}}


async def chatting(open_widget, *, address=ATTACKER, email="mallory@example.com", token=None):
    widget = await open_widget(address=address)
    welcome = await widget.hello(**({"token": token} if token else {}))
    await widget.send({"type": "start", "name": "Mallory", "email": email, **FIRST_MESSAGE})
    state = await widget.receive_until("state")
    await widget.receive_until("ack")
    return widget, welcome, state["conversation_id"]


def test_a_rate_reads_as_count_per_period():
    assert limits.parse_rate("3/day") == limits.Rate(3, 86400)
    assert limits.parse_rate("10/15m") == limits.Rate(10, 900)
    for bad in ["3", "x/day", "3/fortnight", "3/0h"]:
        with pytest.raises(ValueError):
            limits.parse_rate(bad)


async def test_transcripts_to_any_address_are_a_few_confirmation_emails_then_refused(acme, open_widget):
    """The spam relay: one socket asked for a transcript to any address, 149 emails in 30 s."""
    widget, _, conversation_id = await chatting(open_widget)
    answers = []
    for number in range(10):  # within the socket's frame rate: the email limit is what refuses
        await widget.send({"type": "transcript", "client_id": f"t{number}", "conversation_id": conversation_id,
                           "email": f"victim{number}@example.org"})
        answers.append(await widget.receive_until("transcript_requested" if number < 3 else "error"))
    assert [a["needs_confirmation"] for a in answers[:3]] == [True] * 3
    refused = answers[3:]
    assert {(a["code"], a["limit"], a["ref"]) for a in refused} == {("email_limited", "chat", a["ref"])
                                                                    for a in refused}
    assert all(0 < a["retry_after_ms"] <= 86_400_000 for a in refused)
    await db(dispatcher.run_due)()
    # Three fixed confirmation emails, no transcript: nobody at those addresses confirmed.
    assert len(mail.outbox) == 3 and all("confirm" in m.subject.lower() for m in mail.outbox)
    assert await db(TranscriptRequest.objects.count)() == 3


async def test_a_resent_transcript_frame_is_not_counted_again(acme, open_widget):
    widget, _, conversation_id = await chatting(open_widget)
    for _ in range(5):
        await widget.send({"type": "transcript", "client_id": "t1", "conversation_id": conversation_id})
        assert (await widget.receive_until("transcript_requested"))["needs_confirmation"] is False
    await widget.send({"type": "transcript", "client_id": "t2", "conversation_id": conversation_id})
    assert (await widget.receive_until("transcript_requested"))["client_id"] == "t2"


async def test_the_transcript_limit_of_an_address_spans_its_visitors_and_spares_others(acme, open_widget, settings):
    limited(settings, "transcript_email", ip="2/day")
    for number in range(2):
        widget, _, conversation_id = await chatting(open_widget)
        await widget.send({"type": "transcript", "client_id": "t", "conversation_id": conversation_id})
        await widget.receive_until("transcript_requested")
    widget, _, conversation_id = await chatting(open_widget)  # a new visitor, the same address
    await widget.send({"type": "transcript", "client_id": "t", "conversation_id": conversation_id})
    error = await widget.receive_until("error")
    assert (error["code"], error["limit"]) == ("email_limited", "ip")

    customer, _, conversation_id = await chatting(open_widget, address=CUSTOMER, email="carol@example.com")
    await customer.send({"type": "transcript", "client_id": "t", "conversation_id": conversation_id})
    assert (await customer.receive_until("transcript_requested"))["email"] == "carol@example.com"


async def test_new_visitors_of_one_address_are_limited_and_the_socket_says_when_to_come_back(
        acme, open_widget, settings):
    """Junk rows: one client made 1,485 visitors in 30 s with hello alone."""
    limited(settings, "new_visitor", ip="5/hour")
    for _ in range(5):
        await (await open_widget(address=ATTACKER)).hello()
    widget = await open_widget(address=ATTACKER)
    await widget.send({"type": "hello"})
    error = await widget.receive_until("error")
    assert (error["code"], error["limit"]) == ("too_many_visitors", "ip") and error["retry_after_ms"] > 0
    assert await widget.close_code() == 4029
    assert await db(Visitor.objects.count)() == 5
    # A returning visitor (with a token) is no new row, and another address is served.
    await (await open_widget(address=CUSTOMER)).hello()


async def test_new_chats_are_limited_per_address_and_a_refused_start_writes_nothing(acme, open_widget, settings):
    limited(settings, "new_chat", ip="3/hour")
    for _ in range(3):
        await chatting(open_widget)
    widget = await open_widget(address=ATTACKER)
    await widget.hello()
    await widget.send({"type": "start", "name": "Mallory", **FIRST_MESSAGE})
    error = await widget.receive_until("error")
    assert (error["code"], error["limit"], error["retry"]) == ("too_many_chats", "ip", False)
    assert await db(Conversation.objects.count)() == 3
    await chatting(open_widget, address=CUSTOMER)
    assert await db(Conversation.objects.count)() == 4


async def test_a_visitor_who_wrote_nothing_starts_no_chat(acme, open_widget):
    """Three junk sockets filled an agent's cap before: a chat now starts with its first message."""
    await db(make_agent)("alice", skills={"orders": 5})
    widget = await open_widget()
    await widget.hello()
    for frame, field in [({"type": "start", "name": "Junk"}, "client_id"),
                         ({"type": "start", "name": "Junk", "client_id": "c"}, "text"),
                         ({"type": "start", "name": "Junk", "client_id": "c", "text": "   "}, "text")]:
        await widget.send(frame)
        error = await widget.receive_until("error")
        assert error["field"] == field
    assert await db(Conversation.objects.count)() == 0
    await widget.send({"type": "start", "name": "Ann", **FIRST_MESSAGE})
    state = await widget.receive_until("state")
    assert state["status"] in ("assigned", "active")  # routed, with the question in it
    assert await db(lambda: list(Message.objects.values_list("seq", "author", "text")))() == [
        (1, "visitor", FIRST_MESSAGE["text"])]


async def test_a_full_queue_asks_the_next_visitor_to_leave_a_message(acme, open_widget):
    await db(type(acme).objects.filter(pk=acme.pk).update)(queue_limit=2)
    for address in ["192.0.2.1", "192.0.2.2"]:
        await chatting(open_widget, address=address)
    widget = await open_widget(address="192.0.2.3")
    await widget.hello()
    await widget.send({"type": "start", "name": "Ann", **FIRST_MESSAGE})
    assert (await widget.receive_until("error"))["code"] == "queue_full"
    assert await db(Conversation.objects.filter(status="queued").count)() == 2
    await widget.send({"type": "offline_message", "client_id": "o1", "name": "Ann", "email": "ann@example.com",
                       "text": "Call me"})
    assert (await widget.receive_until("offline_received"))["client_id"] == "o1"


async def test_offline_messages_are_limited_and_the_team_gets_one_email_for_all(acme, open_widget, settings):
    """The offline flood: 50 team emails in 10 s from one socket."""
    limited(settings, "offline_message", visitor="3/hour")
    widget = await open_widget(address=ATTACKER)
    await widget.hello()
    for number in range(6):
        await widget.send({"type": "offline_message", "client_id": f"o{number}", "name": "Mallory",
                           "email": "mallory@example.com", "text": f"spam {number}"})
        answer = await widget.receive_until("offline_received" if number < 3 else "error")
        if number >= 3:
            assert (answer["code"], answer["ref"]) == ("offline_limited", f"o{number}")
    await widget.send({"type": "offline_message", "client_id": "o0", "name": "Mallory",
                       "email": "mallory@example.com", "text": "spam 0"})
    assert (await widget.receive_until("offline_received"))["client_id"] == "o0"  # a resend is answered
    assert await db(Conversation.objects.filter(status="offline").count)() == 3
    assert await db(Reaction.objects.count)() == 1
    from datetime import timedelta

    from django.utils import timezone

    await db(dispatcher.run_due)(now=timezone.now() + timedelta(seconds=settings.OFFLINE_NOTICE_EVERY_SECONDS + 1))
    assert len(mail.outbox) == 1 and mail.outbox[0].subject == "[Acme] 3 offline messages"


async def test_without_redis_a_limited_action_is_refused_for_now_not_let_through(acme, open_widget, monkeypatch):
    widget, _, conversation_id = await chatting(open_widget)
    from realtime import redis_keys

    monkeypatch.setattr(redis_keys, "_client", __import__("redis").Redis.from_url(
        "redis://127.0.0.1:1/0", socket_connect_timeout=0.2))
    await widget.send({"type": "transcript", "client_id": "t1", "conversation_id": conversation_id})
    error = await widget.receive_until("error")
    assert (error["code"], error["retry"]) == ("service_unavailable", True)
    assert await db(TranscriptRequest.objects.count)() == 0
    # A new visitor cannot be counted either: the socket closes, and the client reconnects later.
    newcomer = await open_widget(address=CUSTOMER)
    await newcomer.send({"type": "hello"})
    assert (await newcomer.receive_until("error"))["code"] == "service_unavailable"
    assert await newcomer.close_code() == 4013
    assert await db(Visitor.objects.count)() == 1
