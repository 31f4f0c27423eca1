"""Delivery of frames to connected sockets over the channel layer, after the database commits.

Groups: every socket of a visitor joins `visitor_group` (so a chat started in one tab reaches the
others; frames carry their conversation id); agent consoles join
`staff_group` (public and internal traffic) and `site_staff_group` (queue changes). Internal
notes are only ever sent to staff groups, so a visitor socket never receives one.
"""

import logging

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.db import transaction

log = logging.getLogger(__name__)


def visitor_group(visitor_id: int) -> str:
    return f"visitor.{visitor_id}"


def staff_group(conversation_id: int) -> str:
    return f"conv.{conversation_id}.staff"


def site_staff_group(site_id: int) -> str:
    return f"site.{site_id}.staff"


def send_frame(group: str, frame: dict) -> None:
    """Send now; for frames that change no stored state (typing indicators)."""
    async_to_sync(get_channel_layer().group_send)(group, {"type": "conv.frame", "frame": frame})


def publish_on_commit(groups: list[str], frame: dict) -> None:
    """Send once the surrounding transaction commits, so no socket sees a rolled-back state.

    robust=True: a channel layer outage must not undo or fail a committed write; clients catch
    up from the database by replay when they reconnect.
    """
    def deliver() -> None:
        for group in groups:
            send_frame(group, frame)

    transaction.on_commit(deliver, robust=True)
