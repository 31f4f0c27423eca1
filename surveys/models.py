"""Post-chat surveys and transcript requests (docs/metrics.md: CSAT, NPS, CES).

A SurveyResponse is written only by surveys.services.rate_conversation, together with the
chat's one `rated` event. Survey and TranscriptRequest rows record emails, each marked sent once
it has gone (surveys/mailing.py), so a run after a crash sends nothing more.
"""

from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models

from conversations.models import Conversation

CSAT_RANGE, NPS_RANGE, CES_RANGE = (1, 5), (0, 10), (1, 7)
MAX_COMMENT_CHARS = 2000


class EmailRow(models.Model):
    """A row that stands for one email: when it was sent."""

    emailed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        abstract = True


class Survey(EmailRow):
    """The emailed survey of one ended chat; the one-to-one key makes it one per conversation."""

    conversation = models.OneToOneField(Conversation, on_delete=models.CASCADE, related_name="survey")
    email = models.EmailField()
    language = models.CharField(max_length=10, help_text="The visitor's language: of the email and the page.")
    created_at = models.DateTimeField(auto_now_add=True)
    # Not sent: the address had its one survey of the day already (surveys/reactions.py).
    skipped = models.BooleanField(default=False)

    def __str__(self) -> str:
        return f"survey of {self.conversation_id}"


class SurveyResponse(models.Model):
    """The visitor's answer; the one-to-one key makes it one per conversation, whatever the channel."""

    class Channel(models.TextChoices):
        WIDGET = "widget", "In the widget"
        EMAIL = "email", "From the emailed link"

    conversation = models.OneToOneField(Conversation, on_delete=models.CASCADE, related_name="survey_response")
    channel = models.CharField(max_length=10, choices=Channel.choices)
    csat = models.PositiveSmallIntegerField(validators=[MinValueValidator(CSAT_RANGE[0]), MaxValueValidator(CSAT_RANGE[1])])
    nps = models.PositiveSmallIntegerField(null=True, blank=True, validators=[MaxValueValidator(NPS_RANGE[1])])
    ces = models.PositiveSmallIntegerField(
        null=True, blank=True, validators=[MinValueValidator(CES_RANGE[0]), MaxValueValidator(CES_RANGE[1])])
    comment = models.TextField(blank=True, max_length=MAX_COMMENT_CHARS)
    created_at = models.DateTimeField()

    def __str__(self) -> str:
        return f"CSAT {self.csat} for {self.conversation_id}"


class TranscriptRequest(EmailRow):
    """A visitor's request for the chat's transcript; one email per (conversation, request id)."""

    conversation = models.ForeignKey(Conversation, on_delete=models.CASCADE, related_name="transcript_requests")
    request_id = models.CharField(max_length=64, help_text="The widget frame's client_id.")
    email = models.EmailField()
    language = models.CharField(max_length=10)
    created_at = models.DateTimeField(auto_now_add=True)
    # An address other than the one the visitor chatted with gets the transcript only once someone
    # there follows the link in a confirmation email (surveys/views.py, transcript_confirmation).
    needs_confirmation = models.BooleanField(default=False)
    confirmation_emailed_at = models.DateTimeField(null=True, blank=True)
    confirmed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            # A resent frame finds its first request instead of making a second email.
            models.UniqueConstraint(fields=["conversation", "request_id"], name="transcript_request_once"),
        ]

    def __str__(self) -> str:
        return f"transcript of {self.conversation_id} to {self.email}"
