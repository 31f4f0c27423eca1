"""Changes to agents' profiles made over the REST API and in the admin.

Status and cap always go through agents.presence (one AgentStatusEvent each, handed on to routing
and the agent's consoles); everything here happens in one transaction, so a refused part changes
nothing.
"""

from collections.abc import Iterable

from django.db import transaction

from agents import presence
from agents.models import Agent, AgentSkill, Department, Skill
from reactions import subscriptions


def update_agent(
    *, agent: Agent, by: Agent | None, display_name: str | None = None, role: str | None = None,
    departments: Iterable[Department] | None = None, skills: dict[Skill, int] | None = None,
    max_concurrent_chats: int | None = None, status: str | None = None,
) -> Agent:
    """Apply the given changes (None: leave as is); skills replace the agent's skills with these levels."""
    with transaction.atomic():
        fields = {name: value for name, value in (("display_name", display_name), ("role", role))
                  if value is not None}
        if fields:
            Agent.objects.filter(pk=agent.pk).update(**fields)
        if departments is not None:
            agent.departments.set(departments)
        if skills is not None:
            AgentSkill.objects.filter(agent=agent).exclude(skill__in=list(skills)).delete()
            for skill, level in skills.items():
                AgentSkill.objects.update_or_create(agent=agent, skill=skill, defaults={"proficiency": level})
        if max_concurrent_chats is not None:
            presence.set_agent_cap(agent, max_concurrent_chats, by=by)
        if status is not None:
            presence.set_agent_status(agent, status, by=by)
        updated = Agent.objects.get(pk=agent.pk)
        if departments is not None or skills is not None:
            presence.hand_on("agent.profile", updated)  # the agent may now match waiting chats
    return updated


def route_everywhere_after_commit() -> None:
    """Who matches what has changed (departments, their settings, an agent's skills): routing runs
    a pass for every site once the change commits (routing/subscribers.py)."""
    subscriptions.hand_on_after_commit("routing.settings", None)
