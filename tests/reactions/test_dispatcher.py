"""The reaction dispatcher in one process, on a fixed clock: scheduling, claims, leases, retries.

The kinds below are test kinds with their own handlers: "tests.note" writes down that it ran (and
can start a second runner from inside itself), "tests.flaky" fails a given number of times first.
"""

from datetime import timedelta

import pytest
from django.db import transaction
from django.test import Client
from django.utils import timezone
from django_celery_beat.models import PeriodicTask

import reactions
from reactions import dispatcher
from reactions.models import Reaction
from reactions.registry import handler_of
from reactions.tasks import TICK_EXPIRES_SECONDS, dispatch_due

pytestmark = pytest.mark.django_db

T0 = timezone.now().replace(microsecond=0) + timedelta(days=1)  # later than any row "due now"
ran = []
failures_left = {}


@reactions.handles("tests.note")
def note(*, name: str, nested_runner: bool = False) -> None:
    if nested_runner:
        ran.append(("nested runner claimed", dispatcher.run_due(now=T0)))
    ran.append(name)


@reactions.handles("tests.flaky")
def flaky(*, name: str) -> None:
    if failures_left.get(name, 0) > 0:
        failures_left[name] -= 1
        raise OSError("the mail server is down")
    ran.append(name)


@pytest.fixture(autouse=True)
def clean_slate(settings):
    settings.REACTION_LEASE_SECONDS = 60
    settings.REACTION_MAX_ATTEMPTS = 3
    ran.clear()
    failures_left.clear()


def row(key: str) -> Reaction:
    return Reaction.objects.get(key=key)


def test_a_reaction_runs_once_when_due_and_is_marked_done():
    reactions.schedule("tests.note", key="n1", due_at=T0, name="first")

    assert dispatcher.run_due(now=T0 - timedelta(seconds=1)) == 0
    assert dispatcher.run_due(now=T0) == 1
    assert dispatcher.run_due(now=T0 + timedelta(hours=2)) == 0

    assert ran == ["first"]
    done = row("n1")
    assert (done.state, done.done_at, done.attempts, done.lease_until) == ("done", T0, 1, None)


def test_scheduling_a_key_again_changes_nothing():
    reactions.schedule("tests.note", key="n1", due_at=T0, name="first")
    reactions.schedule("tests.note", key="n1", due_at=T0 + timedelta(hours=1), name="second")
    dispatcher.run_due(now=T0)
    reactions.schedule("tests.note", key="n1", due_at=T0, name="third")  # even once the first is done

    assert Reaction.objects.count() == 1
    assert (row("n1").payload, row("n1").due_at) == ({"name": "first"}, T0)
    assert dispatcher.run_due(now=T0 + timedelta(days=1)) == 0
    assert ran == ["first"]


def test_the_row_commits_or_rolls_back_with_the_change_that_scheduled_it():
    with pytest.raises(RuntimeError), transaction.atomic():
        reactions.schedule("tests.note", key="rolled-back", due_at=T0, name="never")
        raise RuntimeError("the state change failed after scheduling")
    with transaction.atomic():
        reactions.schedule("tests.note", key="kept", due_at=T0, name="kept")
        reactions.schedule("tests.note", key="kept", due_at=T0, name="kept")
        # The repeat's conflict did not break the transaction (PostgreSQL would refuse every query after an error).
        assert Reaction.objects.filter(key="kept").count() == 1

    assert list(Reaction.objects.values_list("key", flat=True)) == ["kept"]


def test_a_runner_cannot_take_a_reaction_another_runner_holds():
    reactions.schedule("tests.note", key="n1", due_at=T0, name="first", nested_runner=True)

    assert dispatcher.run_due(now=T0) == 1

    # The second runner started while the first was inside the handler: it found nothing to claim.
    assert ran == [("nested runner claimed", 0), "first"]
    assert dispatcher.claim(row("n1").pk, now=T0) is None  # done: nobody claims it again


def test_of_two_claims_at_the_same_moment_exactly_one_wins():
    reactions.schedule("tests.note", key="n1", due_at=T0, name="first")
    reaction_id = row("n1").pk

    first, second = dispatcher.claim(reaction_id, now=T0), dispatcher.claim(reaction_id, now=T0)

    assert first is not None and second is None
    assert first.lease_until == T0 + timedelta(seconds=60)


def test_a_run_that_died_holding_the_lease_runs_again_once_the_lease_expires():
    reactions.schedule("tests.note", key="n1", due_at=T0, name="first")
    dispatcher.claim(row("n1").pk, now=T0)  # then its process is killed: no run, no done

    assert dispatcher.run_due(now=T0 + timedelta(seconds=59)) == 0
    assert dispatcher.run_due(now=T0 + timedelta(seconds=60)) == 1

    assert ran == ["first"]
    assert (row("n1").state, row("n1").attempts) == ("done", 2)


def test_a_failing_handler_is_retried_with_a_doubling_backoff_then_done():
    failures_left["mail"] = 2
    reactions.schedule("tests.flaky", key="f1", due_at=T0, name="mail")

    dispatcher.run_due(now=T0)
    first_failure = row("f1")
    assert (first_failure.state, first_failure.lease_until) == ("retrying", T0 + timedelta(seconds=60))
    assert "OSError: the mail server is down" in first_failure.last_error

    assert dispatcher.run_due(now=T0 + timedelta(seconds=59)) == 0
    assert dispatcher.run_due(now=T0 + timedelta(seconds=60)) == 1
    assert row("f1").lease_until == T0 + timedelta(seconds=60 + 120)
    assert dispatcher.run_due(now=T0 + timedelta(seconds=179)) == 0
    assert dispatcher.run_due(now=T0 + timedelta(seconds=180)) == 1

    assert ran == ["mail"]
    assert (row("f1").state, row("f1").attempts) == ("done", 3)


def test_after_the_last_attempt_it_is_marked_failed_logged_and_not_run_again(caplog):
    failures_left["mail"] = 99
    reactions.schedule("tests.flaky", key="f1", due_at=T0, name="mail")

    for seconds in (0, 60, 180):
        assert dispatcher.run_due(now=T0 + timedelta(seconds=seconds)) == 1

    failed = row("f1")
    assert (failed.state, failed.attempts, failed.failed_at, failed.lease_until) == ("failed", 3, T0 + timedelta(
        seconds=180), None)
    assert dispatcher.run_due(now=T0 + timedelta(days=30)) == 0
    assert "reaction f1 (tests.flaky) failed after 3 attempts" in caplog.text

    # An operator fixed the mail server: a retry runs it again, with a fresh count.
    failures_left["mail"] = 0
    assert dispatcher.retry([failed.pk], now=T0 + timedelta(days=1)) == 1
    assert dispatcher.run_due(now=T0 + timedelta(days=1)) == 1
    assert ran == ["mail"] and row("f1").state == "done"


def test_a_reaction_of_a_kind_nobody_handles_fails_visibly():
    reactions.schedule("tests.nobody", key="u1", due_at=T0)

    dispatcher.run_due(now=T0)

    assert "no handler is registered for reaction kind 'tests.nobody'" in row("u1").last_error


def test_due_reactions_run_oldest_first_and_a_batch_takes_at_most_the_limit():
    for minutes in (3, 1, 2):
        reactions.schedule("tests.note", key=f"n{minutes}", due_at=T0 - timedelta(minutes=minutes),
                           name=f"{minutes} min late")

    assert dispatcher.run_due(now=T0, limit=2) == 2
    assert dispatcher.run_due(now=T0, limit=2) == 1
    assert ran == ["3 min late", "2 min late", "1 min late"]


def test_every_kind_the_apps_schedule_has_a_handler_found_at_start():
    kinds = ["conversations.email_offline_messages", "conversations.email_offline_message", "surveys.email_survey",
             "surveys.email_transcript", "surveys.email_transcript_confirmation", "agents.expire_offer",
             "agents.release_disconnected_agent"]
    assert all(callable(handler_of(kind)) for kind in kinds)


def test_the_tick_is_a_beat_task_every_second_that_expires_quickly_and_runs_the_due_reactions():
    tick = PeriodicTask.objects.get(task="reactions.tasks.dispatch_due")
    assert (tick.enabled, tick.interval.every, tick.interval.period) == (True, 1, "seconds")
    assert dispatch_due.expires == TICK_EXPIRES_SECONDS <= 5 and dispatch_due.acks_late is False

    reactions.schedule("tests.note", key="now", name="due now")
    assert dispatch_due() == 1 and ran == ["due now"]


def test_the_admin_lists_pending_and_failed_reactions_for_an_operator(django_user_model):
    failures_left["mail"] = 99
    reactions.schedule("tests.flaky", key="failing-mail", due_at=T0, name="mail")
    reactions.schedule("tests.note", key="later-note", due_at=T0 + timedelta(hours=1), name="later")
    for seconds in (0, 60, 180):
        dispatcher.run_due(now=T0 + timedelta(seconds=seconds))
    client = Client()
    client.force_login(django_user_model.objects.create_superuser("root", password="pw-root"))

    failed = client.get("/admin/reactions/reaction/?state=failed").content.decode()
    pending = client.get("/admin/reactions/reaction/?state=pending").content.decode()

    assert "failing-mail" in failed and "later-note" not in failed
    assert "later-note" in pending and "failing-mail" not in pending
    assert client.get("/admin/reactions/reaction/add/").status_code == 403
