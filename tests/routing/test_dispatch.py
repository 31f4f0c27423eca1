"""routing.dispatch and agents.presence against the database: event-driven routing end to end.

Acme's Support department handles Orders chats. Alice is the orders expert (5), Bob knows orders
a little (2), Olga is an orders expert who is offline. Ann, Ben and Cat are visitors.
"""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from agents import presence
from agents.models import Agent, AgentStatusEvent, Department, RoutingEvent
from conversations import lifecycle
from conversations.lifecycle import Actor
from conversations.models import Conversation, ConversationEvent
from conversations.publish import visitor_group
from realtime import redis_keys
from routing import dispatch
from routing.tasks import sweep_queues
from tests.personas import make_agent, make_site, make_topic, make_visitor

pytestmark = pytest.mark.django_db


@pytest.fixture
def acme():
    return make_site()


@pytest.fixture
def support():
    return Department.objects.create(name="Support")


@pytest.fixture
def orders(acme, support):
    topic = make_topic(acme, "Orders", "orders")
    topic.department = support
    topic.save(update_fields=["department"])
    return topic


@pytest.fixture
def later(monkeypatch, django_capture_on_commit_callbacks):
    """Position broadcasts deferred to the Celery task, kept here until the test lets a second pass."""
    deferred = Deferred(django_capture_on_commit_callbacks)
    monkeypatch.setattr(dispatch, "_schedule_positions", lambda site_id, delay: deferred.sites.append(site_id))
    return deferred


class Deferred:
    def __init__(self, capture_on_commit_callbacks):
        self.sites = []
        self.capture_on_commit_callbacks = capture_on_commit_callbacks

    def interval_passes(self):
        """The coalescing interval ends (its Redis key expires) and the deferred broadcasts run, as a worker
        would: each task's transaction commits, so its frames go out."""
        sites, self.sites = self.sites, []
        for site_id in sites:
            redis_keys.client().delete(dispatch._key(site_id, "told"))
            with self.capture_on_commit_callbacks(execute=True):
                dispatch.broadcast_queue_positions(site_id)


def staff(username, support, **kwargs):
    agent = make_agent(username, **kwargs)
    agent.departments.add(support)
    return agent


def queue_frames(sent_frames) -> list[tuple[str, dict]]:
    """The (group, frame) pairs among those sent that tell a waiting visitor their place."""
    return [(group, frame) for group, frame in sent_frames if frame["type"] == "queue" and group.startswith("visitor.")]


def start(site, topic, name="Ann", priority=0):
    conversation, _ = lifecycle.start_conversation(site=site, visitor=make_visitor(site, name), topic=topic,
                                                    name=name, priority=priority)
    conversation.refresh_from_db()
    return conversation


def test_an_arriving_chat_goes_at_once_to_the_most_proficient_agent_with_the_reason_stored(
        acme, support, orders, django_capture_on_commit_callbacks):
    alice = staff("alice", support, skills={"orders": 5})
    staff("bob", support, skills={"orders": 2})
    with django_capture_on_commit_callbacks(execute=True):
        conversation = start(acme, orders)
    conversation.refresh_from_db()
    # Support auto-accepts (the default): assigned, then accepted, in one step.
    assert (conversation.status, conversation.assigned_agent_id) == (Conversation.Status.ACTIVE, alice.pk)
    assert list(conversation.events.values_list("kind", flat=True)) == ["queued", "assigned", "accepted"]
    assert conversation.events.get(kind=ConversationEvent.Kind.ACCEPTED).details == {"agent_id": alice.pk, "auto": True}
    event = conversation.events.get(kind=ConversationEvent.Kind.ASSIGNED)
    assert event.actor == ConversationEvent.Actor.SYSTEM
    assert event.details["reason"]["strategy"] == "best_skill"
    assert event.details["reason"]["candidate_count"] == 2
    assert event.details["reason"]["chosen"] == alice.pk


def test_a_waiting_chat_is_assigned_when_an_agent_closes_one(acme, support, orders, django_capture_on_commit_callbacks):
    alice = staff("alice", support, cap=1, skills={"orders": 5})
    with django_capture_on_commit_callbacks(execute=True):
        first, second = start(acme, orders, "Ann"), start(acme, orders, "Ben")
    second.refresh_from_db()
    assert second.status == Conversation.Status.QUEUED
    with django_capture_on_commit_callbacks(execute=True):
        lifecycle.close_conversation(conversation_id=first.pk, actor=Actor.of_agent(alice))
    second.refresh_from_db()
    assert second.assigned_agent_id == alice.pk


def test_a_waiting_chat_is_assigned_when_an_agent_comes_online_or_gets_a_higher_cap(
        acme, support, orders, django_capture_on_commit_callbacks):
    olga = staff("olga", support, cap=1, status=Agent.Status.OFFLINE, skills={"orders": 5})
    with django_capture_on_commit_callbacks(execute=True):
        ann, ben = start(acme, orders, "Ann"), start(acme, orders, "Ben")
        presence.set_agent_status(olga, Agent.Status.ONLINE)
    ann.refresh_from_db()
    ben.refresh_from_db()
    assert (ann.assigned_agent_id, ben.status) == (olga.pk, Conversation.Status.QUEUED)
    with django_capture_on_commit_callbacks(execute=True):
        presence.set_agent_cap(olga, 2)
    ben.refresh_from_db()
    assert ben.assigned_agent_id == olga.pk


def test_a_chat_transferred_to_a_department_or_requeued_is_routed_again(
        acme, support, orders, django_capture_on_commit_callbacks):
    alice = staff("alice", support, cap=1, skills={"orders": 5})
    bob = staff("bob", support, cap=1, skills={"orders": 2})
    with django_capture_on_commit_callbacks(execute=True):
        ann = start(acme, orders, "Ann")
        ben = start(acme, orders, "Ben")
    ann.refresh_from_db()
    ben.refresh_from_db()
    assert (ann.assigned_agent_id, ben.assigned_agent_id) == (alice.pk, bob.pk)
    with django_capture_on_commit_callbacks(execute=True):
        presence.set_agent_status(alice, Agent.Status.AWAY)
        lifecycle.requeue_conversation(conversation_id=ann.pk, actor=Actor.of_agent(alice), reason="went away")
        lifecycle.close_conversation(conversation_id=ben.pk, actor=Actor.of_agent(bob))
    ann.refresh_from_db()
    assert ann.assigned_agent_id == bob.pk


def test_queue_frames_tell_each_waiting_visitor_their_position_and_estimate(
        acme, support, orders, sent_frames, later, django_capture_on_commit_callbacks):
    alice = staff("alice", support, cap=1, skills={"orders": 5})
    with django_capture_on_commit_callbacks(execute=True):
        ann, ben, cat = (start(acme, orders, name) for name in ("Ann", "Ben", "Cat"))
    by_group = {group: frame for group, frame in queue_frames(sent_frames)}
    assert by_group[visitor_group(ben.visitor_id)] == {
        "type": "queue", "conversation_id": str(ben.public_id), "position": 1,
        # One matching slot, the default ten-minute handle time: 1 * 600 / (1 + 1).
        "estimated_wait_seconds": 300,
    }
    assert by_group[visitor_group(cat.visitor_id)]["position"] == 2
    estimate = RoutingEvent.objects.get(conversation=cat, kind=RoutingEvent.Kind.ESTIMATE)
    assert estimate.details["estimated_wait_seconds"] == 600

    sent_frames.clear()
    with django_capture_on_commit_callbacks(execute=True):
        lifecycle.close_conversation(conversation_id=ann.pk, actor=Actor.of_agent(alice))
    # Ben got Alice; Cat moved up to first, and hears it from the site's next position broadcast:
    # the passes of the arrivals broadcast less than a second ago.
    assert queue_frames(sent_frames) == []
    later.interval_passes()
    assert queue_frames(sent_frames) == [(visitor_group(cat.visitor_id), {
        "type": "queue", "conversation_id": str(cat.public_id), "position": 1, "estimated_wait_seconds": 300,
    })]


def test_nobody_online_who_could_take_the_chat_means_no_estimate(acme, support, orders, sent_frames,
                                                                   django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        ann = start(acme, orders)
    assert queue_frames(sent_frames)[-1][1]["estimated_wait_seconds"] is None
    assert ann.status == Conversation.Status.QUEUED


def test_a_long_wait_widens_the_search_once_and_records_each_step(acme, support, orders):
    support.min_proficiency, support.lower_proficiency_after_seconds = 4, 30
    support.save()
    bob = staff("bob", support, skills={"orders": 2})
    ann = start(acme, orders)
    assert dispatch.route_waiting(acme.pk).assigned == []
    Conversation.objects.filter(pk=ann.pk).update(queued_at=ann.queued_at.replace(year=2000))
    result = dispatch.route_waiting(acme.pk)
    assert result.assigned == [ann.pk] and result.widened == 1
    widened = RoutingEvent.objects.get(conversation=ann, kind=RoutingEvent.Kind.WIDENED)
    assert widened.details["stage"] == "any_proficiency"
    assigned = ann.events.get(kind=ConversationEvent.Kind.ASSIGNED)
    assert (assigned.details["agent_id"], assigned.details["reason"]["stage"]) == (bob.pk, "any_proficiency")


def test_a_pass_reads_the_same_number_of_queries_with_more_agents_and_more_waiting_chats(acme, support, orders):
    def queries_for_one_assignment():
        conversation = start(acme, orders)
        staff(f"extra{Agent.objects.count()}", support, cap=1, skills={"orders": 3})
        with CaptureQueriesContext(connection) as queries:
            result = dispatch.route_waiting(acme.pk, trigger_id=conversation.pk)
        assert conversation.pk in result.assigned
        return len(queries)

    small = queries_for_one_assignment()
    for n in range(20):
        staff(f"busy{n}", support, cap=0, skills={"orders": 5})
    lily = make_topic(acme, "Lilies", "lilies")  # chats nobody can take pile up in the queue
    for n in range(30):
        start(acme, lily, f"V{n}")
    assert queries_for_one_assignment() == small


def test_a_race_lost_to_another_process_is_retried_with_a_fresh_snapshot(acme, support, orders, monkeypatch):
    alice = staff("alice", support, cap=1, skills={"orders": 5})
    bob = staff("bob", support, cap=1, skills={"orders": 2})
    ann = start(acme, orders)
    real_snapshot, calls = dispatch.snapshot, []

    def stale_then_fresh(site_id, now=None, **kwargs):
        snap = real_snapshot(site_id, now, **kwargs)
        calls.append(1)
        if len(calls) == 1:
            # Another process fills Alice's only slot after our snapshot was taken.
            other = start(acme, orders, "Zed")
            lifecycle.assign_conversation(conversation_id=other.pk, agent=alice, actor=Actor.system())
        return snap

    monkeypatch.setattr(dispatch, "snapshot", stale_then_fresh)
    result = dispatch.route_waiting(acme.pk)
    assert result.rounds == 2 and result.assigned == [ann.pk]
    ann.refresh_from_db()
    assert ann.assigned_agent_id == bob.pk


def test_the_sweep_assigns_what_no_event_triggered(acme, support, orders):
    ann = start(acme, orders)  # no on-commit callbacks run here: as if the trigger was lost
    alice = staff("alice", support, skills={"orders": 5})
    assert sweep_queues() == 1
    ann.refresh_from_db()
    assert ann.assigned_agent_id == alice.pk


def test_every_status_and_cap_change_is_recorded_and_no_op_changes_are_not(support):
    alice = staff("alice", support, status=Agent.Status.OFFLINE)
    presence.set_agent_status(alice, Agent.Status.ONLINE)
    presence.set_agent_status(alice, Agent.Status.ONLINE)
    presence.set_agent_cap(alice, 5, by=alice)
    events = list(AgentStatusEvent.objects.filter(agent=alice).values_list("kind", "previous", "status",
                                                                           "max_concurrent_chats"))
    assert events == [("status", "offline", "online", 3), ("cap", "3", "online", 5)]
    alice.refresh_from_db()
    assert alice.status_changed_at is not None


@pytest.mark.parametrize("cap", [-1, 1.5, "3", True])
def test_a_cap_that_is_not_a_whole_number_of_zero_or_more_is_refused(support, cap):
    alice = staff("alice", support)
    with pytest.raises(presence.PresenceError, match="whole number of 0 or more"):
        presence.set_agent_cap(alice, cap)
    assert not AgentStatusEvent.objects.exists()


def test_an_unknown_status_is_refused(support):
    with pytest.raises(presence.PresenceError, match="online, away, offline"):
        presence.set_agent_status(staff("alice", support), "busy")


def test_the_sweep_is_on_the_beat_schedule():
    from django_celery_beat.models import PeriodicTask

    task = PeriodicTask.objects.get(task="agents.tasks.sweep_queues")
    assert task.enabled and task.interval.every == 10


def test_a_pass_with_no_free_slot_reads_no_queue_and_tells_the_arrival_its_place_in_constant_queries(
        acme, support, orders, sent_frames, django_capture_on_commit_callbacks):
    alice = staff("alice", support, cap=1, skills={"orders": 5})
    lifecycle.assign_conversation(conversation_id=start(acme, orders, "Zoe").pk, agent=alice, actor=Actor.system())

    def arrival_pass(name):
        conversation = start(acme, orders, name)
        sent_frames.clear()
        with django_capture_on_commit_callbacks(execute=True), CaptureQueriesContext(connection) as queries:
            result = dispatch.route_waiting(acme.pk, trigger_id=conversation.pk)
        assert (result.assigned, result.read) == ([], 0)
        return conversation, len(queries)

    ann, few = arrival_pass("Ann")
    for n in range(40):
        start(acme, orders, f"V{n}")
    for n in range(10):
        staff(f"busy{n}", support, cap=0, skills={"orders": 5})
    ben, many = arrival_pass("Ben")
    # Free slot check 1, the chat and its skills 2, online agents 3, departments 1, handle times 1,
    # its place and how many wait behind it (one COUNT query) 1, the estimate row 1.
    assert few == many == 10
    assert sent_frames == [(visitor_group(ben.visitor_id), {
        "type": "queue", "conversation_id": str(ben.public_id), "position": 42, "estimated_wait_seconds": 42 * 300,
    })]


def test_an_assigning_pass_reads_only_the_chats_a_free_agent_could_take_up_to_its_free_slots(
        acme, support, orders, monkeypatch):
    monkeypatch.setattr(dispatch, "BATCH", 5)
    alice = staff("alice", support, cap=1, skills={"orders": 5})
    lily = make_topic(acme, "Lilies", "lilies")
    lily.department = support
    lily.save(update_fields=["department"])
    lilies = [start(acme, lily, f"L{n}", priority=1) for n in range(12)]  # ahead, and nobody can take them
    ann, *rest = [start(acme, orders, f"O{n}") for n in range(12)]
    result = dispatch.route_waiting(acme.pk)
    assert (result.assigned, result.read) == ([ann.pk], 5)  # one batch, no lily among them
    assert Conversation.objects.get(pk=ann.pk).assigned_agent_id == alice.pk
    assert all(Conversation.objects.get(pk=c.pk).status == Conversation.Status.QUEUED for c in lilies + rest)


def test_a_chat_behind_more_than_a_batch_of_chats_nobody_free_can_take_is_still_assigned(
        acme, support, monkeypatch):
    monkeypatch.setattr(dispatch, "BATCH", 5)
    staff("alice", support, cap=1, skills={"orders": 5})
    staff("bob", support, cap=1, skills={"billing": 5})
    both = make_topic(acme, "Orders and billing", "orders")
    both.department = support
    both.save(update_fields=["department"])
    both.skills.add(make_topic(acme, "Billing", "billing").skills.get())
    # Each needs orders and billing: within the free agents' skills together, but neither has both.
    ahead = [start(acme, both, f"B{n}", priority=1) for n in range(12)]
    orders = make_topic(acme, "Orders only", "orders")
    orders.department = support
    orders.save(update_fields=["department"])
    ann = start(acme, orders, "Ann")
    result = dispatch.route_waiting(acme.pk)
    assert result.assigned == [ann.pk]
    assert result.read == 13  # three batches: 5, 5, then the last 3
    assert all(Conversation.objects.get(pk=c.pk).status == Conversation.Status.QUEUED for c in ahead)


def test_coalesced_position_updates_reach_every_waiting_visitor_with_their_true_place(
        acme, support, orders, sent_frames, later, django_capture_on_commit_callbacks):
    alice = staff("alice", support, cap=3, skills={"orders": 5})
    with django_capture_on_commit_callbacks(execute=True):
        serving = [start(acme, orders, f"S{n}") for n in range(3)]
    with django_capture_on_commit_callbacks(execute=True):
        waiting = [start(acme, orders, f"W{n}", priority=n % 2) for n in range(8)]
    later.interval_passes()
    sent_frames.clear()
    for chat in serving:  # three closes in quick succession: each gives Alice the next chat
        with django_capture_on_commit_callbacks(execute=True):
            lifecycle.close_conversation(conversation_id=chat.pk, actor=Actor.of_agent(alice))
    later.interval_passes()

    still = list(Conversation.objects.filter(status=Conversation.Status.QUEUED).order_by("-priority", "queued_at", "id"))
    assert len(still) == 5
    latest = {}
    for group, frame in queue_frames(sent_frames):
        latest[group] = frame
    assert latest == {
        visitor_group(chat.visitor_id): {
            "type": "queue", "conversation_id": str(chat.public_id), "position": place,
            # Three matching slots, the default ten-minute handle time: place * 600 / (3 + 1).
            "estimated_wait_seconds": place * 150,
        }
        for place, chat in enumerate(still, start=1)
    }
    # At most two broadcasts for three queue moves: the first at once, the rest coalesced.
    assert len(queue_frames(sent_frames)) <= 2 * len(waiting)


def test_positions_are_broadcast_at_most_once_per_interval_and_then_once_more_after_it(acme, support, orders, later):
    for n in range(3):
        start(acme, orders, f"W{n}")
    assert dispatch.request_positions(acme.pk) == 3
    assert dispatch.request_positions(acme.pk) == 0
    assert dispatch.request_positions(acme.pk) == 0
    assert later.sites == [acme.pk]  # one trailing broadcast, however many asked
    later.interval_passes()
    assert dispatch.request_positions(acme.pk) == 0 and later.sites == [acme.pk]


def test_without_redis_positions_are_broadcast_at_once(acme, support, orders, monkeypatch):
    import redis

    start(acme, orders, "Ann")
    # A real client of a port where no Redis listens: every command fails to connect.
    monkeypatch.setattr(redis_keys, "_client", redis.Redis(port=1, socket_connect_timeout=0.2))
    assert dispatch.request_positions(acme.pk) == 1
    assert dispatch.request_positions(acme.pk) == 1


def test_the_sweep_tells_every_waiting_visitor_at_once(acme, support, orders, sent_frames, later,
                                                       django_capture_on_commit_callbacks):
    chats = [start(acme, orders, f"W{n}") for n in range(4)]
    with django_capture_on_commit_callbacks(execute=True):
        dispatch.request_positions(acme.pk)
    sent_frames.clear()
    with django_capture_on_commit_callbacks(execute=True):
        sweep_queues()  # within the interval: the sweep does not wait for it
    assert [(group, frame["position"]) for group, frame in queue_frames(sent_frames)] == [
        (visitor_group(chat.visitor_id), place) for place, chat in enumerate(chats, start=1)]


def test_a_reconnecting_visitor_is_told_their_place_from_a_count(acme, support, orders):
    chats = [start(acme, orders, f"W{n}", priority=1 if n == 3 else 0) for n in range(4)]
    with CaptureQueriesContext(connection) as queries:
        frame = dispatch.queue_frame(chats[2])
    assert (frame["position"], frame["estimated_wait_seconds"]) == (4, None)  # W3 has a higher priority
    assert len(queries) == 7
    assert dispatch.queue_frame(chats[3])["position"] == 1
