"""The agents admin: status and cap changes go through presence, so routing runs and events are written.

Ada is a Django admin; Alice and Olga are agents (Olga offline, an orders expert). Ann is a visitor.
"""

import pytest
from django.contrib.auth import get_user_model
from django.test import Client

from agents.models import Agent, AgentStatusEvent
from conversations import lifecycle
from conversations.models import Conversation
from tests.personas import make_agent, make_site, make_topic, make_visitor

pytestmark = pytest.mark.django_db


@pytest.fixture
def ada():
    client = Client()
    client.force_login(get_user_model().objects.create_superuser("ada", "ada@acme.test", "pw-ada"))
    return client


def change_form(agent, **changes) -> dict:
    data = {
        "user": agent.user_id, "display_name": agent.display_name, "role": agent.role,
        "max_concurrent_chats": agent.max_concurrent_chats,
        "agent_skills-TOTAL_FORMS": "0", "agent_skills-INITIAL_FORMS": "0",
        "agent_skills-MIN_NUM_FORMS": "0", "agent_skills-MAX_NUM_FORMS": "1000",
    }
    return {**data, **changes}


def test_setting_agents_online_in_the_admin_writes_events_and_routes_waiting_chats(
        ada, django_capture_on_commit_callbacks):
    site = make_site()
    olga = make_agent("olga", status=Agent.Status.OFFLINE, skills={"orders": 5})
    ann, _ = lifecycle.start_conversation(site=site, visitor=make_visitor(site), topic=make_topic(site))
    with django_capture_on_commit_callbacks(execute=True):
        response = ada.post("/admin/agents/agent/", {"action": "set_online", "_selected_action": [olga.pk]})
    assert response.status_code == 302
    olga.refresh_from_db()
    assert olga.status == Agent.Status.ONLINE
    assert AgentStatusEvent.objects.get(agent=olga).previous == "offline"
    ann.refresh_from_db()
    assert ann.assigned_agent_id == olga.pk


@pytest.mark.parametrize("action, status", [("set_away", "away"), ("set_offline", "offline")])
def test_setting_agents_away_or_offline_in_the_admin_writes_an_event_each(ada, action, status):
    alice = make_agent("alice")
    ada.post("/admin/agents/agent/", {"action": action, "_selected_action": [alice.pk]})
    event = AgentStatusEvent.objects.get(agent=alice)
    assert (event.previous, event.status) == ("online", status)


def test_changing_the_cap_in_the_admin_goes_through_presence(ada):
    alice = make_agent("alice", cap=3)
    response = ada.post(f"/admin/agents/agent/{alice.pk}/change/", change_form(alice, max_concurrent_chats=5,
                                                                                display_name="Alice A."))
    assert response.status_code == 302, response.content.decode()[:2000]
    alice.refresh_from_db()
    assert (alice.max_concurrent_chats, alice.display_name) == (5, "Alice A.")
    event = AgentStatusEvent.objects.get(agent=alice)
    assert (event.kind, event.previous, event.max_concurrent_chats) == ("cap", "3", 5)


def test_saving_the_form_does_not_write_back_a_status_changed_meanwhile(ada):
    alice = make_agent("alice", cap=3)
    form = change_form(alice, display_name="Alice A.")
    Agent.objects.filter(pk=alice.pk).update(status=Agent.Status.AWAY)  # presence, while the form was open
    ada.post(f"/admin/agents/agent/{alice.pk}/change/", form)
    alice.refresh_from_db()
    assert (alice.status, alice.display_name) == ("away", "Alice A.")
    assert not AgentStatusEvent.objects.exists()


def test_a_negative_cap_in_the_admin_is_refused_and_changes_nothing(ada):
    alice = make_agent("alice", cap=3)
    response = ada.post(f"/admin/agents/agent/{alice.pk}/change/", change_form(alice, max_concurrent_chats=-1))
    assert response.status_code == 200  # the form again, with the error
    alice.refresh_from_db()
    assert alice.max_concurrent_chats == 3
    assert not AgentStatusEvent.objects.exists()
    assert Conversation.objects.count() == 0
