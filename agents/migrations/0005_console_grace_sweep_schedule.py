"""The disconnect-grace safety net in celery beat's database schedule (agents/grace.py).

The grace period is normally applied by a task scheduled when an agent's last console closes;
this sweep catches a lost task or a daphne process that died with consoles open.
"""

from django.db import migrations

TASK = "agents.tasks.sweep_disconnected_agents"
NAME = "console: agents disconnected past the grace period"
EVERY_SECONDS = 30


def add_schedule(apps, schema_editor):
    IntervalSchedule = apps.get_model("django_celery_beat", "IntervalSchedule")
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    interval, _ = IntervalSchedule.objects.get_or_create(every=EVERY_SECONDS, period="seconds")
    PeriodicTask.objects.update_or_create(name=NAME, defaults={"task": TASK, "interval": interval, "enabled": True})


def remove_schedule(apps, schema_editor):
    apps.get_model("django_celery_beat", "PeriodicTask").objects.filter(name=NAME).delete()


class Migration(migrations.Migration):

    dependencies = [
        ("agents", "0004_offers_and_wait_limit"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [migrations.RunPython(add_schedule, remove_schedule)]
