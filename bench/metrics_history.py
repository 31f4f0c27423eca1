"""Generate a realistic support history straight into a database, for the metrics benchmark.

    .venv/bin/python bench/metrics_history.py --pgdata /tmp/chatdesk-metrics-pg            # 1 M chats, 10 M messages
    .venv/bin/python bench/metrics_history.py --pgdata /tmp/chatdesk-metrics-pg --conversations 10000
    .venv/bin/python bench/metrics_history.py --sqlite /tmp/metrics-history.sqlite3 --conversations 10000

PostgreSQL (default): `--pgdata` is a cluster folder kept after the run (created with initdb when
missing, run as the postgres user when we are root), so bench/metrics_bench.py can start it again
over the same data; its database `chatdesk_metrics` is dropped and made afresh. `--database-url`
writes into an existing empty PostgreSQL database instead. Big tables are loaded with COPY (one
connection per table, all at once), with their secondary indexes dropped during the load and
rebuilt after it; SQLite gets executemany.

The rows are those conversations/lifecycle.py and agents/presence.py write: the same event kinds
with the same `details` keys, message rows with their seq, and conversation rows in their final
state. Shapes: arrivals by weekday and hour of day; agents on shifts (online, a break away, online,
offline) with a cap of 3; each chat goes to the least loaded of three sampled online agents and
waits when they are full; auto-accept and offer-and-accept departments (some offers time out and
are requeued); first replies, handle times (lognormal, median about 10 min), wrap-ups, transfers,
tags, canned replies, internal notes, seen markers, missed chats, short and long abandons, offline
messages while nobody is online, and returning visitors (for first contact resolution).
Times are whole milliseconds in UTC; the last day is `--end` (default: yesterday).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import random
import shutil
import socket
import subprocess
import sys
import time
import uuid
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
PG_BIN = Path(os.environ.get("PG_BIN", "/usr/local/bin"))
DATABASE = "chatdesk_metrics"

DAY_MS, HOUR_MS, MINUTE_MS, SECOND_MS = 86_400_000, 3_600_000, 60_000, 1_000
# Relative arrivals per weekday (Monday first) and per hour of day (UTC).
WEEKDAY_WEIGHT = (1.15, 1.10, 1.05, 1.00, 0.95, 0.55, 0.45)
HOUR_WEIGHT = (0.6, 0.4, 0.3, 0.3, 0.4, 0.8, 1.6, 3.0, 5.0, 6.5, 7.0, 7.0, 6.5, 6.8, 7.0, 6.8,
               6.2, 5.5, 4.6, 4.0, 3.4, 2.6, 1.8, 1.0)
# Shift starts (UTC hour) and the share of agents on each; shifts last 8 hours.
SHIFTS = ((6, 0.18), (8, 0.30), (10, 0.24), (14, 0.20), (22, 0.08))
CAP = 3
TEXTS = ("Hello, I have a question about my order", "Sure, let me check that for you",
         "Thanks!", "Could you tell me the order number please?", "It is 48213",
         "I see it: it ships tomorrow morning", "Can I change the delivery address?",
         "Yes, I have updated it", "Great, thank you very much", "Anything else I can help with?")


# --- The PostgreSQL cluster -------------------------------------------------------------------

def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Cluster:
    """A PostgreSQL cluster in a folder that outlives the run (initdb when missing)."""

    def __init__(self, folder: Path):
        self.folder = folder.resolve()
        self.data = self.folder / "data"
        self.port = free_port()

    def _run(self, *argv: str) -> None:
        command = list(argv)
        if os.geteuid() == 0:
            command = ["runuser", "-u", "postgres", "--", *command]
        subprocess.run(command, check=True, capture_output=True, text=True, timeout=300)

    def start(self) -> str:
        self.folder.mkdir(parents=True, exist_ok=True)
        if os.geteuid() == 0:
            shutil.chown(self.folder, "postgres", "postgres")
        if not (self.data / "PG_VERSION").exists():
            self._run(str(PG_BIN / "initdb"), "-D", str(self.data), "-A", "trust", "-U", "postgres", "-E", "UTF8",
                      "--no-sync", "--locale=C")
        # Durability off (the data can be generated again); memory for the index builds and the reads.
        options = (f"-p {self.port} -k {self.folder} -c listen_addresses=127.0.0.1 -c fsync=off "
                   "-c synchronous_commit=off -c full_page_writes=off -c max_wal_size=8GB -c shared_buffers=2GB "
                   "-c maintenance_work_mem=1GB -c work_mem=64MB -c max_connections=50")
        self._run(str(PG_BIN / "pg_ctl"), "-D", str(self.data), "-l", str(self.folder / "server.log"), "-o", options,
                  "-w", "-t", "120", "start")
        return f"postgres://postgres@127.0.0.1:{self.port}/{DATABASE}"

    def stop(self) -> None:
        with contextlib.suppress(subprocess.CalledProcessError):
            self._run(str(PG_BIN / "pg_ctl"), "-D", str(self.data), "-m", "fast", "-w", "-t", "120", "stop")


def recreate_database(url: str) -> None:
    import psycopg

    base, _, name = url.rpartition("/")
    with psycopg.connect(f"{base}/postgres".replace("postgres://", "postgresql://", 1), autocommit=True) as c:
        c.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        c.execute(f'CREATE DATABASE "{name}"')


# --- Sinks: PostgreSQL COPY or SQLite executemany ---------------------------------------------

def pg_time(ms: int, _days: dict = {}) -> str:  # noqa: B006 - a cache of day prefixes
    day, rem = divmod(ms, DAY_MS)
    prefix = _days.get(day)
    if prefix is None:
        prefix = _days[day] = (date(1970, 1, 1) + timedelta(days=day)).isoformat()
    return (f"{prefix} {rem // HOUR_MS:02d}:{rem // MINUTE_MS % 60:02d}:{rem // SECOND_MS % 60:02d}"
            f".{rem % SECOND_MS:03d}000+00")


def iso_time(ms: int) -> str:
    """As datetime.isoformat() writes it (the lifecycle's wrapup_started_at)."""
    return pg_time(ms).replace(" ", "T", 1)[:-3] + "+00:00"


def _tsv(value) -> str:
    if value is None:
        return "\\N"
    if value is True:
        return "t"
    if value is False:
        return "f"
    return str(value)


class PostgresSink:
    """One connection and one open COPY per table, so the server parses them while we generate."""

    def __init__(self, url: str, tables: dict[str, list[str]]):
        import psycopg

        self.url = url.replace("postgres://", "postgresql://", 1)
        self.connections, self.copies, self.buffers, self.contexts = {}, {}, {}, {}
        for table, columns in tables.items():
            connection = psycopg.connect(self.url)
            # Foreign keys are not checked during the load (every id is ours and consistent).
            connection.execute("SET session_replication_role = replica")
            cursor = connection.cursor()
            context = cursor.copy(f'COPY {table} ({", ".join(columns)}) FROM STDIN')
            self.copies[table] = context.__enter__()
            self.contexts[table], self.connections[table], self.buffers[table] = context, connection, []

    def row(self, table: str, values: tuple) -> None:
        buffer = self.buffers[table]
        buffer.append("\t".join(map(_tsv, values)))
        if len(buffer) >= 20_000:
            self.flush(table)

    def flush(self, table: str) -> None:
        buffer = self.buffers[table]
        if buffer:
            self.copies[table].write(("\n".join(buffer) + "\n").encode())
            buffer.clear()

    def close(self) -> None:
        for table, context in self.contexts.items():
            self.flush(table)
            context.__exit__(None, None, None)
            self.connections[table].commit()
            self.connections[table].close()

    time = staticmethod(pg_time)


class SqliteSink:
    def __init__(self, path: str, tables: dict[str, list[str]]):
        import sqlite3

        self.connection = sqlite3.connect(path)
        self.sql = {t: f'INSERT INTO {t} ({", ".join(c)}) VALUES ({", ".join("?" * len(c))})' for t, c in tables.items()}
        self.buffers = {t: [] for t in tables}

    def row(self, table: str, values: tuple) -> None:
        buffer = self.buffers[table]
        buffer.append(values)
        if len(buffer) >= 20_000:
            self.flush(table)

    def flush(self, table: str) -> None:
        self.connection.executemany(self.sql[table], self.buffers[table])
        self.buffers[table].clear()

    def close(self) -> None:
        for table in self.buffers:
            self.flush(table)
        self.connection.commit()
        self.connection.close()

    @staticmethod
    def time(ms: int) -> str:
        return pg_time(ms)[:-3]  # Django stores naive UTC on SQLite


# --- Secondary indexes, dropped for the load ---------------------------------------------------

def drop_secondary_indexes(url: str, tables: list[str]) -> list[str]:
    """Drop unique constraints and indexes other than the primary keys; returns the SQL to restore them."""
    import psycopg

    restore: list[str] = []
    with psycopg.connect(url.replace("postgres://", "postgresql://", 1), autocommit=True) as c:
        for table in tables:
            for name, definition in c.execute(
                    "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint WHERE conrelid = %s::regclass "
                    "AND contype = 'u'", (table,)).fetchall():
                c.execute(f'ALTER TABLE {table} DROP CONSTRAINT "{name}"')
                restore.append(f'ALTER TABLE {table} ADD CONSTRAINT "{name}" {definition}')
            for name, definition in c.execute(
                    "SELECT i.indexname, i.indexdef FROM pg_indexes i WHERE i.tablename = %s AND NOT EXISTS "
                    "(SELECT 1 FROM pg_constraint k WHERE k.conname = i.indexname)", (table,)).fetchall():
                c.execute(f'DROP INDEX "{name}"')
                restore.insert(0, definition)
    return restore


def restore_indexes(url: str, statements: list[str], tables: list[str]) -> None:
    import psycopg

    with psycopg.connect(url.replace("postgres://", "postgresql://", 1), autocommit=True) as c:
        for statement in statements:
            c.execute(statement)
        for table in tables:
            c.execute(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                      f"(SELECT coalesce(max(id), 1) FROM {table}))")
            c.execute(f"ANALYZE {table}")


# --- The reference rows: sites, departments, agents, tags, canned responses -------------------

def reference_rows(n_agents: int, rng: random.Random) -> dict:
    from django.contrib.auth import get_user_model
    from django.contrib.auth.hashers import make_password

    from agents.models import Agent, CannedResponse, Department
    from conversations.models import Site, Tag

    sites = [Site.objects.create(key=key, name=name) for key, name in (("shop", "Shop"), ("help", "Help centre"))]
    departments = [Department.objects.create(name=name, accept_mode=mode) for name, mode in (
        ("Sales", "auto"), ("Support", "auto"), ("Billing", "offer"), ("Returns", "offer"))]
    password = make_password(None)
    User = get_user_model()
    users = User.objects.bulk_create([User(username=f"agent{n:04d}", password=password) for n in range(n_agents)])
    agents = Agent.objects.bulk_create([
        Agent(user=user, display_name=f"Agent {n:04d}", max_concurrent_chats=CAP,
              role=Agent.Role.SUPERVISOR if n % 25 == 0 else Agent.Role.AGENT) for n, user in enumerate(users)])
    for agent in agents:
        agent.departments.set(rng.sample(departments, 2))
    tag_names = ("billing", "shipping", "returns", "refund", "bug", "account", "pricing", "complaint",
                 "feedback", "order-status", "discount", "vip")
    tags = {site.pk: Tag.objects.bulk_create([Tag(site=site, name=name) for name in tag_names]) for site in sites}
    canned = CannedResponse.objects.bulk_create([
        CannedResponse(shortcut=f"reply{n}", title=f"Reply {n}", text=TEXTS[n % len(TEXTS)]) for n in range(40)])
    return {"sites": [s.pk for s in sites], "departments": [(d.pk, d.accept_mode) for d in departments],
            "agents": [a.pk for a in agents],
            "tags": {site_id: [(t.pk, t.name) for t in site_tags] for site_id, site_tags in tags.items()},
            "canned": [c.pk for c in canned]}


# --- The generator ----------------------------------------------------------------------------

class History:
    def __init__(self, sink, ref: dict, *, first_day: date, days: int, conversations: int,
                 messages_per_chat: float, rng: random.Random):
        self.sink, self.ref, self.rng = sink, ref, rng
        self.first_day, self.days, self.conversations = first_day, days, conversations
        self.t = sink.time
        self.event_id = self.message_id = self.visitor_id = self.conversation_id = self.status_id = 0
        self.counts = {"conversations": 0, "messages": 0, "events": 0, "visitors": 0, "status_events": 0,
                       "closed": 0, "missed": 0, "abandoned": 0, "offline": 0, "transferred": 0}
        self.recent_visitors: list[tuple[int, int]] = []  # (visitor id, site id), returning visitors
        # About 92 % of chats reach an agent; they carry the messages.
        self.mean_messages = messages_per_chat / 0.92
        self.active: dict[int, list[int]] = {a: [] for a in ref["agents"]}  # release times of held chats

    # rows

    def event(self, conversation: int, kind: str, at: int, actor: str, agent: int | None, details: dict) -> int:
        self.event_id += 1
        self.counts["events"] += 1
        self.sink.row("conversations_conversationevent",
                      (self.event_id, conversation, kind, self.t(at), actor, agent, json.dumps(details)))
        return self.event_id

    def message(self, conversation: int, seq: int, at: int, author: str, agent: int | None, visibility: str,
                text: str, canned: int | None, *, event: bool = True) -> None:
        self.message_id += 1
        self.counts["messages"] += 1
        client_id = f"m{seq}" if author == "visitor" else None
        self.sink.row("conversations_message", (self.message_id, conversation, seq, client_id, author, agent,
                                                visibility, text, self.t(at), canned))
        if not event:
            return
        used = {"canned_response_id": canned} if canned else {}
        self.event(conversation, "message", at, author, agent, {"seq": seq, "author": author,
                                                               "visibility": visibility, "chars": len(text), **used})

    def visitor(self, site: int, at: int) -> tuple[int, int]:
        """A new visitor of the site, or (12 %) a recent one coming back (on their own site)."""
        if self.recent_visitors and self.rng.random() < 0.12:
            return self.recent_visitors[self.rng.randrange(len(self.recent_visitors))]
        self.visitor_id += 1
        self.counts["visitors"] += 1
        self.sink.row("conversations_visitor", (self.visitor_id, str(uuid.uuid4()), site, "", "", self.t(at),
                                                self.t(at), 1))
        self.recent_visitors.append((self.visitor_id, site))
        if len(self.recent_visitors) > 5000:
            self.recent_visitors.pop(0)
        return self.visitor_id, site

    # agents: shifts

    def shifts(self) -> list[tuple[int, int, str]]:
        """(at, agent, status) of every status change, in time order; status event rows written."""
        rng, changes = self.rng, []
        base = _epoch_ms(self.first_day)
        starts = [hour for hour, share in SHIFTS for _ in range(round(share * 1000))]
        for agent in self.ref["agents"]:
            start_hour = rng.choice(starts)
            status = "offline"
            for d in range(-1, self.days + 1):
                weekday = (self.first_day + timedelta(days=d)).weekday()
                if rng.random() > (0.85 if weekday < 5 else 0.35):
                    continue
                on = base + d * DAY_MS + start_hour * HOUR_MS + rng.randint(-10, 10) * MINUTE_MS
                pause = on + rng.randint(180, 300) * MINUTE_MS
                back = pause + rng.randint(15, 35) * MINUTE_MS
                off = on + 8 * HOUR_MS + rng.randint(-5, 20) * MINUTE_MS
                for at, new in ((on, "online"), (pause, "away"), (back, "online"), (off, "offline")):
                    changes.append((at, agent, new))
                    self.status_id += 1
                    self.counts["status_events"] += 1
                    self.sink.row("agents_agentstatusevent",
                                  (self.status_id, agent, "status", self.t(at), new, CAP, status, None))
                    status = new
        changes.sort()
        return changes

    def arrivals(self):
        """Arrival times (ms) in order: per day by weekday weight, per hour by the hourly curve."""
        rng = self.rng
        day_weights = [WEEKDAY_WEIGHT[(self.first_day + timedelta(days=d)).weekday()] for d in range(self.days)]
        total = sum(day_weights)
        counts = [int(self.conversations * w / total) for w in day_weights]
        for i in range(self.conversations - sum(counts)):
            counts[i % self.days] += 1
        cumulative = []
        acc = 0.0
        for w in HOUR_WEIGHT:
            acc += w
            cumulative.append(acc)
        base = _epoch_ms(self.first_day)
        for d, count in enumerate(counts):
            hours = rng.choices(range(24), cum_weights=cumulative, k=count)
            day = sorted(base + d * DAY_MS + h * HOUR_MS + rng.randrange(HOUR_MS) for h in hours)
            yield from day

    # chats

    def run(self, progress) -> None:
        rng = self.rng
        changes = self.shifts()
        online: dict[int, None] = {}
        c = 0
        departments, sites = self.ref["departments"], self.ref["sites"]
        for n, t0 in enumerate(self.arrivals()):
            while c < len(changes) and changes[c][0] <= t0:
                _, agent, status = changes[c]
                if status == "online":
                    online[agent] = None
                else:
                    online.pop(agent, None)
                c += 1
            site = sites[0] if rng.random() < 0.7 else sites[1]
            department = departments[rng.randrange(len(departments))] if rng.random() < 0.85 else None
            self.chat(t0, site, department, list(online))
            if n % 20_000 == 0:
                progress(n)

    def pick(self, t: int, online: list[int], exclude: int | None = None) -> tuple[int, int] | None:
        """The least loaded of three sampled online agents and when it has a free slot."""
        candidates = [a for a in (online if len(online) <= 3 else self.rng.sample(online, 3)) if a != exclude]
        best = None
        for agent in candidates:
            held = self.active[agent]
            held[:] = [r for r in held if r > t]
            free_at = t if len(held) < CAP else min(held)
            if best is None or (free_at, len(held)) < best[2:]:
                best = (agent, free_at, free_at, len(held))
        return None if best is None else (best[0], best[1])

    def chat(self, t0: int, site: int, department: tuple[int, str] | None, online: list[int]) -> None:
        rng = self.rng
        self.conversation_id += 1
        self.counts["conversations"] += 1
        cid = self.conversation_id
        visitor, site = self.visitor(site, t0)
        department_id = department[0] if department else None
        offer = department is not None and department[1] == "offer"
        seq = 0
        if not online and rng.random() < 0.6:
            # Nobody online: the widget offers the offline form.
            text = TEXTS[0]
            self.message(cid, 1, t0, "visitor", None, "public", text, None, event=False)  # no message event
            self.event(cid, "offline_message", t0, "visitor", None, {"chars": len(text)})
            self.counts["offline"] += 1
            self.conversation(cid, site, visitor, department_id, "offline", None, 1, t0, None, t0)
            return
        self.event(cid, "queued", t0, "visitor", None, {"topic": None, "priority": 0, "skill_ids": [],
                                                        "department_id": department_id})
        patience = int(rng.lognormvariate(math.log(90_000), 0.9))
        choice = self.pick(t0 + rng.randint(100, 1500), online) if online else None
        if choice is None or choice[1] - t0 > patience or rng.random() < 0.04:
            # The visitor leaves the queue (some after a few seconds: short abandons).
            end = t0 + (rng.randint(1000, 9900) if rng.random() < 0.3 else min(patience, 600_000))
            if rng.random() < 0.5:
                seq += 1
                self.message(cid, seq, t0 + rng.randint(200, max(300, end - t0 - 100)), "visitor", None, "public",
                             TEXTS[0], None)
            self.event(cid, "abandoned", end, "visitor", None, {"agent_id": None, "resolved": None, "summary": ""})
            self.counts["abandoned"] += 1
            self.conversation(cid, site, visitor, department_id, "abandoned", None, seq, t0, t0, end)
            return
        agent, at = choice
        if offer and rng.random() < 0.03:
            # The offer times out and the chat goes back to the queue, then to another agent.
            offer_id = self.event(cid, "assigned", at, "system", None, {"agent_id": agent, "reason": {}})
            self.event(cid, "requeued", at + 30_000, "system", None, {
                "from_agent_id": agent, "reason": "offer_timeout", "offer_event_id": offer_id})
            other = self.pick(at + 31_000, online, exclude=agent)
            if other is not None:
                agent, at = other[0], max(other[1], at + 31_000)
        self.event(cid, "assigned", at, "system", None, {"agent_id": agent, "reason": {}})
        accepted = at + (rng.randint(2000, 25_000) if offer else 0)
        self.event(cid, "accepted", accepted, "agent" if offer else "system", agent if offer else None,
                   {"agent_id": agent, "auto": not offer})
        missed = rng.random() < 0.03
        n_messages = max(2, round(rng.gammavariate(4.0, self.mean_messages / 4.0)))
        handle = int(rng.lognormvariate(math.log(600_000), 0.5))  # accept to close, median 10 min
        talk_end = accepted + int(handle * rng.uniform(0.75, 0.92))
        first_reply = accepted + int(rng.lognormvariate(math.log(12_000), 0.8))
        step = max(1000, (talk_end - first_reply) // n_messages)
        transfer_at = first_reply + step * (n_messages // 2) if rng.random() < 0.05 and not missed else None
        tags = rng.sample(self.ref["tags"][site], rng.choice((1, 1, 2))) if rng.random() < 0.35 and not missed else []
        # Tags added during the chat (tagged events), else only at the close (close_with_wrapup).
        tags_during = tags if rng.random() < 0.5 else []
        closed_by_visitor = rng.random() < 0.15
        if closed_by_visitor:
            tags = tags_during  # close_conversation adds no tags
        # The visitor's question, then replies in turn.
        seq += 1
        self.message(cid, seq, t0 + rng.randint(0, max(0, min(5000, first_reply - t0 - 200))), "visitor", None,
                     "public", TEXTS[0], None)
        holder, t = agent, first_reply
        for i in range(1, n_messages):
            if transfer_at is not None and t >= transfer_at:
                to = self.pick(t, online, exclude=holder)
                if to is not None:
                    self.event(cid, "transferred", t, "agent", holder, {
                        "from_agent_id": holder, "to_agent_id": to[0], "to_department_id": None,
                        "to_skill_id": None, "note": ""})
                    self.active[holder].append(t)
                    holder, t = to[0], t + rng.randint(3000, 15_000)
                    self.event(cid, "accepted", t, "agent", holder, {"agent_id": holder, "auto": False})
                    self.counts["transferred"] += 1
                transfer_at = None
            seq += 1
            if i % 2 == 1 and not missed:
                visibility = "internal" if rng.random() < 0.03 else "public"
                canned = self.ref["canned"][rng.randrange(40)] if visibility == "public" and rng.random() < 0.2 else None
                self.message(cid, seq, t, "agent", holder, visibility, TEXTS[i % len(TEXTS)], canned)
            else:
                self.message(cid, seq, t, "visitor", None, "public", TEXTS[i % len(TEXTS)], None)
            last_message = t
            if i == 1:
                for tag_id, name in tags_during:
                    self.event(cid, "tagged", t + 500, "agent", holder, {"tag_id": tag_id, "tag": name})
            t += step + rng.randint(0, 2000)
        if seq > 2 and rng.random() < 0.3:
            self.event(cid, "seen", last_message + 300, "visitor", None, {"seq": seq})
            self.event(cid, "seen", last_message + 600, "agent", holder, {"seq": seq})
        end = max(accepted + handle, last_message + 1000)
        self.active[holder].append(end)
        if missed:
            self.event(cid, "missed", end, "system", None, {"agent_id": holder, "resolved": None, "summary": ""})
            self.counts["missed"] += 1
            self.conversation(cid, site, visitor, department_id, "missed", holder, seq, t0, t0, end)
            return
        self.counts["closed"] += 1
        roll = rng.random()
        resolved = rng.choices((True, False, None), (0.75, 0.1, 0.15))[0]
        if closed_by_visitor:
            self.event(cid, "closed", end, "visitor", None, {"agent_id": holder, "resolved": None, "summary": ""})
        else:
            if roll < 0.65:
                started, source = last_message + rng.randint(5000, 20_000), "wrapup"
                self.event(cid, "wrapup", started, "agent", holder, {"agent_id": holder})
                end = max(end, started + 1000)
            else:
                started, source = last_message, "last_message"
            self.event(cid, "closed", end, "agent", holder, {
                "agent_id": holder, "resolved": resolved, "summary": "", "tags": sorted(name for _, name in tags),
                "wrapup_started_at": iso_time(started), "wrapup_source": source})
        for tag_id, _ in tags:
            self.sink.row("conversations_conversation_tags", (cid, tag_id))
        self.conversation(cid, site, visitor, department_id, "closed", holder, seq, t0, t0, end)

    def conversation(self, cid, site, visitor, department_id, status, agent, last_seq, created, queued, closed):
        t = self.t
        self.sink.row("conversations_conversation", (
            cid, str(uuid.uuid4()), site, visitor, None, department_id, 0, status, agent, last_seq, last_seq,
            last_seq, last_seq, "{}", t(created), None if queued is None else t(queued), t(closed), None))


def _epoch_ms(day: date) -> int:
    return int(datetime.combine(day, datetime.min.time(), tzinfo=timezone.utc).timestamp()) * 1000


TABLES = {
    "conversations_visitor": ["id", "public_id", "site_id", "name", "email", "first_seen_at", "last_seen_at",
                              "visit_count"],
    "conversations_conversation": ["id", "public_id", "site_id", "visitor_id", "topic_id", "department_id",
                                   "priority", "status", "assigned_agent_id", "last_seq", "last_public_seq", "visitor_seen_seq",
                                   "agent_seen_seq", "context", "created_at", "queued_at", "closed_at",
                                   "team_notified_at"],
    "conversations_conversation_tags": ["conversation_id", "tag_id"],
    "conversations_message": ["id", "conversation_id", "seq", "client_id", "author", "agent_id", "visibility",
                              "text", "created_at", "canned_response_id"],
    "conversations_conversationevent": ["id", "conversation_id", "kind", "at", "actor", "actor_agent_id",
                                        "details"],
    "agents_agentstatusevent": ["id", "agent_id", "kind", "at", "status", "max_concurrent_chats", "previous",
                                "changed_by_id"],
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    where = parser.add_mutually_exclusive_group()
    where.add_argument("--pgdata", type=Path, default=Path("/tmp/chatdesk-metrics-pg"),
                       help="PostgreSQL cluster folder, kept (default /tmp/chatdesk-metrics-pg)")
    where.add_argument("--database-url", help="an existing, empty PostgreSQL database")
    where.add_argument("--sqlite", type=Path, help="a SQLite file (replaced)")
    parser.add_argument("--conversations", type=int, default=1_000_000)
    parser.add_argument("--days", type=int, default=90)
    parser.add_argument("--agents", type=int, default=200)
    parser.add_argument("--messages-per-chat", type=float, default=10.0)
    parser.add_argument("--end", type=date.fromisoformat, default=None, help="last day (default: yesterday, UTC)")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()

    cluster = None
    if args.sqlite:
        args.sqlite.unlink(missing_ok=True)
        url = f"sqlite:///{args.sqlite.resolve()}"
    elif args.database_url:
        url = args.database_url
    else:
        cluster = Cluster(args.pgdata)
        url = cluster.start()
        recreate_database(url)
    os.environ["DATABASE_URL"] = url
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "chatdesk.settings")
    os.environ.setdefault("SECRET_KEY", "metrics-history-generator")
    os.environ.setdefault("TIME_ZONE", "UTC")
    try:
        generate(args, url)
    finally:
        if cluster is not None:
            cluster.stop()


def generate(args, url: str) -> None:
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection

    timings = {}
    started = time.monotonic()
    call_command("migrate", verbosity=0)
    rng = random.Random(args.seed)
    ref = reference_rows(args.agents, rng)
    connection.close()
    timings["schema + reference rows"] = time.monotonic() - started

    postgres = not args.sqlite
    big = ["conversations_visitor", "conversations_conversation", "conversations_conversation_tags",
           "conversations_message", "conversations_conversationevent", "agents_agentstatusevent"]
    mark = time.monotonic()
    restore = drop_secondary_indexes(url, big) if postgres else []
    sink = PostgresSink(url, TABLES) if postgres else SqliteSink(str(args.sqlite), TABLES)
    end = args.end or (datetime.now(timezone.utc).date() - timedelta(days=1))
    first_day = end - timedelta(days=args.days - 1)
    history = History(sink, ref, first_day=first_day, days=args.days, conversations=args.conversations,
                      messages_per_chat=args.messages_per_chat, rng=rng)

    def progress(n: int) -> None:
        rate = n / max(1e-9, time.monotonic() - mark)
        print(f"\r{n:>9,} chats  {history.counts['messages']:>11,} messages  {history.counts['events']:>11,} "
              f"events  {rate:,.0f} chats/s", end="", file=sys.stderr, flush=True)

    history.run(progress)
    sink.close()
    progress(history.counts["conversations"])
    print(file=sys.stderr)
    timings["generate + load"] = time.monotonic() - mark
    mark = time.monotonic()
    if postgres:
        restore_indexes(url, restore, big)
    timings["indexes + analyze"] = time.monotonic() - mark
    timings["total"] = time.monotonic() - started
    summary = {"range": [first_day.isoformat(), end.isoformat()], "agents": args.agents, **history.counts,
               "seconds": {k: round(v, 1) for k, v in timings.items()}}
    print(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()
