"""A visitor who leaves while queued abandons the chat, at the moment they left, once the grace
period has passed; a reload, a second tab or a visitor never seen on a socket keeps the chat.

Presence is the real Redis registry; the times given to it are real times moved into the past,
so the chat's queued time and the visitor's leaving happened seconds apart, minutes ago.
"""

import time
from datetime import timedelta

import pytest
from channels.db import database_sync_to_async
from django.db.models import F

from agents.models import Agent
from conversations import departures, lifecycle
from conversations.models import Conversation, ConversationEvent
from realtime.connections import widgets
from routing import tasks
from tests.personas import FIRST_MESSAGE, make_agent, make_site, make_visitor
from tests.widget.conftest import open_widget  # noqa: F401  (fixture)

pytestmark = pytest.mark.django_db(transaction=True)
GRACE = 60
AGO = timedelta(minutes=5)


@pytest.fixture(autouse=True)
def grace_seconds(settings):
    settings.VISITOR_ABANDON_GRACE_SECONDS = GRACE
    settings.WIDGET_HEARTBEAT_SECONDS = 20


@pytest.fixture
def acme():
    return make_site()


def queued_chat(site, name="Ann") -> tuple[Conversation, float]:
    """A chat queued five minutes ago (nobody online to take it); returns it and its queued time."""
    conversation, _ = lifecycle.start_conversation(site=site, visitor=make_visitor(site, name), name=name)
    Conversation.objects.filter(pk=conversation.pk).update(queued_at=F("queued_at") - AGO)
    ConversationEvent.objects.filter(conversation_id=conversation.pk).update(at=F("at") - AGO)
    conversation.refresh_from_db()
    assert conversation.status == Conversation.Status.QUEUED
    return conversation, conversation.queued_at.timestamp()


def test_a_visitor_gone_past_the_grace_period_abandons_at_the_moment_they_left(acme):
    ann, queued = queued_chat(acme)
    widgets.beat(ann.visitor_id, "widget-1", now=queued)
    widgets.leave(ann.visitor_id, "widget-1", now=queued + 5)

    assert departures.abandon_departed(now=queued + 5 + GRACE - 1) == []
    assert departures.abandon_departed(now=queued + 5 + GRACE) == [ann.pk]

    ann.refresh_from_db()
    assert ann.status == Conversation.Status.ABANDONED
    end = ann.events.get(kind=ConversationEvent.Kind.ABANDONED)
    # Five seconds of waiting, measured to the leaving, not to the sweep a minute later: a short abandon.
    assert (end.at - ann.queued_at).total_seconds() == pytest.approx(5, abs=0.001)
    assert ann.closed_at == end.at
    assert (end.actor, end.details["reason"]) == ("system", "visitor_left")


def test_a_second_tab_or_a_reload_within_the_grace_period_keeps_the_chat(acme):
    ann, queued = queued_chat(acme, "Ann")
    ben, _ = queued_chat(acme, "Ben")
    widgets.beat(ann.visitor_id, "ann-tab-1", now=queued)
    widgets.beat(ann.visitor_id, "ann-tab-2", now=queued + 1)
    widgets.leave(ann.visitor_id, "ann-tab-1", now=queued + 5)  # tab 2 stays
    widgets.beat(ben.visitor_id, "ben-page-1", now=queued)
    widgets.leave(ben.visitor_id, "ben-page-1", now=queued + 5)
    widgets.beat(ben.visitor_id, "ben-page-2", now=queued + 7)  # the next page of the site

    assert departures.abandon_departed(now=queued + 40) == []
    assert set(Conversation.objects.values_list("status", flat=True)) == {Conversation.Status.QUEUED}


def test_a_widget_whose_process_died_counts_from_its_last_heartbeat(acme):
    ann, queued = queued_chat(acme)
    widgets.beat(ann.visitor_id, "widget-1", now=queued + 2)  # then no leave, no more beats
    stale = widgets.stale_after()
    assert departures.abandon_departed(now=queued + 2 + stale - 1) == []
    assert departures.abandon_departed(now=queued + 2 + max(stale, GRACE) + 1) == [ann.pk]
    end = ann.events.get(kind=ConversationEvent.Kind.ABANDONED)
    assert (end.at - ann.queued_at).total_seconds() == pytest.approx(2, abs=0.001)


def test_visitors_never_seen_on_a_socket_and_chats_already_with_an_agent_are_left_alone(acme):
    alice = make_agent("alice", cap=1)  # takes Ben's chat, then is full
    assigned, _ = lifecycle.start_conversation(site=acme, visitor=make_visitor(acme, "Ben"), name="Ben")
    assigned.refresh_from_db()
    assert assigned.assigned_agent_id == alice.pk and assigned.status in Conversation.OPEN_STATUSES
    never_seen, queued = queued_chat(acme, "Ann")
    widgets.beat(assigned.visitor_id, "ben", now=queued)
    widgets.leave(assigned.visitor_id, "ben", now=queued + 1)

    assert departures.abandon_departed(now=queued + 200) == []
    assert Conversation.objects.get(pk=never_seen.pk).status == Conversation.Status.QUEUED
    assert Conversation.objects.get(pk=assigned.pk).status == assigned.status


def test_the_routing_sweep_ends_the_chat_once_and_gives_it_to_nobody(acme):
    ann, queued = queued_chat(acme)
    widgets.beat(ann.visitor_id, "widget-1", now=queued)
    widgets.leave(ann.visitor_id, "widget-1", now=queued + 30)
    make_agent("alice", status=Agent.Status.ONLINE)  # would take the chat if it were still waiting

    tasks.sweep_queues()
    tasks.sweep_queues()

    ann.refresh_from_db()
    assert (ann.status, ann.assigned_agent_id) == (Conversation.Status.ABANDONED, None)
    assert ann.events.filter(kind=ConversationEvent.Kind.ABANDONED).count() == 1
    assert not ann.events.filter(kind=ConversationEvent.Kind.ASSIGNED).exists()


def test_the_end_is_never_before_the_chats_last_event(acme):
    ann, queued = queued_chat(acme)
    widgets.beat(ann.visitor_id, "widget-1", now=queued)
    widgets.leave(ann.visitor_id, "widget-1", now=queued + 5)
    last = ConversationEvent.objects.create(conversation=ann, kind=ConversationEvent.Kind.TAGGED, actor="system",
                                            at=ann.queued_at + timedelta(seconds=20), details={})
    assert departures.abandon_departed(now=queued + 5 + GRACE) == [ann.pk]
    assert ann.events.get(kind=ConversationEvent.Kind.ABANDONED).at == last.at


@pytest.mark.asyncio
async def test_the_widget_socket_counts_while_open_and_its_close_starts_the_grace_period(acme, open_widget, settings):
    # Shorter than three heartbeats, so "now" can move past it while the open tab still counts.
    settings.VISITOR_ABANDON_GRACE_SECONDS = grace = 30
    first, second = await open_widget(), await open_widget()
    welcome = await first.hello()
    await second.hello(token=welcome["token"])  # the same visitor in a second tab
    await first.send({"type": "start", "name": "Ann", **FIRST_MESSAGE})
    state = (await first.collect("state"))["state"]
    assert state["status"] == "queued"
    chat = await database_sync_to_async(Conversation.objects.get)(public_id=state["conversation_id"])

    await first.disconnect()
    left = time.time()
    assert await database_sync_to_async(departures.abandon_departed)(now=left + grace + 1) == []  # tab 2 is open

    await second.disconnect()
    left = time.time()
    assert await database_sync_to_async(departures.abandon_departed)(now=left + grace - 1) == []
    assert await database_sync_to_async(departures.abandon_departed)(now=left + grace + 1) == [chat.pk]
    chat = await database_sync_to_async(Conversation.objects.get)(pk=chat.pk)
    assert chat.status == Conversation.Status.ABANDONED
    assert abs(chat.closed_at.timestamp() - left) < 2  # when the last tab closed
