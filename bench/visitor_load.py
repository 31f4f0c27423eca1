"""Load generator for the visitor socket: N widgets chatting at once, measuring every message's ack.

Each simulated visitor opens ws://HOST:PORT/ws/widget/<site>/ with an Origin header the site allows,
sends hello (waits for welcome) and start (waits for its queue frame), then, once every socket is
ready, sends `message` frames at a fixed rate (open loop: a slow server does not slow the senders
down) for a fixed time. It records, per client_id, the time from send to the `ack` carrying that
client_id, and the time to the `message` frame the server delivers back over the channel layer.

Checks: every message is acked once with one seq (a client_id acked with two seqs is a duplicate);
the seqs acked on one conversation are distinct and have no gaps; every acked message is delivered
back exactly once. Errors are counted by code; retryable ones (rate_limited, server_error) are resent
with the same client_id after retry_after_ms, at most --max-resends times, as the widget would.

Prints (or writes with --json-out) one JSON object. Only 127.0.0.1 / localhost targets are accepted,
and every phase has a time limit.

    python bench/visitor_load.py --port 8000 --sockets 300 --rate 200 --duration 20
"""

import argparse
import asyncio
import json
import os
import random
import resource
import sys
import time
import uuid
from collections import Counter, defaultdict
from urllib.parse import urlsplit

from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

LOCAL_HOSTS = {"127.0.0.1", "localhost"}
RETRYABLE = {"rate_limited", "server_error"}


def percentile(sorted_values: list[float], fraction: float) -> float | None:
    """Nearest-rank percentile of an ascending list (None when empty)."""
    if not sorted_values:
        return None
    rank = max(1, min(len(sorted_values), round(fraction * len(sorted_values) + 0.5)))
    return sorted_values[rank - 1]


def cpu_seconds(pid: int) -> float | None:
    """User + system CPU time of a local process (all its threads), None if it cannot be read."""
    try:
        fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def machine_busy_seconds() -> float | None:
    """CPU seconds all cores spent busy (not idle or waiting for I/O) since boot."""
    try:
        values = [int(v) for v in open("/proc/stat").readline().split()[1:]]
    except OSError:
        return None
    return (sum(values[:8]) - values[3] - values[4]) / os.sysconf("SC_CLK_TCK")


def summarise_ms(values: list[float]) -> dict:
    ordered = sorted(v * 1000 for v in values)
    if not ordered:
        return {"count": 0}
    return {
        "count": len(ordered),
        "p50": round(percentile(ordered, 0.50), 2),
        "p90": round(percentile(ordered, 0.90), 2),
        "p99": round(percentile(ordered, 0.99), 2),
        "max": round(ordered[-1], 2),
        "mean": round(sum(ordered) / len(ordered), 2),
    }


class Outgoing:
    __slots__ = ("client_id", "first_sent", "attempts", "acks", "delivered", "failed_code")

    def __init__(self, client_id: str, now: float):
        self.client_id, self.first_sent, self.attempts = client_id, now, 1
        self.acks: list[tuple[float, int, str | None]] = []  # (received at, seq, conversation_id)
        self.delivered: list[float] = []
        self.failed_code: str | None = None


class Visitor:
    """One widget: its socket, its conversation and everything it sent."""

    def __init__(self, index: int, run: "Run"):
        self.index, self.run = index, run
        self.ws = None
        self.conversation_id: str | None = None
        self.sent: dict[str, Outgoing] = {}
        self.ready = asyncio.Event()
        self.waiters: dict[str, asyncio.Future] = {}
        self.closed_code: int | None = None
        self.unknown_acks = 0
        self.foreign_conversation = 0

    async def open(self) -> bool:
        """Connect, greet and start a chat; False (with the reason counted) if any step fails."""
        run = self.run
        started = time.perf_counter()
        try:
            self.ws = await connect(run.url, origin=run.origin, open_timeout=run.args.step_timeout,
                                    compression=None, ping_interval=None, max_queue=None,
                                    close_timeout=2)
        except Exception as error:  # refused, timed out, HTTP 5xx on upgrade...
            run.connect_failures[type(error).__name__] += 1
            return False
        run.reader_tasks.append(asyncio.create_task(self.read()))
        try:
            await self.request({"type": "hello"}, "welcome")
            queue = await self.request({"type": "start", "name": f"Bench {self.index}", "client_id": "first",
                                           "text": "Hello"}, "queue")
        except (asyncio.TimeoutError, ConnectionClosed) as error:
            run.connect_failures[f"handshake_{type(error).__name__}"] += 1
            return False
        self.conversation_id = queue.get("conversation_id")
        run.handshake_times.append(time.perf_counter() - started)
        return True

    async def request(self, frame: dict, answer: str) -> dict:
        future = asyncio.get_running_loop().create_future()
        self.waiters[answer] = future
        await self.ws.send(json.dumps(frame))
        return await asyncio.wait_for(future, self.run.args.step_timeout)

    async def read(self) -> None:
        run = self.run
        try:
            async for raw in self.ws:
                now = time.perf_counter()
                frame = json.loads(raw)
                kind = frame.get("type")
                run.frames_received[kind] += 1
                waiter = self.waiters.pop(kind, None)
                if waiter is not None and not waiter.done():
                    waiter.set_result(frame)
                if kind == "ack":
                    self.on_ack(frame, now)
                elif kind == "message":
                    outgoing = self.sent.get(frame.get("client_id"))
                    if outgoing is not None:
                        outgoing.delivered.append(now)
                elif kind == "error":
                    await self.on_error(frame)
        except ConnectionClosed as closed:
            self.closed_code = closed.rcvd.code if closed.rcvd else None
        finally:
            if self.closed_code is None and self.ws is not None and self.ws.close_code is not None:
                self.closed_code = self.ws.close_code

    def on_ack(self, frame: dict, now: float) -> None:
        outgoing = self.sent.get(frame.get("client_id"))
        if outgoing is None:
            self.unknown_acks += 1
            return
        if self.conversation_id and frame.get("conversation_id") != self.conversation_id:
            self.foreign_conversation += 1
        outgoing.acks.append((now, frame.get("seq"), frame.get("conversation_id")))

    async def on_error(self, frame: dict) -> None:
        run = self.run
        code = frame.get("code", "?")
        run.error_codes[code] += 1
        outgoing = self.sent.get(frame.get("ref"))
        if outgoing is None or outgoing.acks:
            return
        if frame.get("retry") and code in RETRYABLE and outgoing.attempts <= run.args.max_resends \
                and time.perf_counter() < run.resend_deadline:
            outgoing.attempts += 1
            run.resends += 1
            delay = (frame.get("retry_after_ms") or 200) / 1000
            asyncio.get_running_loop().call_later(delay, lambda: asyncio.ensure_future(self.resend(outgoing)))
        else:
            outgoing.failed_code = code

    async def resend(self, outgoing: Outgoing) -> None:
        try:
            await self.ws.send(json.dumps({"type": "message", "client_id": outgoing.client_id,
                                           "text": self.run.text}))
        except ConnectionClosed:
            pass

    async def chat(self, start_at: float, end_at: float, interval: float) -> None:
        """Send one message every `interval` seconds from start_at (plus a random phase) to end_at."""
        run = self.run
        next_at = start_at + random.uniform(0, interval)
        while next_at < end_at:
            delay = next_at - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            client_id = str(uuid.uuid4())
            now = time.perf_counter()
            self.sent[client_id] = Outgoing(client_id, now)
            run.send_lag.append(max(0.0, now - next_at))
            try:
                await self.ws.send(json.dumps({"type": "message", "client_id": client_id, "text": run.text}))
            except ConnectionClosed:
                self.sent[client_id].failed_code = "socket_closed"
                run.send_failures += 1
                return
            next_at += interval

    async def finish(self) -> None:
        if self.ws is None:
            return
        try:
            if self.run.args.close_chats and self.conversation_id:
                await self.ws.send(json.dumps({"type": "close"}))
                await asyncio.sleep(0.5)
            await self.ws.close()
        except Exception:  # already gone; nothing left to measure
            pass


class Run:
    def __init__(self, args):
        self.args = args
        self.url = f"ws://{args.host}:{args.port}/ws/widget/{args.site}/"
        self.origin = args.origin or f"http://{args.host}:{args.port}"
        self.text = ("Hello, I have a question about my order. " * 8)[: args.text_chars]
        self.connect_failures: Counter = Counter()
        self.error_codes: Counter = Counter()
        self.frames_received: Counter = Counter()
        self.handshake_times: list[float] = []
        self.send_lag: list[float] = []
        self.reader_tasks: list[asyncio.Task] = []
        self.resends = 0
        self.send_failures = 0
        self.resend_deadline = float("inf")

    async def main(self) -> dict:
        args = self.args
        visitors = [Visitor(i, self) for i in range(args.sockets)]
        gate = asyncio.Semaphore(args.connect_concurrency)

        async def open_one(visitor: Visitor) -> bool:
            async with gate:
                return await visitor.open()

        connect_started = time.perf_counter()
        opened = await asyncio.gather(*(open_one(v) for v in visitors))
        connect_seconds = time.perf_counter() - connect_started
        ready = [v for v, ok in zip(visitors, opened) if ok]

        interval = len(ready) / args.rate if ready else 1.0
        print(f"{len(ready)} sockets ready after {connect_seconds:.1f} s; sending for {args.duration:g} s",
              file=sys.stderr, flush=True)
        start_at = time.perf_counter() + 0.5
        end_at = start_at + args.duration
        self.resend_deadline = end_at + args.grace / 2
        rusage_before = resource.getrusage(resource.RUSAGE_SELF)
        watched_before = {name: cpu_seconds(pid) for name, pid in args.watch}
        machine_before = machine_busy_seconds()
        await asyncio.gather(*(v.chat(start_at, end_at, interval) for v in ready))
        # Wait for the stragglers: until every message is acked and delivered, or the grace ends.
        grace_end = time.perf_counter() + args.grace
        while time.perf_counter() < grace_end:
            if all(o.acks and o.delivered or o.failed_code for v in ready for o in v.sent.values()):
                break
            await asyncio.sleep(0.1)
        waited_after_send = time.perf_counter() - end_at
        rusage_after = resource.getrusage(resource.RUSAGE_SELF)
        watched_after = {name: cpu_seconds(pid) for name, pid in args.watch}
        machine_after = machine_busy_seconds()
        window = time.perf_counter() - start_at
        await asyncio.gather(*(v.finish() for v in visitors))
        for task in self.reader_tasks:
            task.cancel()
        await asyncio.gather(*self.reader_tasks, return_exceptions=True)

        result = self.report(visitors, ready, start_at, end_at)
        result["connect"] = {
            "requested": args.sockets, "ready": len(ready), "seconds": round(connect_seconds, 2),
            "failures": dict(self.connect_failures), "handshake_ms": summarise_ms(self.handshake_times),
        }
        result["waited_after_send_s"] = round(waited_after_send, 2)
        # CPU used from the first message to the end of the wait for acks, as a share of one core.
        result["cpu_share"] = {"window_s": round(window, 2), "loadgen": round(
            (rusage_after.ru_utime + rusage_after.ru_stime - rusage_before.ru_utime - rusage_before.ru_stime)
            / window, 3)}
        for name in watched_before:
            if watched_before[name] is not None and watched_after[name] is not None:
                result["cpu_share"][name] = round((watched_after[name] - watched_before[name]) / window, 3)
        if machine_before is not None:
            # Everything else on the machine (other test runs share these cores): the noise in the numbers.
            machine = (machine_after - machine_before) / window
            result["cpu_share"]["machine"] = round(machine, 3)
            result["cpu_share"]["others"] = round(machine - sum(
                v for k, v in result["cpu_share"].items() if k not in {"window_s", "machine"}), 3)
        return result

    def report(self, visitors, ready, start_at, end_at) -> dict:
        ack_latency, delivery_latency, ack_times = [], [], []
        sent = acked = lost = failed = duplicated_ids = repeated_acks = 0
        delivered_missing = delivered_twice = seq_duplicates = seq_gaps = 0
        failed_codes: Counter = Counter()
        for visitor in ready:
            seqs_by_conversation = defaultdict(list)
            for outgoing in visitor.sent.values():
                sent += 1
                if not outgoing.acks:
                    if outgoing.failed_code:
                        failed += 1
                        failed_codes[outgoing.failed_code] += 1
                    else:
                        lost += 1
                    continue
                acked += 1
                first_ack, seq, conversation_id = outgoing.acks[0]
                ack_times.append(first_ack)
                ack_latency.append(first_ack - outgoing.first_sent)
                distinct = {a[1] for a in outgoing.acks}
                if len(distinct) > 1:
                    duplicated_ids += 1
                repeated_acks += len(outgoing.acks) - 1
                seqs_by_conversation[conversation_id].append(seq)
                if not outgoing.delivered:
                    delivered_missing += 1
                else:
                    delivery_latency.append(outgoing.delivered[0] - outgoing.first_sent)
                    delivered_twice += len(outgoing.delivered) > 1
            for seqs in seqs_by_conversation.values():
                seq_duplicates += len(seqs) - len(set(seqs))
                if all(isinstance(s, int) for s in seqs):
                    seq_gaps += (max(seqs) - min(seqs) + 1) - len(set(seqs))
        last_ack = max(ack_times) if ack_times else start_at
        send_window = end_at - start_at
        return {
            "target": self.url,
            "params": {"sockets": self.args.sockets, "rate": self.args.rate, "duration": self.args.duration,
                       "grace": self.args.grace, "text_chars": len(self.text),
                       "per_socket_rate": round(self.args.rate / max(1, len(ready)), 3)},
            "sent": sent,
            "acked": acked,
            "lost": lost,
            "failed": failed,
            "failed_codes": dict(failed_codes),
            "duplicated": duplicated_ids + seq_duplicates,
            "duplicated_client_ids": duplicated_ids,
            "seq_duplicates": seq_duplicates,
            "seq_gaps": seq_gaps,
            "repeated_acks": repeated_acks,
            "delivered_missing": delivered_missing,
            "delivered_twice": delivered_twice,
            "resends": self.resends,
            "send_failures": self.send_failures,
            "unknown_acks": sum(v.unknown_acks for v in visitors),
            "foreign_conversation_acks": sum(v.foreign_conversation for v in visitors),
            "error_codes": dict(self.error_codes),
            "closed_early": dict(Counter(str(v.closed_code) for v in ready if v.closed_code is not None
                                         and v.closed_code != 1000)),
            "offered_rate": round(sent / send_window, 1),
            "throughput": round(acked / max(send_window, last_ack - start_at), 1),
            "ack_ms": summarise_ms(ack_latency),
            "delivery_ms": summarise_ms(delivery_latency),
            "send_lag_ms": summarise_ms(self.send_lag),
        }


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--site", default="demo", help="site key (load_demo creates 'demo')")
    parser.add_argument("--origin", help="Origin header (default http://HOST:PORT)")
    parser.add_argument("--sockets", type=int, default=300)
    parser.add_argument("--rate", type=float, default=200.0, help="total messages per second, all sockets")
    parser.add_argument("--duration", type=float, default=20.0, help="seconds of sending")
    parser.add_argument("--grace", type=float, default=10.0, help="seconds to wait for late acks")
    parser.add_argument("--text-chars", type=int, default=120)
    parser.add_argument("--connect-concurrency", type=int, default=20, help="handshakes in flight at once")
    parser.add_argument("--step-timeout", type=float, default=30.0, help="limit for connect/hello/start")
    parser.add_argument("--max-resends", type=int, default=3)
    parser.add_argument("--close", dest="close_chats", action="store_true",
                        help="send a close frame at the end (off by default: each close of a queued chat starts a "
                             "routing pass that keeps the server busy after the measurement)")
    parser.add_argument("--watch", action="append", default=[], metavar="NAME=PID",
                        help="report the CPU share of this local process during the send window (repeatable)")
    parser.add_argument("--json-out", help="write the result here instead of stdout")
    args = parser.parse_args(argv)
    if args.host not in LOCAL_HOSTS:
        parser.error("this load generator only targets 127.0.0.1 / localhost")
    if args.origin and urlsplit(args.origin).hostname not in LOCAL_HOSTS:
        parser.error("--origin must be a local origin")
    if not (1 <= args.sockets <= 5000 and 0 < args.rate <= 20000 and 0 < args.duration <= 600
            and 0 <= args.grace <= 120):
        parser.error("sockets 1..5000, rate 0..20000, duration 0..600 s, grace 0..120 s")
    try:
        args.watch = [(name, int(pid)) for name, pid in (item.split("=", 1) for item in args.watch)]
    except ValueError:
        parser.error("--watch takes NAME=PID")
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    run = Run(args)
    # Hard stop: a hung server must not hang the benchmark.
    limit = args.step_timeout * (args.sockets / args.connect_concurrency + 2) + args.duration + args.grace + 30
    result = asyncio.run(asyncio.wait_for(run.main(), limit))
    text = json.dumps(result, indent=2)
    if args.json_out:
        with open(args.json_out, "w") as out:
            out.write(text + "\n")
    else:
        print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
