"""Server-to-client frames built from stored rows (docs/protocol.md describes each)."""

from conversations.models import Conversation, Message


def message_frame(message: Message, conversation: Conversation) -> dict:
    frame = {
        "type": "message",
        "conversation_id": str(conversation.public_id),
        "seq": message.seq,
        "client_id": message.client_id,
        "author": message.author,
        "agent_name": message.agent.display_name if message.agent_id else None,
        "visibility": message.visibility,
        "text": message.text,
        "sent_at": message.created_at.isoformat(),
    }
    if message.visibility == Message.Visibility.WHISPER:
        # Whispers only reach staff sockets, which show each one to its recipient and supervisors.
        frame["recipient_id"] = message.recipient_id
    return frame


def state_frame(conversation: Conversation, *, for_visitor: bool = False) -> dict:
    """for_visitor: last_seq is the last message the visitor may see, so a visitor's client compares
    it with what it shows (internal notes and whispers are not theirs to wait for)."""
    agent = conversation.assigned_agent
    frame = {
        "type": "state",
        "conversation_id": str(conversation.public_id),
        "status": conversation.status,
        "agent_name": agent.display_name if agent else None,
        "visitor_seen_seq": conversation.visitor_seen_seq,
        "agent_seen_seq": conversation.agent_seen_seq,
        "last_seq": conversation.last_public_seq if for_visitor else conversation.last_seq,
    }
    if not for_visitor:
        frame["agent_id"] = conversation.assigned_agent_id  # a console knows its own chats by id, not by name
    return frame
