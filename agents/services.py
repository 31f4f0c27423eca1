"""Changes to agents' profiles made over the REST API and in the admin.

Status and cap always go through agents.presence (one AgentStatusEvent each, routing after commit);
everything here happens in one transaction, so a refused part changes nothing.
"""

from collections.abc import Iterable

from django.db import transaction

from agents import presence
from agents.models import Agent, AgentSkill, Department, Skill


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
        if departments is not None or skills is not None:
            route_everywhere_after_commit()  # the agent may now match waiting chats
    return Agent.objects.get(pk=agent.pk)


def route_everywhere_after_commit() -> None:
    """A routing pass for every site once the change commits (who matches what has changed)."""
    from agents import dispatch  # agents.dispatch imports the lifecycle, which imports agents.presence

    transaction.on_commit(lambda: dispatch.route_all_sites(refresh_all=True), robust=True)
