"""The agent console's WebSocket. Thin, like the visitor's (widget/consumers.py): validate a frame,
check the agent may do it (agents/console.py), call the lifecycle or presence, send frames.

Database and Redis calls run in worker threads, never on the event loop.

Groups a socket joins: `agent.<id>` (every tab of the agent), the staff group of each chat it
shows (the agent's own chats, chats it opened, chats it acts on as a supervisor), every site's
staff group (state changes, from which the queue and the board are refreshed) and, for
supervisors, the supervisors' group.
"""

import asyncio
import json
import logging
from urllib.parse import urlparse

from channels.generic.websocket import AsyncWebsocketConsumer
from channels.security.websocket import AllowedHostsOriginValidator, OriginValidator

from agents import console, grace
from agents.console import ConsoleError
from agents.console_protocol import parse_frame
from agents.presence import PresenceError
from conversations import lifecycle
from conversations.connections import consoles
from conversations.framing import FrameError
from conversations.lifecycle import Actor, LifecycleError
from conversations.models import Message
from conversations.publish import agent_group, site_staff_group, staff_group, supervisors_group, visitor_group
from conversations.sockets import FrameSocket, db, in_thread

log = logging.getLogger(__name__)

CLOSE_NOT_AUTHENTICATED = 4001
CLOSE_ORIGIN_NOT_ALLOWED = 4003
# Agents type and click faster than visitors; a console also sends typing and seen for several chats.
RATE_PER_SECOND = 10.0
RATE_BURST = 40
FLOOD_CLOSE_AFTER = 100
# Queue and board frames are recomputed at most this often per socket, however many states change.
REFRESH_DELAY_SECONDS = 0.1


class AgentConsumer(FrameSocket):
    parse_frame = staticmethod(parse_frame)
    refusals = (FrameError, LifecycleError, PresenceError)  # ConsoleError is a FrameError
    agent = None
    supervisor = False

    async def connect(self):
        user = self.scope.get("user")
        self.agent = await db(console.load_agent)(user)
        if self.agent is None:
            await self.accept()
            if user is None or not user.is_authenticated:
                return await self.refuse("not_authenticated", "sign in first", CLOSE_NOT_AUTHENTICATED)
            return await self.refuse("not_an_agent", "this user has no agent profile", CLOSE_NOT_AUTHENTICATED)
        self.supervisor = console.is_supervisor(self.agent)
        self.start_rate_limit(rate=RATE_PER_SECOND, burst=RATE_BURST, flood_close_after=FLOOD_CLOSE_AFTER)
        self.joined: set[str] = set()
        self.watching: dict[str, int] = {}  # public id -> pk of the chats whose staff group this socket is in
        self.refresh_task = None
        await self._join(agent_group(self.agent.pk))
        # Counted as connected before the handshake completes: when another tab of the agent closes
        # right after this one opens, it must find this one and not start the disconnect grace.
        await self.start_presence(consoles, self.agent.pk)
        await self.accept()

    async def disconnect(self, code):
        if self.agent is None:
            return
        if self.refresh_task is not None:
            self.refresh_task.cancel()
        for group in self.joined:
            await self.channel_layer.group_discard(group, self.channel_name)
        try:
            live = await self.stop_presence()
            if live == 0:
                await in_thread(grace.schedule_check)(self.agent.pk)
        except Exception:
            # The beat sweep (agents.tasks.sweep_disconnected_agents) still finds this agent.
            log.exception("could not record that agent %s's console closed", self.agent.pk)

    # --- client frames ---------------------------------------------------------------------

    async def on_hello(self, frame):
        if self.greeted:
            return await self.send_error("already_greeted", "hello is sent once per socket")
        for site_id in await db(console.site_ids)():
            await self._join(site_staff_group(site_id))
        if self.supervisor:
            await self._join(supervisors_group())
        # Join the own chats' groups before reading them, so nothing published meanwhile is missed.
        for pk in await db(console.own_chat_ids)(self.agent):
            await self._join(staff_group(pk))
        welcome = await db(console.welcome)(self.agent, supervisor=self.supervisor)
        for chat in welcome["chats"]:
            await self._watch(chat["conversation_id"], chat.pop("pk"))
        self.greeted = True
        await self.send_frame(welcome)
        for conversation_id, last_seq in (frame.get("conversations") or {}).items():
            try:
                conversation = await self._authorize(conversation_id, "view")
            except ConsoleError as error:
                await self.send_error(error.code, error.message, field=error.field, conversation_id=conversation_id)
                continue
            await self._watch(conversation_id, conversation.pk)
            await self._replay(conversation, last_seq)
        if self.supervisor:
            await self.send_frame(await db(console.board)())

    async def on_status(self, frame):
        self.agent = await db(console.set_status)(self.agent, frame["status"])
        await self.send_frame(console.agent_frame(self.agent))

    async def on_take(self, frame):
        conversation = await self._authorize(frame["conversation_id"], "take")
        await self._watch(frame["conversation_id"], conversation.pk)
        await db(console.take)(self.agent, conversation)
        await self._send_state(conversation.pk)

    async def on_accept(self, frame):
        conversation = await self._authorize(frame["conversation_id"], "accept")
        await self._watch(frame["conversation_id"], conversation.pk)
        await db(lifecycle.accept_conversation)(conversation_id=conversation.pk, agent=self.agent)
        await self._send_state(conversation.pk)

    async def on_open(self, frame):
        conversation = await self._authorize(frame["conversation_id"], "view")
        await self._watch(frame["conversation_id"], conversation.pk)  # before reading: nothing is missed
        await self.send_frame(await db(console.state_of)(conversation.pk))
        await self._replay(conversation, 0)
        await self.send_frame(await db(console.context)(conversation))

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
        await self.channel_layer.group_send(visitor_group(conversation.visitor_id), {"type": "conv.frame", "frame": {
            "type": "typing", "conversation_id": frame["conversation_id"], "by": "agent",
            "agent_name": self.agent.display_name, "is_typing": frame["is_typing"],
        }})

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
        target = await db(console.transfer_target)(frame)
        await db(lifecycle.transfer_conversation)(conversation_id=conversation.pk, actor=Actor.of_agent(self.agent),
                                                  note=frame.get("note") or "", **target)
        await self._send_state(conversation.pk)

    async def on_reassign(self, frame):
        conversation = await self._authorize(frame["conversation_id"], "supervise")
        await db(console.reassign)(self.agent, conversation, frame["agent"])
        await self._send_state(conversation.pk)

    async def on_wrapup(self, frame):
        conversation = await self._authorize(frame["conversation_id"], "act")
        await self._watch(frame["conversation_id"], conversation.pk)
        await db(lifecycle.start_wrapup)(conversation_id=conversation.pk, actor=Actor.of_agent(self.agent))

    async def on_close(self, frame):
        conversation = await self._authorize(frame["conversation_id"], "act")
        tags = await db(console.tags_named)(conversation.site_id, frame.get("tags") or [])
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
        if kind == "status":  # from agent.<id>: this agent's status, set in another tab
            return await self.send_frame(frame)
        # Everything else is about one chat; a socket forwards only the chats it shows (a stale
        # group membership after a transfer must not leak a frame), and whispers only to their reader.
        if conversation_id is None or conversation_id not in self.watching:
            return
        if kind == "message" and not console.sees(self.agent, frame, supervisor=self.supervisor):
            return
        await self.send_frame(frame)

    async def console_refresh(self, event):
        self._schedule_refresh()

    async def _on_state(self, frame):
        self._schedule_refresh()
        if not self.greeted:
            return
        conversation_id = frame["conversation_id"]
        # Only chats this socket shows, or one that may just have been given to this agent.
        if conversation_id not in self.watching and frame.get("agent_name") != self.agent.display_name:
            return
        conversation = await db(console.find_conversation)(conversation_id)
        if conversation is None:
            return
        watching = conversation_id in self.watching
        keep = self.supervisor or conversation.assigned_agent_id == self.agent.pk or (
            watching and conversation.status == conversation.Status.QUEUED)
        if not watching:
            if conversation.assigned_agent_id != self.agent.pk:
                return
            await self._watch(conversation_id, conversation.pk)  # a chat routed or transferred to this agent
        await self.send_frame(await db(console.state)(conversation))
        if not keep:
            await self._unwatch(conversation_id)  # transferred or requeued away: its last state, then silence

    def _schedule_refresh(self):
        if self.greeted and (self.refresh_task is None or self.refresh_task.done()):
            self.refresh_task = asyncio.create_task(self._refresh())

    async def _refresh(self):
        await asyncio.sleep(REFRESH_DELAY_SECONDS)
        try:
            await self.send_frame(await db(console.queue_summary)())
            if self.supervisor:
                await self.send_frame(await db(console.board)())
        except Exception:
            log.exception("console refresh failed")

    # --- helpers -------------------------------------------------------------------------------

    async def _authorize(self, conversation_id, need):
        return await db(console.authorize)(self.agent, conversation_id, need, supervisor=self.supervisor)

    async def _write(self, frame, conversation, visibility):
        canned = await db(console.canned_response)(self.agent, frame.get("canned_response_id"))
        await self._watch(frame["conversation_id"], conversation.pk)
        message, _ = await db(lifecycle.post_message)(
            conversation_id=conversation.pk, actor=Actor.of_agent(self.agent), text=frame["text"],
            client_id=frame["client_id"], visibility=visibility, canned_response_id=canned,
        )
        await self.send_frame({"type": "ack", "client_id": message.client_id, "seq": message.seq,
                          "conversation_id": frame["conversation_id"]})

    async def _tag(self, frame, change):
        conversation = await self._authorize(frame["conversation_id"], "act")
        tag = await db(console.tag_named)(conversation.site_id, frame["tag"])
        await self._watch(frame["conversation_id"], conversation.pk)
        await db(change)(conversation_id=conversation.pk, actor=Actor.of_agent(self.agent), tag=tag)

    async def _replay(self, conversation, last_seq):
        messages, read_to = await db(console.history)(conversation, last_seq, self.agent, supervisor=self.supervisor)
        for message in messages:
            await self.send_frame(message)
        await self.send_frame({"type": "replayed", "conversation_id": str(conversation.public_id),
                               "last_seq": read_to})

    async def _send_state(self, conversation_pk):
        await self.send_frame(await db(console.state_of)(conversation_pk))

    async def _join(self, group):
        if group not in self.joined:
            await self.channel_layer.group_add(group, self.channel_name)
            self.joined.add(group)

    async def _watch(self, public_id, pk):
        await self._join(staff_group(pk))
        self.watching[public_id] = pk

    async def _unwatch(self, public_id):
        pk = self.watching.pop(public_id, None)
        if pk is not None:
            group = staff_group(pk)
            self.joined.discard(group)
            await self.channel_layer.group_discard(group, self.channel_name)

class OriginRefused(AsyncWebsocketConsumer):
    """Like the widget: accept, say why in an error frame, close 4003 (a refused handshake says nothing)."""

    async def connect(self):
        await self.accept()
        await self.send(text_data=json.dumps({"type": "error", "code": "origin_not_allowed", "retry": False,
                                              "message": "this page's origin may not open the console"}))
        await self.close(code=CLOSE_ORIGIN_NOT_ALLOWED)


class RefusingOriginValidator(OriginValidator):
    """channels' OriginValidator, answering a refused origin with an error frame and close 4003."""

    async def __call__(self, scope, receive, send):
        origin = None
        for name, value in scope.get("headers", []):
            if name == b"origin":
                try:
                    origin = urlparse(value.decode("latin1"))
                except UnicodeDecodeError:
                    pass
        if self.valid_origin(origin):
            return await self.application(scope, receive, send)
        return await OriginRefused.as_asgi()(scope, receive, send)


def console_origin_validator(application):
    """channels' AllowedHostsOriginValidator (ALLOWED_HOSTS decides), with the refusal above."""
    return RefusingOriginValidator(application, AllowedHostsOriginValidator(application).allowed_origins)
