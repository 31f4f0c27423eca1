"""Gap-free delivery: every message a socket may see reaches it once and in seq order, whatever fails
on the way (a process that died between its commit and its publish, frames of two processes that
overtake each other, a Redis that stalls or restarts).

The live path is the channel layer (conversations/publish.py). Each socket keeps, per conversation
it shows, a `Track`: the highest seq it has accounted for (sent, or not its to see) and the last
seq it sent. A published message frame names the seq its audience saw before it (`prev_seq`):
when that is past the socket's cursor, frames were lost, and the socket reads the missing
messages from the database before it sends this one. Each frame a socket sends names the one it
sent before (prev_seq again, restamped for that socket), so a client sees one unbroken chain and
asks (`sync`) for whatever it lacks.

What no later frame reveals (a lost tail, a lost state) is caught by the `Watch` of each process:
every DELIVERY_CHECK_SECONDS one query reads the last seqs and states of every conversation its
sockets track, and a socket that is still behind what the database held at the previous check
catches up (two checks, so frames in flight are not read twice). The same loop pings Redis: when
it is gone every socket is told (`service` degraded) and the check runs every
DELIVERY_DEGRADED_CHECK_SECONDS and catches up at once, so chats go on at database speed; when
Redis is back every socket rejoins its groups, is told (`service` ok) and catches up.
"""

import asyncio
import logging
from dataclasses import dataclass

from django.conf import settings

from realtime import redis_keys
from conversations.models import Conversation
from realtime.threads import db, in_thread

log = logging.getLogger(__name__)

CHECK_CHUNK = 500  # conversations per query: far below every database's limit on bound parameters


@dataclass
class Track:
    """What one socket has delivered of one conversation."""

    cursor: int  # every visible message up to this seq has been sent (or was not this socket's to see)
    sent: int  # the last seq sent: the next frame's prev_seq
    state: tuple | None = None  # the state last sent (state_key)
    behind_seq: int | None = None  # the database's seq at the last check, if the cursor was behind it
    behind_state: bool = False  # the state differed from the database's at the last check


@dataclass(frozen=True)
class Position:
    """A conversation as the check reads it."""

    last_seq: int
    last_public_seq: int
    state: tuple


def state_key(*, status: str, agent_id: int | None, visitor_seen_seq: int, agent_seen_seq: int) -> tuple:
    """What a `state` frame shows that a socket must not miss a change of."""
    return status, agent_id, visitor_seen_seq, agent_seen_seq


def read_positions(conversation_ids: list[int]) -> dict[int, Position]:
    positions = {}
    for start in range(0, len(conversation_ids), CHECK_CHUNK):
        rows = Conversation.objects.filter(pk__in=conversation_ids[start:start + CHECK_CHUNK]).values_list(
            "pk", "last_seq", "last_public_seq", "status", "assigned_agent_id", "visitor_seen_seq", "agent_seen_seq")
        for pk, last_seq, last_public_seq, status, agent_id, visitor_seen, agent_seen in rows:
            positions[pk] = Position(last_seq, last_public_seq, state_key(
                status=status, agent_id=agent_id, visitor_seen_seq=visitor_seen, agent_seen_seq=agent_seen))
    return positions


def redis_reachable() -> bool:
    try:
        return bool(redis_keys.client().ping())
    except Exception:
        return False


class Watch:
    """The sockets of this process, checked against the database; and whether Redis is reachable."""

    def __init__(self):
        self.sockets: set = set()
        self.degraded = False
        self._task: asyncio.Task | None = None
        self._wake = asyncio.Event()

    def join(self, socket) -> None:
        self.sockets.add(socket)
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._run())

    def leave(self, socket) -> None:
        self.sockets.discard(socket)

    def lost_redis(self) -> None:
        """A publish failed: check now rather than at the next tick."""
        self._wake.set()

    async def _run(self):
        while self.sockets:
            interval = settings.DELIVERY_DEGRADED_CHECK_SECONDS if self.degraded else settings.DELIVERY_CHECK_SECONDS
            try:
                await asyncio.wait_for(self._wake.wait(), timeout=interval)
            except asyncio.TimeoutError:
                pass
            self._wake.clear()
            try:
                await self.check()
            except Exception:  # the next tick tries again
                log.exception("delivery check failed")

    async def check(self) -> None:
        """One tick: Redis, then every socket against the database."""
        reachable = await in_thread(redis_reachable)()
        lost, restored = reachable is False and not self.degraded, reachable and self.degraded
        self.degraded = not reachable
        sockets = list(self.sockets)
        if lost:
            log.warning("Redis unreachable: %d sockets now served from the database", len(sockets))
            await asyncio.gather(*(socket.tell_service("degraded") for socket in sockets))
        conversation_ids = sorted({pk for socket in sockets for pk in socket.tracks})
        positions = await db(read_positions)(conversation_ids) if conversation_ids else {}
        urgent = self.degraded or restored
        for kind in {type(socket) for socket in sockets}:
            await kind.check_all([s for s in sockets if type(s) is kind], positions, urgent=urgent,
                                 restored=restored)
        if restored:
            log.warning("Redis reachable again: %d sockets caught up", len(sockets))


_watches: dict[asyncio.AbstractEventLoop, Watch] = {}


def _current_watch() -> Watch | None:
    """The watch of the running loop, if it has sockets (a daphne process); None elsewhere."""
    try:
        return _watches.get(asyncio.get_running_loop())
    except RuntimeError:
        return None


def redis_lost() -> bool:
    current = _current_watch()
    return current is not None and current.degraded


def publish_failed() -> None:
    current = _current_watch()
    if current is not None:
        current.lost_redis()


def watch() -> Watch:
    """This process's watch (one per event loop: each test's loop gets its own)."""
    loop = asyncio.get_running_loop()
    if loop not in _watches:
        for stale in [other for other in _watches if other.is_closed()]:
            del _watches[stale]
        _watches[loop] = Watch()
    return _watches[loop]
