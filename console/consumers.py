"""The agent console's WebSocket. Thin, like the visitor's (widget/consumers.py): validate a frame,
check the agent may do it (console/workspace.py), call the lifecycle or presence, send frames.

Database and Redis calls run in worker threads, never on the event loop.

Groups a socket joins: `agent.<id>` (every tab of the agent), the staff group of each chat it
shows (the agent's own chats, chats it opened, chats it acts on as a supervisor), every site's
staff group (state changes: a chat given to this agent), the consoles' group (the queue summary,
computed once for all of them: console/boards.py) and, for supervisors, the supervisors' group
(the board).
"""

import json
import logging
from urllib.parse import urlsplit

from channels.generic.websocket import AsyncWebsocketConsumer
from django.conf import settings
from django.http.request import split_domain_port, validate_host
from django.utils.http import is_same_domain

from agents import presence
from agents.presence import PresenceError
from console import boards, workspace
from console.protocol import parse_frame
from console.workspace import ConsoleError
from conversations import bans, lifecycle
from conversations.delivery import state_key
from conversations.lifecycle import Actor, LifecycleError
from conversations.models import Message
from conversations.publish import (
    agent_group, consoles_group, site_staff_group, staff_group, supervisors_group, visitor_group,
)
from conversations.sockets import FrameSocket
from realtime.connections import consoles
from realtime.framing import FrameError
from realtime.threads import db, in_thread
from routing import grace

log = logging.getLogger(__name__)

CLOSE_NOT_AUTHENTICATED = 4001
CLOSE_ORIGIN_NOT_ALLOWED = 4003
# Agents type and click faster than visitors; a console also sends typing and seen for several chats.
RATE_PER_SECOND = 10.0
RATE_BURST = 40
FLOOD_CLOSE_AFTER = 100


def queue_key(frame: dict) -> tuple:
    """What a console's queue shows that it must not miss a change of (waits grow by themselves)."""
    return tuple(chat["conversation_id"] for chat in frame["chats"]), frame["waiting"]


class AgentConsumer(FrameSocket):
    parse_frame = staticmethod(parse_frame)
    refusals = (FrameError, LifecycleError, PresenceError)  # ConsoleError is a FrameError
    agent = None
    supervisor = False
    queue_shown: tuple | None = None  # the queue last sent (queue_key)
    queue_behind = False  # the queue differed from the database's at the last check
    unshown_chats: set = frozenset()  # own chats this socket did not show at the last check

    async def connect(self):
        user = self.scope.get("user")
        self.agent = await db(workspace.load_agent)(user)
        if self.agent is None:
            await self.accept()
            if user is None or not user.is_authenticated:
                return await self.refuse("not_authenticated", "sign in first", CLOSE_NOT_AUTHENTICATED)
            return await self.refuse("not_an_agent", "this user has no agent profile", CLOSE_NOT_AUTHENTICATED)
        self.supervisor = workspace.is_supervisor(self.agent)
        self.start_rate_limit(rate=RATE_PER_SECOND, burst=RATE_BURST, flood_close_after=FLOOD_CLOSE_AFTER)
        self.watching: dict[str, int] = {}  # public id -> pk of the chats whose staff group this socket is in
        # Counted as connected before the handshake completes: when another tab of the agent closes
        # right after this one opens, it must find this one and not start the disconnect grace.
        await self.join_group(agent_group(self.agent.pk))
        await self.start_presence(consoles, self.agent.pk)
        await self.accept()

    async def disconnect(self, code):
        if self.agent is None:
            return
        await self.leave_groups()
        try:
            live = await self.stop_presence()
            if live == 0:
                await in_thread(grace.schedule_check)(self.agent.pk)
        except Exception:
            # The beat sweep (routing.tasks.sweep_disconnected_agents) still finds this agent.
            log.exception("could not record that agent %s's console closed", self.agent.pk)

    # --- client frames ---------------------------------------------------------------------

    async def on_hello(self, frame):
        if self.greeted:
            return await self.send_error("already_greeted", "hello is sent once per socket")
        for site_id in await db(workspace.site_ids)():
            await self.join_group(site_staff_group(site_id))
        # The queue and the board come computed once for every console (console/boards.py).
        await self.join_group(consoles_group())
        if self.supervisor:
            await self.join_group(supervisors_group())
        # Join the own chats' groups before reading them, so nothing published meanwhile is missed.
        for pk in await db(workspace.own_chat_ids)(self.agent):
            await self.join_group(staff_group(pk))
        welcome = await db(workspace.welcome)(self.agent, supervisor=self.supervisor)
        for chat in welcome["chats"]:
            pk = chat.pop("pk")
            await self._watch(chat["conversation_id"], pk)
            self._note_state(pk, chat)
        self.greeted = True
        await self.send_frame(welcome)
        for conversation_id, last_seq in (frame.get("conversations") or {}).items():
            try:
                conversation = await self._authorize(conversation_id, "view")
            except ConsoleError as error:
                await self.send_error(error.code, error.message, field=error.field, conversation_id=conversation_id)
                continue
            await self._watch(conversation_id, conversation.pk)
            # Its state as well: the chat may have ended or changed hands while this tab was away.
            await self._send_state(conversation.pk)
            await self.replay(conversation.pk, conversation_id, last_seq)
        if self.supervisor:
            await self.send_frame(await db(workspace.board)())

    async def on_status(self, frame):
        self.agent = await db(presence.set_agent_status)(self.agent, frame["status"], by=self.agent)
        await self.send_frame(workspace.agent_frame(self.agent))

    async def on_take(self, frame):
        # Any chat may be asked for, so the socket watches it (before the take: its state is not
        # missed) only while the take can succeed; a refused take leaves another agent's chat unheard.
        conversation = await self._authorize(frame["conversation_id"], "take")
        watched_before = frame["conversation_id"] in self.watching
        await self._watch(frame["conversation_id"], conversation.pk)
        try:
            await db(workspace.take)(self.agent, conversation)
        except Exception:
            if not watched_before:
                await self._unwatch(frame["conversation_id"])
            raise
        await self._send_state(conversation.pk)

    async def on_accept(self, frame):
        conversation = await self._authorize(frame["conversation_id"], "accept")
        await self._watch(frame["conversation_id"], conversation.pk)
        await db(lifecycle.accept_conversation)(conversation_id=conversation.pk, agent=self.agent)
        await self._send_state(conversation.pk)

    async def on_open(self, frame):
        conversation = await self._authorize(frame["conversation_id"], "view")
        await self._watch(frame["conversation_id"], conversation.pk)  # before reading: nothing is missed
        await self._send_state(conversation.pk)
        await self.replay(conversation.pk, frame["conversation_id"], 0)
        await self.send_frame(await db(workspace.context)(conversation))

    async def on_sync(self, frame):
        conversation = await self._authorize(frame["conversation_id"], "view")
        await self._watch(frame["conversation_id"], conversation.pk)
        await self.replay(conversation.pk, frame["conversation_id"], frame["last_seq"])

    async def on_message(self, frame):
        conversation = await self._authorize(frame["conversation_id"], "reply")
        await self._write(frame, conversation, Message.Visibility.PUBLIC)

    async def on_note(self, frame):
        conversation = await self._authorize(frame["conversation_id"], "act")
        await self._write(frame, conversation, Message.Visibility.INTERNAL)

    async def on_whisper(self, frame):
        # The lifecycle records the chat's agent as the whisper's recipient (illegal_transition if none).
        conversation = await self._authorize(frame["conversation_id"], "supervise")
        await self._write(frame, conversation, Message.Visibility.WHISPER)

    async def on_barge(self, frame):
        conversation = await self._authorize(frame["conversation_id"], "supervise")
        await self._write(frame, conversation, Message.Visibility.PUBLIC)

    async def on_typing(self, frame):
        conversation = await self._authorize(frame["conversation_id"], "act")
        if not conversation.is_open:
            return
        await self.send_passing(visitor_group(conversation.visitor_id), {
            "type": "typing", "conversation_id": frame["conversation_id"], "by": "agent",
            "agent_name": self.agent.display_name, "is_typing": frame["is_typing"],
        })

    async def on_seen(self, frame):
        conversation = await self._authorize(frame["conversation_id"], "view")
        # Only the chat's own agent moves its read marker: a supervisor monitors without a trace.
        if conversation.assigned_agent_id == self.agent.pk:
            await db(lifecycle.mark_seen)(conversation_id=conversation.pk, actor=Actor.of_agent(self.agent),
                                          seq=frame["seq"])

    async def on_tag(self, frame):
        await self._tag(frame, lifecycle.tag_conversation)

    async def on_untag(self, frame):
        await self._tag(frame, lifecycle.untag_conversation)

    async def on_transfer(self, frame):
        conversation = await self._authorize(frame["conversation_id"], "act")
        target = await db(workspace.transfer_target)(frame)
        await db(lifecycle.transfer_conversation)(conversation_id=conversation.pk, actor=Actor.of_agent(self.agent),
                                                  note=frame.get("note") or "", **target)
        await self._send_state(conversation.pk)

    async def on_reassign(self, frame):
        conversation = await self._authorize(frame["conversation_id"], "supervise")
        await db(workspace.reassign)(self.agent, conversation, frame["agent"])
        await self._send_state(conversation.pk)

    async def on_ban(self, frame):
        conversation = await self._authorize(frame["conversation_id"], "supervise")
        await db(bans.ban_visitor)(conversation_id=conversation.pk, actor=Actor.of_agent(self.agent),
                                   scope=frame.get("scope") or "visitor", reason=(frame.get("reason") or "").strip(),
                                   hours=frame.get("hours"))
        await self._send_state(conversation.pk)
        await self.send_frame({"type": "banned", "conversation_id": frame["conversation_id"]})

    async def on_wrapup(self, frame):
        conversation = await self._authorize(frame["conversation_id"], "act")
        await self._watch(frame["conversation_id"], conversation.pk)
        await db(lifecycle.start_wrapup)(conversation_id=conversation.pk, actor=Actor.of_agent(self.agent))

    async def on_close(self, frame):
        conversation = await self._authorize(frame["conversation_id"], "act")
        tags = await db(workspace.tags_named)(conversation.site_id, frame.get("tags") or [])
        await db(lifecycle.close_with_wrapup)(
            conversation_id=conversation.pk, actor=Actor.of_agent(self.agent), resolved=frame["resolved"],
            summary=(frame.get("summary") or "").strip(), tags=tags,
        )
        await self._send_state(conversation.pk)

    # --- channel layer events ----------------------------------------------------------------

    async def conv_frame(self, event):
        frame = event["frame"]
        kind, conversation_id = frame.get("type"), frame.get("conversation_id")
        if kind == "state":
            return await self._on_state(frame)
        if kind == "status":  # from agent.<id>: this agent's status, whoever set it
            return await self.send_frame(frame)
        if kind == "queue":  # from the consoles' group
            return await self._send_queue(frame) if self.greeted else None
        if kind == "board":  # from the supervisors' group
            return await self.send_frame(frame) if self.greeted else None
        # Everything else is about one chat; a socket forwards only the chats it shows (a stale
        # group membership after a transfer must not leak a frame), and whispers only to their reader.
        if conversation_id is None or conversation_id not in self.watching:
            return
        pk = self.watching[conversation_id]
        if kind == "message":
            return await self.deliver_message(pk, frame,
                                              visible=workspace.sees(self.agent, frame, supervisor=self.supervisor))
        if kind == "seen":
            self.track_seen(pk, frame["by"], frame["seq"])
        await self.send_frame(frame)

    async def _on_state(self, frame):
        if not self.greeted:
            return
        conversation_id = frame["conversation_id"]
        # Only chats this socket shows, or one that may just have been given to this agent.
        if conversation_id not in self.watching and frame.get("agent_id") != self.agent.pk:
            return
        await self._show_state(conversation_id)

    async def _show_state(self, conversation_id):
        """The chat's state as it is now, if this socket shows it; a chat given to this agent starts
        being shown, one transferred or requeued away stops (after its last state)."""
        conversation = await db(workspace.find_conversation)(conversation_id)
        if conversation is None:
            return
        watching = conversation_id in self.watching
        keep = self.supervisor or conversation.assigned_agent_id == self.agent.pk or (
            watching and conversation.status == conversation.Status.QUEUED)
        if not watching:
            if conversation.assigned_agent_id != self.agent.pk:
                return
            await self._watch(conversation_id, conversation.pk)  # a chat routed or transferred to this agent
        await self._send_state_frame(conversation.pk, await db(workspace.state)(conversation))
        if not keep:
            await self._unwatch(conversation_id)  # transferred or requeued away: its last state, then silence

    # --- helpers -------------------------------------------------------------------------------

    async def _authorize(self, conversation_id, need):
        return await db(workspace.authorize)(self.agent, conversation_id, need, supervisor=self.supervisor)

    async def _write(self, frame, conversation, visibility):
        canned = await db(workspace.canned_response)(self.agent, frame.get("canned_response_id"))
        await self._watch(frame["conversation_id"], conversation.pk)
        message, _ = await db(lifecycle.post_message)(
            conversation_id=conversation.pk, actor=Actor.of_agent(self.agent), text=frame["text"],
            client_id=frame["client_id"], visibility=visibility, canned_response_id=canned,
        )
        await self.send_frame({"type": "ack", "client_id": message.client_id, "seq": message.seq,
                          "conversation_id": frame["conversation_id"]})

    async def _tag(self, frame, change):
        conversation = await self._authorize(frame["conversation_id"], "act")
        tag = await db(workspace.tag_named)(conversation.site_id, frame["tag"])
        await self._watch(frame["conversation_id"], conversation.pk)
        await db(change)(conversation_id=conversation.pk, actor=Actor.of_agent(self.agent), tag=tag)

    async def _send_state(self, conversation_pk):
        await self._send_state_frame(conversation_pk, await db(workspace.state_of)(conversation_pk))

    async def _send_state_frame(self, conversation_pk, frame):
        self._note_state(conversation_pk, frame)
        await self.send_frame(frame)

    def _note_state(self, conversation_pk, frame):
        self.track_state(conversation_pk, state_key(
            status=frame["status"], agent_id=frame["agent_id"], visitor_seen_seq=frame["visitor_seen_seq"],
            agent_seen_seq=frame["agent_seen_seq"]), last_seq=frame["last_seq"])

    async def _send_queue(self, frame):
        self.queue_shown = queue_key(frame)
        await self.send_frame(frame)

    async def _watch(self, public_id, pk):
        await self.join_group(staff_group(pk))
        self.watching[public_id] = pk

    async def _unwatch(self, public_id):
        pk = self.watching.pop(public_id, None)
        if pk is not None:
            self.tracks.pop(pk, None)
            await self.leave_group(staff_group(pk))

    # --- delivery hooks (conversations/sockets.py) ------------------------------------------------

    def visible_after(self, conversation_pk, after, up_to):
        return workspace.history(conversation_pk, after, self.agent, supervisor=self.supervisor, up_to=up_to)

    def cursor_target(self, position):
        return position.last_seq

    async def send_state_of(self, conversation_pk):
        await self._send_state(conversation_pk)

    @classmethod
    async def check_all(cls, sockets, positions, *, urgent, restored):
        """Besides each chat shown: the queue, and chats given to an agent whose state frame was lost."""
        await super().check_all(sockets, positions, urgent=urgent, restored=restored)
        greeted = [socket for socket in sockets if socket.greeted and not socket.closing]
        if not greeted:
            return
        queue = await db(workspace.queue_summary)()
        chats_of = await db(workspace.open_chats_of)(sorted({socket.agent.pk for socket in greeted}))
        for socket in greeted:
            await socket.catch_up_console(queue, chats_of.get(socket.agent.pk, []), urgent=urgent)
        if restored:
            boards.floor.request()  # the board, which no check compares

    async def catch_up_console(self, queue, own_chats, *, urgent):
        """Like catch_up: a difference seen at two checks in a row (or at once when urgent) is sent."""
        missing = {public_id for public_id, _ in own_chats if public_id not in self.watching}
        stale_queue = queue_key(queue) != self.queue_shown
        for public_id in missing & (self.unshown_chats | (missing if urgent else set())):
            await self._show_state(public_id)
        if stale_queue and (urgent or self.queue_behind):
            await self._send_queue(queue)
            stale_queue = False
        self.unshown_chats, self.queue_behind = missing, stale_queue

class OriginRefused(AsyncWebsocketConsumer):
    """Like the widget: accept, say why in an error frame, close 4003 (a refused handshake says nothing)."""

    async def connect(self):
        await self.accept()
        await self.send(text_data=json.dumps({"type": "error", "code": "origin_not_allowed", "retry": False,
                                              "message": "this page's origin may not open the console"}))
        await self.close(code=CLOSE_ORIGIN_NOT_ALLOWED)


class RefusingOriginValidator:
    """Staff sockets open only from this server's own pages, by the rule Django's CSRF check applies to a
    form: the Origin's scheme, host and port are those the socket itself was reached at (its Host, which
    must be an ALLOWED_HOSTS entry, and https when SECURE_PROXY_SSL_HEADER says the proxy took TLS), or
    match a CSRF_TRUSTED_ORIGINS entry. Any other service on the same host name (another port, plain http
    beside https) cannot open a console with the agent's cookie. A refusal is an error frame and close 4003."""

    def __init__(self, application):
        self.application = application

    async def __call__(self, scope, receive, send):
        headers = {name.decode("latin1"): value.decode("latin1") for name, value in scope.get("headers", [])}
        origin = headers.get("origin", "")
        if origin and (origin_matches(origin, own_origin(scope, headers)) or trusted_origin(origin)):
            return await self.application(scope, receive, send)
        return await OriginRefused.as_asgi()(scope, receive, send)


DEFAULT_PORTS = {"http": 80, "https": 443}


def origin_parts(url: str) -> tuple[str, str, int] | None:
    """(scheme, host, port) of an http(s) origin, the port filled in when it is the default."""
    try:
        parts = urlsplit(url.lower())
        port = parts.port
    except ValueError:
        return None
    if parts.scheme not in DEFAULT_PORTS or not parts.hostname:
        return None
    return parts.scheme, parts.hostname, port or DEFAULT_PORTS[parts.scheme]


def origin_matches(origin: str, other: str | None) -> bool:
    return other is not None and origin_parts(origin) is not None and origin_parts(origin) == origin_parts(other)


def own_origin(scope, headers: dict[str, str]) -> str | None:
    """The origin the socket was reached at, if its Host is one this server serves (were it not checked,
    a name of anyone's pointed at this server would be "own")."""
    host = headers.get("host", "")
    domain, _ = split_domain_port(host)
    if not domain or not validate_host(domain, settings.ALLOWED_HOSTS):
        return None
    return f"{'https' if socket_is_secure(scope, headers) else 'http'}://{host}"


def socket_is_secure(scope, headers: dict[str, str]) -> bool:
    """As Django's request.is_secure(): the proxy's header when SECURE_PROXY_SSL_HEADER names one, else wss."""
    if settings.SECURE_PROXY_SSL_HEADER:
        name, secure_value = settings.SECURE_PROXY_SSL_HEADER
        value = headers.get(name.removeprefix("HTTP_").replace("_", "-").lower())
        if value is not None:
            return value.split(",", 1)[0].strip() == secure_value
    return scope.get("scheme") == "wss"


def trusted_origin(origin: str) -> bool:
    """Whether the origin is a CSRF_TRUSTED_ORIGINS entry, or under one with a wildcard (https://*.example.com)."""
    scheme, netloc = urlsplit(origin.lower())[:2]
    for trusted in settings.CSRF_TRUSTED_ORIGINS:
        if "*" in trusted:
            pattern = urlsplit(trusted)
            if scheme == pattern.scheme and is_same_domain(netloc, pattern.netloc.lstrip("*")):
                return True
        elif origin_matches(origin, trusted):
            return True
    return False


def console_origin_validator(application):
    """RefusingOriginValidator around a staff socket (console, wallboard)."""
    return RefusingOriginValidator(application)
