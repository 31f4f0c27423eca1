"""Delivery under faults, at a larger size than the tests: what was lost, doubled or shown out of order.

The same scenarios as tests/faults/ (two daphne processes, a Redis of their own, visitors and agents
with two tabs each that follow docs/protocol.md, a fault mid-chat, then one comparison of what was
sent, acked, stored and shown), run one after another on one server set:

    .venv/bin/python bench/faults.py                                  # SQLite: none, kill, stall, outage, consoles
    .venv/bin/python bench/faults.py --postgres                       # a throwaway PostgreSQL, and its restart
    .venv/bin/python bench/faults.py --chats 30 --messages 60 --rounds 4 --faults kill

Faults: `none` (the baseline), `kill` (kill -9 of the busiest daphne, --rounds times, started again a
second later), `stall` (Redis stopped with SIGSTOP for --stall seconds, then a daphne killed),
`outage` (Redis stopped for --outage seconds and started again, empty; new sockets are probed
meanwhile), `postgres` (PostgreSQL restarted --rounds times; needs --postgres), `consoles` (--cycles
console tabs of one agent opened and closed while frames flow to them: how many still count as
connected after the heartbeat window). A table goes to stdout, the counts as JSON to bench/results/.
"""

import argparse
import asyncio
import json
import sys
import tempfile
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
RESULTS = BENCH / "results"
sys.path.insert(0, str(ROOT))

from tests.faults import harness, scenarios  # noqa: E402
from tests.faults.clients import page_of  # noqa: E402
from tests.faults.scenarios import Scenario, Size  # noqa: E402

FAULTS = ("none", "kill", "stall", "outage", "postgres", "consoles")
COLUMNS = ("sent", "acked", "unacked", "stored", "lost", "expected", "missed", "doubled", "out_of_order", "wrong",
           "stale", "reconnects")


def fault_of(name: str, options, while_down):
    """The fault coroutine of a scenario (None for the baseline); while_down runs during a Redis outage."""
    if name == "none":
        return None
    if name == "kill":
        return scenarios.kill_daphnes(rounds=options.rounds)
    if name == "stall":
        return scenarios.stall_redis_then_kill_a_daphne(stall=options.stall)
    if name == "outage":
        return scenarios.stop_redis(seconds=options.outage, while_down=while_down)
    if name == "postgres":
        return scenarios.restart_postgres(times=options.rounds)
    raise ValueError(name)


async def run_chats(servers: harness.FaultServers, name: str, size: Size, options) -> dict:
    """One scenario under one fault: the ledger's counts, plus what new sockets got during an outage."""
    probes = {}

    async def probe_while_down(scenario: Scenario) -> None:
        await asyncio.sleep(2)  # the processes notice the outage at their next delivery check
        for index, endpoint in enumerate(servers.endpoints):
            probes[f"widget {index}"] = await scenarios.probe(f"{endpoint}/ws/widget/demo/", origin=servers.origin)
            probes[f"console {index}"] = await scenarios.probe(
                f"{endpoint}/ws/agent/", origin=page_of(endpoint),
                headers={"Cookie": f"sessionid={servers.agents[0].cookie}"})

    fault = fault_of(name, options, probe_while_down)
    outcome = await scenarios.chats_under(servers, size, fault)
    row = {"fault": name, **{column: outcome.tally.counts()[column] for column in COLUMNS},
           "seconds": round(outcome.seconds, 1), "problems": outcome.tally.problems[:20]}
    if probes:
        row["new sockets during the outage"] = probes
    return row


async def run_consoles(servers: harness.FaultServers, options) -> dict:
    """--cycles console tabs closed while two chats flow to them; the ones still counted afterwards."""
    await servers.call(servers.make_whole)
    scenario = Scenario(servers, Size(chats=2, agents=1, agent_tabs=1, visitor_tabs=1, interval=0.25))
    await scenario.open()
    [agent] = scenario.agents
    visitors = [tabs[0] for tabs in scenario.visitor_tabs]
    chats = [await scenarios.until(lambda v=visitor: v.conversation_id, "a chat") for visitor in visitors]
    for chat in chats:
        await scenarios.until(lambda c=chat: scenario.assignee(c), "an agent")
    started = time.monotonic()
    # Both visitors write until the consoles are done with.
    writers = [asyncio.create_task(scenario.visitor_writes(visitor, sys.maxsize)) for visitor in visitors]
    closes = await scenarios.flicker_consoles(servers, agent, chats, cycles=options.cycles)
    for writer in writers:
        writer.cancel()
    await asyncio.gather(*(tab.stop() for tab in scenario.tabs))
    window = 3 * int(harness.SETTINGS["AGENT_CONSOLE_HEARTBEAT_SECONDS"])
    counted = await asyncio.to_thread(harness.consoles_counted, servers, agent.agent_id,
                                      until=time.time() + window + 1)
    return {"fault": "consoles", "cycles": options.cycles, "closes": dict(closes),
            "still counted after the heartbeat window": counted, "seconds": round(time.monotonic() - started, 1)}


def table(rows: list[dict]) -> str:
    chat_rows = [row for row in rows if "lost" in row]
    lines = []
    if chat_rows:
        lines.append("| fault | " + " | ".join(COLUMNS) + " | s |")
        lines.append("|---" * (len(COLUMNS) + 2) + "|")
        for row in chat_rows:
            lines.append(f"| {row['fault']} | " + " | ".join(str(row[column]) for column in COLUMNS)
                         + f" | {row['seconds']} |")
    for row in rows:
        if "new sockets during the outage" in row:
            lines.append(f"\nnew sockets during the outage: {row['new sockets during the outage']}")
        if row["fault"] == "consoles":
            lines.append(f"\nconsoles: {row['still counted after the heartbeat window']} of {row['cycles']} closed "
                         f"console sockets still counted after the heartbeat window ({row['closes']})")
    return "\n".join(lines)


async def run_all(servers: harness.FaultServers, options) -> list[dict]:
    size = Size(chats=options.chats, agents=options.agents, messages=options.messages, interval=options.interval)
    rows = []
    for name in options.faults:
        print(f"--- {name} ---", flush=True)
        try:
            if name == "consoles":
                row = await run_consoles(servers, options)
            else:
                row = await run_chats(servers, name, size, options)
        except AssertionError as error:  # a scenario that could not finish (no agent took a chat, ...)
            row = {"fault": name, "failed": str(error)}
            print(f"{name}: {error}", flush=True)
        rows.append(row)
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--faults", nargs="+", choices=FAULTS, help="default: all (postgres only with --postgres)")
    parser.add_argument("--postgres", action="store_true", help="a throwaway PostgreSQL server (tests/pg.py)")
    parser.add_argument("--chats", type=int, default=24)
    parser.add_argument("--agents", type=int, default=8, help="each takes --cap chats at once")
    parser.add_argument("--cap", type=int, default=3)
    parser.add_argument("--messages", type=int, default=40, help="written by each side of each chat")
    parser.add_argument("--interval", type=float, default=0.5, help="seconds between two messages of one side")
    parser.add_argument("--rounds", type=int, default=4, help="daphne kills; PostgreSQL restarts")
    parser.add_argument("--stall", type=float, default=2.0, help="seconds Redis is stopped with SIGSTOP")
    parser.add_argument("--outage", type=float, default=10.0, help="seconds Redis is down")
    parser.add_argument("--cycles", type=int, default=120, help="console tabs opened and closed")
    options = parser.parse_args()
    options.faults = options.faults or [name for name in FAULTS if name != "postgres" or options.postgres]
    if "postgres" in options.faults and not options.postgres:
        parser.error("the postgres fault needs --postgres")
    if options.chats > options.agents * options.cap:
        parser.error("more chats than slots (--agents x --cap): chats would wait in the queue")

    with tempfile.TemporaryDirectory(prefix="chatdesk-faults-") as folder:
        with harness.start_fault_servers(Path(folder), postgres=options.postgres, agents=options.agents,
                                         cap=options.cap) as servers:
            rows = asyncio.run(run_all(servers, options))
    RESULTS.mkdir(exist_ok=True)
    name = f"faults-{'postgres' if options.postgres else 'sqlite'}-{time.strftime('%Y%m%d-%H%M%S')}.json"
    (RESULTS / name).write_text(json.dumps({"params": vars(options), "rows": rows}, indent=2))
    print(f"\n{table(rows)}\n\nresults: bench/results/{name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
