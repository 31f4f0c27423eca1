"""Who has a socket open, across every daphne process, kept in Redis: agents' consoles and
visitors' widgets.

Per owner (an agent, a visitor), a sorted set holds one member per socket, scored with the time
of its last heartbeat (the consumer beats every `<heartbeat setting>` seconds). A socket counts
as connected while its score is younger than three beats, so the sockets of a daphne process
that crashed stop counting by themselves: no counter that a lost decrement would leave wrong.

    <prefix>:<kind>:<owner_id>:sockets   zset  socket id -> last heartbeat (unix time)
    <prefix>:<kind>:<owner_id>:left      str   when the owner's last socket closed cleanly
    <prefix>:<kind>:watched              set   owners to check for a grace period (consoles only)

The keys expire a day after the last write, so an owner who never comes back leaves nothing behind.
"""

import time

from django.conf import settings

from realtime import redis_keys

KEEP_SECONDS = 24 * 3600


class SocketRegistry:
    def __init__(self, kind: str, heartbeat_setting: str, *, watch_departures: bool):
        """watch_departures: keep a set of owners seen, for a sweep that looks at each one
        (routing/grace.py); without it the caller knows whom to ask about (the queued chats)."""
        self.kind, self.heartbeat_setting, self.watch_departures = kind, heartbeat_setting, watch_departures

    def heartbeat_seconds(self) -> int:
        return getattr(settings, self.heartbeat_setting)

    def stale_after(self) -> float:
        """A socket silent for this long (three missed heartbeats) no longer counts as connected."""
        return 3 * self.heartbeat_seconds()

    def beat(self, owner_id: int, socket_id: str, *, now: float | None = None) -> None:
        """A socket is connected (on connect, then at every heartbeat)."""
        now = time.time() if now is None else now
        with redis_keys.client().pipeline() as pipe:
            pipe.zadd(self._sockets_key(owner_id), {socket_id: now})
            pipe.expire(self._sockets_key(owner_id), KEEP_SECONDS)
            pipe.delete(self._left_key(owner_id))
            if self.watch_departures:
                pipe.sadd(self._watched_key(), owner_id)
            pipe.execute()

    def leave(self, owner_id: int, socket_id: str, *, now: float | None = None) -> int:
        """A socket closed; returns how many of the owner's sockets are still connected."""
        now = time.time() if now is None else now
        key = self._sockets_key(owner_id)
        with redis_keys.client().pipeline() as pipe:
            pipe.zrem(key, socket_id)
            pipe.zremrangebyscore(key, "-inf", now - self.stale_after())
            pipe.zcard(key)
            live = pipe.execute()[-1]
        if live == 0:
            with redis_keys.client().pipeline() as pipe:
                pipe.set(self._left_key(owner_id), now, ex=KEEP_SECONDS)
                if self.watch_departures:
                    pipe.sadd(self._watched_key(), owner_id)
                pipe.execute()
        return live

    def live_sockets(self, owner_id: int, *, now: float | None = None) -> int:
        now = time.time() if now is None else now
        return redis_keys.client().zcount(self._sockets_key(owner_id), now - self.stale_after(), "+inf")

    def connected(self, owner_ids: list[int], *, now: float | None = None) -> set[int]:
        """Which of these owners have a socket connected now (one round trip)."""
        now = time.time() if now is None else now
        with redis_keys.client().pipeline() as pipe:
            for owner_id in owner_ids:
                pipe.zcount(self._sockets_key(owner_id), now - self.stale_after(), "+inf")
            counts = pipe.execute()
        return {owner_id for owner_id, count in zip(owner_ids, counts) if count}

    def disconnected_since(self, owner_ids: list[int], *, now: float | None = None) -> dict[int, float | None]:
        """When each owner's last socket went away (unix time), in one round trip; None while one is
        connected or if none ever was.

        A clean close is recorded as it happens; a crashed process's socket counts from its last heartbeat.
        """
        now = time.time() if now is None else now
        with redis_keys.client().pipeline() as pipe:
            for owner_id in owner_ids:
                pipe.zcount(self._sockets_key(owner_id), now - self.stale_after(), "+inf")
                pipe.get(self._left_key(owner_id))
                pipe.zrange(self._sockets_key(owner_id), -1, -1, withscores=True)
            replies = pipe.execute()
        since = {}
        for i, owner_id in enumerate(owner_ids):
            live, left, newest = replies[3 * i:3 * i + 3]
            times = [score for _, score in newest] + ([float(left)] if left is not None else [])
            since[owner_id] = max(times) if times and not live else None
        return since

    def watched(self) -> list[int]:
        return sorted(int(owner_id) for owner_id in redis_keys.client().smembers(self._watched_key()))

    def forget(self, owner_id: int) -> None:
        """The grace period has been applied: stop checking this owner until a socket connects again."""
        with redis_keys.client().pipeline() as pipe:
            pipe.srem(self._watched_key(), owner_id)
            pipe.delete(self._left_key(owner_id))
            pipe.execute()

    def _sockets_key(self, owner_id: int) -> str:
        return redis_keys.key(self.kind, owner_id, "sockets")

    def _left_key(self, owner_id: int) -> str:
        return redis_keys.key(self.kind, owner_id, "left")

    def _watched_key(self) -> str:
        return redis_keys.key(self.kind, "watched")


# Agents' console sockets: the disconnect grace period (routing/grace.py), who is connected on the boards.
consoles = SocketRegistry("console", "AGENT_CONSOLE_HEARTBEAT_SECONDS", watch_departures=True)
# Visitors' widget sockets: a queued visitor who has left for good abandons their chat (conversations/departures.py).
widgets = SocketRegistry("widget", "WIDGET_HEARTBEAT_SECONDS", watch_departures=False)
