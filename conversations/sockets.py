"""What the visitor's and the agent's sockets share: a rate limit, strict frames, error frames,
gap-free delivery of messages (conversations/delivery.py), and a cleanup that runs however the
socket ends.

A subclass names its frame parser and the errors that refuse a frame, implements one `on_<type>`
method per frame type, calls `start_rate_limit` once it accepts the socket, and implements the
delivery hooks: `visible_after`, `cursor_target`, `send_state_of`, `rejoin_groups`.
"""

import asyncio
import json
import logging

from autobahn.exception import Disconnected
from channels.db import aclose_old_connections
from channels.exceptions import StopConsumer
from channels.generic.websocket import AsyncWebsocketConsumer
from django.conf import settings
from redis.exceptions import RedisError

from conversations import delivery
from realtime.connections import SocketRegistry
from conversations.delivery import Track
from realtime.threads import db, in_thread
from realtime.framing import FrameError, ids_of
from conversations.lifecycle import LifecycleError
from realtime.ratelimit import TokenBucket

log = logging.getLogger(__name__)

CLOSE_FLOODING = 4008
CLOSE_SERVICE_UNAVAILABLE = 4013  # Redis is unreachable: reconnect later (docs/protocol.md)
UNSERVED = "the server cannot serve chats right now; reconnect in a few seconds"
GREETING_FRAMES = {"hello", "ping"}
class FrameSocket(AsyncWebsocketConsumer):
    refusals: tuple[type[Exception], ...] = (FrameError, LifecycleError)
    greeted = False
    closing = False  # refused or gone: nothing more is read or sent
    accepted = False
    connect_received = False
    released = False
    presence: tuple[SocketRegistry, int] | None = None
    presence_task: asyncio.Task | None = None

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.tracks: dict[int, Track] = {}  # conversation pk -> what this socket has delivered of it
        self.group_names: set[str] = set()
        self.delivery_lock = asyncio.Lock()  # one writer of message frames at a time: live, filled or replayed

    # --- lifetime ------------------------------------------------------------------------------

    async def __call__(self, scope, receive, send):
        try:
            await super().__call__(scope, receive, send)
        except Exception:
            # Redis or the database unreachable while setting up, say: a documented refusal that
            # the client retries, not an HTTP 500 or a bare 1011.
            log.warning("%s ended by an error; closing it as unserved", type(self).__name__, exc_info=True)
            await self._close_unserved(receive, send)
        finally:
            await self.release(None)

    async def websocket_connect(self, message):
        self.connect_received = True
        await super().websocket_connect(message)

    async def accept(self, subprotocol=None, headers=None):
        await super().accept(subprotocol, headers)
        self.accepted = True
        delivery.watch().join(self)

    async def websocket_disconnect(self, message):
        await self.release(message.get("code"))
        await aclose_old_connections()
        raise StopConsumer()

    async def release(self, code) -> None:
        """Once, however the socket ends (a close, a crash, a cancelled task): stop counting it."""
        if self.released:
            return
        self.released = self.closing = True
        delivery.watch().leave(self)
        try:
            await self.disconnect(code)
        except Exception:
            log.exception("%s cleanup failed", type(self).__name__)

    async def dispatch(self, message):
        if message["type"].startswith("websocket."):
            return await super().dispatch(message)
        try:
            await super().dispatch(message)
        except Exception:  # one lost frame, which the delivery check replaces; never the socket
            log.exception("%s could not handle %s", type(self).__name__, message["type"])

    async def _close_unserved(self, receive, send):
        if self.released:
            return
        frame = {"type": "error", "code": "service_unavailable", "retry": True, "message": UNSERVED}
        try:
            if not self.accepted:
                if not self.connect_received:
                    await receive()
                await send({"type": "websocket.accept"})
            await send({"type": "websocket.send", "text": json.dumps(frame)})
            await send({"type": "websocket.close", "code": CLOSE_SERVICE_UNAVAILABLE})
        except Exception:  # the client has gone already
            pass

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
            return await self.send_error(error.code, error.message, field=error.field, **self._ids(text_data))
        kind, ref = frame["type"], frame.get("client_id")
        if not self.greeted and kind not in GREETING_FRAMES:
            return await self.send_error("hello_required", "send a hello frame first", ref=ref)
        try:
            await getattr(self, f"on_{kind}")(frame)
        except self.refusals as error:
            # A refusal may say more: when to try again (a limit), that trying again will help.
            details = error.details() if hasattr(error, "details") else {}
            await self.send_error(error.code, str(error), field=getattr(error, "field", None), ref=ref,
                                  conversation_id=frame.get("conversation_id"), retry=getattr(error, "retry", False),
                                  **details)
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

    async def join_live(self, group: str, *, presence: tuple[SocketRegistry, int]) -> bool:
        """After accept: join the socket's own group and count it present, both in Redis. Unreachable:
        close 4013 (the client reconnects, perhaps to another server) and return False."""
        try:
            await self.join_group(group)
            await self.start_presence(*presence)
        except (RedisError, OSError, asyncio.TimeoutError):
            log.warning("%s closed: Redis unreachable", type(self).__name__)
            self.closing = True
            await self.send_error("service_unavailable", UNSERVED, retry=True)
            await self.close(code=CLOSE_SERVICE_UNAVAILABLE)
            return False
        return True

    async def _heartbeat(self):
        registry, owner_id = self.presence
        while True:
            await asyncio.sleep(registry.heartbeat_seconds())
            try:
                await in_thread(registry.beat)(owner_id, self.channel_name)
            except Exception:  # the next beat tries again; three missed ones count the socket gone
                log.warning("%s heartbeat failed (Redis unreachable?)", registry.kind)

    async def on_ping(self, frame):
        await self.send_frame({"type": "pong"})

    async def refuse(self, code: str, message: str, close_code: int, **details) -> None:
        self.closing = True
        await self.send_error(code, message, **details)
        await self.close(code=close_code)

    async def send_error(self, code: str, message: str, *, retry: bool = False, **details) -> None:
        """An error frame; details that are None (no field, no ref) are left out."""
        frame = {"type": "error", "code": code, "message": message, "retry": retry}
        frame.update((name, value) for name, value in details.items() if value is not None)
        await self.send_frame(frame)

    async def send_frame(self, frame: dict) -> None:
        if self.released:
            return
        try:
            await self.send(text_data=json.dumps(frame, ensure_ascii=False))
        except Disconnected:
            # The socket closed while this was on its way: its disconnect follows and cleans up.
            self.closing = True

    # --- gap-free delivery (conversations/delivery.py) ----------------------------------------------

    def visible_after(self, conversation_pk: int, after: int, up_to: int | None) -> tuple[list[dict], int]:
        """Database work: message frames this socket may see with after < seq <= up_to, oldest first,
        and the seq read to (hidden messages included)."""
        raise NotImplementedError

    def cursor_target(self, position: delivery.Position) -> int:
        """The seq this socket's cursor must reach for a conversation in this position."""
        raise NotImplementedError

    async def send_state_of(self, conversation_pk: int) -> None:
        raise NotImplementedError

    async def join_group(self, group: str) -> None:
        if group not in self.group_names:
            await self.channel_layer.group_add(group, self.channel_name)
            self.group_names.add(group)

    async def leave_group(self, group: str) -> None:
        if group in self.group_names:
            self.group_names.discard(group)
            await self.channel_layer.group_discard(group, self.channel_name)

    async def leave_groups(self) -> None:
        for group in list(self.group_names):
            try:
                await self.leave_group(group)
            except Exception:  # Redis is gone: the subscription went with it
                log.warning("could not leave %s", group)

    async def rejoin_groups(self) -> None:
        """Redis is back: subscribe again to every group, in case the restart dropped them."""
        for group in self.group_names:
            await self.channel_layer.group_add(group, self.channel_name)

    def track_state(self, conversation_pk: int, key: tuple, *, last_seq: int) -> None:
        """A `state` frame went out. A chat not tracked yet is tracked from its last_seq on: the
        client, told that seq, asks (sync) for whatever before it it lacks."""
        track = self.tracks.setdefault(conversation_pk, Track(cursor=last_seq, sent=last_seq))
        track.state = key

    def track_seen(self, conversation_pk: int, by: str, seq: int) -> None:
        """A `seen` frame went out: the state this socket shows moved with it."""
        track = self.tracks.get(conversation_pk)
        if track is not None and track.state is not None:
            index = 2 if by == "visitor" else 3
            track.state = (*track.state[:index], max(track.state[index], seq), *track.state[index + 1:])

    async def deliver_message(self, conversation_pk: int, frame: dict, *, visible: bool = True) -> None:
        """A message frame from the channel layer: fill any gap before it, send it once."""
        async with self.delivery_lock:
            track = self.tracks.get(conversation_pk)
            if track is None:  # a chat this socket has not replayed: its client asks for what it lacks
                track = self.tracks[conversation_pk] = Track(cursor=frame["prev_seq"], sent=frame["prev_seq"])
            if frame["seq"] <= track.cursor:
                return
            if frame["prev_seq"] > track.cursor:
                await self._send_missing(conversation_pk, track, up_to=frame["seq"] - 1)
            if visible:
                await self._send_message(track, frame)
            track.cursor = frame["seq"]

    async def replay(self, conversation_pk: int, public_id: str, after: int) -> None:
        """Every message after the client's seq, then `replayed`: hello, open and sync."""
        async with self.delivery_lock:
            messages, read_to = await db(self.visible_after)(conversation_pk, after, None)
            track = self.tracks.setdefault(conversation_pk, Track(cursor=after, sent=after))
            track.sent = after  # the client's own base: the chain it is shown starts there
            for message in messages:
                await self._send_message(track, message)
            track.cursor = max(track.cursor, read_to)
            await self.send_frame({"type": "replayed", "conversation_id": public_id, "last_seq": read_to})

    async def catch_up(self, positions: dict[int, delivery.Position], *, urgent: bool, restored: bool) -> None:
        """The delivery check: send what the database holds and this socket still lacks.

        urgent (Redis is or was just down: no live frames to wait for): at once; otherwise only what
        was already missing at the previous check.
        """
        if restored:
            await self.rejoin_groups()
            await self.tell_service("ok")
        stale_states = []
        async with self.delivery_lock:
            for pk, track in list(self.tracks.items()):
                position = positions.get(pk)
                if position is None:
                    continue
                target = self.cursor_target(position)
                if track.cursor >= target:
                    track.behind_seq = None
                elif urgent or (track.behind_seq is not None and track.cursor < track.behind_seq):
                    await self._send_missing(pk, track, up_to=target)
                    track.behind_seq = None
                else:
                    track.behind_seq = target
                if track.state is None or track.state == position.state:
                    track.behind_state = False
                elif urgent or track.behind_state:
                    stale_states.append(pk)
                    track.behind_state = False
                else:
                    track.behind_state = True
        for pk in stale_states:
            await self.send_state_of(pk)

    @classmethod
    async def check_all(cls, sockets: list, positions: dict, *, urgent: bool, restored: bool) -> None:
        """The delivery check for every socket of this class in the process (a subclass may add to it)."""
        await asyncio.gather(*(socket.catch_up(positions, urgent=urgent, restored=restored) for socket in sockets))

    async def send_passing(self, group: str, frame: dict) -> None:
        """A frame nobody must catch up on (typing): not sent while Redis is down, and a failed send
        costs only itself; the next keystroke sends another."""
        if delivery.redis_lost():
            return
        try:
            await asyncio.wait_for(self.channel_layer.group_send(group, {"type": "conv.frame", "frame": frame}),
                                   timeout=settings.REDIS_SOCKET_TIMEOUT)
        except Exception:
            log.warning("could not send %s to %s", frame["type"], group)
            delivery.publish_failed()

    async def tell_service(self, status: str) -> None:
        await self.send_frame({"type": "service", "status": status})

    async def _send_missing(self, conversation_pk: int, track: Track, *, up_to: int | None) -> None:
        messages, read_to = await db(self.visible_after)(conversation_pk, track.cursor, up_to)
        for message in messages:
            if message["seq"] > track.cursor:
                await self._send_message(track, message)
                track.cursor = message["seq"]
        track.cursor = max(track.cursor, read_to)

    async def _send_message(self, track: Track, frame: dict) -> None:
        await self.send_frame({**frame, "prev_seq": track.sent})
        track.sent = frame["seq"]

    async def _flooded(self, text_data):
        self.refused_in_a_row += 1
        if self.refused_in_a_row >= self.flood_close_after:
            return await self.refuse("flooding", "too many frames; reconnect later", CLOSE_FLOODING)
        await self.send_error("rate_limited", "too many frames; resend after retry_after_ms", retry=True,
                              retry_after_ms=self.bucket.retry_after_ms(), **self._ids(text_data))

    @staticmethod
    def _ids(text_data) -> dict[str, str]:
        return ids_of(text_data, max_bytes=settings.WIDGET_MAX_FRAME_BYTES)
