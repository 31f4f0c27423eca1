"""The survey and transcript emails, carried out by the reaction dispatcher (reactions/).

Each handler loads its rows, checks again that the email is still wanted and not sent, and sends
through surveys.mailing.send (which explains why a re-run sends nothing more).
"""

from django.template.loader import render_to_string
from django.utils import translation

from conversations.lifecycle import RATED_STATUSES
from conversations.models import Conversation, Message
from reactions import handles
from surveys import mailing
from surveys.models import Survey, SurveyResponse, TranscriptRequest


@handles("surveys.email_survey")
def email_survey(*, conversation_id: int) -> None:
    """Email the survey link of an ended chat whose visitor left an email and has not answered
    (scheduled by lifecycle.close_conversation, the site's survey delay after the close)."""
    conversation = Conversation.objects.select_related("site", "visitor").filter(pk=conversation_id).first()
    if conversation is None or conversation.status not in RATED_STATUSES or not conversation.visitor.email:
        return
    if SurveyResponse.objects.filter(conversation=conversation).exists():
        return  # answered in the widget
    survey, _ = Survey.objects.get_or_create(conversation=conversation, defaults={
        "email": conversation.visitor.email, "language": mailing.visitor_language(conversation),
    })
    if survey.emailed_at is not None:
        return
    with translation.override(survey.language):
        context = {"site": conversation.site, "url": mailing.survey_url(conversation),
                   "name": conversation.visitor.name}
        subject = render_to_string("surveys/survey_email_subject.txt", context).strip()
        body = render_to_string("surveys/survey_email.txt", context)
    mailing.send(survey, subject=subject, body=body)


@handles("surveys.email_transcript")
def email_transcript(*, transcript_request_id: int) -> None:
    """Email the chat's public messages (never internal notes or whispers) for one request
    (scheduled by lifecycle.request_transcript)."""
    request = TranscriptRequest.objects.select_related("conversation__site").filter(
        pk=transcript_request_id, emailed_at__isnull=True).first()
    if request is None:
        return
    conversation = request.conversation
    messages = conversation.messages.filter(visibility=Message.Visibility.PUBLIC).select_related(
        "agent").order_by("seq")
    with translation.override(request.language):
        context = {"site": conversation.site, "messages": messages, "conversation": conversation}
        subject = render_to_string("surveys/transcript_email_subject.txt", context).strip()
        body = render_to_string("surveys/transcript_email.txt", context)
    mailing.send(request, subject=subject, body=body)
