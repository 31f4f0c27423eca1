"""Our own keys in Redis (socket presence, routing's broadcast throttle): one client per process,
and every key under the channel layer's prefix, so two deployments sharing a Redis stay apart.
The channel layer and Celery keep their own connections."""

import redis
from django.conf import settings

_client: redis.Redis | None = None


def client() -> redis.Redis:
    global _client
    if _client is None:
        _client = redis.Redis.from_url(settings.REDIS_URL, socket_timeout=settings.REDIS_SOCKET_TIMEOUT,
                                       socket_connect_timeout=settings.REDIS_SOCKET_TIMEOUT)
    return _client


def key(*parts) -> str:
    prefix = settings.CHANNEL_LAYERS["default"].get("CONFIG", {}).get("prefix", "chatdesk")
    return ":".join(str(part) for part in (prefix, *parts))
