import uuid

from conversations.models import Conversation, Visitor


def visitor_conversation(visitor: Visitor, public_id: str) -> Conversation | None:
    """One of the visitor's own conversations by its public id; None for anyone else's, or no such id."""
    try:
        public_id = uuid.UUID(public_id)
    except ValueError:
        return None
    return Conversation.objects.filter(visitor=visitor, public_id=public_id).first()
