"""The console's HTTP side: the page, its two JSON reads (agents, transcripts) and who may read them.

Alice and Bob are agents, Sam a supervisor, Charlie a signed-in user with no agent profile.
"""

import io
import json
import re

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.test import Client

from agents.models import Agent
from conversations import lifecycle
from conversations.lifecycle import Actor
from conversations.models import Conversation, Message, Tag
from tests.console.console import chat_with, queued_chat, switch_routing_off
from tests.personas import make_agent, make_site

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def no_routing(monkeypatch):
    switch_routing_off(monkeypatch)


@pytest.fixture
def acme():
    return make_site()


@pytest.fixture
def alice():
    return make_agent("alice", cap=2)


@pytest.fixture
def bob():
    return make_agent("bob", cap=2, status=Agent.Status.AWAY)


@pytest.fixture
def sam():
    return make_agent("sam", role=Agent.Role.SUPERVISOR)


@pytest.fixture
def alices_chat(acme, alice, sam):
    """Alice's chat with Ann, with a whisper from Sam for Alice (seq 2)."""
    chat = chat_with(alice, acme, "Ann")
    lifecycle.post_message(conversation_id=chat.pk, actor=Actor.of_agent(sam), text="offer a refund",
                           client_id="w1", visibility=Message.Visibility.WHISPER)
    return chat


def signed_in(user_or_agent) -> Client:
    client = Client()
    client.force_login(user_or_agent.user if isinstance(user_or_agent, Agent) else user_or_agent)
    return client


def transcript_url(conversation) -> str:
    return f"/console/transcript/{conversation.public_id}.json"


def texts(response) -> list[str]:
    return [m["text"] for m in response.json()["messages"]]


# --- agents.json -------------------------------------------------------------------------------------

def test_an_anonymous_visitor_is_sent_to_sign_in(acme, alices_chat):
    for url in ("/console/agents.json", transcript_url(alices_chat), "/console/"):
        response = Client().get(url)
        assert response.status_code == 302
        assert response["Location"].startswith("/accounts/login/")


def test_agents_json_lists_every_agent_with_load_and_cap(acme, alice, bob, alices_chat):
    response = signed_in(bob).get("/console/agents.json")
    assert response.status_code == 200
    agents = {a["name"]: a for a in response.json()["agents"]}
    assert {k: agents["Alice"][k] for k in ("id", "status", "active", "cap", "connected")} == {
        "id": alice.pk, "status": "online", "active": 1, "cap": 2, "connected": False}
    assert (agents["Bob"]["status"], agents["Bob"]["active"]) == ("away", 0)


def test_a_user_without_an_agent_profile_reads_neither_json(acme, alices_chat):
    charlie = signed_in(get_user_model().objects.create_user("charlie", password="pw-charlie"))
    assert charlie.get("/console/agents.json").status_code == 404
    assert charlie.get(transcript_url(alices_chat)).status_code == 404


def test_agents_json_refuses_writes(acme, alice):
    assert signed_in(alice).post("/console/agents.json").status_code == 405


# --- transcripts -------------------------------------------------------------------------------------

def test_an_agent_reads_their_own_chat_with_its_whispers(acme, alice, alices_chat):
    response = signed_in(alice).get(transcript_url(alices_chat))
    assert response.status_code == 200
    assert (response.json()["agent_name"], texts(response)) == ("Alice", ["Where is my order?", "offer a refund"])


def test_an_agent_cannot_read_a_chat_of_a_visitor_they_do_not_serve(acme, alice, bob, alices_chat):
    response = signed_in(bob).get(transcript_url(alices_chat))
    assert (response.status_code, response.json()["code"]) == (403, "forbidden")


def test_an_agent_serving_the_visitor_now_reads_their_earlier_chat_without_its_whispers(acme, alice, bob,
                                                                                     alices_chat):
    lifecycle.close_conversation(conversation_id=alices_chat.pk, actor=Actor.of_agent(alice))
    later = queued_chat(acme, "Ann")
    Conversation.objects.filter(pk=later.pk).update(visitor=alices_chat.visitor)
    lifecycle.assign_conversation(conversation_id=later.pk, agent=Agent.objects.get(pk=alice.pk), actor=Actor.system())
    Agent.objects.filter(pk=bob.pk).update(status=Agent.Status.ONLINE)
    lifecycle.transfer_conversation(conversation_id=later.pk, actor=Actor.of_agent(alice), to_agent=bob)
    response = signed_in(bob).get(transcript_url(alices_chat))
    assert response.status_code == 200
    assert texts(response) == ["Where is my order?"]


def test_the_agent_a_chat_was_transferred_to_does_not_read_whispers_for_the_agent_before(acme, alice, bob, sam,
                                                                                         alices_chat):
    Agent.objects.filter(pk=bob.pk).update(status=Agent.Status.ONLINE)
    lifecycle.transfer_conversation(conversation_id=alices_chat.pk, actor=Actor.of_agent(alice), to_agent=bob)
    lifecycle.post_message(conversation_id=alices_chat.pk, actor=Actor.of_agent(sam), text="for Bob",
                           client_id="w2", visibility=Message.Visibility.WHISPER)
    assert texts(signed_in(bob).get(transcript_url(alices_chat))) == ["Where is my order?", "for Bob"]
    assert texts(signed_in(sam).get(transcript_url(alices_chat))) == ["Where is my order?", "offer a refund", "for Bob"]


def test_a_supervisor_reads_any_chat_and_every_whisper(acme, alice, sam, alices_chat):
    response = signed_in(sam).get(transcript_url(alices_chat))
    assert response.status_code == 200
    assert texts(response) == ["Where is my order?", "offer a refund"]


def test_an_agent_who_once_served_the_visitor_reads_only_that_chat_once_it_has_ended(acme, alice, bob,
                                                                                    alices_chat):
    Agent.objects.filter(pk=bob.pk).update(status=Agent.Status.ONLINE)
    bobs_chat = chat_with(Agent.objects.get(pk=bob.pk), acme, "Ann")
    Conversation.objects.filter(pk=bobs_chat.pk).update(visitor=alices_chat.visitor)
    lifecycle.close_conversation(conversation_id=bobs_chat.pk, actor=Actor.of_agent(bob))
    lifecycle.post_message(conversation_id=alices_chat.pk, actor=Actor.of_agent(alice), text="checked with the warehouse",
                           client_id="n1", visibility=Message.Visibility.INTERNAL)
    client = signed_in(bob)
    assert client.get(transcript_url(bobs_chat)).status_code == 200
    response = client.get(transcript_url(alices_chat))
    assert (response.status_code, response.json()["code"]) == (403, "forbidden")


def test_an_admin_reads_any_chat_and_every_whisper(acme, alices_chat):
    ada = get_user_model().objects.create_superuser("ada", "ada@acme.test", "pw-ada")
    Agent.objects.create(user=ada, display_name="Ada")
    response = signed_in(ada).get(transcript_url(alices_chat))
    assert response.status_code == 200
    assert texts(response) == ["Where is my order?", "offer a refund"]


def test_an_unknown_chat_or_an_offline_message_is_not_found(acme, alice, sam):
    offline, _ = lifecycle.leave_offline_message(site=acme, visitor=queued_chat(acme).visitor, name="Ann",
                                                 email="ann@example.com", text="Call me", client_id="o1")
    client = signed_in(sam)
    assert client.get(transcript_url(offline)).status_code == 404
    assert client.get("/console/transcript/7d3c8f9e-1111-4222-8333-944455556666.json").status_code == 404


# --- the page ------------------------------------------------------------------------------------------

def test_the_page_keys_each_sites_tags_by_site_id(acme, alice):
    Tag.objects.create(site=acme, name="refund")
    other = make_site("other", name="Acme")  # same name, other site
    Tag.objects.create(site=other, name="bug")
    page = signed_in(alice).get("/console/").content.decode()
    config = json.loads(re.search(r'<script id="console-config" type="application/json">(.*?)</script>', page).group(1))
    assert config["tags"] == {str(acme.pk): ["refund"], str(other.pk): ["bug"]}


def test_an_admin_without_an_agent_profile_is_told_how_to_create_one(db):
    admin = get_user_model().objects.create_superuser("root", "root@example.com", "pw-root")
    response = signed_in(admin).get("/console/")
    assert response.status_code == 403
    page = response.content.decode()
    assert f'/admin/agents/agent/add/?user={admin.pk}&amp;role=supervisor' in page
    assert "Agents → Add agent" in page


def test_the_demo_admin_is_a_supervisor_in_the_console(db):
    call_command("load_demo", stdout=io.StringIO())
    call_command("load_demo", stdout=io.StringIO())  # safe to run again
    admin = Agent.objects.select_related("user").get(user__username="admin")
    assert (admin.role, admin.user.is_superuser, admin.departments.count()) == (Agent.Role.SUPERVISOR, True, 0)
    response = signed_in(admin).get("/console/")
    assert response.status_code == 200 and response.context["supervisor"] is True
