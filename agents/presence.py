"""Agent availability: the one write path for an agent's status and cap, whoever changes them
(the agent's console, a supervisor over REST, the admin, three missed offers, the disconnect grace).

Each change locks the agent row (the same lock lifecycle._take_slot takes, so a change and an
assignment to that agent apply one after the other), writes one AgentStatusEvent and hands an
AgentChange on to the subscribers of "agent.status" or "agent.cap" (reactions/subscriptions.py):
routing runs a pass when the agent can take more chats, and every tab of the agent and every
supervisor's board hear of it (routing/subscribers.py, console/subscribers.py).
"""

from dataclasses import dataclass

from django.db import transaction
from django.utils import timezone

from agents.models import Agent, AgentStatusEvent
from reactions import subscriptions

# An agent who lets this many offers in a row expire is set away: they are probably not there.
MISSED_OFFERS_BEFORE_AWAY = 3


@dataclass(frozen=True)
class AgentChange:
    """What changed of one agent; `topic` is "agent.status", "agent.cap" or "agent.profile"
    (the agent's departments or skills, agents/services.py)."""

    topic: str
    agent_id: int
    status: str
    cap: int
    previous_status: str
    previous_cap: int

    @property
    def may_take_more(self) -> bool:
        """Whether waiting chats may now match this agent: routing should run."""
        if self.status != Agent.Status.ONLINE:
            return False
        return self.topic == "agent.profile" or self.previous_status != self.status or self.cap > self.previous_cap


def hand_on(topic: str, agent: Agent, *, previous_status: str | None = None, previous_cap: int | None = None) -> None:
    """Hand the agent's change on to its subscribers (within this transaction, and after it commits)."""
    change = AgentChange(topic=topic, agent_id=agent.pk, status=agent.status, cap=agent.max_concurrent_chats,
                         previous_status=previous_status or agent.status,
                         previous_cap=agent.max_concurrent_chats if previous_cap is None else previous_cap)
    subscriptions.hand_on_within(topic, change)
    subscriptions.hand_on_after_commit(topic, change)


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
        hand_on("agent.status", locked, previous_status=previous)
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
        hand_on("agent.cap", locked, previous_cap=previous)
    return locked


def count_missed_offer(agent_id: int) -> None:
    """An offer to the agent expired (lifecycle.expire_offer, in whose transaction this runs): the
    MISSED_OFFERS_BEFORE_AWAY-th in a row sets them away, and the count starts again."""
    agent = Agent.objects.select_for_update().get(pk=agent_id)
    missed = agent.missed_offers_in_a_row + 1
    agent.missed_offers_in_a_row = 0 if missed >= MISSED_OFFERS_BEFORE_AWAY else missed
    agent.save(update_fields=["missed_offers_in_a_row"])
    if missed >= MISSED_OFFERS_BEFORE_AWAY:
        set_agent_status(agent, Agent.Status.AWAY)


def end_missed_offers(agent_id: int) -> None:
    """The agent accepted a chat: their run of missed offers is over."""
    Agent.objects.filter(pk=agent_id, missed_offers_in_a_row__gt=0).update(missed_offers_in_a_row=0)


def _record(agent: Agent, kind: str, previous: str, by: Agent | None) -> None:
    AgentStatusEvent.objects.create(
        agent=agent, kind=kind, at=timezone.now(), status=agent.status,
        max_concurrent_chats=agent.max_concurrent_chats, previous=previous, changed_by=by,
    )
