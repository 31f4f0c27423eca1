"""Every transition of the lifecycle: legal ones write exactly one event, illegal ones change nothing."""

from datetime import timedelta

import pytest
from django.conf import settings
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from agents import presence
from agents.models import Agent, Department
from conversations import lifecycle
from conversations.lifecycle import Actor, AgentAtCapacity, AgentUnavailable, DuplicateClientId, IllegalTransition
from conversations.models import Conversation, ConversationEvent, Message
from conversations.reactions import email_offline_messages
from reactions import dispatcher
from reactions.models import Reaction
from tests.personas import make_agent, make_site, make_topic, make_visitor

pytestmark = pytest.mark.django_db
Kind = ConversationEvent.Kind


@pytest.fixture
def acme():
    return make_site()


@pytest.fixture
def ann(acme):
    return make_visitor(acme)


@pytest.fixture
def alice():
    return make_agent("alice", cap=2, skills={"orders": 5})


@pytest.fixture
def bob():
    return make_agent("bob", cap=1, skills={"orders": 2})


@pytest.fixture
def chat(acme, ann):
    conversation, _ = lifecycle.start_conversation(site=acme, visitor=ann, topic=make_topic(acme), name="Ann")
    return conversation


def kinds(conversation):
    return list(conversation.events.values_list("kind", flat=True))


def snapshot(conversation):
    conversation.refresh_from_db()
    return (conversation.status, conversation.assigned_agent_id, conversation.last_seq,
            conversation.events.count(), conversation.messages.count())


def test_starting_a_chat_queues_it_with_the_topic_skills_and_one_event(chat):
    assert chat.status == Conversation.Status.QUEUED
    assert chat.queued_at is not None
    assert list(chat.required_skills.values_list("slug", flat=True)) == ["orders"]
    assert kinds(chat) == [Kind.QUEUED]


def test_starting_again_returns_the_open_chat_instead_of_a_second_one(acme, ann, chat):
    again, created = lifecycle.start_conversation(site=acme, visitor=ann)
    assert (again.pk, created) == (chat.pk, False)
    assert Conversation.objects.filter(visitor=ann).count() == 1


def test_a_topic_of_another_site_is_refused(ann, acme):
    other = make_topic(make_site("other"))
    with pytest.raises(lifecycle.LifecycleError) as refused:
        lifecycle.start_conversation(site=acme, visitor=ann, topic=other)
    assert refused.value.code == "invalid_topic"
    assert not Conversation.objects.exists()


def test_messages_take_consecutive_sequence_numbers_and_one_event_each(chat):
    seqs = [lifecycle.post_message(conversation_id=chat.pk, actor=Actor.visitor(), text=f"m{i}",
                                   client_id=f"c{i}")[0].seq for i in range(3)]
    assert seqs == [1, 2, 3]
    assert kinds(chat) == [Kind.QUEUED, Kind.MESSAGE, Kind.MESSAGE, Kind.MESSAGE]


def test_a_resent_client_id_returns_the_first_copy_without_a_duplicate(chat):
    first, created = lifecycle.post_message(conversation_id=chat.pk, actor=Actor.visitor(), text="hi", client_id="c1")
    again, created_again = lifecycle.post_message(conversation_id=chat.pk, actor=Actor.visitor(), text="hi",
                                                  client_id="c1")
    assert (created, created_again, again.pk, again.seq) == (True, False, first.pk, 1)
    assert chat.messages.count() == 1
    assert kinds(chat).count(Kind.MESSAGE) == 1


def test_a_client_id_already_used_by_the_visitor_is_refused_to_an_agent(chat, alice):
    lifecycle.post_message(conversation_id=chat.pk, actor=Actor.visitor(), text="hi", client_id="same")
    with pytest.raises(DuplicateClientId):
        lifecycle.post_message(conversation_id=chat.pk, actor=Actor.of_agent(alice), text="hello", client_id="same")
    assert chat.messages.count() == 1


def test_only_agents_write_internal_notes(chat):
    with pytest.raises(lifecycle.LifecycleError) as refused:
        lifecycle.post_message(conversation_id=chat.pk, actor=Actor.visitor(), text="x",
                               visibility=Message.Visibility.INTERNAL)
    assert refused.value.code == "forbidden"
    assert chat.messages.count() == 0


def test_each_transition_writes_exactly_one_event(chat, alice, bob):
    steps = [
        (Kind.ASSIGNED, lambda: lifecycle.assign_conversation(conversation_id=chat.pk, agent=alice,
                                                              actor=Actor.system())),
        (Kind.ACCEPTED, lambda: lifecycle.accept_conversation(conversation_id=chat.pk, agent=alice)),
        (Kind.MESSAGE, lambda: lifecycle.post_message(conversation_id=chat.pk, actor=Actor.of_agent(alice),
                                                      text="Hello", client_id="a1")),
        (Kind.SEEN, lambda: lifecycle.mark_seen(conversation_id=chat.pk, actor=Actor.visitor(), seq=1)),
        (Kind.TRANSFERRED, lambda: lifecycle.transfer_conversation(conversation_id=chat.pk,
                                                                   actor=Actor.of_agent(alice), to_agent=bob)),
        (Kind.REQUEUED, lambda: lifecycle.requeue_conversation(conversation_id=chat.pk, actor=Actor.system(),
                                                               reason="agent away")),
        (Kind.ASSIGNED, lambda: lifecycle.assign_conversation(conversation_id=chat.pk, agent=alice,
                                                              actor=Actor.system())),
        (Kind.CLOSED, lambda: lifecycle.close_conversation(conversation_id=chat.pk, actor=Actor.of_agent(alice),
                                                           resolved=True)),
    ]
    for expected, step in steps:
        before = chat.events.count()
        step()
        assert chat.events.count() == before + 1
        assert chat.events.last().kind == expected


def test_requeue_keeps_the_original_place_in_the_queue(chat, alice):
    queued_at = chat.queued_at
    lifecycle.assign_conversation(conversation_id=chat.pk, agent=alice, actor=Actor.system())
    lifecycle.requeue_conversation(conversation_id=chat.pk, actor=Actor.system(), reason="offer timed out")
    chat.refresh_from_db()
    assert (chat.status, chat.assigned_agent_id, chat.queued_at) == (Conversation.Status.QUEUED, None, queued_at)


def test_a_requeue_with_a_note_writes_it_as_the_next_internal_message_from_the_system(
        chat, alice, sent_frames, django_capture_on_commit_callbacks):
    lifecycle.assign_conversation(conversation_id=chat.pk, agent=alice, actor=Actor.system())
    lifecycle.post_message(conversation_id=chat.pk, actor=Actor.of_agent(alice), text="Hi Ann")
    presence.set_agent_status(alice, Agent.Status.AWAY)  # so routing does not hand the chat straight back
    with django_capture_on_commit_callbacks(execute=True):
        lifecycle.requeue_conversation(conversation_id=chat.pk, actor=Actor.system(), reason="agent_disconnected",
                                       note="Alice disconnected.")

    note = chat.messages.get(seq=2)
    assert (note.author, note.visibility, note.text, note.agent_id) == ("system", "internal", "Alice disconnected.",
                                                                        None)
    chat.refresh_from_db()
    assert (chat.status, chat.last_seq, chat.last_public_seq) == (Conversation.Status.QUEUED, 2, 1)
    assert kinds(chat)[-2:] == [Kind.REQUEUED, Kind.MESSAGE]
    assert chat.events.last().details["visibility"] == "internal"
    # Staff see the note; the visitor never does.
    to_note = {group for group, frame in sent_frames if frame["type"] == "message" and frame.get("seq") == 2}
    assert to_note == {f"conv.{chat.pk}.staff"}


def test_transfer_to_a_department_puts_the_chat_back_in_the_queue(chat, alice):
    billing = Department.objects.create(name="Billing")
    lifecycle.assign_conversation(conversation_id=chat.pk, agent=alice, actor=Actor.system())
    lifecycle.transfer_conversation(conversation_id=chat.pk, actor=Actor.of_agent(alice), to_department=billing,
                                    note="refund question")
    chat.refresh_from_db()
    assert (chat.status, chat.assigned_agent_id, chat.department) == (Conversation.Status.QUEUED, None, billing)
    assert chat.events.last().details["note"] == "refund question"


@pytest.mark.parametrize("illegal", [
    lambda c, a: lifecycle.accept_conversation(conversation_id=c.pk, agent=a),
    lambda c, a: lifecycle.requeue_conversation(conversation_id=c.pk, actor=Actor.system(), reason="x"),
    lambda c, a: lifecycle.transfer_conversation(conversation_id=c.pk, actor=Actor.system(), to_agent=a),
], ids=["accept_a_queued_chat", "requeue_a_queued_chat", "transfer_a_queued_chat"])
def test_illegal_transitions_on_a_queued_chat_change_nothing(chat, alice, illegal):
    before = snapshot(chat)
    with pytest.raises(IllegalTransition):
        illegal(chat, alice)
    assert snapshot(chat) == before


def test_a_closed_chat_refuses_messages_assignment_transfer_and_a_second_close(chat, alice, bob):
    lifecycle.assign_conversation(conversation_id=chat.pk, agent=alice, actor=Actor.system())
    lifecycle.close_conversation(conversation_id=chat.pk, actor=Actor.visitor())
    before = snapshot(chat)
    for illegal in [
        lambda: lifecycle.post_message(conversation_id=chat.pk, actor=Actor.visitor(), text="hello?", client_id="x"),
        lambda: lifecycle.assign_conversation(conversation_id=chat.pk, agent=bob, actor=Actor.system()),
        lambda: lifecycle.transfer_conversation(conversation_id=chat.pk, actor=Actor.system(), to_agent=bob),
        lambda: lifecycle.close_conversation(conversation_id=chat.pk, actor=Actor.visitor()),
    ]:
        with pytest.raises(IllegalTransition):
            illegal()
        assert snapshot(chat) == before


def test_assigning_an_already_assigned_chat_is_refused(chat, alice, bob):
    lifecycle.assign_conversation(conversation_id=chat.pk, agent=alice, actor=Actor.system())
    with pytest.raises(IllegalTransition):
        lifecycle.assign_conversation(conversation_id=chat.pk, agent=bob, actor=Actor.system())
    chat.refresh_from_db()
    assert chat.assigned_agent_id == alice.pk


def test_an_agent_at_the_cap_gets_no_more_chats(acme, bob):
    first, _ = lifecycle.start_conversation(site=acme, visitor=make_visitor(acme, "Ann"))
    second, _ = lifecycle.start_conversation(site=acme, visitor=make_visitor(acme, "Ben"))
    lifecycle.assign_conversation(conversation_id=first.pk, agent=bob, actor=Actor.system())
    with pytest.raises(AgentAtCapacity):
        lifecycle.assign_conversation(conversation_id=second.pk, agent=bob, actor=Actor.system())
    second.refresh_from_db()
    assert (second.status, second.assigned_agent_id) == (Conversation.Status.QUEUED, None)


def test_an_offline_agent_gets_no_chats(chat):
    olga = make_agent("olga", status=Agent.Status.OFFLINE)
    with pytest.raises(AgentUnavailable):
        lifecycle.assign_conversation(conversation_id=chat.pk, agent=olga, actor=Actor.system())
    assert snapshot(chat)[0] == Conversation.Status.QUEUED


@pytest.mark.parametrize("agent_replies, assigned, outcome", [
    (True, True, Conversation.Status.CLOSED),
    (False, True, Conversation.Status.MISSED),
    (False, False, Conversation.Status.ABANDONED),
])
def test_closing_ends_as_closed_missed_or_abandoned(chat, alice, agent_replies, assigned, outcome):
    if assigned:
        lifecycle.assign_conversation(conversation_id=chat.pk, agent=alice, actor=Actor.system())
    if agent_replies:
        lifecycle.post_message(conversation_id=chat.pk, actor=Actor.of_agent(alice), text="Hi", client_id="a")
    lifecycle.post_message(conversation_id=chat.pk, actor=Actor.visitor(), text="bye", client_id="v")
    closed = lifecycle.close_conversation(conversation_id=chat.pk, actor=Actor.visitor())
    assert closed.status == outcome
    assert closed.closed_at is not None
    assert chat.events.last().kind == outcome


def test_seen_only_moves_forward_and_never_past_the_last_message(chat):
    lifecycle.post_message(conversation_id=chat.pk, actor=Actor.visitor(), text="a", client_id="a")
    assert lifecycle.mark_seen(conversation_id=chat.pk, actor=Actor.visitor(), seq=99) is True
    assert lifecycle.mark_seen(conversation_id=chat.pk, actor=Actor.visitor(), seq=1) is False
    chat.refresh_from_db()
    assert chat.visitor_seen_seq == 1
    assert kinds(chat).count(Kind.SEEN) == 1


def test_a_page_view_is_added_to_the_context_once(chat):
    assert lifecycle.record_page_view(conversation_id=chat.pk, url="https://shop.acme.test/cart", title="Cart")
    assert not lifecycle.record_page_view(conversation_id=chat.pk, url="https://shop.acme.test/cart", title="Cart")
    chat.refresh_from_db()
    assert [p["url"] for p in chat.context["pages"]] == ["https://shop.acme.test/cart"]
    assert chat.context["page_url"] == "https://shop.acme.test/cart"


def test_a_message_costs_the_same_queries_however_long_the_history(chat):
    def queries_for_one_message(client_id):
        with CaptureQueriesContext(connection) as captured:
            lifecycle.post_message(conversation_id=chat.pk, actor=Actor.visitor(), text="x", client_id=client_id)
        return len(captured)

    first = queries_for_one_message("first")
    for i in range(60):
        lifecycle.post_message(conversation_id=chat.pk, actor=Actor.visitor(), text="x", client_id=f"fill{i}")
    assert queries_for_one_message("later") == first
    assert first <= 7  # savepoint, lock, duplicate check, seq bump, message, event, release


def test_an_offline_message_becomes_a_conversation_and_a_resend_does_not_duplicate_it(acme, ann, sent_frames,
                                                                                     django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        first, created = lifecycle.leave_offline_message(site=acme, visitor=ann, name="Ann", email="ann@example.com",
                                                         text="Call me", client_id="o1")
    again, created_again = lifecycle.leave_offline_message(site=acme, visitor=ann, name="Ann",
                                                           email="ann@example.com", text="Call me", client_id="o1")
    assert (created, created_again, again.pk) == (True, False, first.pk)
    assert first.status == Conversation.Status.OFFLINE
    assert kinds(first) == [Kind.OFFLINE_MESSAGE]
    # The staff notification, after commit.
    assert [(group, frame["conversation_id"]) for group, frame in sent_frames if frame["type"] == "state"] == [
        (f"site.{acme.pk}.staff", str(first.public_id))]
    # The team's email is a reaction written with the message: the site's notice for this period.
    [(kind, key, payload, due_at)] = Reaction.objects.values_list("kind", "key", "payload", "due_at")
    assert (kind, payload) == ("conversations.email_offline_messages", {"site_id": acme.pk})
    assert key == f"offline:{acme.pk}:{int(due_at.timestamp())}"
    assert timezone.now() < due_at <= timezone.now() + timedelta(seconds=settings.OFFLINE_NOTICE_EVERY_SECONDS)


def after_the_notice_period():
    return timezone.now() + timedelta(seconds=settings.OFFLINE_NOTICE_EVERY_SECONDS + 1)


def test_the_offline_email_goes_to_the_team_once_however_often_it_runs(acme, ann, mailoutbox):
    conversation, _ = lifecycle.leave_offline_message(site=acme, visitor=ann, name="Ann", email="ann@example.com",
                                                      text="Call me back please", client_id="o1")
    assert dispatcher.run_due() == 0  # not before the period ends
    assert dispatcher.run_due(now=after_the_notice_period()) == 1
    email_offline_messages(site_id=acme.pk)  # a run again after a crash sends nothing more
    assert len(mailoutbox) == 1
    assert mailoutbox[0].to == ["team@acme.test"]
    assert "Call me back please" in mailoutbox[0].body
    conversation.refresh_from_db()
    assert conversation.team_notified_at is not None


def test_a_flood_of_offline_messages_is_one_email_to_the_team(acme, mailoutbox):
    for number in range(30):
        visitor = make_visitor(acme, f"Flooder {number}")
        lifecycle.leave_offline_message(site=acme, visitor=visitor, name=visitor.name, email=f"f{number}@example.com",
                                        text=f"spam {number}", client_id="o1")
    assert Reaction.objects.count() == 1
    dispatcher.run_due(now=after_the_notice_period())
    assert len(mailoutbox) == 1
    assert mailoutbox[0].subject == "[Acme] 30 offline messages"
    assert all(f"spam {number}\n" in mailoutbox[0].body for number in range(30))
    assert not Conversation.objects.filter(team_notified_at__isnull=True).exists()


def test_a_failed_send_leaves_the_team_unnotified_so_the_next_run_sends(acme, ann, mailoutbox, settings):
    conversation, _ = lifecycle.leave_offline_message(site=acme, visitor=ann, name="Ann", email="ann@example.com",
                                                      text="Call me", client_id="o1")
    settings.EMAIL_BACKEND = "tests.conversations.broken_mail.RefusingBackend"
    dispatcher.run_due(now=after_the_notice_period())
    conversation.refresh_from_db()
    assert conversation.team_notified_at is None and mailoutbox == []
    assert "the mail server refused" in Reaction.objects.get().last_error

    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    dispatcher.run_due(now=after_the_notice_period() + timedelta(seconds=settings.REACTION_LEASE_SECONDS))
    conversation.refresh_from_db()
    assert conversation.team_notified_at is not None and len(mailoutbox) == 1
