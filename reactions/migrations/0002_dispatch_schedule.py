"""The reaction dispatcher's tick in celery beat's database schedule (DatabaseScheduler reads it).

Every second, so a due reaction waits at most about a second for a free worker; the task expires
its own ticks (reactions/tasks.py), so ticks queued during an outage do not pile up.
"""

from django.db import migrations

from chatdesk import beat

TASK = "reactions.tasks.dispatch_due"
NAME = "reactions: run the due side effects"
EVERY_SECONDS = 1


class Migration(migrations.Migration):

    dependencies = [
        ("reactions", "0001_reactions"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [beat.every(name=NAME, task=TASK, seconds=EVERY_SECONDS)]
