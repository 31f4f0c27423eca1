"""Deleting what nobody needs any more: visitors who opened the widget but never started a chat
nor left a message, once VISITOR_RETENTION_DAYS have passed since they were last seen.

Anyone can make visitor rows (a hello without a token), so without this they grow without end.
Their widget loads and goals stay (metrics/models.py): past engagement and conversion keep the
same figures. Batched, so one run never holds a long transaction.
"""

from datetime import timedelta

from django.conf import settings
from django.utils import timezone

from conversations.models import Visitor

BATCH = 1000


def prune_visitors(*, now=None, batch: int = BATCH) -> int:
    """Delete every visitor past the retention period who never chatted; returns how many."""
    cutoff = (now or timezone.now()) - timedelta(days=settings.VISITOR_RETENTION_DAYS)
    stale = Visitor.objects.filter(last_seen_at__lt=cutoff, conversations__isnull=True)
    deleted = 0
    while True:
        ids = list(stale.values_list("pk", flat=True)[:batch])
        if not ids:
            return deleted
        # Filtered again on delete: a visitor who started a chat since the read is kept.
        deleted += stale.filter(pk__in=ids).delete()[1].get("conversations.Visitor", 0)
