"""rate_conversation: one answer per chat, strictly checked, one `rated` event."""

from datetime import timedelta

import pytest
from django.db import transaction

from conversations import lifecycle
from conversations.lifecycle import Actor, IllegalTransition
from surveys import services as survey_services
from surveys.services import AlreadyRated, InvalidRating
from conversations.models import Conversation, ConversationEvent
from reactions.models import Reaction
from surveys.models import SurveyResponse
from tests.surveys.chats import finished_chat

pytestmark = pytest.mark.django_db


def rate(chat, **fields):
    return survey_services.rate_conversation(conversation_id=chat.pk, channel="widget", **{"csat": 5, **fields})


def rated_events(chat):
    return list(chat.events.filter(kind=ConversationEvent.Kind.RATED).values_list("details", flat=True))


def test_a_rating_stores_the_response_and_one_event_for_the_agent_who_had_the_chat(closed_chat, alice):
    rate(closed_chat, csat=4, comment="  Quick, thanks  ")

    response = SurveyResponse.objects.get(conversation=closed_chat)
    assert (response.csat, response.comment, response.channel) == (4, "Quick, thanks", "widget")
    [details] = rated_events(closed_chat)
    assert details == {"agent_id": alice.pk, "csat": 4, "nps": None, "ces": None, "channel": "widget",
                       "commented": True}


def test_a_second_rating_is_refused_and_changes_nothing(closed_chat):
    rate(closed_chat, csat=2)
    with pytest.raises(AlreadyRated):
        rate(closed_chat, csat=5)
    assert list(SurveyResponse.objects.values_list("csat", flat=True)) == [2]
    assert len(rated_events(closed_chat)) == 1


def test_a_missed_chat_can_be_rated(acme, ann, alice):
    missed = finished_chat(acme, ann, alice, reply=False)
    assert missed.status == "missed"
    rate(missed, csat=1)
    assert SurveyResponse.objects.get().csat == 1


@pytest.mark.parametrize("fields, field", [
    ({"csat": 0}, "csat"), ({"csat": 6}, "csat"), ({"csat": True}, "csat"), ({"csat": None}, "csat"),
    ({"nps": 3}, "nps"), ({"ces": 3}, "ces"),  # the site does not ask these
    ({"comment": "x" * 2001}, "comment"),
])
def test_bad_scores_are_refused_with_the_field(closed_chat, fields, field):
    with pytest.raises(InvalidRating) as refused:
        rate(closed_chat, **fields)
    assert refused.value.field == field
    assert not SurveyResponse.objects.exists() and not rated_events(closed_chat)


def test_nps_and_ces_are_taken_within_their_scales_when_the_site_asks(closed_chat, acme):
    acme.ask_nps = acme.ask_ces = True
    acme.save()
    for fields, field in (({"nps": 11}, "nps"), ({"ces": 0}, "ces"), ({"ces": 8}, "ces")):
        with pytest.raises(InvalidRating) as refused:
            rate(closed_chat, **fields)
        assert refused.value.field == field
    rate(closed_chat, nps=0, ces=7)
    assert SurveyResponse.objects.values_list("nps", "ces").get() == (0, 7)


def test_an_open_chat_cannot_be_rated(acme, ann):
    chat, _ = lifecycle.start_conversation(site=acme, visitor=ann, name="Ann")
    with pytest.raises(IllegalTransition):
        rate(chat)
    assert not SurveyResponse.objects.exists()


def test_closing_a_chat_schedules_its_survey_reaction_for_the_sites_delay_after_the_close(acme, ann, alice):
    acme.survey_delay_minutes = 7
    acme.save()
    chat = finished_chat(acme, ann, alice)

    survey = Reaction.objects.get(kind="surveys.email_survey")
    assert (survey.key, survey.payload, survey.due_at) == (
        f"survey:{chat.pk}", {"conversation_id": chat.pk}, chat.closed_at + timedelta(minutes=7))


def test_a_close_that_rolls_back_schedules_no_survey(acme, ann, alice):
    chat = finished_chat(acme, ann, alice, close=False)
    with pytest.raises(RuntimeError), transaction.atomic():
        lifecycle.close_conversation(conversation_id=chat.pk, actor=Actor.of_agent(alice))
        raise RuntimeError("something later in the same transaction failed")

    chat.refresh_from_db()
    assert chat.status == "active" and not Reaction.objects.exists()


def test_abandoned_chats_get_no_survey(acme, ann):
    chat, _ = lifecycle.start_conversation(site=acme, visitor=ann, name="Ann")
    lifecycle.close_conversation(conversation_id=chat.pk, actor=Actor.visitor())
    assert Conversation.objects.get(pk=chat.pk).status == "abandoned" and not Reaction.objects.exists()
