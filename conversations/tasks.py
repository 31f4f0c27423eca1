from celery import shared_task

from conversations import retention


@shared_task
def prune_visitors() -> int:
    """Hourly, by beat (conversations/migrations/0009): visitors past retention who never chatted."""
    return retention.prune_visitors()
