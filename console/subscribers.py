"""What the agent consoles show when a conversation or an agent changes (reactions/subscriptions.py),
after commit: the status frame to every tab of an agent whose status or cap changed, whoever
changed it, and the consoles' queue and board once per burst of changes (console/boards.py).
"""

from console import boards, workspace
from conversations import events
from conversations.publish import agent_group, publish_on_commit
from reactions.subscriptions import subscribe

# What the consoles' queue, the supervisors' board and the wallboard show changed.
FLOOR_TOPICS = (*events.topics(*events.STATE_KINDS), "agent.status", "agent.cap", "agent.consoles")


@subscribe("agent.status", "agent.cap", after_commit=True)
def tell_the_agents_consoles(change) -> None:
    """Every tab of the agent shows the new status and cap."""
    publish_on_commit([agent_group(change.agent_id)],
                      workspace.status_frame(agent_id=change.agent_id, status=change.status, cap=change.cap))


@subscribe(*FLOOR_TOPICS, after_commit=True)
def refresh_the_floor(change) -> None:
    boards.floor.request()
