"""The live wallboard: its socket (who may open it, snapshots after changes, at most one a second)
and its snapshot (the floor now, today's numbers as the metrics API computes them).

Personas: Sam is a supervisor, root an admin without an agent profile, Alice and Bob are agents,
Ann and Carl are visitors of Acme.
"""

import asyncio
import time

import pytest
from channels.db import database_sync_to_async
from django.contrib.auth import get_user_model
from django.utils import timezone
from rest_framework.test import APIClient

from agents.models import Agent
from conversations import lifecycle
from conversations.lifecycle import Actor
from conversations.models import Conversation
from metrics import subscribers, wallboard
from tests.console.console import CONSOLE_ORIGIN, Console, chat_with, open_staff_socket, queued_chat, switch_routing_off
from tests.personas import make_agent, make_site, make_topic

db = database_sync_to_async


@pytest.fixture(autouse=True)
def no_routing(monkeypatch):
    switch_routing_off(monkeypatch)


@pytest.fixture
def acme():
    return make_site()


@pytest.fixture
def sam():
    return make_agent("sam", role=Agent.Role.SUPERVISOR)


@pytest.fixture
def alice():
    return make_agent("alice", cap=2, skills={"orders": 5})


@pytest.fixture
def bob():
    return make_agent("bob", cap=3, status=Agent.Status.AWAY)


@pytest.fixture
def root():
    return get_user_model().objects.create_user("root", password="pw", is_staff=True)


class Wallboard(Console):
    async def snapshot(self, timeout: float = 3) -> dict:
        return await self.receive_until("wallboard", timeout=timeout)

    async def snapshots_within(self, seconds: float) -> list[dict]:
        """Every wallboard frame that arrives within `seconds`."""
        got, deadline = [], time.monotonic() + seconds
        while (left := deadline - time.monotonic()) > 0:
            # receive_nothing, not a receive that times out: a timeout stops the socket's application.
            if await self.communicator.receive_nothing(timeout=min(left, 0.1)):
                continue
            frame = await self.receive()
            if frame["type"] == "wallboard":
                got.append(frame)
        return got


async def open_wallboard(user=None, *, origin: str | None = CONSOLE_ORIGIN) -> Wallboard:
    return Wallboard(await open_staff_socket("/ws/wallboard/", user, origin=origin))


async def greeted(user) -> tuple[Wallboard, dict]:
    board = await open_wallboard(user)
    await board.hello()
    return board, await board.snapshot()


# --- who may open it ---------------------------------------------------------------------------

@pytest.mark.django_db(transaction=True)
@pytest.mark.asyncio
async def test_an_anonymous_socket_gets_not_authenticated_and_close_4001(acme):
    board = await open_wallboard(None)
    assert (await board.receive())["code"] == "not_authenticated"
    assert await board.close_code() == 4001


@pytest.mark.django_db(transaction=True)
@pytest.mark.asyncio
async def test_an_agent_who_is_no_supervisor_gets_forbidden_and_close_4003(acme, alice):
    board = await open_wallboard(alice)
    assert (await board.receive())["code"] == "forbidden"
    assert await board.close_code() == 4003


@pytest.mark.django_db(transaction=True)
@pytest.mark.asyncio
async def test_a_page_of_another_origin_is_refused(acme, sam):
    board = await open_wallboard(sam, origin="https://evil.example")
    assert (await board.receive())["code"] == "origin_not_allowed"
    assert await board.close_code() == 4003


@pytest.mark.django_db(transaction=True)
@pytest.mark.asyncio
async def test_a_supervisor_is_welcomed_with_a_snapshot_of_the_floor(acme, sam, alice, bob):
    await db(chat_with)(alice, acme, "Ann")
    await db(queued_chat)(acme, "Carl", topic=await db(make_topic)(acme))
    board, snap = await greeted(sam)
    assert snap["queue"]["waiting"] == 1
    assert [(s["skill"], s["name"], s["waiting"]) for s in snap["queue"]["by_skill"]] == [("orders", "orders", 1)]
    assert snap["chats_in_progress"] == 1
    assert snap["agents_by_status"] == {"online": 2, "away": 1, "offline": 0}
    by_name = {a["name"]: a for a in snap["agents"]}
    assert (by_name["Alice"]["active"], by_name["Alice"]["cap"], by_name["Bob"]["status"]) == (1, 2, "away")
    assert snap["load"] == {"active": 1, "capacity": 2 + 3}  # Alice and Sam are online; Bob is away
    assert snap["today"]["chats"] == 2
    await board.disconnect()


@pytest.mark.django_db(transaction=True)
@pytest.mark.asyncio
async def test_an_admin_without_an_agent_profile_may_watch(acme, root):
    board, snap = await greeted(root)
    assert snap["queue"]["waiting"] == 0
    await board.disconnect()


@pytest.mark.django_db(transaction=True)
@pytest.mark.asyncio
async def test_the_socket_is_read_only(acme, sam):
    board, _ = await greeted(sam)
    await board.send({"type": "status", "status": "away"})
    assert (await board.error())["code"] == "unknown_type"
    await board.send({"type": "ping"})
    await board.receive_until("pong")
    await board.disconnect()


# --- live: a change brings a new snapshot, at most about one a second ------------------------

@pytest.mark.django_db(transaction=True)
@pytest.mark.asyncio
async def test_a_visitor_starting_a_chat_brings_a_new_snapshot(acme, sam):
    board, first = await greeted(sam)
    assert first["queue"]["waiting"] == 0
    await db(queued_chat)(acme, "Ann")
    snap = await board.snapshot()
    assert snap["queue"]["waiting"] == 1
    assert snap["today"]["chats"] == 1
    await board.disconnect()


@pytest.mark.django_db(transaction=True)
@pytest.mark.asyncio
async def test_an_agent_going_away_brings_a_new_snapshot(acme, sam, alice):
    from agents import presence

    board, first = await greeted(sam)
    assert first["agents_by_status"]["online"] == 2
    await db(presence.set_agent_status)(alice, "away", by=alice)
    snap = await board.snapshot()
    assert snap["agents_by_status"] == {"online": 1, "away": 1, "offline": 0}
    await board.disconnect()


@pytest.mark.django_db(transaction=True)
@pytest.mark.asyncio
async def test_a_burst_of_changes_makes_at_most_one_snapshot_a_second_and_the_last_one_is_current(acme, sam):
    board, _ = await greeted(sam)
    for name in ("Ann", "Carl", "Dora", "Egle", "Fay"):
        await db(queued_chat)(acme, name)
    snaps = await board.snapshots_within(2.0)
    assert 1 <= len(snaps) <= 2
    assert snaps[-1]["queue"]["waiting"] == 5
    await board.disconnect()


@pytest.mark.django_db(transaction=True)
@pytest.mark.asyncio
async def test_a_change_while_a_snapshot_is_read_is_not_lost(acme, sam, monkeypatch):
    """A change published during the read gets a snapshot of its own, after the interval."""
    board, _ = await greeted(sam)
    real = wallboard.snapshot
    calls = []

    def slow_snapshot():
        calls.append(1)
        if len(calls) == 1:
            queued_chat(acme, "Carl")  # committed (and published) while this read is under way
            time.sleep(0.2)
        return real()

    monkeypatch.setattr(wallboard, "snapshot", slow_snapshot)
    await db(queued_chat)(acme, "Ann")
    snaps = await board.snapshots_within(2.5)
    assert snaps[-1]["queue"]["waiting"] == 2
    assert len(calls) == 2
    await board.disconnect()


@pytest.mark.django_db(transaction=True)
@pytest.mark.asyncio
async def test_the_interval_is_kept_between_snapshot_reads(acme, sam, monkeypatch):
    """The guarantee is about the producer's reads of the database (one for every wallboard): they
    start at least the interval apart."""
    monkeypatch.setattr(subscribers.snapshots, "min_interval", 0.6)
    real, started = wallboard.snapshot, []

    def timed_snapshot():
        started.append(time.monotonic())
        return real()

    monkeypatch.setattr(wallboard, "snapshot", timed_snapshot)
    board, _ = await greeted(sam)
    for name in ("Ann", "Carl", "Dora"):
        await db(queued_chat)(acme, name)
        await board.snapshot()
    assert len(started) == 4  # the welcome's (this socket's own), then one per change
    producers = started[1:]
    # Runs start the interval apart; each read follows its run's Redis check (is a wallboard open?).
    assert all(b - a >= 0.55 for a, b in zip(producers, producers[1:]))
    await board.disconnect()


async def cost_of_one_snapshot(boards, all_queries, acme, name) -> int:
    """Queries from one new chat until every wallboard shows it."""
    await asyncio.sleep(1.1)  # past the producer's interval, so the change's snapshot is the next one
    before = all_queries.count
    await db(queued_chat)(acme, name)
    waiting = await db(Conversation.objects.filter(status=Conversation.Status.QUEUED).count)()
    for board in boards:
        while (await board.snapshot())["queue"]["waiting"] != waiting:
            pass
    await asyncio.sleep(0.3)  # anything a socket would still read
    return all_queries.count - before


@pytest.mark.django_db(transaction=True)
@pytest.mark.asyncio
async def test_a_change_costs_the_same_queries_with_ten_wallboards_as_with_one(acme, sam, settings, all_queries):
    settings.DELIVERY_CHECK_SECONDS = 3600  # no periodic check during the count
    first, _ = await greeted(sam)
    one = await cost_of_one_snapshot([first], all_queries, acme, "Ann")
    others = [(await greeted(sam))[0] for _ in range(9)]
    ten = await cost_of_one_snapshot([first, *others], all_queries, acme, "Ben")
    assert one == ten
    for board in [first, *others]:
        await board.disconnect()


@pytest.mark.django_db
def test_no_snapshot_is_taken_while_no_wallboard_is_open_anywhere(acme, sent_frames, monkeypatch,
                                                                 django_capture_on_commit_callbacks):
    taken = []
    monkeypatch.setattr(wallboard, "snapshot", lambda: taken.append(1) or {"type": "wallboard"})
    with django_capture_on_commit_callbacks(execute=True):
        queued_chat(acme, "Ann")
    assert taken == []
    subscribers.mark_watched()
    with django_capture_on_commit_callbacks(execute=True):
        queued_chat(acme, "Ben")
    assert taken == [1]
    assert [group for group, frame in sent_frames if frame["type"] == "wallboard"] == ["staff.wallboards"]


# --- today's numbers are the API's ------------------------------------------------------------

@pytest.mark.django_db(transaction=True)
def test_todays_numbers_are_the_metrics_apis_summary_for_today(acme, sam, alice):
    answered = chat_with(alice, acme, "Ann")
    lifecycle.post_message(conversation_id=answered.pk, actor=Actor.of_agent(alice), text="Hi!", client_id="a1")
    lifecycle.close_conversation(conversation_id=answered.pk, actor=Actor.of_agent(alice))
    abandoned = queued_chat(acme, "Carl")
    lifecycle.close_conversation(conversation_id=abandoned.pk, actor=Actor.visitor())
    today = wallboard.snapshot()["today"]

    client = APIClient()
    client.force_authenticate(sam.user)
    day = timezone.localdate().isoformat()
    row = client.get("/api/metrics/summary/", {"from": day, "to": day}).json()["rows"][0]
    assert today["day"] == day
    for name in ("chats", "ended", "closed", "service_level", "service_level_answered", "service_level_eligible",
                 "first_response_seconds", "abandonment_rate"):
        assert today[name] == row[name], name
    assert (today["chats"], today["ended"], today["service_level_answered"]) == (2, 2, 1)


def test_only_managers_may_watch(db, alice, sam, root):
    assert wallboard.may_watch(sam.user) and wallboard.may_watch(root)
    assert not wallboard.may_watch(alice.user)
