"""The test session's real Redis, started before Django reads its settings.

The settings take REDIS_URL at import (the channel layer and the Celery broker), and pytest-django
imports them at start-up, so this file, which pytest loads first, starts the embedded
redis-server (chatdesk/embedded_redis.py) unless REDIS_URL is set, and only then names the
settings module. Plain `.venv/bin/pytest` works the same as `make test`.
"""

import atexit
import os
import sys
import tempfile
from pathlib import Path

import pytest

if "REDIS_URL" not in os.environ and "django.conf" in sys.modules and sys.modules["django.conf"].settings.configured:
    raise pytest.UsageError(
        "the Django settings were read before the test Redis started: unset DJANGO_SETTINGS_MODULE "
        "(conftest.py sets it) or set REDIS_URL"
    )

from chatdesk.embedded_redis import EmbeddedRedis  # noqa: E402  (importing chatdesk sets DJANGO_SETTINGS_MODULE)

os.environ.setdefault("DEBUG", "1")  # the dev secret key
os.environ["DJANGO_SETTINGS_MODULE"] = "chatdesk.settings"
# Sockets of this session never see frames of another session that shares an outside Redis.
os.environ.setdefault("CHANNEL_PREFIX", f"test{os.getpid()}")

_redis = None
if "REDIS_URL" not in os.environ:
    _redis_dir = tempfile.TemporaryDirectory(prefix="chatdesk-test-redis-")
    _redis = EmbeddedRedis(Path(_redis_dir.name)).start()
    os.environ["REDIS_URL"] = _redis.url
    atexit.register(_redis_dir.cleanup)
    atexit.register(_redis.stop)  # runs first (last registered): stop, then delete its folder

from django.conf import settings  # noqa: E402

settings.INSTALLED_APPS  # noqa: B018  import the settings now, with REDIS_URL in place
# The real hasher takes a good part of a second per password by design; tests make many users.
settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
# Consumers reach the database from worker threads: close those connections after each use
# instead of keeping them for a minute across tests.
settings.DATABASES["default"]["CONN_MAX_AGE"] = 0


@pytest.fixture(scope="session")
def embedded_redis() -> EmbeddedRedis | None:
    """The Redis this session started, or None when REDIS_URL named one (never flush that)."""
    return _redis


def pytest_report_header(config):
    return f"redis: {os.environ['REDIS_URL']} ({'embedded' if _redis else 'from REDIS_URL'})"


def pytest_unconfigure(config):
    if _redis is not None:
        _redis.stop()
