from django.db import models
from django.db.models import Q
from django.utils import timezone

PENDING = Q(done_at__isnull=True, failed_at__isnull=True)


class Reaction(models.Model):
    """A side effect to carry out at due_at (reactions/__init__.py); written by reactions.schedule,
    claimed, run and closed by reactions/dispatcher.py."""

    kind = models.CharField(max_length=100, help_text='Which handler runs it, e.g. "surveys.email_survey".')
    # Names the effect: scheduling the same key twice makes one row, so one effect.
    key = models.CharField(max_length=200, unique=True)
    payload = models.JSONField(default=dict, blank=True, help_text="The handler's keyword arguments.")
    due_at = models.DateTimeField()
    attempts = models.PositiveIntegerField(default=0, help_text="Runs started, including ones that died.")
    # While in the future the row belongs to the runner that claimed it (or waits out a retry's backoff).
    lease_until = models.DateTimeField(null=True, blank=True)
    done_at = models.DateTimeField(null=True, blank=True)
    failed_at = models.DateTimeField(null=True, blank=True, help_text="Given up after the last attempt.")
    last_error = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        indexes = [
            # The dispatcher's "pending and due, oldest first" (dispatcher.due_ids); partial, so it
            # holds only the rows still to do however many are done.
            models.Index(fields=["due_at"], condition=PENDING, name="reaction_pending_due"),
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.key}"

    @property
    def state(self) -> str:
        if self.done_at is not None:
            return "done"
        if self.failed_at is not None:
            return "failed"
        return "retrying" if self.last_error else "pending"
