"""Emails of surveys and transcripts: the signed survey link, the visitor's language, and the
claim that makes one task run, out of any number, send each email.

Claim-then-send with a lease. A run claims a row with a conditional UPDATE (`claim`) that exactly
one run can win: the row is not sent yet, and it is unclaimed, or claimed by this same task id (a
message delivered again because the worker running it died: acks_late + reject_on_worker_lost),
or claimed longer ago than CLAIM_LEASE (a lost run of another task id). The winner sends, then
marks the row sent (`mark_sent`); if sending fails it releases the claim and the task retries. A
worker killed after the mail left but before `mark_sent` sends it again: that window, the length
of one UPDATE, is the only way to two emails.
"""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.core import signing
from django.db.models import Q
from django.urls import reverse
from django.utils import timezone, translation

from conversations.models import Conversation

CLAIM_LEASE = timedelta(minutes=5)  # far longer than one send, which the SMTP timeout bounds
SURVEY_LINK_SALT = "surveys.link"


def claim(model, pk: int, task_id: str) -> bool:
    now = timezone.now()
    return model.objects.filter(pk=pk, emailed_at__isnull=True).filter(
        Q(claimed_at__isnull=True) | Q(claimed_by=task_id) | Q(claimed_at__lt=now - CLAIM_LEASE)
    ).update(claimed_by=task_id, claimed_at=now) == 1


def mark_sent(model, pk: int, task_id: str) -> None:
    model.objects.filter(pk=pk, claimed_by=task_id).update(emailed_at=timezone.now())


def release(model, pk: int, task_id: str) -> None:
    model.objects.filter(pk=pk, claimed_by=task_id, emailed_at__isnull=True).update(claimed_by="", claimed_at=None)


def seconds_left_in_claim(row) -> float:
    if row.claimed_at is None:
        return 0.0
    return max(1.0, (row.claimed_at + CLAIM_LEASE - timezone.now()).total_seconds())


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
