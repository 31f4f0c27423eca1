"""The server frames that travel over the channel layer, as sockets receive them: the outbound
twin of the client frame tables (realtime/framing.py), and what docs/protocol.md lists.

type → the shapes a frame of that type may have: {field: type} of required fields, and of
optional ones. tests/conversations/test_events.py performs every transition and holds every frame
the server published to this table (`check`), so a field renamed on one side fails there.
"""

from conversations.events import InvalidEvent, is_of

Shape = tuple[dict, dict]  # (required fields, optional fields)

_STATE = {"conversation_id": str, "status": str, "agent_name": str | None, "visitor_seen_seq": int,
          "agent_seen_seq": int, "last_seq": int}
_MESSAGE = {"conversation_id": str, "seq": int, "client_id": str | None, "author": str, "agent_name": str | None,
            "visibility": str, "text": str, "sent_at": str, "prev_seq": int}

FRAMES: dict[str, list[Shape]] = {
    "state": [(_STATE, {}), ({**_STATE, "agent_id": int | None}, {})],  # the visitor's, the staff's
    "message": [(_MESSAGE, {"recipient_id": int})],  # recipient_id: a whisper's agent
    "seen": [({"conversation_id": str, "by": str, "seq": int}, {})],
    "typing": [({"conversation_id": str, "by": str, "is_typing": bool}, {"agent_name": str})],
    "context": [({"conversation_id": str, "context": dict}, {})],
    "tags": [({"conversation_id": str, "tags": list[str]}, {})],
    "wrapup": [({"conversation_id": str, "started_at": str}, {})],
    "rated": [({"conversation_id": str, "csat": int}, {})],
    "banned": [({}, {})],
    "offline_offer": [({"conversation_id": str}, {})],
    "status": [({"agent_id": int, "status": str, "cap": int}, {})],
    "queue": [
        ({"conversation_id": str, "position": int, "estimated_wait_seconds": int | None}, {}),  # a visitor's place
        ({"waiting": int, "longest_wait_seconds": int, "by_skill": list[dict], "chats": list[dict]}, {}),  # consoles
    ],
    "board": [({"agents": list[dict], "conversations": list[dict], "longest_wait_seconds": int}, {})],
    "wallboard": [({"at": str, "queue": dict, "agents": list[dict], "agents_by_status": dict, "chats_in_progress": int,
                    "chats_assigned": int, "load": dict, "today": dict}, {})],
}


def check(frame: dict) -> None:
    """Raise InvalidEvent unless the frame has one of its type's shapes exactly."""
    shapes = FRAMES.get(frame.get("type"))
    if shapes is None:
        raise InvalidEvent(f"no server frame type {frame.get('type')!r}")
    fields = {name: value for name, value in frame.items() if name != "type"}
    for required, optional in shapes:
        if (set(required) <= set(fields) <= set(required) | set(optional)
                and all(is_of(value, {**required, **optional}[name]) for name, value in fields.items())):
            return
    raise InvalidEvent(f"{frame['type']} frame {sorted(fields)} has none of the shapes of conversations/outbound.py")
