"""Pruning visitors who never chatted (conversations/retention.py), hourly in celery beat's schedule."""

from django.db import migrations

from chatdesk import beat

TASK = "conversations.tasks.prune_visitors"
NAME = "conversations: prune visitors who never chatted"
EVERY_SECONDS = 3600


class Migration(migrations.Migration):

    dependencies = [
        ("conversations", "0008_bans_queue_limit_visitor_ip"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [beat.every(name=NAME, task=TASK, seconds=EVERY_SECONDS)]
