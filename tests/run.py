"""`make test`: the suite on SQLite, then on a throwaway PostgreSQL server; one summary line for both.

    python -m tests.run [pytest arguments]

The browser tests, the API fuzzing and the authorization matrix run in the SQLite pass only (they
test the pages and the endpoints' contract, not the database); the fault
tests (processes killed and stalled mid-chat) in the PostgreSQL pass only, the database of a
deployment with several processes: each pass runs once what it alone can show. A pass that
runs no test counts as failed: a suite that silently shrank to nothing must not look green.
Without initdb/pg_ctl the PostgreSQL pass fails, unless CHATDESK_TEST_POSTGRES=0 skips it.

The two passes run at the same time, each with its own Redis, servers and ports: much of either
is spent waiting on other processes (browsers, daphne, Celery, killed and restarted servers), so
together they take little longer than the longer one. The SQLite pass prints as it goes; the
PostgreSQL pass's output is kept in a file and printed when it ends. CHATDESK_TEST_SERIAL=1 runs
them one after the other, each printing as it goes.
"""

import contextlib
import os
import signal
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ElementTree
from dataclasses import dataclass
from pathlib import Path

from tests import pg

BASE_DIR = Path(__file__).resolve().parent.parent
# Far above a normal pass (a few minutes); only a hung pass reaches it.
PASS_TIMEOUT = float(os.environ.get("CHATDESK_TEST_PASS_TIMEOUT", 25 * 60))


@dataclass
class PassResult:
    name: str
    passed: int = 0
    failed: int = 0
    skipped: int = 0
    exit_code: int = 0
    seconds: float = 0.0
    problem: str = ""

    @property
    def ok(self) -> bool:
        return not self.problem and self.failed == 0

    def summary(self) -> str:
        text = f"{self.name}: {self.passed} passed, {self.failed} failed, {self.skipped} skipped in {self.seconds:.0f}s"
        return f"{text} ({self.problem})" if self.problem else text


@dataclass
class RunningPass:
    name: str
    process: subprocess.Popen
    junit: Path
    log: Path | None  # None: it prints to this terminal
    is_whole_suite: bool
    started: float


def start_pass(name: str, *, database_url: str, pytest_args: list[str], default_args: list[str],
               folder: Path, quiet: bool = False) -> RunningPass:
    """Start one pass's pytest; quiet: its output goes to a file, printed by finish_pass."""
    print(f"\n=== {name} pass (DATABASE_URL={database_url}){' started, printed when it ends' if quiet else ''} ===",
          flush=True)
    junit, log = folder / f"{name}.xml", (folder / f"{name}.log" if quiet else None)
    env = {**os.environ, "DATABASE_URL": database_url}
    # Importing chatdesk (for tests.pg) set it; the test session must set it only after its Redis
    # is up (conftest.py), or pytest-django reads the settings too early.
    env.pop("DJANGO_SETTINGS_MODULE", None)
    output = open(log, "w") if log else None
    try:
        process = subprocess.Popen([sys.executable, "-m", "pytest", f"--junitxml={junit}", *pytest_args],
                                   cwd=BASE_DIR, env=env, stdout=output, stderr=subprocess.STDOUT if output else None)
    finally:
        if output:
            output.close()
    return RunningPass(name, process, junit, log, pytest_args == default_args, time.monotonic())


def finish_pass(running: RunningPass) -> PassResult:
    """Wait for the pass (at most PASS_TIMEOUT from its start), print its output if kept, count it."""
    name, process = running.name, running.process
    timed_out = False
    try:
        exit_code = process.wait(max(1.0, PASS_TIMEOUT - (time.monotonic() - running.started)))
    except subprocess.TimeoutExpired:
        # A test that outlives its own timeout (a hypothesis test shrinking after pytest-timeout
        # fired, say) must not use up the CI run: interrupt pytest, which still reports and cleans up.
        print(f"\n=== {name} pass still running after {PASS_TIMEOUT:.0f}s: interrupting it ===", flush=True)
        timed_out = True
        process.send_signal(signal.SIGINT)
        exit_code = _wait_or_kill(process)
    except KeyboardInterrupt:
        _wait_or_kill(process)  # pytest got the Ctrl-C too; let it finish cleaning up
        raise
    if running.log is not None:
        print(f"\n=== {name} pass output ===", flush=True)
        sys.stdout.write(running.log.read_text(errors="replace"))
        sys.stdout.flush()
    result = count_results(name, running.junit)
    result.exit_code, result.seconds = exit_code, time.monotonic() - running.started
    if timed_out:
        result.problem = f"interrupted after {PASS_TIMEOUT:.0f}s"
    elif exit_code not in (0, 1, 5):
        result.problem = f"pytest exited with status {exit_code}"  # interrupted, or a usage or internal error
    elif exit_code == 1 and result.failed == 0:
        result.failed = 1  # failed outside any test, e.g. in a session fixture's teardown
    elif result.passed + result.failed == 0 and running.is_whole_suite:
        # Arguments may select no test of a pass (make test ARGS="-k ..."); the whole suite never does.
        result.problem = "ran no test"
    return result


def _wait_or_kill(process: subprocess.Popen, grace: float = 60.0) -> int:
    try:
        return process.wait(grace)
    except subprocess.TimeoutExpired:
        process.kill()
        return process.wait()


def count_results(name: str, junit: Path) -> PassResult:
    result = PassResult(name)
    try:
        root = ElementTree.parse(junit).getroot()
    except (OSError, ElementTree.ParseError):
        return result
    for suite in root.iter("testsuite"):
        tests, skipped = int(suite.get("tests", 0)), int(suite.get("skipped", 0))
        failed = int(suite.get("failures", 0)) + int(suite.get("errors", 0))
        result.failed += failed
        result.skipped += skipped
        result.passed += tests - failed - skipped
    return result


def main(pytest_args: list[str]) -> int:
    serial = os.environ.get("CHATDESK_TEST_SERIAL", "0") == "1"
    results, running = [], []
    with tempfile.TemporaryDirectory(prefix="chatdesk-test-") as tmp, contextlib.ExitStack() as servers:
        folder = Path(tmp)
        sqlite = start_pass("sqlite", database_url=f"sqlite:///{folder / 'chatdesk.sqlite3'}",
                            pytest_args=["-m", "not faults", *pytest_args], default_args=["-m", "not faults"],
                            folder=folder)
        if serial:
            results.append(finish_pass(sqlite))
        else:
            running.append(sqlite)
        postgres_args = ["-m", "not browser and not contract", *pytest_args]
        if os.environ.get("CHATDESK_TEST_POSTGRES", "1") == "0":
            print("\n=== postgresql pass skipped (CHATDESK_TEST_POSTGRES=0): no fault test ran ===", flush=True)
        elif not pg.available():
            results.append(PassResult("postgresql", problem="initdb and pg_ctl are not on PATH; "
                                                            "install PostgreSQL 15 or set CHATDESK_TEST_POSTGRES=0"))
        else:
            try:
                url = servers.enter_context(pg.postgres_server())
            except pg.PostgresUnavailable as error:
                results.append(PassResult("postgresql", problem=str(error)))
            else:
                running.append(start_pass("postgresql", database_url=url, pytest_args=postgres_args,
                                          default_args=["-m", "not browser and not contract"], folder=folder,
                                          quiet=not serial))
        results.extend(finish_pass(each) for each in running)

    print("\n=== summary ===")
    for result in results:
        print(result.summary())
    passed = sum(r.passed for r in results)
    # A pass that could not run (or ran nothing) counts as one failure: the closing line must show it.
    failed = sum(r.failed or (0 if r.ok else 1) for r in results)
    skipped = sum(r.skipped for r in results)
    ok = all(r.ok for r in results)
    print(f"{passed} passed, {failed} failed" + (f", {skipped} skipped" if skipped else ""), flush=True)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
