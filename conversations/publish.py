"""Delivery of frames to connected sockets over the channel layer, after the database commits.

Groups: every socket of a visitor joins `visitor_group` (so a chat started in one tab reaches the
others; frames carry their conversation id); agent consoles join
`staff_group` (public and internal traffic) and `site_staff_group` (queue changes). Internal
notes are only ever sent to staff groups, so a visitor socket never receives one.
"""

import asyncio
import logging
from functools import partial

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.conf import settings
from django.db import transaction

from conversations import delivery
from realtime.threads import server_event_loop

log = logging.getLogger(__name__)


def visitor_group(visitor_id: int) -> str:
    return f"visitor.{visitor_id}"


def staff_group(conversation_id: int) -> str:
    return f"conv.{conversation_id}.staff"


def site_staff_group(site_id: int) -> str:
    return f"site.{site_id}.staff"


def agent_group(agent_id: int) -> str:
    """Every console socket (tab) of one agent: their status and the chats they take stay in step."""
    return f"agent.{agent_id}"


def supervisors_group() -> str:
    """Console sockets of supervisors and admins: told when the board (agents, flags) changes."""
    return "staff.supervisors"


def consoles_group() -> str:
    """Every console socket: the queue summary, computed once per burst of changes (console/boards.py)."""
    return "staff.consoles"


def wallboards_group() -> str:
    """Every wallboard socket: the snapshot, computed once per burst of changes (metrics/subscribers.py)."""
    return "staff.wallboards"


def publish_on_commit(groups: list[str], frame: dict) -> None:
    """The same frame to each of these groups, once the surrounding transaction commits."""
    publish_frames_on_commit([(group, frame) for group in groups])


def publish_frames_on_commit(frames: list[tuple[str, dict]]) -> None:
    """Send (group, frame) pairs in this order once the surrounding transaction commits, so no
    socket sees a rolled-back state.

    All of them go in one coroutine, so a routing pass that tells every waiting visitor their place
    costs one trip to the event loop, not one per frame. Inside a daphne process that coroutine is
    handed to its event loop without waiting for it: the database thread (and the ack to the
    sender) does not wait on Redis round trips. Elsewhere (Celery, management commands) the frames
    are sent before the commit callback returns.
    robust=True: a channel layer outage must not undo or fail a committed write; every socket
    catches up from the database (conversations/delivery.py).
    """
    if not frames:
        return
    transaction.on_commit(partial(_deliver, frames), robust=True)


def _deliver(frames: list[tuple[str, dict]]) -> None:
    loop = server_event_loop()
    if loop is None:
        async_to_sync(_send_all)(frames)
    else:
        asyncio.run_coroutine_threadsafe(_send_all(frames), loop)


async def _send_all(frames: list[tuple[str, dict]]) -> None:
    """Each frame on its own: a send that fails (a Redis hiccup) is logged and the rest still go.

    Each send is bounded in time: sends queue behind one another on the layer's connection, and
    behind a stalled Redis they would wait for ever. While this process knows Redis is down it
    sends nothing: its sockets are served from the database until Redis is back.
    """
    layer = get_channel_layer()
    for group, frame in frames:
        if delivery.redis_lost():
            return
        try:
            await asyncio.wait_for(layer.group_send(group, {"type": "conv.frame", "frame": frame}),
                                   timeout=settings.REDIS_SOCKET_TIMEOUT)
        except Exception:
            log.warning("channel layer send to %s failed; sockets catch up from the database", group)
            delivery.publish_failed()
