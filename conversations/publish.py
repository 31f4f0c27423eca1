"""Delivery of frames to connected sockets over the channel layer, after the database commits.

Groups: every socket of a visitor joins `visitor_group` (so a chat started in one tab reaches the
others; frames carry their conversation id); agent consoles join
`staff_group` (public and internal traffic) and `site_staff_group` (queue changes). Internal
notes are only ever sent to staff groups, so a visitor socket never receives one.
"""

import asyncio
import logging

from asgiref.sync import SyncToAsync, async_to_sync
from channels.layers import get_channel_layer
from django.db import transaction

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


def send_frame(group: str, frame: dict) -> None:
    """Send now, waiting for it: the path outside a daphne process (Celery, management commands)."""
    async_to_sync(get_channel_layer().group_send)(group, {"type": "conv.frame", "frame": frame})


def publish_on_commit(groups: list[str], frame: dict) -> None:
    """Send once the surrounding transaction commits, so no socket sees a rolled-back state.

    Inside a daphne process the sends are handed to its event loop without waiting for them: the
    database thread (and the ack to the sender) does not wait on Redis round trips. Elsewhere
    (Celery, management commands) they are sent before this returns.
    robust=True: a channel layer outage must not undo or fail a committed write; clients catch
    up from the database by replay when they reconnect.
    """
    def deliver() -> None:
        loop = _server_event_loop()
        for group in groups:
            if loop is None:
                send_frame(group, frame)
            else:
                message = {"type": "conv.frame", "frame": frame}
                future = asyncio.run_coroutine_threadsafe(get_channel_layer().group_send(group, message), loop)
                future.add_done_callback(_log_failure)

    transaction.on_commit(deliver, robust=True)


def _server_event_loop() -> asyncio.AbstractEventLoop | None:
    """The event loop of the server, when this thread runs database work for it (sync_to_async)."""
    loop = getattr(SyncToAsync.threadlocal, "main_event_loop", None)
    return loop if loop is not None and loop.is_running() else None


def _log_failure(future) -> None:
    if not future.cancelled() and future.exception() is not None:
        log.error("channel layer send failed", exc_info=future.exception())
