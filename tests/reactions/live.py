"""Real processes that carry out reactions: a Celery worker (tests/servers.py) and celery beat, whose
database schedule ticks reactions.tasks.dispatch_due every second (reactions/migrations/0002)."""

import dataclasses
import email
import itertools
import os
import signal
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from tests import servers

LEASE_SECONDS = 4  # REACTION_LEASE_SECONDS of these processes: a killed run is retried this much later
_numbers = itertools.count(1)


def with_settings(server: servers.LiveServer, **settings: str) -> servers.LiveServer:
    """The same live server (database, demo data), its processes started with these settings too."""
    return dataclasses.replace(server, env={**server.env, **settings})


def start_celery_beat(server: servers.LiveServer, folder: Path) -> servers.Process:
    """Beat on the server's database schedule; returns once it has sent its first dispatcher tick."""
    folder.mkdir(parents=True, exist_ok=True)
    process = servers.Process(f"beat{os.getpid()}n{next(_numbers)}", [
        sys.executable, "-m", "celery", "-A", "chatdesk", "beat", "-l", "info",
        "--pidfile", str(folder / "beat.pid"), "--schedule", str(folder / "beat-schedule"),
    ], env=server.env, log_dir=folder)
    try:
        process.wait_for_output("(reactions.tasks.dispatch_due)")
    except BaseException:
        process.stop()
        raise
    return process


@dataclass
class Dispatching:
    """A worker and beat: due reactions are carried out about a second after they are due."""

    server: servers.LiveServer
    folder: Path
    worker: servers.CeleryWorker
    beat: servers.Process

    @property
    def mail_dir(self) -> Path:
        return self.worker.mail_dir

    def kill_worker(self) -> None:
        """kill -9 of the worker and its pool processes: nothing of theirs runs after the signal."""
        os.killpg(self.worker.process.pid, signal.SIGKILL)
        self.worker.process.popen.wait()

    def start_another_worker(self, **settings: str) -> servers.CeleryWorker:
        """A new worker (the old one stopped if it still runs), mail in the same folder."""
        self.worker.process.stop()
        self.worker = servers.start_celery_worker(with_settings(self.server, **settings), self.folder)
        return self.worker

    def check_alive(self) -> None:
        self.worker.process.check_alive()
        self.beat.check_alive()

    def logs(self) -> str:
        return f"--- worker ---\n{self.worker.process.tail(60)}\n--- beat ---\n{self.beat.tail(20)}"

    def stop(self) -> None:
        self.beat.stop()
        self.worker.process.stop()


def start_dispatching(server: servers.LiveServer, folder: Path, **settings: str) -> Dispatching:
    """Beat and a worker for the server, with a short lease (LEASE_SECONDS) and these settings."""
    server = with_settings(server, REACTION_LEASE_SECONDS=str(LEASE_SECONDS), **settings)
    beat = start_celery_beat(server, folder / "beat")
    try:
        worker = servers.start_celery_worker(server, folder / "worker")
    except BaseException:
        beat.stop()
        raise
    return Dispatching(server=server, folder=folder / "worker", worker=worker, beat=beat)


def emails_in(mail_dir: Path) -> list[email.message.Message]:
    """Every email the file backend wrote: one file per connection, messages split by a line of dashes."""
    messages = []
    for path in sorted(mail_dir.glob("*.log")):
        for chunk in path.read_text().split("\n" + "-" * 79 + "\n"):
            if chunk.strip():
                messages.append(email.message_from_string(chunk.lstrip("\n")))
    return messages


def wait_until(condition: Callable[[], object], what: str, dispatching: Dispatching | None = None,
               timeout: float = 30.0) -> float:
    """Poll until condition() is true; returns the seconds it took. Fails early if a process died."""
    started = time.monotonic()
    while not condition():
        if dispatching is not None:
            dispatching.check_alive()
        if time.monotonic() - started > timeout:
            logs = dispatching.logs() if dispatching is not None else ""
            raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}\n{logs}")
        time.sleep(0.05)
    return time.monotonic() - started

