"""Every kind of conversation event, written by the transition that makes it, holds the exact shape
of its record in conversations/events.py, and reaches the topic's subscribers.

A key renamed in one place only, a stray key or a value of the wrong type fails here, instead of
silently zeroing a metric that reads it.
"""

from datetime import timedelta

import pytest
from django.utils import timezone

from agents import presence
from agents.models import Agent, Department
from conversations import bans, events, lifecycle, outbound
from conversations.departures import REASON as VISITOR_LEFT
from conversations.lifecycle import Actor
from conversations.models import ConversationEvent, Message, Tag
from metrics import compute, subscribers
from reactions import subscriptions
from routing import offers
from surveys import services as surveys
from tests.personas import make_agent, make_site, make_topic, make_visitor

pytestmark = pytest.mark.django_db
Kind = ConversationEvent.Kind


@pytest.fixture
def acme():
    return make_site(survey_delay_minutes=5)


@pytest.fixture
def alice():
    return make_agent("alice", cap=3, skills={"orders": 5})


@pytest.fixture
def bob():
    return make_agent("bob", cap=3, skills={"orders": 5}, role=Agent.Role.SUPERVISOR)


@pytest.fixture
def handed_on(monkeypatch):
    """Every change handed to subscribers, as (phase, topic, change)."""
    seen = []
    within, after_commit = subscriptions.hand_on_within, subscriptions.hand_on_after_commit

    def record_within(topic, change):
        seen.append(("within", topic, change))
        within(topic, change)

    def record_after_commit(topic, change):
        seen.append(("after_commit", topic, change))
        after_commit(topic, change)

    monkeypatch.setattr(subscriptions, "hand_on_within", record_within)
    monkeypatch.setattr(subscriptions, "hand_on_after_commit", record_after_commit)
    return seen


def start(acme, name="Ann"):
    conversation, _ = lifecycle.start_conversation(site=acme, visitor=make_visitor(acme, name), name=name,
                                                   topic=make_topic(acme, label=f"Orders {name}"),
                                                   text="Hello", client_id="first")
    return conversation


def perform_every_transition(acme, alice, bob, django_capture_on_commit_callbacks):
    """One chat through every transition an agent and a visitor make, plus the side paths."""
    agent, supervisor = Actor.of_agent(alice), Actor.of_agent(bob)
    vip = Tag.objects.create(site=acme, name="vip")
    offered = Department.objects.create(name="Offers", accept_mode=Department.AcceptMode.OFFER,
                                        offer_timeout_seconds=30)
    with django_capture_on_commit_callbacks(execute=True):
        chat = start(acme)
        offers.assign(conversation_id=chat.pk, agent_id=alice.pk, actor=supervisor, reason={"manual": True})
        lifecycle.post_message(conversation_id=chat.pk, actor=agent, text="Hi Ann", client_id="a1")
        lifecycle.post_message(conversation_id=chat.pk, actor=supervisor, text="psst",
                               visibility=Message.Visibility.WHISPER)
        lifecycle.mark_seen(conversation_id=chat.pk, actor=Actor.visitor(), seq=2)
        lifecycle.record_page_view(conversation_id=chat.pk, url="https://shop.acme.test/cart", title="Cart")
        lifecycle.tag_conversation(conversation_id=chat.pk, actor=agent, tag=vip)
        lifecycle.untag_conversation(conversation_id=chat.pk, actor=agent, tag=vip)
        lifecycle.transfer_conversation(conversation_id=chat.pk, actor=agent, to_agent=bob, note="over to you")
        lifecycle.accept_conversation(conversation_id=chat.pk, agent=bob)
        lifecycle.requeue_conversation(conversation_id=chat.pk, actor=Actor.of_agent(bob), reason="wrong team")
        lifecycle.assign_conversation(conversation_id=chat.pk, agent=alice, actor=Actor.system(), reason={})
        lifecycle.accept_conversation(conversation_id=chat.pk, agent=alice)
        lifecycle.start_wrapup(conversation_id=chat.pk, actor=agent)
        lifecycle.close_with_wrapup(conversation_id=chat.pk, actor=agent, resolved=True, summary="done", tags=[vip])
        surveys.rate_conversation(conversation_id=chat.pk, csat=5, channel="widget", comment="great")
        surveys.request_transcript(conversation_id=chat.pk, request_id="t1", email="someone@else.test")

        missed = start(acme, "Bea")
        lifecycle.assign_conversation(conversation_id=missed.pk, agent=alice, actor=Actor.system(), reason={})
        lifecycle.close_conversation(conversation_id=missed.pk, actor=agent)

        offer = start(acme, "Cleo")
        offer.department = offered
        offer.save(update_fields=["department"])
        offers.assign(conversation_id=offer.pk, agent_id=alice.pk, actor=Actor.system(), reason={})
        offer_event = offer.events.get(kind=Kind.ASSIGNED)
        lifecycle.expire_offer(conversation_id=offer.pk, offer_event_id=offer_event.pk)

        gone = start(acme, "Dee")
        lifecycle.close_conversation(conversation_id=gone.pk, actor=Actor.system(), details={"reason": VISITOR_LEFT},
                                     ended_at=timezone.now() - timedelta(seconds=1))

        banned = start(acme, "Fay")
        bans.ban_visitor(conversation_id=banned.pk, actor=supervisor, reason="abuse")

        lifecycle.leave_offline_message(site=acme, visitor=make_visitor(acme, "Eve"), name="Eve",
                                        email="eve@example.test", text="call me", client_id="o1")
        presence.set_agent_status(alice, Agent.Status.AWAY, by=bob)


def test_every_transition_writes_rows_of_the_exact_shape_of_their_record(
        acme, alice, bob, django_capture_on_commit_callbacks):
    perform_every_transition(acme, alice, bob, django_capture_on_commit_callbacks)

    rows = list(ConversationEvent.objects.order_by("id").values_list("kind", "details"))
    for kind, details in rows:
        record = events.check(kind, details)
        assert record.details() == details
        assert events.parse(kind, details) == record
    # Every kind was made by a transition, so every record class was held against a real row.
    assert {kind for kind, _ in rows} == set(events.KINDS) == set(Kind.values)


def test_every_frame_the_transitions_publish_has_a_shape_of_the_outbound_table(
        acme, alice, bob, django_capture_on_commit_callbacks, sent_frames):
    subscribers.mark_watched()  # a wallboard is open: its snapshots are published too
    perform_every_transition(acme, alice, bob, django_capture_on_commit_callbacks)
    for _, frame in sent_frames:
        outbound.check(frame)
    # Every type of the table was published (typing comes from a socket: tests of the consumers).
    assert {frame["type"] for _, frame in sent_frames} >= set(outbound.FRAMES) - {"typing", "offline_offer"}


def test_a_frame_with_a_renamed_or_stray_field_fails_the_table():
    with pytest.raises(events.InvalidEvent):
        outbound.check({"type": "seen", "conversation_id": "c", "by": "agent", "sequence": 2})
    with pytest.raises(events.InvalidEvent):
        outbound.check({"type": "rated", "conversation_id": "c", "csat": 5, "comment": "x"})


def test_every_event_reaches_its_subscribers_within_the_transaction_and_after_commit(
        acme, alice, bob, django_capture_on_commit_callbacks, handed_on):
    perform_every_transition(acme, alice, bob, django_capture_on_commit_callbacks)

    rows = list(ConversationEvent.objects.order_by("id").values_list("id", "kind"))
    for phase in ("within", "after_commit"):
        changes = [change for seen_phase, topic, change in handed_on
                   if seen_phase == phase and topic.startswith("conversation.")]
        assert [(change.event_id, change.event.kind) for change in changes] == rows
        assert all(change.topic == f"conversation.{change.event.kind}" for change in changes)


def test_a_change_that_rolls_back_reaches_no_after_commit_subscriber(acme, alice, handed_on):
    chat = start(acme)
    handed_on.clear()
    with pytest.raises(lifecycle.LifecycleError):
        lifecycle.close_with_wrapup(conversation_id=chat.pk, actor=Actor.of_agent(alice),
                                    tags=[Tag.objects.create(site=make_site("other"), name="x")])
    assert handed_on == []


def test_a_row_written_before_a_field_existed_parses_with_its_default():
    old = events.parse(Kind.TRANSCRIPT_REQUESTED, {"request_id": "r1"})
    assert old == events.TranscriptRequested(request_id="r1", needs_confirmation=False)
    assert events.parse(Kind.CLOSED, {"agent_id": 3}).resolved is None


@pytest.mark.parametrize("details, problem", [
    ({"seq": 1, "author": "visitor", "visibility": "public", "chars": 5, "canned_response_id": None}, "keys"),
    ({"seq": "1", "author": "visitor", "visibility": "public", "chars": 5, "canned_response_id": None,
      "recipient_id": None}, "seq"),
    ({"seq": True, "author": "visitor", "visibility": "public", "chars": 5, "canned_response_id": None,
      "recipient_id": None}, "seq"),
])
def test_a_row_with_a_missing_key_or_a_wrong_type_is_refused(details, problem):
    with pytest.raises(events.InvalidEvent, match=problem):
        events.check(Kind.MESSAGE, details)


def test_metrics_name_the_kinds_the_records_name():
    assert set(compute.END_KINDS) == {Kind.CLOSED, Kind.MISSED, Kind.ABANDONED}
    assert (compute.QUEUED, compute.RATED, compute.OFFLINE_MESSAGE) == (Kind.QUEUED, Kind.RATED, Kind.OFFLINE_MESSAGE)
