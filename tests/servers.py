"""Real chatdesk processes for tests: daphne servers and Celery workers (fixtures in tests/conftest.py).

A live server set gets its own database (a SQLite file, or a database on the session's PostgreSQL
server), migrated and loaded with the demo data, and shares the session's Redis on another
database number with its own channel prefix, so its frames and tasks never mix with the test
process's. Every process writes to a log file; a failing test that used one shows its tail.
"""

import itertools
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from chatdesk.embedded_redis import EmbeddedRedis, die_with_parent, free_port, redis_server_binary, stop_process
from tests import pg

BASE_DIR = Path(__file__).resolve().parent.parent
READY_TIMEOUT = 60.0
_numbers = itertools.count(1)


class ProcessFailed(RuntimeError):
    pass


class Process:
    """One child process in its own session, its output in a log file."""

    def __init__(self, name: str, command: list[str], *, env: dict[str, str], log_dir: Path):
        self.name = name
        self.log_path = log_dir / f"{name}.log"
        self._log = self.log_path.open("wb")
        self.popen = subprocess.Popen(
            command, cwd=BASE_DIR, env=env, stdin=subprocess.DEVNULL, stdout=self._log,
            stderr=subprocess.STDOUT, start_new_session=True, preexec_fn=die_with_parent,
        )

    @property
    def pid(self) -> int:
        return self.popen.pid

    def alive(self) -> bool:
        return self.popen.poll() is None

    def output(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""

    def tail(self, lines: int = 60) -> str:
        return "\n".join(self.output().splitlines()[-lines:])

    def check_alive(self) -> None:
        if not self.alive():
            raise ProcessFailed(f"{self.name} exited with status {self.popen.returncode}:\n{self.tail()}")

    def wait_for_output(self, text: str, *, count: int = 1, timeout: float = READY_TIMEOUT) -> None:
        """Wait until the log holds `text` at least `count` times."""
        deadline = time.monotonic() + timeout
        while self.output().count(text) < count:
            self.check_alive()
            if time.monotonic() > deadline:
                raise ProcessFailed(f"{self.name} did not log {text!r} x{count} in {timeout:.0f}s:\n{self.tail()}")
            time.sleep(0.1)

    def stop(self, timeout: float = 15.0) -> int:
        status = stop_process(self.popen, timeout=timeout)
        self._log.close()
        return status


def wait_for_http(url: str, process: Process, timeout: float = READY_TIMEOUT) -> None:
    deadline = time.monotonic() + timeout
    while True:
        process.check_alive()
        try:
            urllib.request.urlopen(url, timeout=2).close()
            return
        except urllib.error.HTTPError:
            return  # any answer means it serves
        except OSError:
            if time.monotonic() > deadline:
                raise ProcessFailed(
                    f"{process.name} did not answer {url} in {timeout:.0f}s:\n{process.tail()}"
                ) from None
            time.sleep(0.1)


def manage(env: dict[str, str], *arguments: str, timeout: float = 300) -> str:
    """Run a manage.py command with a server's environment; returns its standard output."""
    result = subprocess.run([sys.executable, str(BASE_DIR / "manage.py"), *arguments], cwd=BASE_DIR, env=env,
                            capture_output=True, text=True, timeout=timeout)
    if result.returncode != 0:
        raise ProcessFailed(f"manage.py {' '.join(arguments)} failed:\n{result.stdout}{result.stderr}")
    return result.stdout


def _with_path(url: str, path: str) -> str:
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, path, parts.query, parts.fragment))


def live_redis_url(session_redis_url: str) -> str:
    """The session's Redis, next database number: the test process may flush its own between tests."""
    current = urlsplit(session_redis_url).path.strip("/") or "0"
    return _with_path(session_redis_url, f"/{(int(current) + 1) % 16}")


@dataclass
class Daphne:
    url: str
    ws_url: str
    process: Process

    @property
    def port(self) -> int:
        return urlsplit(self.url).port

    def kill(self) -> None:
        """kill -9: no socket is closed cleanly, no code after the signal runs."""
        self.process.popen.send_signal(signal.SIGKILL)
        self.process.popen.wait()


@dataclass
class LiveServer:
    """A migrated database with the demo data, served by one daphne process (more on request)."""

    url: str
    ws_url: str
    database_url: str
    redis_url: str
    env: dict[str, str]
    log_dir: Path
    processes: list[Process] = field(default_factory=list)
    daphnes: list[Daphne] = field(default_factory=list)  # the first one serves .url

    def start_another_daphne(self) -> Daphne:
        """Another daphne process on another port, same database and Redis; stopped with this server."""
        daphne = start_daphne(self.env, self.log_dir, self.processes)
        self.daphnes.append(daphne)
        return daphne

    def restart_daphne(self, daphne: Daphne) -> Daphne:
        """A new process on the port of one that died (or was killed), in its place in .daphnes; the dead
        one's log is kept, the new one logs to a file of its own."""
        starts = sum(process.name.startswith(f"daphne-{daphne.port}") for process in self.processes)
        restarted = start_daphne(self.env, self.log_dir, self.processes, daphne.port,
                                 name=f"daphne-{daphne.port}-{starts + 1}")
        self.daphnes[self.daphnes.index(daphne)] = restarted
        return restarted

    def logs(self, lines: int = 40) -> str:
        return "\n".join(f"--- {p.name} (pid {p.pid}) ---\n{p.tail(lines)}" for p in self.processes)

    def stop(self) -> None:
        for process in reversed(self.processes):
            process.stop()


def start_daphne(env: dict[str, str], log_dir: Path, processes: list[Process], port: int | None = None,
                 name: str | None = None) -> Daphne:
    port = port or free_port()
    process = Process(name or f"daphne-{port}", [sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(port),
                                                 "chatdesk.asgi:application"], env=env, log_dir=log_dir)
    processes.append(process)
    url = f"http://127.0.0.1:{port}"
    wait_for_http(f"{url}/", process)
    return Daphne(url=url, ws_url=f"ws://127.0.0.1:{port}", process=process)


def server_env(*, database_url: str, redis_url: str, channel_prefix: str, mail_dir: Path) -> dict[str, str]:
    env = {name: value for name, value in os.environ.items()
           if not name.startswith(("PYTEST_", "DJANGO_", "CELERY_"))}
    env.update({
        "DJANGO_SETTINGS_MODULE": "chatdesk.settings",
        "DEBUG": "0",
        "CHATDESK_DEMO": "1",  # the dev secret key, as in `make run`
        "DATABASE_URL": database_url,
        "REDIS_URL": redis_url,
        "CHANNEL_PREFIX": channel_prefix,
        "EMAIL_BACKEND": "django.core.mail.backends.filebased.EmailBackend",
        "EMAIL_FILE_PATH": str(mail_dir),
        "PYTHONUNBUFFERED": "1",
        **UNLIMITED_LOOPBACK,
        # The team's offline notice leaves a second after the message, not at the end of five minutes.
        "OFFLINE_NOTICE_EVERY_SECONDS": "1",
    })
    return env


# Every test client writes from 127.0.0.1 to one site, and a live server's Redis outlives each test:
# the per-address and per-site limits would count the whole session's visitors against each test.
# Tests of the limits set their own (tests/widget/test_limits.py); per chat and visitor stay real.
UNLIMITED_LOOPBACK = {f"LIMIT_{action}_PER_{subject}": "1000000/hour" for action, subject in [
    ("NEW_VISITOR", "IP"), ("NEW_VISITOR", "SITE"), ("NEW_CHAT", "IP"), ("NEW_CHAT", "SITE"),
    ("TRANSCRIPT_EMAIL", "IP"), ("TRANSCRIPT_EMAIL", "SITE"), ("OFFLINE_MESSAGE", "IP"), ("OFFLINE_MESSAGE", "SITE"),
]}


def live_database_url(postgres_url: str | None, folder: Path) -> str:
    """A new database on the session's PostgreSQL server, or else a new SQLite file."""
    if postgres_url:
        name = f"chatdesk_live_{os.getpid()}_{next(_numbers)}"
        pg.create_database(postgres_url, name)
        return _with_path(postgres_url, f"/{name}")
    return f"sqlite:///{folder / 'live.sqlite3'}"


def drop_live_database(database_url: str) -> None:
    if database_url.startswith(("postgres://", "postgresql://")):
        pg.drop_database(database_url, urlsplit(database_url).path.strip("/"))


def start_live_server(*, postgres_url: str | None, session_redis_url: str | None = None, folder: Path,
                      redis_url: str | None = None, settings: dict[str, str] | None = None) -> LiveServer:
    """redis_url: a Redis of this server's own (a DedicatedRedis), instead of the session's next database.
    settings: environment variables of the server's processes (README.md, Settings)."""
    folder.mkdir(parents=True, exist_ok=True)
    database_url = live_database_url(postgres_url, folder)
    redis_url = redis_url or live_redis_url(session_redis_url)
    env = server_env(database_url=database_url, redis_url=redis_url,
                     channel_prefix=f"live{os.getpid()}n{next(_numbers)}", mail_dir=folder / "mail")
    env.update(settings or {})
    port = free_port()  # known before load_demo, which allows the server's own origin
    url = f"http://127.0.0.1:{port}"
    manage(env, "migrate", "--noinput")
    manage(env, "load_demo", "--origin", url)
    server = LiveServer(url=url, ws_url=f"ws://127.0.0.1:{port}", database_url=database_url, redis_url=redis_url,
                        env=env, log_dir=folder)
    try:
        server.daphnes.append(start_daphne(env, folder, server.processes, port))
    except BaseException:
        server.stop()
        drop_live_database(database_url)
        raise
    return server


class DedicatedRedis(EmbeddedRedis):
    """A redis-server of one live server set alone, which a test may stall, stop or kill and start again on
    the same port. The session's Redis is shared by every other test: it is never stopped."""

    def pause(self) -> None:
        """SIGSTOP: connections stay open and every command waits, as on a Redis stuck in a long command."""
        self.process.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        self.process.send_signal(signal.SIGCONT)

    def kill(self) -> None:
        self.resume()  # a stopped process would hold its SIGKILL until continued
        self.process.send_signal(signal.SIGKILL)
        self.process.wait()
        self.process = None

    def stop(self) -> None:
        if self.process is not None:
            self.resume()
        super().stop()

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def start_again(self, timeout: float = 10.0) -> None:
        """On the same port (clients' URLs stay valid), empty: nothing is saved."""
        self.process = subprocess.Popen(
            [redis_server_binary(), *self._arguments()], cwd=self.data_dir, stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
            preexec_fn=die_with_parent,
        )
        if not self._wait_ready(timeout):
            raise ProcessFailed(f"redis-server did not start again on port {self.port}:\n{self._log_tail()}")


def restart_postgres(url: str) -> None:
    """pg_ctl restart of the PostgreSQL server at url (fast shutdown: open sessions are ended, as in a
    failover); it takes its earlier options again. Only for a server of the caller's own (tests/pg.py)."""
    import psycopg

    with psycopg.connect(url.replace("postgres://", "postgresql://", 1), autocommit=True) as connection:
        data = connection.execute("SHOW data_directory").fetchone()[0]
    # -l: without a log file the new server would keep pg_ctl's output pipe open, and pg_ctl never return.
    pg._run(["pg_ctl", "-D", data, "-l", f"{data}/restart.log", "-m", "fast", "-w", "-t", "60", "restart"])


@dataclass
class CeleryWorker:
    mail_dir: Path
    env: dict[str, str]
    process: Process

    def mail_files(self) -> list[Path]:
        return sorted(self.mail_dir.glob("*.log"))

    def tasks_done(self) -> int:
        """Tasks the worker finished, whatever their outcome."""
        output = self.process.output()
        return output.count("] succeeded in ") + output.count("] raised unexpected") + output.count("] retry: ")

    def wait_for_tasks(self, count: int, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while self.tasks_done() < count:
            self.process.check_alive()
            if time.monotonic() > deadline:
                raise ProcessFailed(f"the worker finished {self.tasks_done()} of {count} tasks:\n{self.process.tail()}")
            time.sleep(0.1)


def start_celery_worker(server: LiveServer, folder: Path) -> CeleryWorker:
    mail_dir = folder / "mail"
    mail_dir.mkdir(parents=True, exist_ok=True)
    env = {**server.env, "EMAIL_FILE_PATH": str(mail_dir)}
    name = f"worker{os.getpid()}n{next(_numbers)}"
    process = Process(name, [sys.executable, "-m", "celery", "-A", "chatdesk", "worker", "-l", "info",
                             "--concurrency", "1", "-n", f"{name}@%h",
                             # No other workers to sync with: start in a second, not three.
                             "--without-mingle", "--without-gossip",
                             # Tasks left in the queue by earlier tests are not this test's.
                             "--purge"],
                      env=env, log_dir=folder)
    try:
        process.wait_for_output(" ready.")
    except BaseException:
        process.stop()
        raise
    return CeleryWorker(mail_dir=mail_dir, env=env, process=process)


def shell(server, code: str) -> str:
    """Run code in the live server's `manage.py shell`; returns the last line it printed."""
    output = manage(server.env, "shell", "-c", code).strip().splitlines()
    return output[-1] if output else ""


def set_agent_status(server, usernames: str | tuple[str, ...], status: str) -> None:
    """Through agents.presence, as the console would (routing runs when an agent comes online). Give
    several agents at once where a test can: each shell is a new process, a few seconds."""
    names = [usernames] if isinstance(usernames, str) else list(usernames)
    shell(server, "from agents.models import Agent; from agents.presence import set_agent_status; "
                  f"[set_agent_status(Agent.objects.get(user__username=name), {status!r}) for name in {names!r}]")


def clear_floor(server) -> None:
    """Every demo agent offline and every chat left open by earlier tests closed: the next chat goes
    to whoever a test puts online, with all their slots free. One shell: each is a new process."""
    shell(server, (
        "from agents.models import Agent; from agents.presence import set_agent_status; "
        "from conversations.models import Conversation; from conversations import lifecycle; "
        "[set_agent_status(Agent.objects.get(user__username=name), 'offline') "
        "for name in ('alice', 'bob', 'carol', 'sam')]; "
        "[lifecycle.close_conversation(conversation_id=c.pk, actor=lifecycle.Actor.system()) "
        "for c in Conversation.objects.filter(status__in=Conversation.OPEN_STATUSES)]"
    ))
