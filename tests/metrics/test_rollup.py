"""The daily rollup: idempotent, equal to the on-the-fly computation, scheduled, backfilled."""

import io
from datetime import date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection
from django.forms.models import model_to_dict
from django.test.utils import CaptureQueriesContext
from django_celery_beat.models import PeriodicTask

from conversations import lifecycle
from conversations.lifecycle import Actor
from conversations.models import Conversation, ConversationEvent
from metrics import compute, rollup, selectors
from metrics.models import DailyRollup
from tests.metrics import golden
from tests.personas import make_agent, make_site, make_visitor

pytestmark = pytest.mark.django_db
DAY = date(2026, 3, 2)


def rows():
    return [{k: v for k, v in model_to_dict(row).items() if k != "id"} for row in DailyRollup.objects.all()]


def test_the_rollup_of_the_golden_day_has_a_row_per_scope(golden_day, settings):
    settings.TIME_ZONE = "UTC"
    rollup.rollup_day(DAY, as_of=golden.AS_OF)
    keys = set(DailyRollup.objects.values_list("scope", "key"))
    assert keys == {("total", 0), ("agent", golden_day["alice"]), ("agent", golden_day["bob"]),
                    ("department", golden_day["sales"]), ("department", 0), ("tag", golden_day["billing"])}
    total = DailyRollup.objects.get(scope="total").to_tally().metrics()
    # The same literals as tests/metrics/test_compute.py::test_the_golden_day_in_total
    assert (total["chats"], total["ended"], total["service_level"], total["fcr_rate"]) == (6, 6, 0.4, 0.3333)
    assert total["handle_seconds"] == {"count": 4, "mean": 362.0, "median": 321.0, "p90": 570.0}
    assert (total["online_seconds"], total["busy_seconds"]) == (70200.0, 1212.0)


def test_computing_a_day_twice_gives_identical_rows(golden_day):
    rollup.rollup_day(DAY, as_of=golden.AS_OF)
    first = rows()
    rollup.rollup_day(DAY, as_of=golden.AS_OF)
    assert rows() == first
    assert DailyRollup.objects.count() == len(first)


def test_recomputing_replaces_rows_that_no_longer_apply(golden_day):
    DailyRollup.objects.create(day=DAY, time_zone="UTC", scope="agent", key=999, computed_at=golden.AS_OF, chats=5)
    rollup.rollup_day(DAY, as_of=golden.AS_OF)
    assert not DailyRollup.objects.filter(key=999).exists()


def test_the_rollup_equals_the_on_the_fly_computation(golden_day):
    for day in (DAY - timedelta(days=1), DAY, DAY + timedelta(days=1)):
        rollup.rollup_day(day, as_of=golden.AS_OF)
    query = selectors.Query(first_day=DAY - timedelta(days=1), last_day=DAY + timedelta(days=1),
                            tz=ZoneInfo("UTC"))
    buckets, live = selectors.compute_tallies(query, as_of=golden.AS_OF)
    for scope in compute.SCOPES:
        stored = {(row.day, row.key): row.to_tally() for row in DailyRollup.objects.filter(
            scope=scope, day__gte=query.first_day, day__lte=query.last_day)}
        computed = {(date.fromisoformat(buckets[i].label), key): tally
                    for (i, s, key), tally in live.items() if s == scope}
        assert {k: v for k, v in stored.items() if v != compute.Tally()} == computed


def test_an_empty_day_still_gets_its_total_row():
    rollup.rollup_day(date(2026, 1, 1))
    assert list(DailyRollup.objects.values_list("scope", "key", "chats")) == [("total", 0, 0)]


def test_loading_a_range_takes_three_queries_per_chunk_of_chats_whatever_their_history(golden_day, monkeypatch):
    def load_queries() -> int:
        with CaptureQueriesContext(connection) as queries:
            selectors.load(golden.DAY, golden.DAY + timedelta(days=1))
        return len(queries)

    chats = Conversation.objects.count()
    monkeypatch.setattr(selectors, "ID_CHUNK", chats)
    one_chunk = load_queries()
    site = make_site("other")
    for n in range(5):
        chat, _ = lifecycle.start_conversation(site=site, visitor=make_visitor(site, f"v{n}"))
        lifecycle.post_message(conversation_id=chat.pk, actor=Actor.visitor(), text="hello")  # more history
        ConversationEvent.objects.filter(conversation=chat).update(at=golden.at(f"16:0{n}:00"))
    monkeypatch.setattr(selectors, "ID_CHUNK", chats + 5)
    assert load_queries() == one_chunk == 6 + 3
    monkeypatch.setattr(selectors, "ID_CHUNK", (chats + 5 + 1) // 2)
    assert load_queries() == 6 + 3 * 2


def test_real_lifecycle_calls_replay_into_the_same_facts(settings):
    """A chat driven through the lifecycle, with its event times then set by hand."""
    settings.TIME_ZONE = "UTC"
    acme = make_site()
    alice = make_agent("alice", skills={"orders": 5})
    chat, _ = lifecycle.start_conversation(site=acme, visitor=make_visitor(acme))
    lifecycle.assign_conversation(conversation_id=chat.pk, agent=alice, actor=Actor.system())
    lifecycle.accept_conversation(conversation_id=chat.pk, agent=alice)
    lifecycle.post_message(conversation_id=chat.pk, actor=Actor.of_agent(alice), text="Hello")
    lifecycle.start_wrapup(conversation_id=chat.pk, actor=Actor.of_agent(alice))
    lifecycle.close_with_wrapup(conversation_id=chat.pk, actor=Actor.of_agent(alice), resolved=True)
    times = {"queued": "09:00:00", "assigned": "09:00:03", "accepted": "09:00:05", "message": "09:00:12",
             "wrapup": "09:08:00", "closed": "09:10:00"}
    for kind, clock in times.items():
        ConversationEvent.objects.filter(conversation=chat, kind=kind).update(at=golden.at(clock))
    # close_with_wrapup stored the real wrap-up start; move it with the event it came from.
    close = ConversationEvent.objects.get(conversation=chat, kind="closed")
    close.details["wrapup_started_at"] = golden.at("09:08:00").isoformat()
    close.save(update_fields=["details"])

    rollup.rollup_day(DAY, as_of=golden.AS_OF)
    m = DailyRollup.objects.get(scope="agent", key=alice.pk).to_tally().metrics()
    assert m["wait_seconds"]["mean"] == 5.0  # 09:00:00 → accepted 09:00:05
    assert m["first_response_seconds"]["mean"] == 12.0  # → 09:00:12
    assert m["handle_seconds"]["mean"] == 595.0  # 09:00:05 → 09:10:00
    assert m["wrapup_seconds"]["mean"] == 120.0  # 09:08:00 → 09:10:00
    assert (m["closed"], m["service_level"], m["fcr_rate"]) == (1, 1.0, 1.0)


def test_the_beat_schedule_runs_the_rollup_every_five_minutes():
    task = PeriodicTask.objects.get(task="metrics.tasks.rollup_recent_days")
    assert (task.enabled, task.interval.every, task.interval.period) == (True, 300, "seconds")


def test_the_task_refreshes_today_yesterday_and_the_day_whose_fcr_window_closed(settings):
    settings.TIME_ZONE = "Europe/Vilnius"
    now = datetime(2026, 3, 10, 23, 30, tzinfo=timezone.utc)  # already 11 March in Vilnius
    assert rollup.days_to_refresh(now) == [date(2026, 3, 3), date(2026, 3, 10), date(2026, 3, 11)]


def test_the_task_writes_rows_for_those_days():
    from metrics.tasks import rollup_recent_days

    assert rollup_recent_days() == 3  # three empty days: a total row each
    assert set(DailyRollup.objects.values_list("day", flat=True)) == set(rollup.days_to_refresh())


def test_backfill_computes_every_day_of_the_range_with_progress(golden_day):
    out = io.StringIO()
    call_command("backfill_metrics", "--from", "2026-03-01", "--to", "2026-03-03", stdout=out)
    assert "3/3 2026-03-03" in out.getvalue()
    assert set(DailyRollup.objects.values_list("day", flat=True)) == {date(2026, 3, 1), DAY, date(2026, 3, 3)}


@pytest.mark.parametrize("args", [("--from", "2026-03-05", "--to", "2026-03-01"), ("--from", "March", "--to", "2026-03-01")])
def test_backfill_refuses_a_bad_range(args):
    with pytest.raises(CommandError):
        call_command("backfill_metrics", *args, stdout=io.StringIO())
