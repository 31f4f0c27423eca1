"""The disconnect grace period: an agent whose consoles are all gone is set away after
AGENT_DISCONNECT_GRACE_SECONDS, and their chats go back to the queue at their place (answered ones
with a note for the next agent)."""

import time
from datetime import timedelta

import pytest
from django.utils import timezone

from agents.models import Agent, AgentStatusEvent
from console import workspace
from conversations import lifecycle, publish
from conversations.lifecycle import Actor
from conversations.models import Conversation, ConversationEvent, Message
from reactions import dispatcher
from reactions.models import Reaction
from realtime.connections import consoles
from routing import grace, tasks
from tests.personas import make_agent, make_site, make_visitor

pytestmark = pytest.mark.django_db(transaction=True)
GRACE = 60
T0 = 1_900_000_000.0  # any fixed clock: every call below is given its `now`


@pytest.fixture(autouse=True)
def grace_seconds(settings):
    settings.AGENT_DISCONNECT_GRACE_SECONDS = GRACE
    settings.AGENT_CONSOLE_HEARTBEAT_SECONDS = 15


@pytest.fixture
def acme():
    return make_site()


@pytest.fixture
def alice():
    return make_agent("alice", cap=3)


@pytest.fixture
def chats(acme, alice):
    """Alice's two chats (routing gives them to her, the only agent online): Ann's unanswered, Ben's answered."""
    result = {}
    for name in ("Ann", "Ben"):
        conversation, _ = lifecycle.start_conversation(site=acme, visitor=make_visitor(acme, name), name=name)
        result[name] = Conversation.objects.get(pk=conversation.pk)
        assert result[name].assigned_agent_id == alice.pk
    lifecycle.post_message(conversation_id=result["Ben"].pk, actor=Actor.of_agent(alice), text="Hi Ben")
    return result


def console_session(agent, *, opened=T0, closed=T0 + 5, socket="console-1"):
    consoles.beat(agent.pk, socket, now=opened)
    consoles.leave(agent.pk, socket, now=closed)


def test_an_agent_back_within_the_grace_period_keeps_everything(alice, chats):
    console_session(alice)
    assert grace.release_if_disconnected(alice.pk, now=T0 + 5 + GRACE - 1).action == "waiting"
    consoles.beat(alice.pk, "console-2", now=T0 + 30)  # a reload
    assert grace.release_if_disconnected(alice.pk, now=T0 + 5 + GRACE + 1).action == "connected"
    alice.refresh_from_db()
    assert alice.status == Agent.Status.ONLINE
    assert Conversation.objects.filter(assigned_agent=alice).count() == 2


def test_past_the_grace_period_the_agent_is_set_away_and_their_chats_go_back_to_their_place(
        alice, chats, sent_frames):
    queued_at = chats["Ann"].queued_at
    console_session(alice)
    outcome = grace.release_if_disconnected(alice.pk, now=T0 + 5 + GRACE)
    assert (outcome.action, outcome.set_away, outcome.requeued) == (
        "released", True, [chats["Ann"].pk, chats["Ben"].pk])
    alice.refresh_from_db()
    assert alice.status == Agent.Status.AWAY
    assert AgentStatusEvent.objects.filter(agent=alice).last().status == Agent.Status.AWAY
    ann = Conversation.objects.get(pk=chats["Ann"].pk)
    assert (ann.status, ann.assigned_agent_id, ann.queued_at) == ("queued", None, queued_at)
    requeued = ann.events.last()
    assert (requeued.kind, requeued.details["reason"], requeued.details["from_agent_id"]) == (
        ConversationEvent.Kind.REQUEUED, "agent_disconnected", alice.pk)
    # The visitor is told: their chat is waiting again (the lifecycle's frames), and where (routing's).
    to_ann = [frame for group, frame in sent_frames if group == publish.visitor_group(ann.visitor_id)]
    from_lifecycle = [frame for frame in to_ann if frame["type"] != "queue"]
    assert from_lifecycle[-1]["status"] == "queued" and from_lifecycle[-1]["agent_name"] is None
    assert 1 in [frame["position"] for frame in to_ann if frame["type"] == "queue"]
    # Nothing had been said to Ann: no note.
    assert not ann.messages.filter(author=Message.Author.SYSTEM).exists()


def test_an_answered_chat_goes_back_to_its_place_with_an_internal_note_for_the_next_agent(alice, chats, sent_frames):
    ben = chats["Ben"]
    console_session(alice)
    grace.release_if_disconnected(alice.pk, now=T0 + 5 + GRACE)

    ben.refresh_from_db()
    assert (ben.status, ben.assigned_agent_id, ben.queued_at) == ("queued", None, chats["Ben"].queued_at)
    note = ben.messages.order_by("seq").last()
    assert (note.seq, note.author, note.visibility) == (2, Message.Author.SYSTEM, Message.Visibility.INTERNAL)
    assert "Alice disconnected" in note.text and "already talking with Alice" in note.text
    # One transaction: the requeue and the note's message event, in that order.
    assert list(ben.events.order_by("-id").values_list("kind", flat=True)[:2]) == [
        ConversationEvent.Kind.MESSAGE, ConversationEvent.Kind.REQUEUED]
    # Staff consoles get the note; Ben's widget never does.
    assert [group for group, frame in sent_frames if frame["type"] == "message" and frame["seq"] == 2
            and frame["conversation_id"] == str(ben.public_id)] == [publish.staff_group(ben.pk)]


def test_during_the_grace_period_the_board_flags_the_agents_chats(alice, chats):
    console_session(alice, opened=time.time() - 10, closed=time.time() - 5)
    assert grace.release_if_disconnected(alice.pk).action == "waiting"
    flagged = {c["conversation_id"]: c["agent_connected"] for c in workspace.board()["conversations"]}
    assert flagged[str(chats["Ben"].public_id)] is False


def test_running_it_again_changes_nothing(alice, chats):
    console_session(alice)
    grace.release_if_disconnected(alice.pk, now=T0 + 5 + GRACE)
    events = (ConversationEvent.objects.count(), AgentStatusEvent.objects.count())
    assert grace.release_if_disconnected(alice.pk, now=T0 + 5 + GRACE + 10).action == "unknown"
    assert [o.action for o in grace.sweep(now=T0 + 5 + GRACE + 20)] == []
    assert (ConversationEvent.objects.count(), AgentStatusEvent.objects.count()) == events


def test_another_open_console_keeps_the_agent_online(alice, chats):
    consoles.beat(alice.pk, "tab-2", now=T0 + 4)
    console_session(alice)
    assert grace.release_if_disconnected(alice.pk, now=T0 + 30).action == "connected"
    alice.refresh_from_db()
    assert alice.status == Agent.Status.ONLINE


def test_a_crashed_process_counts_from_its_last_heartbeat(alice, chats):
    consoles.beat(alice.pk, "console-1", now=T0)  # then the process dies: no leave, no more beats
    stale = consoles.stale_after()
    assert consoles.live_sockets(alice.pk, now=T0 + stale - 1) == 1
    assert [o.action for o in grace.sweep(now=T0 + stale + 1)] == ["waiting"]
    assert [o.action for o in grace.sweep(now=T0 + GRACE + 1)] == ["released"]
    assert Conversation.objects.get(pk=chats["Ann"].pk).status == "queued"


def test_an_agent_who_never_opened_a_console_is_left_alone(alice, chats):
    assert grace.sweep(now=T0 + 10 * GRACE) == []
    assert grace.release_if_disconnected(alice.pk, now=T0 + 10 * GRACE).action == "unknown"
    alice.refresh_from_db()
    assert alice.status == Agent.Status.ONLINE


def test_the_sweep_applies_the_same_check(alice, chats):
    now = time.time()
    console_session(alice, opened=now - 3 * GRACE, closed=now - 2 * GRACE)
    assert tasks.sweep_disconnected_agents() == 1
    assert tasks.sweep_disconnected_agents() == 0
    assert Conversation.objects.filter(assigned_agent=alice).count() == 0


def test_the_last_disconnect_schedules_a_check_that_runs_when_the_grace_period_is_over(alice, chats):
    grace.schedule_check(alice.pk)
    grace.schedule_check(alice.pk)  # the same disconnect reported twice: one check

    check = Reaction.objects.get()
    assert (check.kind, check.payload) == ("agents.release_disconnected_agent", {"agent_id": alice.pk})
    assert abs((check.due_at - timezone.now()).total_seconds() - (GRACE + 1)) < 2
    assert dispatcher.run_due(now=check.due_at - timedelta(seconds=2)) == 0
    # The consoles' clock is real time (heartbeats in Redis): let the disconnect lie a grace period back.
    now = time.time()
    console_session(alice, opened=now - GRACE - 10, closed=now - GRACE - 1)
    assert dispatcher.run_due(now=check.due_at) == 1
    alice.refresh_from_db()
    assert alice.status == Agent.Status.AWAY
    assert Conversation.objects.filter(assigned_agent=alice).count() == 0
