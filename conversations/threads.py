"""Where a socket's blocking work runs: never on the event loop that serves every socket."""

from asgiref.sync import sync_to_async
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
