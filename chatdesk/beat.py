"""Periodic tasks in celery beat's database schedule (django_celery_beat's DatabaseScheduler)."""

from django.db import migrations


def every(*, name: str, task: str, seconds: int) -> migrations.RunPython:
    """A migration operation that schedules `task` every `seconds` (and unschedules it on reverse).

    It works on the migration's historical models only, so later code changes cannot alter what an
    applied migration did.
    """
    def add(apps, schema_editor):
        interval, _ = apps.get_model("django_celery_beat", "IntervalSchedule").objects.get_or_create(
            every=seconds, period="seconds")
        apps.get_model("django_celery_beat", "PeriodicTask").objects.update_or_create(
            name=name, defaults={"task": task, "interval": interval, "enabled": True})

    def remove(apps, schema_editor):
        apps.get_model("django_celery_beat", "PeriodicTask").objects.filter(name=name).delete()

    return migrations.RunPython(add, remove)
