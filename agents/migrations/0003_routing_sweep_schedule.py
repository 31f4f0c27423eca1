"""The routing safety-net sweep in celery beat's database schedule (DatabaseScheduler reads it)."""

from django.db import migrations

from chatdesk import beat

TASK = "agents.tasks.sweep_queues"
NAME = "routing: sweep waiting chats"
EVERY_SECONDS = 10


class Migration(migrations.Migration):

    dependencies = [
        ("agents", "0002_routing"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [beat.every(name=NAME, task=TASK, seconds=EVERY_SECONDS)]
