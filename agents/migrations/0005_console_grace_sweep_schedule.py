"""The disconnect-grace safety net in celery beat's database schedule (agents/grace.py).

The grace period is normally applied by a task scheduled when an agent's last console closes;
this sweep catches a lost task or a daphne process that died with consoles open.
"""

from django.db import migrations

from chatdesk import beat

TASK = "agents.tasks.sweep_disconnected_agents"
NAME = "console: agents disconnected past the grace period"
EVERY_SECONDS = 30


class Migration(migrations.Migration):

    dependencies = [
        ("agents", "0004_offers_and_wait_limit"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [beat.every(name=NAME, task=TASK, seconds=EVERY_SECONDS)]
