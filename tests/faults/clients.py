"""Widget and console clients that follow docs/protocol.md and its delivery rules to the letter, as a UI
would, and record what they sent, what the server acknowledged and what they showed.

One tab is one SocketClient: a socket to one of several daphne processes, greeted, and replaced
(after a doubling delay with jitter, on the next process) whenever it closes, until the tab is
stopped. Per conversation a tab keeps a View: `shown_to`, the seq up to which every message it may
see is shown. A frame after a gap (prev_seq > shown_to) is held and the gap asked for with `sync`;
held frames are shown in seq order once contiguous; `replayed` accounts for everything up to its
last_seq. Messages stay in an outbox and are resent with the same client_id until acked, across
reconnects. Nothing here knows about faults: a client only sees sockets close and frames arrive.
"""

import asyncio
import json
import random
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field

import websockets
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus

# The page may not use this socket: a bad token or not signed in, an origin or a site refused. The tabs
# of a scenario have a valid token and session, so for them this is a server fault: the tab stops
# and the comparison shows what it then missed.
STOP_CODES = (4001, 4003, 4004)
ENDED = ("closed", "missed", "abandoned")
# A sync (or a hello's replay) that no `replayed` answered in this time is sent again.
SYNC_RESEND_SECONDS = 3.0
# A message not acked in this time is sent again on the same socket: resending is always safe, and a
# socket can die without closing or a server fail on a frame without saying so.
RESEND_SECONDS = 4.0
RETRY_SECONDS = 1.0  # after an error with retry: true and no retry_after_ms
WELCOME_SECONDS = 10.0  # a socket not welcomed by then is replaced
TICK_SECONDS = 0.25


def page_of(endpoint: str) -> str:
    """The origin of a page served by the daphne process at a ws:// endpoint."""
    return endpoint.replace("ws://", "http://", 1).replace("wss://", "https://", 1)


class Backoff:
    """docs/protocol.md, Reconnecting: a delay doubling from 0.5 s up to a ceiling, times a random factor
    between 0.5 and 1.5 so that clients do not all come back at once; reset after a welcome."""

    def __init__(self, ceiling: float = 30.0):
        self.ceiling = ceiling
        self.attempt = 0

    def next_delay(self) -> float:
        delay = min(self.ceiling, 0.5 * 2 ** self.attempt) * random.uniform(0.5, 1.5)
        self.attempt += 1
        return delay

    def reset(self) -> None:
        self.attempt = 0


@dataclass
class View:
    """One conversation as one tab shows it."""

    conversation_id: str
    shown_to: int = 0
    shown: list[int] = field(default_factory=list)  # seqs in the order they appeared on screen
    texts: dict[int, str] = field(default_factory=dict)  # seq -> text shown
    held: dict[int, dict] = field(default_factory=dict)  # frames after a gap, by seq
    asked_at: float | None = None  # when the unanswered sync (or hello replay) went out
    state: dict | None = None  # the last `state` frame
    duplicates: int = 0  # frames of a seq already there: normal (live and replay, ack and message)
    gaps: int = 0  # frames held after a gap

    def take(self, frame: dict) -> None:
        seq = frame["seq"]
        if seq <= self.shown_to or seq in self.held or seq in self.texts:
            self.duplicates += 1
            return
        self.held[seq] = frame
        self._show_contiguous()
        self.gaps += seq in self.held

    def accounted_for(self, last_seq: int) -> None:
        """`replayed`: everything up to last_seq is there. One that made no progress is asked again only
        after a while, so a server that cannot fill a gap is not flooded with syncs."""
        progress = last_seq > self.shown_to
        self.shown_to = max(self.shown_to, last_seq)
        self._show_contiguous()
        self.asked_at = None if progress else time.monotonic()

    def behind(self) -> bool:
        """A frame waits after a gap, or the conversation has messages past what is shown."""
        return bool(self.held) or (self.state is not None and self.state["last_seq"] > self.shown_to)

    def should_ask(self, now: float) -> bool:
        return self.behind() and (self.asked_at is None or now - self.asked_at >= SYNC_RESEND_SECONDS)

    @property
    def status(self) -> str | None:
        return self.state["status"] if self.state else None

    def _show_contiguous(self) -> None:
        """Held frames in seq order while they follow what is shown (prev_seq <= shown_to), and any the
        server has accounted for meanwhile. A frame without prev_seq names no gap: shown at once."""
        for seq in sorted(self.held):
            frame = self.held[seq]
            if seq > self.shown_to and (frame.get("prev_seq") or 0) > self.shown_to:
                return
            del self.held[seq]
            self.shown.append(seq)
            self.texts[seq] = frame["text"]
            self.shown_to = max(self.shown_to, seq)


@dataclass
class Outgoing:
    """A message written in a tab: its frame as sent, and when it last went out."""

    conversation_id: str
    frame: dict
    sent_at: float = float("-inf")

    @property
    def client_id(self) -> str:
        return self.frame["client_id"]


class SocketClient:
    """One tab: a socket kept open, on whichever daphne process will have it, until stop()."""

    path = ""

    def __init__(self, name: str, endpoints: list[str], *, origin: str | None = None, first: int = 0,
                 max_backoff: float = 30.0, headers: dict[str, str] | None = None):
        """endpoints: the ws:// bases of the daphne processes, tried in turn from `first`. origin: the page's;
        None for a page served by the server it connects to (each process as if behind one address)."""
        self.name, self.endpoints, self.origin, self.headers = name, endpoints, origin, headers or {}
        self.endpoint = first
        self.backoff = Backoff(max_backoff)
        self.views: dict[str, View] = {}
        self.sent: dict[str, Outgoing] = {}  # every message written here, by client_id
        self.outbox: dict[str, Outgoing] = {}  # the ones not acked yet, in the order written
        self.acks: dict[str, int] = {}  # client_id -> the seq of its first ack
        self.ack_conflicts: list[tuple[str, int, int]] = []  # (client_id, first seq, another seq)
        self.refused: dict[str, str] = {}  # client_id -> the code of a permanent refusal
        self.events: Counter = Counter()  # sockets opened, close codes, error codes, syncs, failovers
        self.refusals: list[str] = []  # connection attempts that never reached a welcome, and why
        self.service: list[tuple[float, str]] = []  # (monotonic time, status) of each `service` frame
        self.welcomes = 0
        self.welcomed_on: int | None = None  # the endpoint of the last welcome
        self.connected_to: int | None = None  # the endpoint of the open, welcomed socket
        self.socket = None
        self.greeted = False  # welcomed on this socket
        self.ready = False  # and the hello's replays are in: outgoing frames may go
        self.replays_due: set[str] = set()
        self._error_before_welcome: str | None = None
        self._stopping = False
        self._task: asyncio.Task | None = None

    # --- what a UI does -------------------------------------------------------------------------

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name=self.name)

    async def stop(self) -> None:
        self._stopping = True
        if self.socket is not None:
            await self.socket.close()
        if self._task is not None:
            await self._task

    async def write(self, conversation_id: str, frame: dict) -> None:
        """Put a message (message, note) in the outbox; it goes now if the socket is ready."""
        outgoing = Outgoing(conversation_id, {**frame, "client_id": uuid.uuid4().hex})
        self.sent[outgoing.client_id] = self.outbox[outgoing.client_id] = outgoing
        if self.ready:
            await self._send_outgoing(outgoing)

    def drained(self) -> bool:
        """Nothing of this tab's is on its way."""
        return not self.outbox

    def unacked(self, conversation_id: str) -> int:
        return sum(outgoing.conversation_id == conversation_id for outgoing in self.outbox.values())

    # --- hooks of the two sockets ---------------------------------------------------------------

    def hello_frame(self) -> dict:
        raise NotImplementedError

    async def on_welcome(self, frame: dict) -> None:
        raise NotImplementedError

    async def on_state(self, frame: dict) -> None:
        raise NotImplementedError

    async def on_ready(self) -> None:
        """The socket is greeted and replayed: what else this tab has to (re)send."""

    async def on_tick(self, now: float) -> None:
        """Every TICK_SECONDS while ready."""

    def on_refusal(self, frame: dict) -> None:
        """A permanent error about a frame that is not in the outbox (a close, a sync)."""

    # --- the connection -------------------------------------------------------------------------

    async def _run(self) -> None:
        while not self._stopping:
            code = await self._session()
            if self._stopping or code in STOP_CODES:
                return
            # Failover: whatever went wrong with this process, the next attempt goes to another one.
            self.endpoint = (self.endpoint + 1) % len(self.endpoints)
            await asyncio.sleep(self.backoff.next_delay())

    async def _session(self) -> int | None:
        """One socket, from connecting to its close; returns the close code (None if it never opened or
        just dropped)."""
        endpoint = self.endpoints[self.endpoint]
        try:
            socket = await websockets.connect(endpoint + self.path, origin=self.origin or page_of(endpoint),
                                              additional_headers=self.headers,
                                              open_timeout=5, ping_interval=5, ping_timeout=10, close_timeout=2,
                                              max_size=None)
        except InvalidStatus as error:
            self.refusals.append(f"HTTP {error.response.status_code}")
            return None
        except (OSError, TimeoutError, InvalidHandshake) as error:
            self.refusals.append(type(error).__name__)
            return None
        self.socket, self._error_before_welcome = socket, None
        self.events["sockets opened"] += 1
        ticker = asyncio.create_task(self._tick(time.monotonic()))
        try:
            await self._send(self.hello_frame())
            async for raw in socket:
                await self._receive(json.loads(raw))
        except ConnectionClosed:
            pass
        finally:
            ticker.cancel()
            welcomed = self.greeted
            self._forget_socket()
        self.events[f"closed {socket.close_code}"] += 1
        if not welcomed:
            self.refusals.append(f"{self._error_before_welcome or 'no frame'}, close {socket.close_code}")
        return socket.close_code

    def _forget_socket(self) -> None:
        self.socket, self.connected_to = None, None
        self.greeted = self.ready = False
        self.replays_due.clear()
        for view in self.views.values():
            view.asked_at = None  # the next hello's replay answers for whatever was asked here

    async def _tick(self, opened_at: float) -> None:
        while True:
            await asyncio.sleep(TICK_SECONDS)
            now = time.monotonic()
            if not self.greeted:
                if now - opened_at > WELCOME_SECONDS:
                    self.events["welcome timed out"] += 1
                    await self.socket.close()
                    return
                continue
            if not self.ready:
                continue
            for view in list(self.views.values()):
                if view.should_ask(now):
                    await self._ask(view)
            for outgoing in list(self.outbox.values()):
                if now - outgoing.sent_at >= RESEND_SECONDS:
                    self.events["messages resent"] += 1
                    await self._send_outgoing(outgoing)
            await self.on_tick(now)

    async def _send(self, frame: dict) -> bool:
        if self.socket is None:
            return False
        try:
            await self.socket.send(json.dumps(frame))
        except ConnectionClosed:
            return False
        return True

    def _hello_again(self, socket) -> None:
        if socket is self.socket and not self.greeted:
            asyncio.ensure_future(self._send(self.hello_frame()))

    async def _send_outgoing(self, outgoing: Outgoing) -> None:
        outgoing.sent_at = time.monotonic()
        await self._send(outgoing.frame)

    async def _ask(self, view: View) -> None:
        view.asked_at = time.monotonic()
        self.events["syncs"] += 1
        await self._send({"type": "sync", "conversation_id": view.conversation_id, "last_seq": view.shown_to})

    async def _become_ready(self) -> None:
        """After the hello's replays: resend the outbox in order (docs/protocol.md, Reconnecting)."""
        self.ready = True
        for outgoing in list(self.outbox.values()):
            await self._send_outgoing(outgoing)
        await self.on_ready()
        await self._ask_where_behind()

    async def _ask_where_behind(self) -> None:
        if not self.ready:
            return
        now = time.monotonic()
        for view in list(self.views.values()):
            if view.should_ask(now):
                await self._ask(view)

    # --- frames from the server -----------------------------------------------------------------

    async def _receive(self, frame: dict) -> None:
        kind = frame["type"]
        self.events[f"frame {kind}"] += 1
        if kind == "welcome":
            if self.welcomed_on not in (None, self.endpoint):
                self.events["failovers"] += 1
            self.greeted, self.connected_to, self.welcomed_on = True, self.endpoint, self.endpoint
            self.welcomes += 1
            self.backoff.reset()
            await self.on_welcome(frame)
            if not self.replays_due:
                await self._become_ready()
        elif kind == "message":
            self._take_message(frame)
        elif kind == "replayed":
            await self._on_replayed(frame)
        elif kind == "ack":
            self._on_ack(frame)
        elif kind == "state":
            await self.on_state(frame)
        elif kind == "service":
            self.service.append((time.monotonic(), frame["status"]))
        elif kind == "error":
            await self._on_error(frame)
        else:
            return
        await self._ask_where_behind()

    def _take_message(self, frame: dict) -> None:
        view = self.views.get(frame["conversation_id"])
        if view is None:
            return  # about a conversation this tab does not show
        view.take(frame)
        if frame.get("client_id") in self.outbox:  # a replay may settle a message before its ack
            del self.outbox[frame["client_id"]]

    async def _on_replayed(self, frame: dict) -> None:
        view = self.views.get(frame["conversation_id"])
        if view is not None:
            view.accounted_for(frame["last_seq"])
        if frame["conversation_id"] in self.replays_due:
            self.replays_due.discard(frame["conversation_id"])
            if not self.replays_due:
                await self._become_ready()

    def _on_ack(self, frame: dict) -> None:
        client_id, seq = frame["client_id"], frame["seq"]
        first = self.acks.setdefault(client_id, seq)
        if first != seq:
            self.ack_conflicts.append((client_id, first, seq))
        self.outbox.pop(client_id, None)

    async def _on_error(self, frame: dict) -> None:
        code, ref = frame["code"], frame.get("ref")
        self.events[f"error {code}"] += 1
        if not self.greeted:
            self._error_before_welcome = code
            if frame.get("retry") and code != "service_unavailable":  # the hello failed: say it again
                asyncio.get_running_loop().call_later(RETRY_SECONDS, self._hello_again, self.socket)
            return
        if not self.ready and ref is None:
            # The hello's replay of that conversation (of every one, if none is named) failed: the gap
            # it leaves is asked for with sync once the socket is ready.
            failed = frame.get("conversation_id")
            self.replays_due = {c for c in self.replays_due if failed is not None and c != failed}
            if not self.replays_due:
                await self._become_ready()
            return
        outgoing = self.outbox.get(ref)
        if outgoing is None:
            if not frame.get("retry"):
                self.on_refusal(frame)
            return
        if frame.get("retry"):
            wait = frame.get("retry_after_ms", RETRY_SECONDS * 1000) / 1000
            outgoing.sent_at = time.monotonic() - RESEND_SECONDS + wait  # the tick resends it then
        else:
            self.refused[ref] = code
            del self.outbox[ref]


@dataclass
class Visitor:
    """What a visitor's browser keeps for all its tabs (localStorage)."""

    name: str
    token: str | None = None
    conversation_id: str | None = None
    # The question of the pre-chat form, sent with `start`: stored as the chat's first message.
    first_client_id: str = field(default_factory=lambda: f"start-{uuid.uuid4()}")


class VisitorTab(SocketClient):
    """A widget socket. The tab that `starts` sends the pre-chat form; the others follow the chat."""

    START_RESEND_SECONDS = 5.0

    def __init__(self, visitor: Visitor, tab: int, endpoints: list[str], *, origin: str, site_key: str = "demo",
                 starts: bool = False, **options):
        super().__init__(f"{visitor.name}/tab{tab}", endpoints, origin=origin, **options)
        self.visitor, self.starts = visitor, starts
        self.path = f"/ws/widget/{site_key}/"
        self.conversation_id: str | None = None  # the chat this tab shows
        self.topic: int | None = None
        self.start_sent_at: float | None = None

    @property
    def view(self) -> View | None:
        return self.views.get(self.conversation_id)

    async def say(self, text: str) -> None:
        await self.write(self.conversation_id, {"type": "message", "text": text})

    def hello_frame(self) -> dict:
        frame = {"type": "hello"}
        if self.visitor.token:
            frame["token"] = self.visitor.token
        if self.view is not None:  # the history is in memory: ask only for what follows it
            frame.update(conversation_id=self.conversation_id, last_seq=self.view.shown_to)
        return frame

    async def on_welcome(self, frame: dict) -> None:
        self.visitor.token = frame["token"]
        self.topic = frame["site"]["topics"][0]["id"]
        conversation = frame["conversation"]
        if conversation is None:
            return
        view = self._follow(conversation["conversation_id"])
        view.state = conversation
        view.asked_at = time.monotonic()  # the replay is on its way
        self.replays_due.add(view.conversation_id)

    async def on_state(self, frame: dict) -> None:
        # A state of a chat started in another tab makes this tab follow it (docs/protocol.md).
        if self.conversation_id is None or frame["conversation_id"] == self.conversation_id:
            self._follow(frame["conversation_id"]).state = frame

    async def on_ready(self) -> None:
        await self._start_if_due()

    async def on_tick(self, now: float) -> None:
        if self.start_sent_at is not None and now - self.start_sent_at >= self.START_RESEND_SECONDS:
            await self._start_if_due()

    async def _start_if_due(self) -> None:
        """start is answered with the conversation; a repeat returns the same one, so resending is safe."""
        if self.starts and self.conversation_id is None:
            self.start_sent_at = time.monotonic()
            await self._send({"type": "start", "name": self.visitor.name, "topic": self.topic,
                              "client_id": self.visitor.first_client_id, "text": f"{self.visitor.name} needs help"})

    def _follow(self, conversation_id: str) -> View:
        if self.conversation_id != conversation_id:
            self.conversation_id = self.visitor.conversation_id = conversation_id
            self.views = {conversation_id: View(conversation_id)}
        return self.views[conversation_id]


@dataclass
class Agent:
    """A signed-in agent: the sessionid cookie of the console login, shared by all their tabs."""

    agent_id: int
    username: str
    name: str
    cookie: str


class AgentTab(SocketClient):
    """A console socket showing the agent's chats. The tab that `sets_online` makes the agent available."""

    path = "/ws/agent/"
    CLOSE_RESEND_SECONDS = 5.0

    def __init__(self, agent: Agent, tab: int, endpoints: list[str], *, sets_online: bool = False, **options):
        """The console page comes from the server it connects to (its origin rule: docs/protocol.md)."""
        super().__init__(f"{agent.username}/tab{tab}", endpoints, headers={"Cookie": f"sessionid={agent.cookie}"},
                         **options)
        self.agent, self.sets_online = agent, sets_online
        self.status: str | None = None
        self.closing: dict[str, float] = {}  # conversation id -> when its close was last sent

    def drained(self) -> bool:
        return super().drained() and not self.closing

    def owns(self, conversation_id: str) -> bool:
        view = self.views.get(conversation_id)
        return view is not None and view.state is not None and view.state.get("agent_id") == self.agent.agent_id

    async def say(self, conversation_id: str, text: str, *, note: bool = False) -> None:
        frame = {"type": "note" if note else "message", "conversation_id": conversation_id, "text": text}
        await self.write(conversation_id, frame)

    async def close_chat(self, conversation_id: str) -> None:
        """Resent until a state shows the chat ended (a close that reached the server twice is refused
        with illegal_transition, which says the same)."""
        self.closing[conversation_id] = time.monotonic()
        if self.ready:
            await self._send_close(conversation_id)

    def hello_frame(self) -> dict:
        """With the chats on screen and how far each is shown: the server replays what follows."""
        now = time.monotonic()
        for view in self.views.values():
            view.asked_at = now
        self.replays_due = set(self.views)
        return {"type": "hello", "conversations": {cid: view.shown_to for cid, view in self.views.items()}}

    async def on_welcome(self, frame: dict) -> None:
        self.status = frame["agent"]["status"]
        for chat in frame["chats"]:
            self._view(chat["conversation_id"]).state = chat
        # A chat on screen the welcome does not list has ended or moved on while this tab was away, and
        # the hello's replay brings no state: ask for it, as the console does (agents/static/agents/console.js).
        listed = {chat["conversation_id"] for chat in frame["chats"]}
        for conversation_id, view in self.views.items():
            if conversation_id not in listed and view.status not in ENDED:
                await self._send({"type": "open", "conversation_id": conversation_id})

    async def on_state(self, frame: dict) -> None:
        conversation_id = frame["conversation_id"]
        if conversation_id not in self.views and frame.get("agent_id") != self.agent.agent_id:
            return
        self._view(conversation_id).state = frame
        if frame["status"] == "assigned" and frame.get("agent_id") == self.agent.agent_id:
            await self._send({"type": "accept", "conversation_id": conversation_id})

    async def on_ready(self) -> None:
        if self.sets_online and self.status != "online":
            await self._send({"type": "status", "status": "online"})
        for conversation_id in list(self.closing):
            await self._send_close(conversation_id)

    async def on_tick(self, now: float) -> None:
        for conversation_id, sent_at in list(self.closing.items()):
            if self.views[conversation_id].status in ENDED:
                del self.closing[conversation_id]
            elif now - sent_at >= self.CLOSE_RESEND_SECONDS:
                await self._send_close(conversation_id)

    def on_refusal(self, frame: dict) -> None:
        if frame["code"] == "illegal_transition":
            self.closing.pop(frame.get("conversation_id"), None)  # it has ended already

    async def _receive(self, frame: dict) -> None:
        if frame["type"] == "status":
            self.status = frame["status"]
        await super()._receive(frame)

    async def _send_close(self, conversation_id: str) -> None:
        self.closing[conversation_id] = time.monotonic()
        await self._send({"type": "close", "conversation_id": conversation_id, "resolved": True})

    def _view(self, conversation_id: str) -> View:
        return self.views.setdefault(conversation_id, View(conversation_id))
