"""What routing does when a conversation or an agent changes (reactions/subscriptions.py).

Within the change's transaction: the run of missed offers that sets an agent away (agents.presence).
After commit: a routing pass wherever a slot or a queue place may have opened.
"""

from agents import presence
from conversations import events
from reactions.subscriptions import subscribe
from routing import dispatch

# The conversation changes after which a waiting chat may find an agent: a chat joined or went
# back to the queue, or a slot opened.
ROUTING_TOPICS = events.topics("queued", "requeued", "transferred", "closed", "missed", "abandoned")


@subscribe("conversation.requeued")
def count_missed_offer(change: events.Change) -> None:
    if change.event.reason == "offer_timeout":
        presence.count_missed_offer(change.event.from_agent_id)


@subscribe("conversation.accepted")
def end_missed_offers(change: events.Change) -> None:
    presence.end_missed_offers(change.event.agent_id)


@subscribe(*ROUTING_TOPICS, after_commit=True)
def route_the_site(change: events.Change) -> None:
    dispatch.route_waiting(change.site_id, trigger_id=change.conversation_id)


@subscribe("agent.status", "agent.cap", "agent.profile", "routing.settings", after_commit=True)
def route_every_site(change: presence.AgentChange | None) -> None:
    """Agents are not tied to one site, so every site's queue may now have a matching slot; the
    estimates of everyone waiting change too. "routing.settings" (no change object): departments or
    their routing settings changed."""
    if change is None or change.may_take_more:
        dispatch.route_all_sites(refresh_all=True)
