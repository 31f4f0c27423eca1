"""Emails of surveys and transcripts: the signed survey link, the visitor's language, and sending
one email per row.

The reaction dispatcher (reactions/) runs one handler at a time per email, under its lease.
`emailed_at` is what makes a run after a crash harmless: `send` sets it right after the email left,
and a handler finding it set sends nothing. A process killed between the send and that UPDATE
sends the email again on the next run: the only way to two emails.
"""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.core import signing
from django.core.mail import send_mail
from django.urls import reverse
from django.utils import timezone, translation

from conversations.models import Conversation

SURVEY_LINK_SALT = "surveys.link"


def send(row, *, subject: str, body: str, sent_field: str = "emailed_at") -> None:
    """Email a Survey or TranscriptRequest row to its address, then mark it sent (`sent_field`)."""
    send_mail(subject=subject, message=body, from_email=settings.DEFAULT_FROM_EMAIL, recipient_list=[row.email])
    type(row).objects.filter(pk=row.pk).update(**{sent_field: timezone.now()})


def visitor_language(conversation: Conversation) -> str:
    """The site language closest to the visitor's (from the widget's hello), else the default."""
    wanted = (conversation.context or {}).get("language") or ""
    try:
        return translation.get_supported_language_variant(wanted.lower()) if wanted else settings.LANGUAGE_CODE
    except LookupError:
        return settings.LANGUAGE_CODE


# --- The signed survey link --------------------------------------------------------------------

def survey_token(conversation: Conversation) -> str:
    """Names the conversation; signed with SECRET_KEY and this salt, timestamped so it expires."""
    return signing.dumps(str(conversation.public_id), salt=SURVEY_LINK_SALT)


def conversation_public_id(token: str) -> str:
    """The conversation's public id; raises signing.SignatureExpired or signing.BadSignature."""
    return signing.loads(token, salt=SURVEY_LINK_SALT, max_age=timedelta(days=settings.SURVEY_LINK_MAX_AGE_DAYS))


def survey_url(conversation: Conversation) -> str:
    return settings.PUBLIC_URL.rstrip("/") + reverse("survey", args=[survey_token(conversation)])


# --- The signed transcript confirmation link ---------------------------------------------------

TRANSCRIPT_CONFIRMATION_SALT = "surveys.transcript-confirmation"
TRANSCRIPT_CONFIRMATION_MAX_AGE = timedelta(days=1)


def transcript_confirmation_url(request) -> str:
    token = signing.dumps(request.pk, salt=TRANSCRIPT_CONFIRMATION_SALT)
    return settings.PUBLIC_URL.rstrip("/") + reverse("transcript-confirmation", args=[token])


def transcript_request_id(token: str) -> int:
    """The TranscriptRequest's id; raises signing.SignatureExpired or signing.BadSignature."""
    value = signing.loads(token, salt=TRANSCRIPT_CONFIRMATION_SALT, max_age=TRANSCRIPT_CONFIRMATION_MAX_AGE)
    if not isinstance(value, int):
        raise signing.BadSignature("not a transcript request")
    return value
