"""Which agents have a console open, across every daphne process, kept in Redis.

Per agent, a sorted set holds one member per console socket, scored with the time of its last
heartbeat (agents/consumers.py beats every AGENT_CONSOLE_HEARTBEAT_SECONDS). A socket counts as
connected while its score is younger than three beats, so the sockets of a daphne process that
crashed stop counting by themselves: no counter that a lost decrement would leave wrong.

    <prefix>:console:<agent_id>:sockets   zset  socket id -> last heartbeat (unix time)
    <prefix>:console:<agent_id>:left      str   when the agent's last console closed cleanly
    <prefix>:console:agents               set   agents to check for the grace period (agents/grace.py)

The keys expire a day after the last write, so an agent who never comes back leaves nothing behind.
"""

import time

import redis
from django.conf import settings

KEEP_SECONDS = 24 * 3600
_client: redis.Redis | None = None


def _redis() -> redis.Redis:
    global _client
    if _client is None:
        _client = redis.Redis.from_url(settings.REDIS_URL)
    return _client


def _prefix() -> str:
    return settings.CHANNEL_LAYERS["default"]["CONFIG"].get("prefix", "chatdesk")


def _sockets_key(agent_id: int) -> str:
    return f"{_prefix()}:console:{agent_id}:sockets"


def _left_key(agent_id: int) -> str:
    return f"{_prefix()}:console:{agent_id}:left"


def _agents_key() -> str:
    return f"{_prefix()}:console:agents"


def stale_after() -> float:
    """A socket silent for this long (three missed heartbeats) no longer counts as connected."""
    return 3 * settings.AGENT_CONSOLE_HEARTBEAT_SECONDS


def beat(agent_id: int, socket_id: str, *, now: float | None = None) -> None:
    """A console socket is connected (on connect, then at every heartbeat)."""
    now = time.time() if now is None else now
    with _redis().pipeline() as pipe:
        pipe.zadd(_sockets_key(agent_id), {socket_id: now})
        pipe.expire(_sockets_key(agent_id), KEEP_SECONDS)
        pipe.delete(_left_key(agent_id))
        pipe.sadd(_agents_key(), agent_id)
        pipe.execute()


def leave(agent_id: int, socket_id: str, *, now: float | None = None) -> int:
    """A console socket closed; returns how many of the agent's consoles are still connected."""
    now = time.time() if now is None else now
    key = _sockets_key(agent_id)
    with _redis().pipeline() as pipe:
        pipe.zrem(key, socket_id)
        pipe.zremrangebyscore(key, "-inf", now - stale_after())
        pipe.zcard(key)
        live = pipe.execute()[-1]
    if live == 0:
        with _redis().pipeline() as pipe:
            pipe.set(_left_key(agent_id), now, ex=KEEP_SECONDS)
            pipe.sadd(_agents_key(), agent_id)
            pipe.execute()
    return live


def live_sockets(agent_id: int, *, now: float | None = None) -> int:
    now = time.time() if now is None else now
    return _redis().zcount(_sockets_key(agent_id), now - stale_after(), "+inf")


def connected_agents(agent_ids: list[int], *, now: float | None = None) -> set[int]:
    """Which of these agents have a console connected now (one round trip)."""
    now = time.time() if now is None else now
    with _redis().pipeline() as pipe:
        for agent_id in agent_ids:
            pipe.zcount(_sockets_key(agent_id), now - stale_after(), "+inf")
        counts = pipe.execute()
    return {agent_id for agent_id, count in zip(agent_ids, counts) if count}


def disconnected_since(agent_id: int, *, now: float | None = None) -> float | None:
    """When the agent's last console went away (unix time); None while one is connected or if none ever was.

    A clean close is recorded as it happens; a crashed process's socket counts from its last heartbeat.
    """
    now = time.time() if now is None else now
    with _redis().pipeline() as pipe:
        pipe.zcount(_sockets_key(agent_id), now - stale_after(), "+inf")
        pipe.get(_left_key(agent_id))
        pipe.zrange(_sockets_key(agent_id), -1, -1, withscores=True)
        live, left, newest = pipe.execute()
    if live:
        return None
    times = [float(left)] if left is not None else []
    times += [score for _, score in newest]
    return max(times) if times else None


def watched_agents() -> list[int]:
    return sorted(int(agent_id) for agent_id in _redis().smembers(_agents_key()))


def forget(agent_id: int) -> None:
    """The grace period has been applied: stop checking this agent until a console connects again."""
    with _redis().pipeline() as pipe:
        pipe.srem(_agents_key(), agent_id)
        pipe.delete(_left_key(agent_id))
        pipe.execute()
