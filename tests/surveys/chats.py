"""Finished chats for the survey tests."""

from conversations import lifecycle
from conversations.lifecycle import Actor
from tests.personas import make_topic


def finished_chat(site, visitor, agent, *, reply: bool = True, language: str = "en", close: bool = True):
    """A chat Alice took, answered (or not: missed) and closed (or left active)."""
    conversation, _ = lifecycle.start_conversation(site=site, visitor=visitor, topic=make_topic(site), name="Ann",
                                                   context={"language": language})
    lifecycle.assign_conversation(conversation_id=conversation.pk, agent=agent, actor=Actor.system())
    lifecycle.accept_conversation(conversation_id=conversation.pk, agent=agent)
    lifecycle.post_message(conversation_id=conversation.pk, actor=Actor.visitor(), text="Where is my order?",
                           client_id="v1")
    if reply:
        lifecycle.post_message(conversation_id=conversation.pk, actor=Actor.of_agent(agent), text="On its way.")
    if not close:
        return conversation
    return lifecycle.close_conversation(conversation_id=conversation.pk, actor=Actor.of_agent(agent))
