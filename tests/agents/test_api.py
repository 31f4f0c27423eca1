"""The REST API: agents, skills, departments and routing actions, with who may do what.

Ada is a Django admin, Sue a supervisor, Alice and Bob agents in Support (Alice knows orders well),
Olga an agent who is offline, and Nick a signed-in user who is no agent. Ann is a visitor.
"""

import json

import pytest
from django.contrib.auth import get_user_model
from django.test import Client

from agents.models import Agent, AgentSkill, AgentStatusEvent, Department, Skill
from conversations import lifecycle
from conversations.lifecycle import Actor
from conversations.models import Conversation, ConversationEvent
from tests.personas import make_agent, make_site, make_topic, make_visitor

pytestmark = pytest.mark.django_db


@pytest.fixture
def support():
    return Department.objects.create(name="Support")


@pytest.fixture
def alice(support):
    agent = make_agent("alice", skills={"orders": 5})
    agent.departments.add(support)
    return agent


@pytest.fixture
def bob(support):
    agent = make_agent("bob", cap=1, skills={"orders": 2})
    agent.departments.add(support)
    return agent


@pytest.fixture
def olga():
    return make_agent("olga", status=Agent.Status.OFFLINE)


@pytest.fixture
def sue():
    return make_agent("sue", role=Agent.Role.SUPERVISOR, status=Agent.Status.OFFLINE)


def client_for(user) -> Client:
    client = Client()
    if user is not None:
        client.force_login(user)
    return client


@pytest.fixture
def ada_client():
    return client_for(get_user_model().objects.create_superuser("ada", "ada@acme.test", "pw-ada"))


@pytest.fixture
def sue_client(sue):
    return client_for(sue.user)


@pytest.fixture
def alice_client(alice):
    return client_for(alice.user)


@pytest.fixture
def queued_chat(alice, bob):
    """Ann's chat, waiting: everyone who could take it is away while it starts."""
    site = make_site()
    Agent.objects.update(status=Agent.Status.AWAY)
    conversation, _ = lifecycle.start_conversation(site=site, visitor=make_visitor(site), topic=make_topic(site))
    Agent.objects.filter(pk__in=[alice.pk, bob.pk]).update(status=Agent.Status.ONLINE)
    return conversation


def patch(client, url, data):
    return client.patch(url, json.dumps(data), content_type="application/json")


def post(client, url, data):
    return client.post(url, json.dumps(data), content_type="application/json")


def snapshot_of(agent):
    agent.refresh_from_db()
    return (agent.display_name, agent.role, agent.status, agent.max_concurrent_chats,
            sorted(agent.agent_skills.values_list("skill__slug", "proficiency")),
            sorted(agent.departments.values_list("name", flat=True)), AgentStatusEvent.objects.count())


# --- permissions ---------------------------------------------------------------------------------

@pytest.mark.parametrize("url", ["/api/agents/", "/api/skills/", "/api/departments/", "/api/schema/"])
def test_an_anonymous_visitor_gets_403_everywhere(url):
    response = Client().get(url, {"format": "json"})
    assert response.status_code == 403
    assert response.json()["code"] == "not_authenticated"


def test_a_signed_in_user_who_is_no_agent_gets_403():
    nick = get_user_model().objects.create_user("nick", password="pw-nick")
    assert client_for(nick).get("/api/agents/").status_code == 403


def test_an_agent_reads_agents_skills_and_departments(alice_client, alice, bob):
    agents = alice_client.get("/api/agents/").json()
    assert [a["username"] for a in agents] == ["alice", "bob"]
    assert agents[0]["skills"] == [{"skill": alice.skills.get().pk, "slug": "orders", "proficiency": 5}]
    assert alice_client.get("/api/skills/").status_code == 200
    assert [d["name"] for d in alice_client.get("/api/departments/").json()] == ["Support"]


def test_an_agent_changes_their_own_status_through_presence(alice_client, alice):
    response = patch(alice_client, f"/api/agents/{alice.pk}/", {"status": "away"})
    assert response.status_code == 200 and response.json()["status"] == "away"
    event = AgentStatusEvent.objects.get(agent=alice)
    assert (event.previous, event.status, event.changed_by_id) == ("online", "away", alice.pk)


def test_an_agent_may_not_change_anything_else_or_anyone_else(alice_client, alice, bob):
    before = snapshot_of(alice), snapshot_of(bob)
    assert patch(alice_client, f"/api/agents/{alice.pk}/", {"max_concurrent_chats": 9}).status_code == 403
    assert patch(alice_client, f"/api/agents/{bob.pk}/", {"status": "away"}).status_code == 403
    assert post(alice_client, "/api/skills/", {"slug": "billing", "name": "Billing"}).status_code == 403
    assert patch(alice_client, f"/api/departments/{Department.objects.get().pk}/", {"strategy": "least_busy"}
                 ).status_code == 403
    assert (snapshot_of(alice), snapshot_of(bob)) == before
    assert not Skill.objects.filter(slug="billing").exists()


def test_an_agent_may_not_assign_or_transfer_chats(alice_client, queued_chat, bob):
    response = post(alice_client, f"/api/conversations/{queued_chat.pk}/assign/", {"agent": bob.pk})
    assert (response.status_code, response.json()["code"]) == (403, "permission_denied")
    queued_chat.refresh_from_db()
    assert queued_chat.status == Conversation.Status.QUEUED


@pytest.mark.parametrize("manager", ["ada_client", "sue_client"])
def test_admins_and_supervisors_manage_agents_skills_and_departments(request, manager, alice, support):
    client = request.getfixturevalue(manager)
    billing = post(client, "/api/skills/", {"slug": "billing", "name": "Billing"}).json()
    sales = post(client, "/api/departments/", {"name": "Sales", "accept_mode": "offer", "offer_timeout_seconds": 45,
                                               "strategy": "round_robin", "any_agent_after_seconds": 60}).json()
    response = patch(client, f"/api/agents/{alice.pk}/", {
        "display_name": "Alice A.", "role": "supervisor", "departments": [support.pk, sales["id"]],
        "skills": [{"skill": billing["id"], "proficiency": 4}], "max_concurrent_chats": 5, "status": "away",
    })
    assert response.status_code == 200, response.json()
    assert snapshot_of(alice)[:6] == ("Alice A.", "supervisor", "away", 5, [("billing", 4)], ["Sales", "Support"])
    kinds = list(AgentStatusEvent.objects.filter(agent=alice).values_list("kind", flat=True))
    assert kinds == ["cap", "status"]
    department = Department.objects.get(name="Sales")
    assert (department.accept_mode, department.offer_timeout_seconds, department.strategy) == ("offer", 45,
                                                                                               "round_robin")
    assert client.delete(f"/api/skills/{billing['id']}/").status_code == 204


def test_the_schema_describes_the_api(sue_client):
    response = sue_client.get("/api/schema/", HTTP_ACCEPT="application/json")
    assert response.status_code == 200
    paths = response.json()["paths"]
    assert "/api/conversations/{id}/transfer/" in paths and "/api/agents/{id}/" in paths


def test_session_authentication_requires_the_csrf_token(alice):
    client = Client(enforce_csrf_checks=True)
    client.force_login(alice.user)
    response = patch(client, f"/api/agents/{alice.pk}/", {"status": "away"})
    assert response.status_code == 403
    alice.refresh_from_db()
    assert alice.status == Agent.Status.ONLINE


# --- routing actions -------------------------------------------------------------------------------

def test_a_supervisor_assigns_a_waiting_chat_and_it_is_accepted_per_its_department(
        sue_client, sue, queued_chat, bob, django_capture_on_commit_callbacks):
    response = post(sue_client, f"/api/conversations/{queued_chat.pk}/assign/", {"agent": bob.pk})
    assert response.status_code == 200
    assert (response.json()["status"], response.json()["agent_name"]) == ("active", "Bob")
    assigned = queued_chat.events.get(kind=ConversationEvent.Kind.ASSIGNED)
    assert (assigned.actor_agent_id, assigned.details["agent_id"]) == (sue.pk, bob.pk)


def test_a_supervisor_transfers_a_chat_to_an_agent_a_department_or_a_skill(sue_client, queued_chat, alice, bob):
    lifecycle.assign_conversation(conversation_id=queued_chat.pk, agent=alice, actor=Actor.system())
    url = f"/api/conversations/{queued_chat.pk}/transfer/"
    response = post(sue_client, url, {"agent": bob.pk, "note": "Bob knows this customer"})
    assert (response.status_code, response.json()["agent_name"]) == (200, "Bob")
    sales = Department.objects.create(name="Sales")
    assert post(sue_client, url, {"department": sales.pk}).json()["department"] == sales.pk
    lifecycle.assign_conversation(conversation_id=queued_chat.pk, agent=alice, actor=Actor.system())
    billing = Skill.objects.create(slug="billing", name="Billing")
    assert post(sue_client, url, {"skill": billing.pk}).json()["required_skills"] == [billing.pk]
    hops = queued_chat.events.filter(kind=ConversationEvent.Kind.TRANSFERRED).values_list("details", flat=True)
    assert [(h["to_agent_id"], h["to_department_id"], h["to_skill_id"]) for h in hops] == [
        (bob.pk, None, None), (None, sales.pk, None), (None, None, billing.pk)]
    assert hops[0]["note"] == "Bob knows this customer"


# --- bad input: a clear error, and nothing changes ---------------------------------------------------

def conversation_state(conversation):
    conversation.refresh_from_db()
    return conversation.status, conversation.assigned_agent_id, conversation.events.count()


def test_assigning_to_an_unknown_agent_is_refused(sue_client, queued_chat):
    before = conversation_state(queued_chat)
    response = post(sue_client, f"/api/conversations/{queued_chat.pk}/assign/", {"agent": 9999})
    assert (response.status_code, response.json()["code"]) == (400, "invalid_field")
    assert "agent" in response.json()["fields"]
    assert conversation_state(queued_chat) == before


def test_assigning_to_an_offline_agent_is_refused(sue_client, queued_chat, olga):
    before = conversation_state(queued_chat)
    response = post(sue_client, f"/api/conversations/{queued_chat.pk}/assign/", {"agent": olga.pk})
    assert (response.status_code, response.json()["code"]) == (409, "agent_unavailable")
    assert "offline" in response.json()["detail"]
    assert conversation_state(queued_chat) == before


def test_assigning_to_an_agent_at_their_cap_is_refused(sue_client, queued_chat, bob):
    Agent.objects.filter(pk=bob.pk).update(max_concurrent_chats=0)
    before = conversation_state(queued_chat)
    response = post(sue_client, f"/api/conversations/{queued_chat.pk}/assign/", {"agent": bob.pk})
    assert (response.status_code, response.json()["code"]) == (409, "agent_at_capacity")
    assert conversation_state(queued_chat) == before


def test_transferring_a_closed_chat_is_refused(sue_client, queued_chat, bob):
    lifecycle.close_conversation(conversation_id=queued_chat.pk, actor=Actor.visitor())
    before = conversation_state(queued_chat)
    response = post(sue_client, f"/api/conversations/{queued_chat.pk}/transfer/", {"agent": bob.pk})
    assert (response.status_code, response.json()["code"]) == (409, "illegal_transition")
    assert "abandoned" in response.json()["detail"]
    assert conversation_state(queued_chat) == before


@pytest.mark.parametrize("body", [{}, {"agent": 1, "skill": 1}, {"note": "where to?"}])
def test_a_transfer_needs_exactly_one_target(sue_client, queued_chat, body):
    before = conversation_state(queued_chat)
    response = post(sue_client, f"/api/conversations/{queued_chat.pk}/transfer/", body)
    assert (response.status_code, response.json()["code"]) == (400, "invalid_field")
    assert conversation_state(queued_chat) == before


def test_a_missing_conversation_is_404(sue_client, bob):
    response = post(sue_client, "/api/conversations/9999/assign/", {"agent": bob.pk})
    assert (response.status_code, response.json()["code"]) == (404, "not_found")


@pytest.mark.parametrize("body, field", [
    ({"max_concurrent_chats": -1}, "max_concurrent_chats"),
    ({"skills": [{"skill": 1, "proficiency": 6}]}, "skills"),
    ({"skills": [{"skill": 1, "proficiency": 0}]}, "skills"),
    ({"status": "asleep"}, "status"),
    ({"departments": [9999]}, "departments"),
    ({"cap": 3}, "cap"),
    ({"display_name": 5}, "display_name"),
    # A valid status with a bad cap: the whole change is refused, the status too.
    ({"status": "away", "max_concurrent_chats": -1}, "max_concurrent_chats"),
])
def test_bad_agent_changes_are_refused_and_change_nothing(sue_client, alice, body, field):
    before = snapshot_of(alice)
    response = patch(sue_client, f"/api/agents/{alice.pk}/", body)
    assert (response.status_code, response.json()["code"]) == (400, "invalid_field")
    assert field in response.json()["fields"]
    assert snapshot_of(alice) == before


def test_a_presence_refusal_rolls_back_the_rest_of_the_change(sue_client, alice, monkeypatch):
    from agents import presence

    def refuse(agent, status, *, by=None):
        raise presence.PresenceError("status refused for the test")

    monkeypatch.setattr(presence, "set_agent_status", refuse)
    before = snapshot_of(alice)
    response = patch(sue_client, f"/api/agents/{alice.pk}/", {"display_name": "Renamed", "max_concurrent_chats": 1,
                                                              "status": "away"})
    assert (response.status_code, response.json()) == (400, {"code": "invalid_field",
                                                             "detail": "status refused for the test"})
    assert snapshot_of(alice) == before


def test_a_skill_level_outside_1_to_5_is_refused_for_each_skill_given(sue_client, alice):
    billing = Skill.objects.create(slug="billing", name="Billing")
    response = patch(sue_client, f"/api/agents/{alice.pk}/", {"skills": [
        {"skill": billing.pk, "proficiency": 3}, {"skill": alice.skills.get().pk, "proficiency": 9}]})
    assert response.status_code == 400
    assert list(AgentSkill.objects.filter(agent=alice).values_list("skill__slug", "proficiency")) == [("orders", 5)]


@pytest.mark.parametrize("url, body", [("/api/skills/", {"slug": "refunds", "name": 0}),
                                       ("/api/departments/", {"name": 0})])
def test_a_number_for_a_text_field_is_refused_not_stored_as_its_text(sue_client, url, body):
    response = post(sue_client, url, body)
    assert (response.status_code, response.json()["fields"]) == (400, {"name": ["Not a valid string."]})
    assert not Skill.objects.filter(name="0").exists() and not Department.objects.filter(name="0").exists()


def test_a_department_with_a_zero_offer_timeout_or_itself_as_fallback_is_refused(sue_client, support):
    for body in ({"offer_timeout_seconds": 0}, {"fallback_department": support.pk}, {"accept_mode": "maybe"}):
        response = patch(sue_client, f"/api/departments/{support.pk}/", body)
        assert (response.status_code, response.json()["code"]) == (400, "invalid_field"), body
    support.refresh_from_db()
    assert (support.offer_timeout_seconds, support.fallback_department_id, support.accept_mode) == (30, None, "auto")
