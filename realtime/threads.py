"""Where a socket's blocking work runs: never on the event loop that serves every socket."""

import asyncio

from asgiref.sync import SyncToAsync, sync_to_async
from channels.db import database_sync_to_async
from django.conf import settings

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


def server_event_loop() -> asyncio.AbstractEventLoop | None:
    """The event loop of the server, when this thread runs database work for it (sync_to_async)."""
    loop = getattr(SyncToAsync.threadlocal, "main_event_loop", None)
    return loop if loop is not None and loop.is_running() else None
