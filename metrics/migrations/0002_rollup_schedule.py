"""The daily rollup of recent days (today, yesterday, the FCR-settled day) in celery beat's database schedule (metrics/tasks.py)."""

from django.db import migrations

from chatdesk import beat

TASK = "metrics.tasks.rollup_recent_days"
NAME = "metrics: roll up recent days"
EVERY_SECONDS = 300


class Migration(migrations.Migration):

    dependencies = [
        ("metrics", "0001_daily_rollup"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [beat.every(name=NAME, task=TASK, seconds=EVERY_SECONDS)]
