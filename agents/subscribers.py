"""What the agents' side does when a conversation or an agent changes (reactions/subscriptions.py).

Within the change's transaction: the run of missed offers that sets an agent away (agents.presence).
After commit: a routing pass wherever a slot or a queue place may have opened, the status frame
to every tab of an agent whose status or cap changed, whoever changed it, and the consoles' queue
and board once per burst of such changes (agents/boards.py).
"""

from agents import boards, console, dispatch, presence
from conversations import events
from conversations.publish import agent_group, publish_on_commit
from reactions.subscriptions import subscribe

# The conversation changes after which a waiting chat may find an agent: a chat joined or went
# back to the queue, or a slot opened.
ROUTING_TOPICS = events.topics("queued", "requeued", "transferred", "closed", "missed", "abandoned")
# What the consoles' queue and the supervisors' board show changed (agents/boards.py).
FLOOR_TOPICS = (*events.topics(*events.STATE_KINDS), "agent.status", "agent.cap", "agent.consoles")


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


@subscribe("agent.status", "agent.cap", after_commit=True)
def tell_the_agents_consoles(change: presence.AgentChange) -> None:
    """Every tab of the agent shows the new status and cap."""
    publish_on_commit([agent_group(change.agent_id)],
                      console.status_frame(agent_id=change.agent_id, status=change.status, cap=change.cap))


@subscribe(*FLOOR_TOPICS, after_commit=True)
def refresh_the_floor(change) -> None:
    boards.floor.request()


@subscribe("agent.status", "agent.cap", "agent.profile", after_commit=True)
def route_every_site(change: presence.AgentChange) -> None:
    """Agents are not tied to one site, so every site's queue may now have a matching slot; the
    estimates of everyone waiting change too."""
    if change.may_take_more:
        dispatch.route_all_sites(refresh_all=True)
