"""Several OS processes assign the same queued chats to the same agents at once, on the database
this test session runs on (SQLite file or PostgreSQL): no cap is exceeded, no chat assigned twice.

Mechanism under test: lifecycle._take_slot locks the agent row (select_for_update) before counting
its chats, and the conversation row is locked and its status checked before it is assigned. On
PostgreSQL those are row locks; on SQLite every transaction is IMMEDIATE, so writers run one at a
time. The processes mix routing passes with direct assignments of random chats to random agents.
"""

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import quote

import pytest
from django.db import connection

pytestmark = [pytest.mark.multiprocess, pytest.mark.django_db(transaction=True)]

ROOT = Path(__file__).resolve().parents[2]
WORKER = Path(__file__).with_name("caps_worker.py")
PROCESSES, CHATS, AGENTS, CAP = 4, 48, 4, 3


def database_url(tmp_path: Path) -> str:
    """A DATABASE_URL for the session's test database; an SQLite file migrated here if that one is in memory."""
    settings = connection.settings_dict
    if connection.vendor == "postgresql":
        auth = quote(settings["USER"] or "")
        if settings["PASSWORD"]:
            auth += ":" + quote(settings["PASSWORD"])
        return f"postgres://{auth}@{settings['HOST'] or '127.0.0.1'}:{settings['PORT'] or 5432}/{settings['NAME']}"
    if connection.vendor != "sqlite":
        pytest.skip(f"no DATABASE_URL form for {connection.vendor}")
    if connection.is_in_memory_db():
        # Other processes cannot open an in-memory database: migrate a file next to the test instead.
        url = f"sqlite:///{tmp_path / 'caps.sqlite3'}"
        subprocess.run([sys.executable, "manage.py", "migrate", "--noinput", "-v0"], cwd=ROOT, env=env(url),
                       check=True, timeout=120)
        return url
    return f"sqlite:///{settings['NAME']}"


def env(url: str) -> dict:
    return {**{k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")},
            "DATABASE_URL": url, "DEBUG": "1", "DJANGO_SETTINGS_MODULE": "chatdesk.settings"}


def run(url: str, *args) -> dict:
    out = subprocess.run([sys.executable, str(WORKER), *map(str, args)], cwd=ROOT, env=env(url),
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_concurrent_processes_never_exceed_a_cap_or_assign_a_chat_twice(tmp_path):
    url = database_url(tmp_path)
    site_id = run(url, "seed", CHATS, AGENTS, CAP)["site_id"]
    start_at = time.time() + 3  # every process imports Django first, then they start together
    workers = [
        subprocess.Popen([sys.executable, str(WORKER), "work", str(site_id), str(start_at), str(n)], cwd=ROOT,
                         env=env(url), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for n in range(PROCESSES)
    ]
    results = []
    for worker in workers:
        stdout, stderr = worker.communicate(timeout=100)
        assert worker.returncode == 0, stderr
        results.append(json.loads(stdout.strip().splitlines()[-1]))

    report = run(url, "report", site_id)
    assert sum(r["assigned"] for r in results) == AGENTS * CAP, results
    assert sum(r["races"] for r in results) > 0, "the processes never competed; the test proves nothing"
    assert all(active <= cap for active, cap in report["loads"]), report
    assert report["loads"] == [[CAP, CAP]] * AGENTS
    assert report["most_assignments_of_one_chat"] == 1
    assert report["assigned_events"] == report["assigned_now"] == AGENTS * CAP
    assert report["queued_now"] == CHATS - AGENTS * CAP
