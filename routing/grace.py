"""The disconnect grace period: what happens to an agent whose consoles have all gone.

When an agent's last console socket closes (or its daphne process dies and the heartbeats stop),
the agent gets AGENT_DISCONNECT_GRACE_SECONDS to come back: a page reload or a network blip
changes nothing. During that time the supervisors' board flags their chats
(`agent_connected: false`). After it:

* an online agent is set away (agents.presence, one AgentStatusEvent), so routing gives them
  nothing new;
* each of their open chats goes back to the queue at its original place
  (lifecycle.requeue_conversation keeps queued_at; reason "agent_disconnected"); the visitor gets
  the queued `state` and a new `queue` position. A chat the agent had already answered also gets
  an internal note, in the same transaction, telling the next agent the conversation was
  under way with someone who disconnected.

release_if_disconnected is idempotent: it re-reads everything, so the reaction scheduled at the
last disconnect (schedule_check), a re-run of it, and the beat sweep can all run it.
"""

import logging
import time
from dataclasses import dataclass, field
from datetime import timedelta

from django.conf import settings
from django.db.models import Exists, OuterRef
from django.utils import timezone

import reactions
from agents import presence
from agents.models import Agent
from conversations import lifecycle
from conversations.models import Conversation, Message
from reactions import subscriptions
from realtime.connections import consoles

log = logging.getLogger(__name__)

REASON = "agent_disconnected"


@dataclass
class Outcome:
    action: str  # "connected", "waiting", "unknown" (no console seen) or "released"
    requeued: list[int] = field(default_factory=list)
    set_away: bool = False


def release_if_disconnected(agent_id: int, *, now: float | None = None) -> Outcome:
    now = time.time() if now is None else now
    since = consoles.disconnected_since([agent_id], now=now)[agent_id]
    if since is None:
        if consoles.live_sockets(agent_id, now=now):
            return Outcome("connected")
        consoles.forget(agent_id)
        return Outcome("unknown")
    if now - since < settings.AGENT_DISCONNECT_GRACE_SECONDS:
        return Outcome("waiting")
    agent = Agent.objects.filter(pk=agent_id).first()
    if agent is None:
        consoles.forget(agent_id)
        return Outcome("unknown")
    outcome = Outcome("released")
    if agent.status == Agent.Status.ONLINE:
        # Away first, so the routing pass each requeue triggers cannot hand the chat straight back.
        presence.set_agent_status(agent, Agent.Status.AWAY)
        outcome.set_away = True
    replied = Message.objects.filter(conversation=OuterRef("pk"), author=Message.Author.AGENT,
                                     visibility=Message.Visibility.PUBLIC)
    chats = Conversation.objects.filter(assigned_agent_id=agent_id, status__in=Conversation.ACTIVE_STATUSES).annotate(
        replied=Exists(replied)).order_by("queued_at", "id").values_list("id", "replied")
    for conversation_id, has_reply in chats:
        try:
            lifecycle.requeue_conversation(conversation_id=conversation_id, actor=lifecycle.Actor.system(),
                                           reason=REASON, note=handover_note(agent) if has_reply else "")
        except lifecycle.IllegalTransition:
            continue  # closed or moved on meanwhile
        outcome.requeued.append(conversation_id)
    consoles.forget(agent_id)
    tell_supervisors(agent_id)
    log.info("agent %s disconnected past the grace period: away=%s requeued=%s",
             agent_id, outcome.set_away, outcome.requeued)
    return outcome


def handover_note(agent: Agent) -> str:
    """For the next agent of a chat that was under way: why it is back in the queue."""
    return (f"{agent} disconnected and did not come back within {settings.AGENT_DISCONNECT_GRACE_SECONDS} s, "
            f"so this chat went back to the queue. The visitor was already talking with {agent}: "
            "read the conversation above before you reply.")


def sweep(*, now: float | None = None) -> list[Outcome]:
    """Every agent whose consoles have gone: the safety net for a check that never ran (a daphne
    process that died with consoles open schedules none)."""
    return [release_if_disconnected(agent_id, now=now) for agent_id in consoles.watched()]


def schedule_check(agent_id: int) -> None:
    """The agent's last console closed: check again once the grace period is over.

    Called outside any transaction (the socket's disconnect), so the row commits at once. The key
    holds the due second: every disconnect gets its own check, a repeat within that second none.
    """
    due_at = timezone.now() + timedelta(seconds=settings.AGENT_DISCONNECT_GRACE_SECONDS + 1)
    reactions.schedule("agents.release_disconnected_agent", key=f"grace:{agent_id}:{int(due_at.timestamp())}",
                       due_at=due_at, agent_id=agent_id)


def tell_supervisors(agent_id: int) -> None:
    """The boards show the agent's consoles gone (console/subscribers.py, metrics/subscribers.py)."""
    subscriptions.hand_on_after_commit("agent.consoles", agent_id)
