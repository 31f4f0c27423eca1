"""A throwaway PostgreSQL server for one test run, in a temporary folder.

Needs initdb and pg_ctl on PATH. PostgreSQL refuses to run as root, so as root the folder belongs
to the postgres user and the server runs as that user. It listens on 127.0.0.1 on a free port
with trust authentication; its unix socket stays inside the folder. Durability is switched off:
the data is deleted at the end anyway, and fsync costs most of the time of a test run.
"""

import contextlib
import os
import pwd
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

from chatdesk.embedded_redis import free_port

SUPERUSER = "postgres"
DATABASE = "chatdesk"


class PostgresUnavailable(RuntimeError):
    pass


def available() -> bool:
    return bool(shutil.which("initdb") and shutil.which("pg_ctl"))


def _as_postgres(command: list[str]) -> list[str]:
    if os.geteuid() != 0:
        return command
    if shutil.which("runuser"):
        return ["runuser", "-u", SUPERUSER, "--", *command]
    return ["su", SUPERUSER, "-s", "/bin/sh", "-c", " ".join(_quote(part) for part in command)]


def _quote(part: str) -> str:
    return "'" + part.replace("'", "'\\''") + "'"


def _run(command: list[str], **kwargs) -> None:
    result = subprocess.run(_as_postgres(command), capture_output=True, text=True, **kwargs)
    if result.returncode != 0:
        raise PostgresUnavailable(f"{' '.join(command)} failed:\n{result.stdout}{result.stderr}")


def create_database(url: str, name: str) -> None:
    import psycopg

    with psycopg.connect(_maintenance_url(url), autocommit=True) as connection:
        connection.execute(f'CREATE DATABASE "{name}"')


def drop_database(url: str, name: str) -> None:
    import psycopg

    with psycopg.connect(_maintenance_url(url), autocommit=True) as connection:
        connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _maintenance_url(url: str) -> str:
    """The same server's `postgres` database, to create and drop others from."""
    base, _, _ = url.rpartition("/")
    return f"{base}/postgres".replace("postgres://", "postgresql://", 1)


@contextlib.contextmanager
def postgres_server() -> Iterator[str]:
    """Run a PostgreSQL server until the block ends; yields its DATABASE_URL (database `chatdesk`)."""
    if not available():
        raise PostgresUnavailable("initdb and pg_ctl are not on PATH")
    folder = Path(tempfile.mkdtemp(prefix="chatdesk-pg-"))
    if os.geteuid() == 0:
        user = pwd.getpwnam(SUPERUSER)
        os.chown(folder, user.pw_uid, user.pw_gid)
    data, log = folder / "data", folder / "server.log"
    started = False
    try:
        _run(["initdb", "-D", str(data), "-U", SUPERUSER, "-A", "trust", "-E", "UTF8", "--no-sync",
              "--locale=C"])
        for _ in range(5):
            port = free_port()
            options = (f"-c listen_addresses=127.0.0.1 -p {port} -c unix_socket_directories={folder} "
                       "-c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=300")
            try:
                _run(["pg_ctl", "-D", str(data), "-l", str(log), "-o", options, "-w", "-t", "60", "start"])
            except PostgresUnavailable:
                continue  # most likely the port was taken meanwhile
            started = True
            break
        if not started:
            raise PostgresUnavailable(f"PostgreSQL did not start:\n{_tail(log)}")
        url = f"postgres://{SUPERUSER}@127.0.0.1:{port}/{DATABASE}"
        create_database(url, DATABASE)
        yield url
    finally:
        if started:
            with contextlib.suppress(PostgresUnavailable):
                _run(["pg_ctl", "-D", str(data), "-m", "immediate", "-w", "stop"])
        shutil.rmtree(folder, ignore_errors=True)


def _tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"
