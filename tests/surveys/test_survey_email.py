"""The survey and transcript emails (surveys/reactions.py, run by the reaction dispatcher) and the
survey's signed link page, in one process."""

import re
from datetime import timedelta

import pytest
from django.core import mail, signing
from django.test import Client
from django.utils import timezone

from conversations import lifecycle
from conversations.lifecycle import Actor
from conversations.models import ConversationEvent, Message
from reactions import dispatcher
from reactions.models import Reaction
from surveys import mailing
from surveys import services as survey_services
from surveys.models import Survey, SurveyResponse, TranscriptRequest
from surveys.reactions import email_survey, email_transcript

pytestmark = pytest.mark.django_db


def run_due_reactions(after: timedelta = timedelta(0)) -> int:
    return dispatcher.run_due(now=timezone.now() + after)


def link_in(message) -> str:
    return re.search(r"http://\S+/survey/\S+/", message.body).group(0)


def path_of(url: str) -> str:
    return url.split("8000", 1)[1]


def test_the_survey_reaction_sends_the_email_at_the_sites_delay_after_the_close(closed_chat):
    delay = timedelta(minutes=closed_chat.site.survey_delay_minutes)
    assert run_due_reactions(after=delay - timedelta(seconds=5)) == 0 and mail.outbox == []

    assert run_due_reactions(after=delay) == 1

    [sent] = mail.outbox
    assert sent.to == ["ann@example.com"] and "Acme" in sent.subject
    assert Survey.objects.get().emailed_at is not None
    assert Reaction.objects.get(key=f"survey:{closed_chat.pk}").state == "done"


def test_the_survey_is_emailed_once_however_often_its_handler_runs(closed_chat):
    for _ in range(3):
        email_survey(conversation_id=closed_chat.pk)

    assert len(mail.outbox) == 1


def test_no_survey_goes_to_a_visitor_who_rated_in_the_widget_or_left_no_email(closed_chat, ann):
    survey_services.rate_conversation(conversation_id=closed_chat.pk, channel="widget", csat=5)
    email_survey(conversation_id=closed_chat.pk)
    ann.email = ""
    ann.save()
    SurveyResponse.objects.all().delete()
    email_survey(conversation_id=closed_chat.pk)
    assert mail.outbox == [] and not Survey.objects.exists()


def test_a_run_that_died_before_the_send_is_completed_by_the_next_and_a_sent_survey_is_not_resent(closed_chat):
    # The first run made the survey row, then its process was killed inside the send.
    Survey.objects.create(conversation=closed_chat, email="ann@example.com", language="en")

    email_survey(conversation_id=closed_chat.pk)
    email_survey(conversation_id=closed_chat.pk)

    assert len(mail.outbox) == 1 and Survey.objects.get().emailed_at is not None


def test_the_link_opens_a_form_without_javascript_in_the_visitors_language(acme, ann, alice):
    from tests.surveys.chats import finished_chat

    acme.ask_nps = True
    acme.save()
    chat = finished_chat(acme, ann, alice, language="lt-LT")
    email_survey(conversation_id=chat.pk)
    [sent] = mail.outbox
    page = Client(enforce_csrf_checks=True).get(path_of(link_in(sent)))
    html = page.content.decode()
    assert page.status_code == 200
    assert '<html lang="lt">' in html and "<script" not in html
    assert 'name="csrfmiddlewaretoken"' in html
    assert 'name="nps"' in html and 'name="ces"' not in html


def test_a_link_submitted_twice_records_one_answer_and_then_says_it_is_answered(closed_chat):
    email_survey(conversation_id=closed_chat.pk)
    path = path_of(link_in(mail.outbox[0]))
    client = Client(enforce_csrf_checks=True)
    client.get(path)
    token = client.cookies["csrftoken"].value

    first = client.post(path, {"csat": "4", "comment": "Nice", "csrfmiddlewaretoken": token})
    second = client.post(path, {"csat": "1", "csrfmiddlewaretoken": token})

    assert "Thank you" in first.content.decode()
    assert "already been rated" in second.content.decode()
    assert list(SurveyResponse.objects.values_list("csat", "comment", "channel")) == [(4, "Nice", "email")]
    assert closed_chat.events.filter(kind=ConversationEvent.Kind.RATED).count() == 1


def test_a_post_without_the_csrf_token_is_refused(closed_chat):
    path = "/survey/" + mailing.survey_token(closed_chat) + "/"
    response = Client(enforce_csrf_checks=True).post(path, {"csat": "5"})
    assert response.status_code == 403 and not SurveyResponse.objects.exists()


def test_a_form_without_a_rating_is_shown_again_with_the_error(closed_chat):
    response = Client().post("/survey/" + mailing.survey_token(closed_chat) + "/", {"comment": "hm"})
    assert response.status_code == 400 and not SurveyResponse.objects.exists()


def test_a_forged_or_expired_link_does_not_work(closed_chat, settings):
    assert Client().get("/survey/forged:token/").status_code == 404
    token = mailing.survey_token(closed_chat)
    settings.SURVEY_LINK_MAX_AGE_DAYS = 1
    later = timezone.now() + timedelta(days=2)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(signing.time, "time", lambda: later.timestamp())
        response = Client().post(f"/survey/{token}/", {"csat": "5"})
    assert response.status_code == 404 and not SurveyResponse.objects.exists()


def test_a_transcript_has_the_public_messages_only_and_is_sent_once_per_request(acme, ann, alice):
    chat, _ = lifecycle.start_conversation(site=acme, visitor=ann, name="Ann")
    lifecycle.assign_conversation(conversation_id=chat.pk, agent=alice, actor=Actor.system())
    lifecycle.post_message(conversation_id=chat.pk, actor=Actor.visitor(), text="Hello there", client_id="v1")
    lifecycle.post_message(conversation_id=chat.pk, actor=Actor.of_agent(alice), text="SECRET NOTE",
                           visibility=Message.Visibility.INTERNAL)
    lifecycle.post_message(conversation_id=chat.pk, actor=Actor.of_agent(alice), text="Hi Ann <3")

    first, created = survey_services.request_transcript(conversation_id=chat.pk, request_id="r1")
    again, created_again = survey_services.request_transcript(conversation_id=chat.pk, request_id="r1")
    assert created and not created_again and first.pk == again.pk
    assert run_due_reactions() == 1  # one reaction for the request, however often it was resent
    email_transcript(transcript_request_id=first.pk)  # a run again after a crash sends nothing more

    [sent] = mail.outbox
    assert sent.to == ["ann@example.com"]
    assert "Hello there" in sent.body and "Hi Ann <3" in sent.body and "Alice" in sent.body
    assert "SECRET NOTE" not in sent.body
    assert TranscriptRequest.objects.count() == 1
    assert chat.events.filter(kind=ConversationEvent.Kind.TRANSCRIPT_REQUESTED).count() == 1


def test_a_transcript_needs_an_email(acme, alice):
    from tests.personas import make_visitor

    bea = make_visitor(acme, "Bea")
    chat, _ = lifecycle.start_conversation(site=acme, visitor=bea, name="Bea")
    with pytest.raises(lifecycle.LifecycleError) as refused:
        survey_services.request_transcript(conversation_id=chat.pk, request_id="r1")
    assert refused.value.code == "email_required"


def confirmation_link_in(message) -> str:
    return re.search(r"http://\S+/transcript/\S+/", message.body).group(0)


def test_a_transcript_to_another_address_waits_for_someone_there_to_confirm(acme, ann, alice):
    chat, _ = lifecycle.start_conversation(site=acme, visitor=ann, name="Buy cheap pills", text="Buy cheap pills",
                                           client_id="q")
    request, _ = survey_services.request_transcript(conversation_id=chat.pk, request_id="r1", email="stranger@example.org")
    assert request.needs_confirmation
    assert run_due_reactions() == 1

    # The stranger gets one fixed email: no name, no text the visitor chose.
    [asked] = mail.outbox
    assert asked.to == ["stranger@example.org"] and "Acme" in asked.subject
    assert "pills" not in asked.body.lower() and "pills" not in asked.subject.lower()
    page = path_of(confirmation_link_in(asked))
    client = Client(enforce_csrf_checks=False)
    assert client.get(page).status_code == 200  # a mail scanner following the link sends nothing
    assert run_due_reactions() == 0 and len(mail.outbox) == 1

    assert b"on its way" in client.post(page).content
    client.post(page)  # a second confirmation changes nothing
    assert run_due_reactions() == 1
    assert [m.to for m in mail.outbox] == [["stranger@example.org"]] * 2
    assert "Buy cheap pills" in mail.outbox[1].body
    ann.refresh_from_db()
    assert ann.email == "ann@example.com"  # the other address never becomes the visitor's


def test_a_forged_or_other_link_confirms_nothing(acme, ann):
    chat, _ = lifecycle.start_conversation(site=acme, visitor=ann, name="Ann")
    own, _ = survey_services.request_transcript(conversation_id=chat.pk, request_id="r1")  # needs no confirmation
    for token in ["forged", signing.dumps(own.pk, salt=mailing.TRANSCRIPT_CONFIRMATION_SALT),
                  signing.dumps(own.pk, salt=mailing.SURVEY_LINK_SALT)]:
        assert Client().post(f"/transcript/{token}/").status_code == 404
    assert TranscriptRequest.objects.get().confirmed_at is None


def test_an_address_gets_one_survey_a_day_whichever_chats_and_sites_name_it(acme, ann, alice):
    from tests.personas import make_site, make_visitor
    from tests.surveys.chats import finished_chat

    other_site = make_site("globex", name="Globex")
    victim = make_visitor(other_site, "Victim")
    victim.email = "ANN@example.com"  # the same address, written otherwise
    victim.save()
    chats = [finished_chat(acme, ann, alice), finished_chat(other_site, victim, alice)]
    for chat in chats:
        email_survey(conversation_id=chat.pk)
        email_survey(conversation_id=chat.pk)  # a run again does not count twice
    assert [m.to for m in mail.outbox] == [["ann@example.com"]]
    assert list(Survey.objects.order_by("id").values_list("skipped", flat=True)) == [False, True]
