"""Fixtures shared by every test folder: live processes (tests/servers.py), a clean Redis per test, and the
frames sent over the channel layer, the queries of every thread."""

import os
import sys

import pytest
import redis
from channels.layers import get_channel_layer
from django.conf import settings

from tests import servers


@pytest.fixture(autouse=True)
def _flush_session_redis(embedded_redis):
    """Start each test with an empty Redis database (rate limits and the like are kept there).

    Only the embedded Redis this session owns, and only its first database: live servers use the
    next one (tests/servers.py), so a flush never drops a worker's queue bindings.
    """
    if embedded_redis is not None:
        with redis.Redis.from_url(os.environ["REDIS_URL"]) as client:
            client.flushdb()
    yield


@pytest.fixture
def sent_frames(monkeypatch):
    """Every frame sent over the channel layer from now on, as (group, frame) pairs in the order sent.

    Recorded at the layer's group_send, then sent for real, so all of our publishing code runs,
    the wait for the commit included: in a `db` test (one transaction that never commits), frames
    published on commit appear only when a django_capture_on_commit_callbacks(execute=True) block ends.
    Messages that carry no frame (console.refresh) are sent but not listed.
    """
    layer = get_channel_layer()
    group_send = layer.group_send
    sent = []

    async def record_then_send(group: str, message: dict) -> None:
        if message["type"] == "conv.frame":
            sent.append((group, message["frame"]))
        await group_send(group, message)

    monkeypatch.setattr(layer, "group_send", record_then_send)
    return sent


@pytest.fixture(scope="session", autouse=True)
def _end_leftover_database_sessions(django_db_setup, django_db_blocker):
    """On PostgreSQL, end connections that threads of async tests left open, before the test
    database is dropped: otherwise the drop fails with "being accessed by other users"."""
    yield
    if settings.DATABASES["default"]["ENGINE"] != "django.db.backends.postgresql":
        return
    from django.db import connection

    with django_db_blocker.unblock(), connection.cursor() as cursor:
        cursor.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                       "WHERE datname = current_database() AND pid <> pg_backend_pid()")
    connection.close()


@pytest.fixture(scope="session")
def chatdesk_server(tmp_path_factory):
    """A real daphne serving chatdesk with the demo data, on its own database and the session's Redis.

    `.url`, `.ws_url`, `.database_url`, `.redis_url`, `.env`; `.start_another_daphne()` adds a
    second process on the same database and Redis, stopped at the end of the session too.
    """
    on_postgres = settings.DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql"
    server = servers.start_live_server(
        postgres_url=os.environ["DATABASE_URL"] if on_postgres else None, session_redis_url=os.environ["REDIS_URL"],
        folder=tmp_path_factory.mktemp("live-server"),
    )
    try:
        yield server
    finally:
        crashed = [process for process in server.processes if not process.alive()]
        server.stop()
        servers.drop_live_database(server.database_url)
        for process in crashed:
            print(f"\n{process.name} had exited with status {process.popen.returncode}:\n{process.tail()}",
                  file=sys.__stderr__)


@pytest.fixture
def celery_worker_process(chatdesk_server, tmp_path):
    """A real `celery -A chatdesk worker` on chatdesk_server's database and broker.

    It starts with an empty queue (tasks left by earlier tests are purged). Emails go to files in
    `.mail_dir`; `.wait_for_tasks(n)` waits until it has finished n tasks.
    """
    worker = servers.start_celery_worker(chatdesk_server, tmp_path / "worker")
    try:
        yield worker
    finally:
        worker.process.stop()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    """A failing test that used live processes shows the end of their logs."""
    report = yield
    if report.failed:
        funcargs = getattr(item, "funcargs", {})
        server = funcargs.get("chatdesk_server")
        if server is not None:
            report.sections.append(("chatdesk_server logs", server.logs()))
        worker = funcargs.get("celery_worker_process")
        if worker is not None:
            report.sections.append(("celery worker log", worker.process.tail(80)))
    return report


@pytest.fixture
def all_queries(monkeypatch):
    """Every query any thread of this process runs from now on, counted (tests/queries.py)."""
    from tests.queries import QueryCounter

    return QueryCounter(monkeypatch.setattr)
