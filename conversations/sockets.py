"""What the visitor's and the agent's sockets share: a rate limit, strict frames, error frames.

A subclass names its frame parser and the errors that refuse a frame, implements one `on_<type>`
method per frame type, and calls `start_rate_limit` once it accepts the socket.
"""

import asyncio
import json
import logging

from asgiref.sync import sync_to_async
from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer
from django.conf import settings

from conversations.connections import SocketRegistry
from conversations.framing import FrameError, client_id_of
from conversations.lifecycle import LifecycleError
from widget.ratelimit import TokenBucket

log = logging.getLogger(__name__)

CLOSE_FLOODING = 4008
GREETING_FRAMES = {"hello", "ping"}
# Redis calls that are not database work: any worker thread, so they never queue behind the database.
in_thread = sync_to_async(thread_sensitive=False)


def db(function):
    """Run database work in a worker thread, never on the event loop.

    PostgreSQL: a pool of threads, each with its own connection, so frames of different sockets
    do not queue behind each other. SQLite has a single writer: one thread per process, because
    threads competing for its write lock wait in its busy handler's sleeps instead of a queue.
    """
    single_writer = settings.DATABASES["default"]["ENGINE"].endswith("sqlite3")
    return database_sync_to_async(function, thread_sensitive=single_writer)


class FrameSocket(AsyncWebsocketConsumer):
    refusals: tuple[type[Exception], ...] = (FrameError, LifecycleError)
    greeted = False
    closing = False  # refused: whatever the client still sends is ignored
    presence: tuple[SocketRegistry, int] | None = None
    presence_task: asyncio.Task | None = None

    @staticmethod
    def parse_frame(raw: str | None) -> dict:
        raise NotImplementedError

    def start_rate_limit(self, *, rate: float, burst: int, flood_close_after: int) -> None:
        self.bucket = TokenBucket(rate=rate, burst=burst)
        self.flood_close_after = flood_close_after
        self.refused_in_a_row = 0

    async def receive(self, text_data=None, bytes_data=None):
        if self.closing:
            return
        if not self.bucket.take():
            return await self._flooded(text_data)
        self.refused_in_a_row = 0
        try:
            frame = self.parse_frame(text_data)
        except FrameError as error:
            return await self.send_error(error.code, error.message, field=error.field, ref=self._ref(text_data))
        kind, ref = frame["type"], frame.get("client_id")
        if not self.greeted and kind not in GREETING_FRAMES:
            return await self.send_error("hello_required", "send a hello frame first", ref=ref)
        try:
            await getattr(self, f"on_{kind}")(frame)
        except self.refusals as error:
            await self.send_error(error.code, str(error), field=getattr(error, "field", None), ref=ref,
                                  conversation_id=frame.get("conversation_id"))
        except Exception:
            # A bug must cost one frame, not the socket: the client resends an unacknowledged message.
            log.exception("%s frame %s failed", type(self).__name__, kind)
            await self.send_error("server_error", "the server could not handle this frame", ref=ref, retry=True,
                                  conversation_id=frame.get("conversation_id"))

    async def start_presence(self, registry: SocketRegistry, owner_id: int) -> None:
        """Count this socket as one of the owner's (an agent's console, a visitor's widget) in every
        process: now, then at every heartbeat, until stop_presence."""
        self.presence = (registry, owner_id)
        await in_thread(registry.beat)(owner_id, self.channel_name)
        self.presence_task = asyncio.create_task(self._heartbeat())

    async def stop_presence(self) -> int | None:
        """This socket is gone: returns how many sockets its owner still has (None: never counted)."""
        if self.presence is None:
            return None
        self.presence_task.cancel()
        registry, owner_id = self.presence
        self.presence = None
        return await in_thread(registry.leave)(owner_id, self.channel_name)

    async def _heartbeat(self):
        registry, owner_id = self.presence
        while True:
            await asyncio.sleep(registry.heartbeat_seconds())
            try:
                await in_thread(registry.beat)(owner_id, self.channel_name)
            except Exception:  # the next beat tries again; three missed ones count the socket gone
                log.exception("%s heartbeat failed", registry.kind)

    async def on_ping(self, frame):
        await self.send_frame({"type": "pong"})

    async def refuse(self, code: str, message: str, close_code: int) -> None:
        self.closing = True
        await self.send_error(code, message)
        await self.close(code=close_code)

    async def send_error(self, code: str, message: str, *, retry: bool = False, **details) -> None:
        """An error frame; details that are None (no field, no ref) are left out."""
        frame = {"type": "error", "code": code, "message": message, "retry": retry}
        frame.update((name, value) for name, value in details.items() if value is not None)
        await self.send_frame(frame)

    async def send_frame(self, frame: dict) -> None:
        await self.send(text_data=json.dumps(frame, ensure_ascii=False))

    async def _flooded(self, text_data):
        self.refused_in_a_row += 1
        if self.refused_in_a_row >= self.flood_close_after:
            return await self.refuse("flooding", "too many frames; reconnect later", CLOSE_FLOODING)
        await self.send_error("rate_limited", "too many frames; resend after retry_after_ms", retry=True,
                              ref=self._ref(text_data), retry_after_ms=self.bucket.retry_after_ms())

    @staticmethod
    def _ref(text_data) -> str | None:
        return client_id_of(text_data, max_bytes=settings.WIDGET_MAX_FRAME_BYTES)
