"""Models are imported inside the fixtures: this file may load before Django's apps are ready."""

import pytest

from tests.metrics import golden


@pytest.fixture
def golden_day(db):
    """The golden day (tests/metrics/golden.py) inserted as event rows; returns the ids by name."""
    from agents.models import AgentStatusEvent, Department
    from conversations.models import Conversation, ConversationEvent, Tag
    from tests.personas import make_agent, make_site, make_visitor

    acme = make_site()
    alice = make_agent("alice")
    bob = make_agent("bob")
    sales = Department.objects.create(name="Sales")
    billing = Tag.objects.create(site=acme, name="billing")
    ids = {"acme": acme.pk, "alice": alice.pk, "bob": bob.pk, "sales": sales.pk, "billing": billing.pk}
    visitors = {}
    chats = {}
    for name, (visitor, department) in golden.CHATS.items():
        if visitor not in visitors:
            visitors[visitor] = make_visitor(acme, visitor.capitalize())
        chats[name] = Conversation.objects.create(
            site=acme, visitor=visitors[visitor], department=sales if department else None,
            status=Conversation.Status.CLOSED)
        ids[name] = chats[name].pk
    ConversationEvent.objects.bulk_create([
        ConversationEvent(conversation=chats[chat], kind=kind, at=at, actor="agent" if agent_id else "system",
                          actor_agent_id=agent_id, details=details)
        for chat, kind, at, agent_id, details in golden.events(ids)
    ])
    agents = {"alice": alice, "bob": bob}
    AgentStatusEvent.objects.bulk_create([
        AgentStatusEvent(agent=agents[name], kind="status", at=at, status=status, previous=previous,
                         max_concurrent_chats=3)
        for name, at, status, previous in golden.status_changes(ids)
    ])
    return ids


@pytest.fixture
def supervisor(db):
    from agents.models import Agent
    from tests.personas import make_agent

    return make_agent("sam", role=Agent.Role.SUPERVISOR)
