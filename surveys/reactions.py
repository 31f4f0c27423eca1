"""The survey and transcript emails, carried out by the reaction dispatcher (reactions/).

Each handler loads its rows, checks again that the email is still wanted and not sent, and sends
through surveys.mailing.send (which explains why a re-run sends nothing more).
"""

import hashlib

from django.template.loader import render_to_string
from django.utils import translation

from realtime import limits
from surveys.services import RATED_STATUSES
from conversations.models import Conversation, Message
from reactions import handles
from surveys import mailing
from surveys.models import Survey, SurveyResponse, TranscriptRequest


@handles("surveys.email_survey")
def email_survey(*, conversation_id: int) -> None:
    """Email the survey link of an ended chat whose visitor left an email and has not answered
    (scheduled by surveys.subscribers when the chat ends, the site's survey delay after the close)."""
    conversation = Conversation.objects.select_related("site", "visitor").filter(pk=conversation_id).first()
    if conversation is None or conversation.status not in RATED_STATUSES or not conversation.visitor.email:
        return
    if SurveyResponse.objects.filter(conversation=conversation).exists():
        return  # answered in the widget
    survey, created = Survey.objects.get_or_create(conversation=conversation, defaults={
        "email": conversation.visitor.email, "language": mailing.visitor_language(conversation),
    })
    if created and not _first_survey_of_the_day(survey):
        return
    if survey.emailed_at is not None or survey.skipped:
        return
    with translation.override(survey.language):
        context = {"site": conversation.site, "url": mailing.survey_url(conversation),
                   "name": conversation.visitor.name}
        subject = render_to_string("surveys/survey_email_subject.txt", context).strip()
        body = render_to_string("surveys/survey_email.txt", context)
    mailing.send(survey, subject=subject, body=body)


def _first_survey_of_the_day(survey: Survey) -> bool:
    """An address gets one survey a day, from all sites and processes (the pre-chat email is the
    visitor's word, so it may be a stranger's): counted once per survey row, when it is made; a
    survey past the limit is kept as skipped, so a later run does not count it again."""
    address = hashlib.sha256(survey.email.strip().lower().encode()).hexdigest()[:32]
    try:
        limits.take("survey_email", code="email_limited", address=address)
    except limits.Limited:
        Survey.objects.filter(pk=survey.pk).update(skipped=True)
        return False
    except limits.LimitsUnavailable:
        survey.delete()  # counted on the next run, which the dispatcher makes after a backoff
        raise
    return True


@handles("surveys.email_transcript")
def email_transcript(*, transcript_request_id: int) -> None:
    """Email the chat's public messages (never internal notes or whispers) for one request
    (scheduled by surveys.services.request_transcript, or confirm_transcript for another address)."""
    request = TranscriptRequest.objects.select_related("conversation__site").filter(
        pk=transcript_request_id, emailed_at__isnull=True).first()
    if request is None or (request.needs_confirmation and request.confirmed_at is None):
        return
    conversation = request.conversation
    messages = conversation.messages.filter(visibility=Message.Visibility.PUBLIC).select_related(
        "agent").order_by("seq")
    with translation.override(request.language):
        context = {"site": conversation.site, "messages": messages, "conversation": conversation}
        subject = render_to_string("surveys/transcript_email_subject.txt", context).strip()
        body = render_to_string("surveys/transcript_email.txt", context)
    mailing.send(request, subject=subject, body=body)


@handles("surveys.email_transcript_confirmation")
def email_transcript_confirmation(*, transcript_request_id: int) -> None:
    """Ask an address the visitor did not chat with whether it wants the transcript: a fixed text
    and a signed link, nothing the visitor wrote (scheduled by surveys.services.request_transcript)."""
    request = TranscriptRequest.objects.select_related("conversation__site").filter(
        pk=transcript_request_id, needs_confirmation=True, confirmation_emailed_at__isnull=True).first()
    if request is None:
        return
    with translation.override(request.language):
        context = {"site": request.conversation.site, "url": mailing.transcript_confirmation_url(request)}
        subject = render_to_string("surveys/transcript_confirmation_email_subject.txt", context).strip()
        body = render_to_string("surveys/transcript_confirmation_email.txt", context)
    mailing.send(request, subject=subject, body=body, sent_field="confirmation_emailed_at")
