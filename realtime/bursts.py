"""Work done once per burst of changes in a process, not once per change or per socket.

A read model that every socket of a kind shows (the consoles' queue, the supervisors' board, the
wallboard) is computed by one `Burst` per process and sent to the sockets' group: a change asks
for it (`request`), the first request schedules one run `delay` seconds later on the server's
event loop (after `min_interval` since the last run, if set), and requests until then join that
run. A request that comes while it reads brings one more run, so the last change is always shown.

Outside a server process there is no loop to wait on. In a Celery task (a sweep that assigns a
hundred chats) the work runs once when the task ends; anywhere else (a management command, a test
without a server loop) `request` runs it at once.
"""

import asyncio
import contextvars
import logging
import time
from collections.abc import Callable

from celery import current_task
from celery.signals import task_postrun

from realtime.threads import db, server_event_loop

log = logging.getLogger(__name__)


class Burst:
    def __init__(self, name: str, work: Callable[[], object], *, delay: float, min_interval: float = 0.0):
        self.name, self.work, self.delay, self.min_interval = name, work, delay, min_interval
        self.task: asyncio.Task | None = None
        self.again = False
        self.last_run = 0.0

    def request(self) -> None:
        """Ask for a run: from the server's event loop, from one of its database threads, or from elsewhere."""
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            self._request_from_thread()
        else:
            self._schedule()

    def _request_from_thread(self) -> None:
        loop = server_event_loop()
        if loop is None:
            if current_task:
                _after_this_task.add(self)
            else:
                self._run_now()
            return
        # A fresh context: the caller's holds the database thread's state (asgiref would take a
        # run on that thread from this loop for a deadlock).
        try:
            loop.call_soon_threadsafe(self._schedule, context=contextvars.Context())
        except RuntimeError:  # the server is shutting down and its loop closed meanwhile
            self._run_now()

    def _run_now(self) -> None:
        self.last_run = time.monotonic()
        try:
            self.work()
        except Exception:
            log.exception("%s failed", self.name)

    def _schedule(self) -> None:
        """On the event loop: join the pending run, or start one."""
        loop = asyncio.get_running_loop()
        # A task of another loop (a server restarted in this process, a test's own loop) is gone.
        if self.task is not None and not self.task.done() and self.task.get_loop() is loop:
            self.again = True  # the pending run may have read already
            return
        self.task = loop.create_task(self._run())

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(max(self.delay, self.last_run + self.min_interval - time.monotonic()))
            self.again = False  # from here on the read sees every change committed before it
            try:
                await db(self._run_now)()
            except Exception:
                log.exception("%s could not run", self.name)
            if not self.again:
                return


# The bursts asked for during the Celery task this process runs.
_after_this_task: set[Burst] = set()


@task_postrun.connect
def _run_after_task(**_) -> None:
    while _after_this_task:
        _after_this_task.pop()._run_now()
