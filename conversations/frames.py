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


def state_frame(conversation: Conversation) -> dict:
    agent = conversation.assigned_agent
    return {
        "type": "state",
        "conversation_id": str(conversation.public_id),
        "status": conversation.status,
        "agent_name": agent.display_name if agent else None,
        "visitor_seen_seq": conversation.visitor_seen_seq,
        "agent_seen_seq": conversation.agent_seen_seq,
        "last_seq": conversation.last_seq,
    }
