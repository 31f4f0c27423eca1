"""The `rate` and `transcript` frames of the visitor socket."""

import pytest
from channels.db import database_sync_to_async

from conversations import lifecycle
from conversations.lifecycle import Actor
from surveys.models import SurveyResponse, TranscriptRequest
from tests.personas import make_agent, make_site, make_visitor
from widget.tokens import make_visitor_token

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.asyncio]
db = database_sync_to_async


def ann_with_a_closed_chat():
    site = make_site(ask_nps=True)
    alice = make_agent("alice")
    ann = make_visitor(site)
    chat, _ = lifecycle.start_conversation(site=site, visitor=ann, name="Ann")
    chat.refresh_from_db()
    if chat.status == "queued":
        lifecycle.assign_conversation(conversation_id=chat.pk, agent=alice, actor=Actor.system())
    lifecycle.post_message(conversation_id=chat.pk, actor=Actor.of_agent(alice), text="Hello")
    lifecycle.close_conversation(conversation_id=chat.pk, actor=Actor.of_agent(alice))
    return make_visitor_token(site_key=site.key, visitor_public_id=str(ann.public_id)), str(chat.public_id)


async def greeted(open_widget):
    token, chat_id = await db(ann_with_a_closed_chat)()
    widget = await open_widget()
    welcome = await widget.hello(token=token)
    assert welcome["site"]["survey"] == {"nps": True, "ces": False}
    await widget.receive_until("replayed")
    return widget, chat_id


async def test_a_rating_is_answered_with_rated_and_a_second_with_already_rated(open_widget):
    widget, chat_id = await greeted(open_widget)
    await widget.send({"type": "rate", "conversation_id": chat_id, "csat": 5, "nps": 9, "comment": "Great"})
    assert (await widget.receive_until("rated"))["conversation_id"] == chat_id

    await widget.send({"type": "rate", "conversation_id": chat_id, "csat": 1})
    error = await widget.receive_until("error")
    assert (error["code"], error["conversation_id"]) == ("already_rated", chat_id)
    assert await db(lambda: list(SurveyResponse.objects.values_list("csat", "nps", "comment")))() == [(5, 9, "Great")]


@pytest.mark.parametrize("frame, code, field", [
    ({"csat": 6}, "invalid_field", "csat"),
    ({"csat": 0}, "invalid_field", "csat"),
    ({"csat": "5"}, "invalid_field", "csat"),
    ({"csat": 4.5}, "invalid_field", "csat"),
    ({"csat": 5, "nps": 11}, "invalid_field", "nps"),
    ({"csat": 5, "ces": 3}, "invalid_field", "ces"),  # the site does not ask CES
    ({"csat": 5, "extra": 1}, "invalid_field", "extra"),
    ({}, "invalid_field", "csat"),
])
async def test_bad_ratings_are_refused_strictly(open_widget, frame, code, field):
    widget, chat_id = await greeted(open_widget)
    await widget.send({"type": "rate", "conversation_id": chat_id, **frame})
    error = await widget.receive_until("error")
    assert (error["code"], error.get("field")) == (code, field)
    assert not await db(SurveyResponse.objects.exists)()


async def test_another_visitors_conversation_cannot_be_rated(open_widget):
    _, chat_id = await db(ann_with_a_closed_chat)()
    widget = await open_widget()
    await widget.hello()
    await widget.send({"type": "rate", "conversation_id": chat_id, "csat": 5})
    assert (await widget.receive_until("error"))["code"] == "no_conversation"


async def test_a_transcript_request_is_acknowledged_once_per_client_id(open_widget):
    widget, chat_id = await greeted(open_widget)
    frame = {"type": "transcript", "client_id": "t1", "conversation_id": chat_id, "email": "ann@example.com"}
    for _ in range(2):
        await widget.send(frame)
        reply = await widget.receive_until("transcript_requested")
        assert (reply["client_id"], reply["email"]) == ("t1", "ann@example.com")
    assert await db(TranscriptRequest.objects.count)() == 1


async def test_a_transcript_without_any_email_is_refused(open_widget):
    widget, chat_id = await greeted(open_widget)
    await widget.send({"type": "transcript", "client_id": "t1", "conversation_id": chat_id})
    error = await widget.receive_until("error")
    assert (error["code"], error["ref"]) == ("email_required", "t1")
