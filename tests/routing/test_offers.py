"""Offer and accept: auto-accept, timed offers, missed offers, and the wait limit's offline offer.

Acme's Support department handles Orders chats. Alice is the orders expert (5), Bob knows orders
a little (2). Ann, Ben, Cat and Dan are visitors.
"""

from datetime import timedelta

import pytest
from django.utils import timezone

from agents.models import Agent, AgentStatusEvent, Department, RoutingEvent
from conversations import lifecycle
from conversations.lifecycle import Actor
from conversations.models import Conversation, ConversationEvent
from conversations.publish import visitor_group
from reactions import dispatcher
from reactions.models import Reaction
from routing import offers, wait_limit
from routing.reactions import expire_offer
from routing.tasks import sweep_queues
from tests.personas import make_agent, make_site, make_topic, make_visitor

pytestmark = pytest.mark.django_db
Kind = ConversationEvent.Kind


@pytest.fixture
def acme():
    return make_site()


@pytest.fixture
def support():
    return Department.objects.create(name="Support", accept_mode=Department.AcceptMode.OFFER,
                                     offer_timeout_seconds=20)


@pytest.fixture
def orders(acme, support):
    topic = make_topic(acme, "Orders", "orders")
    topic.department = support
    topic.save(update_fields=["department"])
    return topic


def scheduled() -> list[tuple[tuple[int, int], float]]:
    """The offer expiry reactions written so far, oldest first, as ((conversation id, offer event id),
    seconds from the offer to when the reaction is due)."""
    expiries = []
    for reaction in Reaction.objects.filter(kind="agents.expire_offer").order_by("id"):
        conversation_id, offer_id = reaction.payload["conversation_id"], reaction.payload["offer_event_id"]
        offered_at = ConversationEvent.objects.get(pk=offer_id).at
        expiries.append(((conversation_id, offer_id), (reaction.due_at - offered_at).total_seconds()))
    return expiries


def run_expiries_due(seconds_from_now: float) -> int:
    """The reaction dispatcher, as a worker would run it that much later."""
    return dispatcher.run_due(now=timezone.now() + timedelta(seconds=seconds_from_now))


def staff(username, department, **kwargs):
    agent = make_agent(username, **kwargs)
    agent.departments.add(department)
    return agent


def start(site, topic, name="Ann"):
    conversation, _ = lifecycle.start_conversation(site=site, visitor=make_visitor(site, name), topic=topic, name=name)
    conversation.refresh_from_db()
    return conversation


def offer_event(conversation) -> ConversationEvent:
    return conversation.events.filter(kind=Kind.ASSIGNED).latest("id")


def test_an_offer_department_leaves_the_chat_assigned_and_schedules_its_expiry(
        acme, support, orders, django_capture_on_commit_callbacks):
    alice = staff("alice", support, skills={"orders": 5})
    with django_capture_on_commit_callbacks(execute=True):
        ann = start(acme, orders)
    ann.refresh_from_db()
    assert (ann.status, ann.assigned_agent_id) == (Conversation.Status.ASSIGNED, alice.pk)
    assert not ann.events.filter(kind=Kind.ACCEPTED).exists()
    assert scheduled() == [((ann.pk, offer_event(ann).pk), 20)]


def test_an_offer_not_accepted_in_time_goes_to_the_next_agent_and_counts_against_the_first(
        acme, support, orders, django_capture_on_commit_callbacks):
    alice = staff("alice", support, skills={"orders": 5})
    bob = staff("bob", support, skills={"orders": 2})
    with django_capture_on_commit_callbacks(execute=True):
        ann = start(acme, orders)
    assert run_expiries_due(19) == 0
    ann.refresh_from_db()
    assert ann.assigned_agent_id == alice.pk  # still hers for another second
    with django_capture_on_commit_callbacks(execute=True):
        assert run_expiries_due(20) == 1
    ann.refresh_from_db()
    # Alice is still the better match and has room, but she just let it expire: Bob gets it.
    assert (ann.status, ann.assigned_agent_id) == (Conversation.Status.ASSIGNED, bob.pk)
    missed = ann.events.get(kind=Kind.REQUEUED)
    assert (missed.details["reason"], missed.details["from_agent_id"]) == ("offer_timeout", alice.pk)
    alice.refresh_from_db()
    assert (alice.missed_offers_in_a_row, alice.status) == (1, Agent.Status.ONLINE)


def test_the_agent_who_let_an_offer_expire_gets_it_again_when_nobody_else_matches(
        acme, support, orders, django_capture_on_commit_callbacks):
    alice = staff("alice", support, skills={"orders": 5})
    with django_capture_on_commit_callbacks(execute=True):
        ann = start(acme, orders)
    with django_capture_on_commit_callbacks(execute=True):
        run_expiries_due(20)
    ann.refresh_from_db()
    assert (ann.status, ann.assigned_agent_id) == (Conversation.Status.ASSIGNED, alice.pk)
    expiries = scheduled()
    assert len(expiries) == 2 and expiries[1][0][1] != expiries[0][0][1]  # a new offer, with its own expiry


def test_a_stale_expiry_of_an_accepted_offer_changes_nothing(acme, support, orders,
                                                             django_capture_on_commit_callbacks):
    alice = staff("alice", support, skills={"orders": 5})
    with django_capture_on_commit_callbacks(execute=True):
        ann = start(acme, orders)
    lifecycle.accept_conversation(conversation_id=ann.pk, agent=alice)
    events_before = ann.events.count()
    assert run_expiries_due(20) == 1
    ann.refresh_from_db()
    assert (ann.status, ann.assigned_agent_id, ann.events.count()) == (Conversation.Status.ACTIVE, alice.pk,
                                                                       events_before)


def test_a_stale_expiry_of_an_earlier_offer_of_the_same_chat_changes_nothing(
        acme, support, orders, django_capture_on_commit_callbacks):
    alice = staff("alice", support, skills={"orders": 5})
    with django_capture_on_commit_callbacks(execute=True):
        ann = start(acme, orders)
    with django_capture_on_commit_callbacks(execute=True):
        lifecycle.requeue_conversation(conversation_id=ann.pk, actor=Actor.of_agent(alice), reason="not mine")
    ann.refresh_from_db()
    expiries = scheduled()
    assert ann.assigned_agent_id == alice.pk and len(expiries) == 2  # offered again: a new offer
    (conversation_id, first_offer_id), _ = expiries[0]
    assert lifecycle.expire_offer(conversation_id=conversation_id, offer_event_id=first_offer_id) is None
    ann.refresh_from_db()
    assert ann.status == Conversation.Status.ASSIGNED
    alice.refresh_from_db()
    assert alice.missed_offers_in_a_row == 0


def test_an_expiry_run_twice_counts_one_miss(acme, support, orders, django_capture_on_commit_callbacks):
    alice = staff("alice", support, skills={"orders": 5})
    staff("bob", support, skills={"orders": 2})
    with django_capture_on_commit_callbacks(execute=True):
        ann = start(acme, orders)
    (conversation_id, offer_id), _ = scheduled()[0]
    with django_capture_on_commit_callbacks(execute=True):
        expire_offer(conversation_id=conversation_id, offer_event_id=offer_id)
    expire_offer(conversation_id=conversation_id, offer_event_id=offer_id)  # run again after a crash
    alice.refresh_from_db()
    assert alice.missed_offers_in_a_row == 1
    assert ann.events.filter(kind=Kind.REQUEUED).count() == 1


def test_three_missed_offers_in_a_row_set_the_agent_away(acme, support, orders, django_capture_on_commit_callbacks):
    alice = staff("alice", support, skills={"orders": 5})
    for name in ("Ann", "Ben", "Cat"):
        with django_capture_on_commit_callbacks(execute=True):
            start(acme, orders, name)
    assert len(scheduled()) == 3
    assert run_expiries_due(20) == 3
    alice.refresh_from_db()
    assert (alice.status, alice.missed_offers_in_a_row) == (Agent.Status.AWAY, 0)
    went_away = AgentStatusEvent.objects.get(agent=alice, kind=AgentStatusEvent.Kind.STATUS)
    assert (went_away.previous, went_away.status) == ("online", "away")
    assert Conversation.objects.filter(status=Conversation.Status.QUEUED).count() == 3


def test_an_accepted_offer_ends_the_run_of_missed_offers(acme, support, orders, django_capture_on_commit_callbacks):
    alice = staff("alice", support, cap=4, skills={"orders": 5})
    for name in ("Ann", "Ben", "Cat", "Dan"):
        with django_capture_on_commit_callbacks(execute=True):
            start(acme, orders, name)
    ann, ben, cat, dan = (args for args, _ in scheduled())
    lifecycle.expire_offer(conversation_id=ann[0], offer_event_id=ann[1])
    lifecycle.expire_offer(conversation_id=ben[0], offer_event_id=ben[1])
    lifecycle.accept_conversation(conversation_id=cat[0], agent=alice)
    lifecycle.expire_offer(conversation_id=dan[0], offer_event_id=dan[1])
    alice.refresh_from_db()
    assert (alice.status, alice.missed_offers_in_a_row) == (Agent.Status.ONLINE, 1)


def test_the_sweep_expires_an_offer_past_its_timeout_whose_reaction_has_not_run(acme, support, orders,
                                                                                django_capture_on_commit_callbacks):
    alice = staff("alice", support, skills={"orders": 5})
    with django_capture_on_commit_callbacks(execute=True):
        ann = start(acme, orders)
    assert offers.expire_stale_offers() == 0  # not yet 20 s old
    ConversationEvent.objects.filter(pk=offer_event(ann).pk).update(at=timezone.now() - timedelta(seconds=21))
    assert offers.expire_stale_offers() == 1
    ann.refresh_from_db()
    assert ann.status == Conversation.Status.QUEUED
    alice.refresh_from_db()
    assert alice.missed_offers_in_a_row == 1


def test_the_sweep_leaves_accepted_and_transferred_chats_alone(acme, support, orders,
                                                               django_capture_on_commit_callbacks):
    alice = staff("alice", support, skills={"orders": 5})
    bob = staff("bob", support, skills={"orders": 2})
    with django_capture_on_commit_callbacks(execute=True):
        ann = start(acme, orders, "Ann")
    lifecycle.accept_conversation(conversation_id=ann.pk, agent=alice)
    with django_capture_on_commit_callbacks(execute=True):
        ben = start(acme, orders, "Ben")
    ben.refresh_from_db()
    # Ben's chat is transferred to Bob by hand: Bob accepts it in the console, no offer timer runs.
    lifecycle.transfer_conversation(conversation_id=ben.pk, actor=Actor.of_agent(alice), to_agent=bob)
    ConversationEvent.objects.update(at=timezone.now() - timedelta(hours=1))
    assert offers.expire_stale_offers() == 0
    ben.refresh_from_db()
    assert (ben.status, ben.assigned_agent_id) == (Conversation.Status.ASSIGNED, bob.pk)


def test_auto_accept_and_no_department_accept_at_once(acme, django_capture_on_commit_callbacks):
    make_agent("alice", skills={"orders": 5})
    lilies = make_topic(acme, "Lilies", "orders")
    with django_capture_on_commit_callbacks(execute=True):
        ann = start(acme, lilies)
    ann.refresh_from_db()
    assert ann.status == Conversation.Status.ACTIVE
    assert scheduled() == []


def test_a_transfer_to_a_skill_makes_it_the_only_required_skill_and_routes_the_chat(
        acme, support, orders, django_capture_on_commit_callbacks):
    support.accept_mode = Department.AcceptMode.AUTO
    support.save()
    alice = staff("alice", support, skills={"orders": 5})
    carol = staff("carol", support, skills={"billing": 4})
    with django_capture_on_commit_callbacks(execute=True):
        ann = start(acme, orders)
    billing = carol.skills.get()
    with django_capture_on_commit_callbacks(execute=True):
        lifecycle.transfer_conversation(conversation_id=ann.pk, actor=Actor.of_agent(alice), to_skill=billing,
                                        note="a billing question")
    ann.refresh_from_db()
    assert list(ann.required_skills.all()) == [billing]
    assert (ann.status, ann.assigned_agent_id, ann.department_id) == (Conversation.Status.ACTIVE, carol.pk, support.pk)
    transferred = ann.events.get(kind=Kind.TRANSFERRED)
    assert (transferred.details["to_skill_id"], transferred.details["note"]) == (billing.pk, "a billing question")


def test_a_visitor_waiting_past_the_site_limit_is_offered_the_offline_form_once(
        acme, orders, sent_frames, django_capture_on_commit_callbacks):
    ann = start(acme, orders)
    with django_capture_on_commit_callbacks(execute=True):
        assert wait_limit.offer_offline_forms() == 0
        Conversation.objects.filter(pk=ann.pk).update(queued_at=timezone.now() - timedelta(seconds=301))
        sweep_queues()
        sweep_queues()
    offline_offers = [(group, frame) for group, frame in sent_frames if frame["type"] == "offline_offer"]
    assert offline_offers == [
        (visitor_group(ann.visitor_id), {"type": "offline_offer", "conversation_id": str(ann.public_id)})]
    ann.refresh_from_db()
    assert ann.status == Conversation.Status.QUEUED  # the chat is kept
    assert RoutingEvent.objects.get(conversation=ann, kind=RoutingEvent.Kind.OFFLINE_OFFERED).details[
        "limit_seconds"] == 300


# --- One assignment, whoever assigns ------------------------------------------------------------

def queued_chat(acme, topic, name="Ann"):
    """A waiting chat nobody could take (no agent online when it arrived)."""
    chat = start(acme, topic, name)
    assert chat.status == Conversation.Status.QUEUED
    return chat


@pytest.mark.parametrize("accept_mode, status, expiries", [
    (Department.AcceptMode.AUTO, Conversation.Status.ACTIVE, 0),
    (Department.AcceptMode.OFFER, Conversation.Status.ASSIGNED, 1),
])
def test_a_supervisors_console_reassign_of_a_queued_chat_follows_its_departments_accept_mode(
        acme, support, orders, accept_mode, status, expiries):
    from console import workspace

    support.accept_mode = accept_mode
    support.save(update_fields=["accept_mode"])
    ann = queued_chat(acme, orders)
    alice = staff("alice", support, skills={"orders": 5})
    sam = make_agent("sam", role=Agent.Role.SUPERVISOR)
    workspace.reassign(sam, ann, alice.pk)
    ann.refresh_from_db()
    assert (ann.status, ann.assigned_agent_id) == (status, alice.pk)
    assert len(scheduled()) == expiries


def test_an_agent_who_takes_a_chat_of_an_offer_department_has_it_accepted_at_once(acme, support, orders):
    from console import workspace

    ann = queued_chat(acme, orders)
    alice = staff("alice", support, skills={"orders": 5})
    workspace.take(alice, ann)
    ann.refresh_from_db()
    assert (ann.status, ann.assigned_agent_id) == (Conversation.Status.ACTIVE, alice.pk)
    accepted = ann.events.get(kind=Kind.ACCEPTED)
    assert (accepted.details["auto"], accepted.actor_agent_id) == (False, alice.pk)
    assert scheduled() == []


def test_a_take_refused_at_the_cap_leaves_the_chat_waiting_and_nothing_written(acme, support, orders):
    from console import workspace

    ann = queued_chat(acme, orders)
    alice = staff("alice", support, cap=0, skills={"orders": 5})
    events_before = ann.events.count()
    with pytest.raises(lifecycle.AgentAtCapacity):
        workspace.take(alice, ann)
    ann.refresh_from_db()
    assert (ann.status, ann.assigned_agent_id, ann.events.count()) == (Conversation.Status.QUEUED, None, events_before)
