"""The rollup's stored samples survive the change from JSON seconds to packed milliseconds."""

from datetime import date

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.utils import timezone

from metrics.models import DailyRollup

BEFORE = [("metrics", "0003_widget_loads_and_visitor_goals")]
AFTER = [("metrics", "0004_rollup_sample_data")]


def migrate(targets):
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(targets)
    return executor.loader.project_state(targets).apps


@pytest.mark.django_db(transaction=True)
def test_json_samples_become_the_same_numbers_in_milliseconds():
    old_apps = migrate(BEFORE)
    try:
        OldRollup = old_apps.get_model("metrics", "DailyRollup")
        OldRollup.objects.create(
            day=date(2026, 3, 2), time_zone="UTC", scope="agent", key=7, computed_at=timezone.now(), chats=3,
            samples={"first_response": [12.5, 3.0004, 40], "handle": [30 * 86400], "csat": [5, 4]})
    finally:
        migrate(AFTER)
        migrate([("metrics", _latest())])
    tally = DailyRollup.objects.get(key=7).to_tally()
    assert tally.chats == 3
    assert tally.samples.values("first_response").tolist() == [3000, 12500, 40000]
    assert tally.samples.values("handle").tolist() == [30 * 86400 * 1000]  # wider than int32
    assert tally.metrics()["csat_mean"] == 4.5
    assert tally.metrics()["first_response_seconds"]["median"] == 12.5


def _latest() -> str:
    executor = MigrationExecutor(connection)
    return max(name for app, name in executor.loader.graph.leaf_nodes() if app == "metrics")
