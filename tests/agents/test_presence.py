"""An agent's status and cap have one writer (agents.presence), and every change reaches every tab
of that agent and the supervisors, whoever made it: the agent, a supervisor over REST, the admin,
or three missed offers."""

import pytest
from django.contrib.admin.sites import site as admin_site
from django.test import RequestFactory

from agents import presence, services
from agents.admin import AgentAdmin
from agents.models import Agent, AgentStatusEvent, Department
from conversations import lifecycle
from conversations.models import ConversationEvent
from conversations.publish import agent_group
from tests.personas import make_agent, make_site, make_topic, make_visitor

pytestmark = pytest.mark.django_db


@pytest.fixture
def alice():
    return make_agent("alice", cap=2, skills={"orders": 5})


@pytest.fixture
def sam():
    return make_agent("sam", role=Agent.Role.SUPERVISOR)


def status_frames(sent, agent):
    return [frame for group, frame in sent if group == agent_group(agent.pk) and frame["type"] == "status"]


def test_a_supervisor_setting_an_agent_away_over_rest_reaches_the_agents_own_console(
        alice, sam, sent_frames, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        services.update_agent(agent=alice, by=sam, status=Agent.Status.AWAY, max_concurrent_chats=4)
    assert status_frames(sent_frames, alice) == [
        {"type": "status", "agent_id": alice.pk, "status": "online", "cap": 4},
        {"type": "status", "agent_id": alice.pk, "status": "away", "cap": 4},
    ]
    assert AgentStatusEvent.objects.filter(agent=alice, changed_by=sam).count() == 2


def test_the_admins_set_away_action_reaches_the_agents_console(
        alice, sam, sent_frames, django_capture_on_commit_callbacks):
    sam.user.is_staff = sam.user.is_superuser = True
    sam.user.save()
    request = RequestFactory().post("/admin/agents/agent/")
    request.user = sam.user
    request._messages = type("Messages", (), {"add": lambda *args, **kwargs: None})()
    with django_capture_on_commit_callbacks(execute=True):
        AgentAdmin(Agent, admin_site).set_away(request, Agent.objects.filter(pk=alice.pk))
    assert status_frames(sent_frames, alice) == [{"type": "status", "agent_id": alice.pk, "status": "away", "cap": 2}]


def test_three_missed_offers_set_the_agent_away_and_their_console_hears_of_it(
        alice, sent_frames, django_capture_on_commit_callbacks):
    acme = make_site()
    offers_department = Department.objects.create(name="Support", accept_mode=Department.AcceptMode.OFFER,
                                                  offer_timeout_seconds=20)
    alice.departments.add(offers_department)
    topic = make_topic(acme)
    topic.department = offers_department
    topic.save(update_fields=["department"])
    with django_capture_on_commit_callbacks(execute=True):
        chat, _ = lifecycle.start_conversation(site=acme, visitor=make_visitor(acme), topic=topic)
    for _ in range(3):  # nobody else matches: each expired offer comes back to Alice
        offer = chat.events.filter(kind=ConversationEvent.Kind.ASSIGNED).latest("id")
        with django_capture_on_commit_callbacks(execute=True):
            lifecycle.expire_offer(conversation_id=chat.pk, offer_event_id=offer.pk)
    alice.refresh_from_db()
    assert (alice.status, alice.missed_offers_in_a_row) == (Agent.Status.AWAY, 0)
    assert status_frames(sent_frames, alice) == [{"type": "status", "agent_id": alice.pk, "status": "away", "cap": 2}]


def test_setting_the_status_an_agent_already_has_changes_and_sends_nothing(
        alice, sent_frames, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        presence.set_agent_status(alice, Agent.Status.ONLINE, by=alice)
    assert status_frames(sent_frames, alice) == []
    assert not AgentStatusEvent.objects.filter(agent=alice).exists()
