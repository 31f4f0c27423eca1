"""The visitor's WebSocket. Thin: validate a frame (conversations/sockets.py), call the lifecycle or a
query, send frames.

Every database call runs in a worker thread (database_sync_to_async), never on the event loop.
"""

import logging

from django.conf import settings

from realtime import limits
from conversations import frames, lifecycle
from conversations.bans import BANNED
from realtime.connections import widgets
from conversations.delivery import Track, state_key
from conversations.lifecycle import Actor
from conversations.networks import peer_address
from conversations.publish import staff_group, visitor_group
from conversations.selectors import messages_after, read_to
from conversations.sockets import CLOSE_SERVICE_UNAVAILABLE, FrameSocket
from realtime.threads import db
from metrics import goals
from surveys import selectors as survey_selectors
from surveys import services as survey_services
from widget import guards, protocol, services
from widget.context import visitor_context
from widget.origins import origin_allowed

log = logging.getLogger(__name__)

CLOSE_BAD_TOKEN = 4001
CLOSE_ORIGIN_NOT_ALLOWED = 4003
CLOSE_UNKNOWN_SITE = 4004
CLOSE_BANNED = 4009
CLOSE_TOO_MANY_VISITORS = 4029


class VisitorConsumer(FrameSocket):
    parse_frame = staticmethod(protocol.parse_frame)
    refusals = FrameSocket.refusals + (limits.Limited, limits.LimitsUnavailable)
    site = None
    visitor = None
    conversation = None
    hello = None

    async def connect(self):
        await self.accept()
        self.site = await db(services.load_site)(self.scope["url_route"]["kwargs"]["site_key"])
        if self.site is None:
            return await self.refuse("unknown_site", "no site has that key", CLOSE_UNKNOWN_SITE)
        headers = dict(self.scope["headers"])
        origin = headers.get(b"origin", b"").decode("latin-1") or None
        host = headers.get(b"host", b"").decode("latin-1") or None
        if not origin_allowed(self.site, origin, host=host, secure=self.scope.get("scheme") == "wss"):
            return await self.refuse("origin_not_allowed", f"origin {origin!r} may not open this widget",
                                      CLOSE_ORIGIN_NOT_ALLOWED)
        self.headers = headers
        self.address = peer_address(self.scope)
        self.start_rate_limit(rate=settings.WIDGET_RATE_PER_SECOND, burst=settings.WIDGET_RATE_BURST,
                              flood_close_after=settings.WIDGET_FLOOD_CLOSE_AFTER)

    async def disconnect(self, code):
        await self.leave_groups()
        try:
            await self.stop_presence()
        except Exception:  # the socket's heartbeats stop: it counts as gone three beats later
            log.exception("could not record that a widget of visitor %s closed", getattr(self.visitor, "pk", None))

    # --- client frames ---------------------------------------------------------------------

    async def on_hello(self, frame):
        if self.greeted:
            return await self.send_error("already_greeted", "hello is sent once per socket")
        try:
            greeting = await db(services.greet_visitor)(
                site=self.site, token=frame.get("token"), new_visit=bool(frame.get("new_visit")), address=self.address,
            )
        except services.UnknownVisitorToken:
            return await self.refuse("bad_token", "the visitor token is invalid; start without one",
                                      CLOSE_BAD_TOKEN)
        except guards.Banned as banned:
            return await self.refuse(banned.code, str(banned), CLOSE_BANNED)
        except limits.Limited as limited:
            return await self.refuse(limited.code, str(limited), CLOSE_TOO_MANY_VISITORS, **limited.details())
        except limits.LimitsUnavailable as unavailable:
            return await self.refuse(unavailable.code, str(unavailable), CLOSE_SERVICE_UNAVAILABLE, retry=True)
        self.visitor, self.conversation, self.hello = greeting.visitor, greeting.conversation, frame
        self.greeted = True
        if self.conversation is not None:
            self.tracks[self.conversation.pk] = Track(cursor=0, sent=0)
        # The denominator of visitor engagement (docs/metrics.md).
        await db(goals.record_widget_load)(site=self.site, visitor=self.visitor, new_visit=bool(frame.get("new_visit")))
        # A queued visitor with no widget open for long has left (conversations/departures.py).
        if not await self.join_live(visitor_group(self.visitor.pk), presence=(widgets, self.visitor.pk)):
            return
        await self.send_frame({
            "type": "welcome",
            "token": greeting.token,
            "visitor": {"name": self.visitor.name, "email": self.visitor.email},
            "site": {"name": self.site.name, "topics": greeting.topics, **greeting.availability,
                     "max_message_chars": settings.WIDGET_MAX_MESSAGE_CHARS,
                     "survey": {"nps": self.site.ask_nps, "ces": self.site.ask_ces}},
            "conversation": self._state_frame(self.conversation) if self.conversation else None,
        })
        if self.conversation is None:
            return
        # Joined the group before reading, so nothing published meanwhile is missed. A client's
        # last_seq only counts for the conversation it names; for any other it starts at 0.
        public_id = str(self.conversation.public_id)
        since = (frame.get("last_seq") or 0) if frame.get("conversation_id") == public_id else 0
        await self.replay(self.conversation.pk, public_id, since)
        if greeting.queue is not None:
            await self.send_frame(greeting.queue)
        page = (frame.get("page") or {})
        if self.conversation.is_open and page.get("url"):
            await db(lifecycle.record_page_view)(
                conversation_id=self.conversation.pk, url=page["url"], title=page.get("title") or ""
            )

    async def on_start(self, frame):
        if not await db(services.site_is_open)(self.site):
            return await self.send_error("site_closed", "the site is outside its business hours; leave a message")
        topic = await db(services.topic_for)(self.site, frame.get("topic"))
        if frame.get("topic") is not None and topic is None:
            return await self.send_error("invalid_topic", "no such topic on this site", field="topic")
        if not await self.admitted(guards.new_chat, site=self.site, visitor=self.visitor, address=self.address):
            return
        context = visitor_context(
            hello=self.hello, user_agent=self.headers.get(b"user-agent", b"").decode("latin-1"),
            accept_language=self.headers.get(b"accept-language", b"").decode("latin-1"),
        )
        context.update(await db(services.visitor_history)(self.visitor))
        started, _ = await db(lifecycle.start_conversation)(
            site=self.site, visitor=self.visitor, topic=topic, name=frame["name"].strip(),
            email=(frame.get("email") or "").strip(), context=context, text=frame["text"],
            client_id=frame["client_id"],
        )
        # Routing may have assigned the chat already (it runs on commit): read it again. Sent
        # directly as well as through the channel layer, so the client knows its conversation
        # before the queue frame that follows.
        # Its queue position and estimate follow from the routing pass that ran on commit.
        self.conversation = await db(services.fetch_conversation)(started.pk)
        self.tracks.setdefault(started.pk, Track(cursor=0, sent=0))
        await self.send_frame(self._state_frame(self.conversation))
        seq = await db(services.message_seq)(started.pk, frame["client_id"])
        await self.send_frame({"type": "ack", "client_id": frame["client_id"], "seq": seq,
                               "conversation_id": str(started.public_id)})

    async def on_message(self, frame):
        conversation = await self._require_conversation(frame)
        if conversation is None:
            return
        message, _ = await db(lifecycle.post_message)(
            conversation_id=conversation.pk, actor=Actor.visitor(), text=frame["text"], client_id=frame["client_id"]
        )
        await self.send_frame({"type": "ack", "client_id": message.client_id, "seq": message.seq,
                          "conversation_id": str(conversation.public_id)})

    async def on_typing(self, frame):
        if self.conversation is None or not self.conversation.is_open:
            return
        await self.send_passing(staff_group(self.conversation.pk), {
            "type": "typing", "conversation_id": str(self.conversation.public_id), "by": "visitor",
            "is_typing": frame["is_typing"], "preview": (frame.get("preview") or "") if frame["is_typing"] else "",
        })

    async def on_seen(self, frame):
        if self.conversation is not None:
            await db(lifecycle.mark_seen)(conversation_id=self.conversation.pk, actor=Actor.visitor(), seq=frame["seq"])

    async def on_page(self, frame):
        if self.conversation is not None:
            await db(lifecycle.record_page_view)(
                conversation_id=self.conversation.pk, url=frame["url"], title=frame.get("title") or ""
            )

    async def on_close(self, frame):
        conversation = await self._require_conversation(frame)
        if conversation is not None:
            self.conversation = await db(lifecycle.close_conversation)(conversation_id=conversation.pk,
                                                                       actor=Actor.visitor())

    async def on_offline_message(self, frame):
        if not await self.admitted(guards.offline_message, site=self.site, visitor=self.visitor,
                                   client_id=frame["client_id"], address=self.address):
            return
        context = visitor_context(
            hello=self.hello, user_agent=self.headers.get(b"user-agent", b"").decode("latin-1"),
            accept_language=self.headers.get(b"accept-language", b"").decode("latin-1"),
        )
        await db(lifecycle.leave_offline_message)(
            site=self.site, visitor=self.visitor, name=frame["name"].strip(), email=frame["email"].strip(),
            text=frame["text"], client_id=frame["client_id"], context=context,
        )
        await self.send_frame({"type": "offline_received", "client_id": frame["client_id"]})

    async def on_goal(self, frame):
        await db(goals.record_goal)(site=self.site, visitor=self.visitor, client_id=frame["client_id"],
                                    name=frame["name"], value=frame.get("value"))
        await self.send_frame({"type": "goal_recorded", "client_id": frame["client_id"]})

    async def on_rate(self, frame):
        conversation = await db(survey_selectors.visitor_conversation)(self.visitor, frame["conversation_id"])
        if conversation is None:
            return await self.send_error("no_conversation", "no such conversation of this visitor",
                                         field="conversation_id", conversation_id=frame["conversation_id"])
        await db(survey_services.rate_conversation)(
            conversation_id=conversation.pk, channel="widget", csat=frame["csat"], comment=frame.get("comment") or "",
            nps=frame.get("nps"), ces=frame.get("ces"),
        )
        await self.send_frame({"type": "rated", "conversation_id": frame["conversation_id"], "csat": frame["csat"]})

    async def on_transcript(self, frame):
        conversation = await db(survey_selectors.visitor_conversation)(self.visitor, frame["conversation_id"])
        if conversation is None:
            return await self.send_error("no_conversation", "no such conversation of this visitor",
                                         field="conversation_id", ref=frame["client_id"],
                                         conversation_id=frame["conversation_id"])
        await db(guards.transcript_email)(conversation=conversation, request_id=frame["client_id"],
                                          address=self.address)
        request, _ = await db(survey_services.request_transcript)(
            conversation_id=conversation.pk, request_id=frame["client_id"], email=(frame.get("email") or "").strip(),
        )
        await self.send_frame({"type": "transcript_requested", "client_id": frame["client_id"],
                               "conversation_id": frame["conversation_id"], "email": request.email,
                               "needs_confirmation": request.needs_confirmation})

    async def on_sync(self, frame):
        conversation = await db(survey_selectors.visitor_conversation)(self.visitor, frame["conversation_id"])
        if conversation is None:
            return await self.send_error("no_conversation", "no such conversation of this visitor",
                                         field="conversation_id", conversation_id=frame["conversation_id"])
        await self.replay(conversation.pk, frame["conversation_id"], frame["last_seq"])

    # --- channel layer events ----------------------------------------------------------------

    async def conv_frame(self, event):
        frame = event["frame"]
        kind = frame["type"]
        if kind == "banned":
            return await self.refuse("banned", BANNED, CLOSE_BANNED)
        if kind == "state":
            return await self.send_frame(await self._follow(frame))
        if kind == "message":
            conversation = await self._conversation_named(frame)
            if conversation is not None:
                await self.deliver_message(conversation.pk, frame)
            return
        if kind == "seen" and self._is_ours(frame):
            self.track_seen(self.conversation.pk, frame["by"], frame["seq"])
        await self.send_frame(frame)

    async def _follow(self, frame):
        """Keep this socket's conversation current, and answer with the state as it is now.

        Published states can arrive out of order with each other and with direct replies (queued
        after assigned, say); a state read from the database when it is sent is never older than
        one this socket sent before, so the last state a client gets is the true one.
        """
        conversation = await self._conversation_named(frame)
        return self._state_frame(conversation) if conversation is not None else frame

    async def _conversation_named(self, frame):
        """This socket's conversation, read again, if the frame is about it; a chat started in
        another tab of this visitor is followed here too. None for any other."""
        if self._is_ours(frame):
            self.conversation = await db(services.fetch_conversation)(self.conversation.pk)
            return self.conversation
        if self.conversation is None or not self.conversation.is_open:
            started = await db(services.fetch_conversation_by_public_id)(frame["conversation_id"])
            if started is not None and started.visitor_id == self.visitor.pk:
                self.conversation = started
                self.tracks.setdefault(started.pk, Track(cursor=0, sent=0))
                return started
        return None

    def _is_ours(self, frame) -> bool:
        return self.conversation is not None and frame.get("conversation_id") == str(self.conversation.public_id)

    # --- delivery hooks (conversations/sockets.py) ------------------------------------------------

    def visible_after(self, conversation_pk, after, up_to):
        messages = messages_after(conversation_pk, after, public_only=True, up_to=up_to)
        return [frames.message_frame(m, m.conversation) for m in messages], read_to(messages, after, up_to)

    def cursor_target(self, position):
        return position.last_public_seq

    async def send_state_of(self, conversation_pk):
        conversation = await db(services.fetch_conversation)(conversation_pk)
        if self.conversation is not None and self.conversation.pk == conversation_pk:
            self.conversation = conversation
        await self.send_frame(self._state_frame(conversation))

    def _state_frame(self, conversation) -> dict:
        """The visitor's `state` of a conversation, noted as what this socket shows of it."""
        self.track_state(conversation.pk, state_key(
            status=conversation.status, agent_id=conversation.assigned_agent_id,
            visitor_seen_seq=conversation.visitor_seen_seq, agent_seen_seq=conversation.agent_seen_seq),
            last_seq=conversation.last_public_seq)
        return frames.state_frame(conversation, for_visitor=True)

    # --- helpers -------------------------------------------------------------------------------

    async def admitted(self, guard, **subjects) -> bool:
        """Run a check of widget/guards.py: False once a ban has closed the socket. A spent limit
        raises on, to be answered as the frame's error."""
        try:
            await db(guard)(**subjects)
        except guards.Banned as banned:
            await self.refuse(banned.code, str(banned), CLOSE_BANNED)
            return False
        return True

    async def _require_conversation(self, frame):
        if self.conversation is None:
            await self.send_error("no_conversation", "start a conversation first", ref=frame.get("client_id"))
            return None
        return self.conversation
