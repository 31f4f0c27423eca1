"""Agent availability: the one write path for an agent's status and cap.

Each change locks the agent row (the same lock lifecycle._take_slot takes, so a change and an
assignment to that agent apply one after the other), writes one AgentStatusEvent and, when the
agent can now take more chats, runs a routing pass for every site after commit.
"""

from django.db import transaction
from django.utils import timezone

from agents.models import Agent, AgentStatusEvent


class PresenceError(ValueError):
    """A refused status or cap change; the message says what a valid value is."""

    code = "invalid_field"


def set_agent_status(agent: Agent, status: str, *, by: Agent | None = None) -> Agent:
    """Set online, away or offline; returns the updated agent (unchanged, with no event, if it already was)."""
    if status not in Agent.Status.values:
        raise PresenceError(f"status must be one of {', '.join(Agent.Status.values)}, got {status!r}")
    with transaction.atomic():
        locked = Agent.objects.select_for_update().get(pk=agent.pk)
        previous = locked.status
        if previous == status:
            return locked
        locked.status, locked.status_changed_at = status, timezone.now()
        locked.save(update_fields=["status", "status_changed_at"])
        _record(locked, AgentStatusEvent.Kind.STATUS, previous, by)
        if status == Agent.Status.ONLINE:
            _route_after_commit()
    return locked


def set_agent_cap(agent: Agent, cap: int, *, by: Agent | None = None) -> Agent:
    """Set how many chats the agent handles at once (0 pauses new chats without going away).

    Lowering the cap below the agent's current chats keeps those chats; no new ones arrive until
    the agent is below the new cap again.
    """
    if isinstance(cap, bool) or not isinstance(cap, int) or cap < 0:
        raise PresenceError(f"max_concurrent_chats must be a whole number of 0 or more, got {cap!r}")
    if cap > 32767:
        raise PresenceError(f"max_concurrent_chats must be at most 32767, got {cap}")
    with transaction.atomic():
        locked = Agent.objects.select_for_update().get(pk=agent.pk)
        previous = locked.max_concurrent_chats
        if previous == cap:
            return locked
        locked.max_concurrent_chats = cap
        locked.save(update_fields=["max_concurrent_chats"])
        _record(locked, AgentStatusEvent.Kind.CAP, str(previous), by)
        if cap > previous and locked.status == Agent.Status.ONLINE:
            _route_after_commit()
    return locked


def _record(agent: Agent, kind: str, previous: str, by: Agent | None) -> None:
    AgentStatusEvent.objects.create(
        agent=agent, kind=kind, at=timezone.now(), status=agent.status,
        max_concurrent_chats=agent.max_concurrent_chats, previous=previous, changed_by=by,
    )


def _route_after_commit() -> None:
    from agents import dispatch  # agents.dispatch imports the lifecycle, which imports agents.models

    # Agents are not tied to one site, so every site's queue may now have a matching slot; the
    # estimates of everyone waiting change too.
    transaction.on_commit(lambda: dispatch.route_all_sites(refresh_all=True), robust=True)
