"""Celery tasks: load by id, check, claim, send (surveys/mailing.py explains the claim)."""

from celery import shared_task
from django.conf import settings
from django.core.mail import send_mail
from django.template.loader import render_to_string
from django.utils import translation

from conversations.lifecycle import RATED_STATUSES
from conversations.models import Conversation, Message
from surveys import mailing
from surveys.models import Survey, SurveyResponse, TranscriptRequest


def _send_claimed(task, model, row, subject: str, body: str) -> bool:
    try:
        send_mail(subject=subject, message=body, from_email=settings.DEFAULT_FROM_EMAIL, recipient_list=[row.email])
    except Exception:
        mailing.release(model, row.pk, task.request.id)
        raise
    mailing.mark_sent(model, row.pk, task.request.id)
    return True


def _claim_or_wait(task, model, row) -> bool:
    """True if this run may send; False if the email is sent; retries while another run holds it."""
    if mailing.claim(model, row.pk, task.request.id):
        return True
    row.refresh_from_db()
    if row.emailed_at is not None:
        return False
    raise task.retry(countdown=mailing.seconds_left_in_claim(row))


@shared_task(bind=True, autoretry_for=(OSError,), retry_backoff=True, max_retries=8)
def email_survey(self, conversation_id: int) -> bool:
    """Email the survey link of an ended chat whose visitor left an email and has not answered."""
    conversation = Conversation.objects.select_related("site", "visitor").filter(pk=conversation_id).first()
    if conversation is None or conversation.status not in RATED_STATUSES or not conversation.visitor.email:
        return False
    if SurveyResponse.objects.filter(conversation=conversation).exists():
        return False  # answered in the widget
    # The one-to-one key: concurrent runs get the same row.
    survey, _ = Survey.objects.get_or_create(conversation=conversation, defaults={
        "email": conversation.visitor.email, "language": mailing.visitor_language(conversation),
    })
    if not _claim_or_wait(self, Survey, survey):
        return False
    with translation.override(survey.language):
        context = {"site": conversation.site, "url": mailing.survey_url(conversation),
                   "name": conversation.visitor.name}
        subject = render_to_string("surveys/survey_email_subject.txt", context).strip()
        body = render_to_string("surveys/survey_email.txt", context)
    return _send_claimed(self, Survey, survey, subject, body)


@shared_task(bind=True, autoretry_for=(OSError,), retry_backoff=True, max_retries=8)
def email_transcript(self, request_id: int) -> bool:
    """Email the chat's public messages (never internal notes or whispers) for one request."""
    request = TranscriptRequest.objects.select_related("conversation__site").filter(pk=request_id).first()
    if request is None or not _claim_or_wait(self, TranscriptRequest, request):
        return False
    conversation = request.conversation
    messages = conversation.messages.filter(visibility=Message.Visibility.PUBLIC).select_related("agent").order_by("seq")
    with translation.override(request.language):
        context = {"site": conversation.site, "messages": messages, "conversation": conversation}
        subject = render_to_string("surveys/transcript_email_subject.txt", context).strip()
        body = render_to_string("surveys/transcript_email.txt", context)
    return _send_claimed(self, TranscriptRequest, request, subject, body)
