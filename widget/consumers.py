"""The visitor's WebSocket. Thin: validate a frame (conversations/sockets.py), call the lifecycle or a
query, send frames.

Every database call runs in a worker thread (database_sync_to_async), never on the event loop.
"""

import logging

from django.conf import settings

from conversations import frames, lifecycle
from conversations.connections import widgets
from conversations.lifecycle import Actor
from conversations.publish import staff_group, visitor_group
from conversations.sockets import FrameSocket, db
from metrics import goals
from surveys import selectors as survey_selectors
from widget import protocol, services
from widget.context import visitor_context
from widget.origins import origin_allowed

log = logging.getLogger(__name__)

CLOSE_BAD_TOKEN = 4001
CLOSE_ORIGIN_NOT_ALLOWED = 4003
CLOSE_UNKNOWN_SITE = 4004


class VisitorConsumer(FrameSocket):
    parse_frame = staticmethod(protocol.parse_frame)
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
        self.start_rate_limit(rate=settings.WIDGET_RATE_PER_SECOND, burst=settings.WIDGET_RATE_BURST,
                              flood_close_after=settings.WIDGET_FLOOD_CLOSE_AFTER)

    async def disconnect(self, code):
        if self.visitor is not None:
            await self.channel_layer.group_discard(visitor_group(self.visitor.pk), self.channel_name)
        try:
            await self.stop_presence()
        except Exception:  # the socket's heartbeats stop: it counts as gone three beats later
            log.exception("could not record that visitor %s's widget closed", self.visitor.pk)

    # --- client frames ---------------------------------------------------------------------

    async def on_hello(self, frame):
        if self.greeted:
            return await self.send_error("already_greeted", "hello is sent once per socket")
        try:
            greeting = await db(services.greet_visitor)(
                site=self.site, token=frame.get("token"), new_visit=bool(frame.get("new_visit"))
            )
        except services.UnknownVisitorToken:
            return await self.refuse("bad_token", "the visitor token is invalid; start without one",
                                      CLOSE_BAD_TOKEN)
        self.visitor, self.conversation, self.hello = greeting.visitor, greeting.conversation, frame
        self.greeted = True
        # The denominator of visitor engagement (docs/metrics.md).
        await db(goals.record_widget_load)(site=self.site, visitor=self.visitor, new_visit=bool(frame.get("new_visit")))
        await self.channel_layer.group_add(visitor_group(self.visitor.pk), self.channel_name)
        # A queued visitor with no widget open for long has left (widget/departures.py).
        await self.start_presence(widgets, self.visitor.pk)
        await self.send_frame({
            "type": "welcome",
            "token": greeting.token,
            "visitor": {"name": self.visitor.name, "email": self.visitor.email},
            "site": {"name": self.site.name, "topics": greeting.topics, **greeting.availability,
                     "max_message_chars": settings.WIDGET_MAX_MESSAGE_CHARS,
                     "survey": {"nps": self.site.ask_nps, "ces": self.site.ask_ces}},
            "conversation": frames.state_frame(self.conversation) if self.conversation else None,
        })
        if self.conversation is None:
            return
        # Joined the group before reading, so nothing published meanwhile is missed; the client
        # drops any message it receives twice by its seq.
        messages, since = await db(services.replay)(
            conversation=self.conversation, client_conversation_id=frame.get("conversation_id"),
            last_seq=frame.get("last_seq") or 0,
        )
        for message in messages:
            await self.send_frame(frames.message_frame(message, self.conversation))
        await self.send_frame({"type": "replayed", "conversation_id": str(self.conversation.public_id),
                          "last_seq": messages[-1].seq if messages else since})
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
        context = visitor_context(
            hello=self.hello, user_agent=self.headers.get(b"user-agent", b"").decode("latin-1"),
            accept_language=self.headers.get(b"accept-language", b"").decode("latin-1"),
        )
        context.update(await db(services.visitor_history)(self.visitor))
        started, _ = await db(lifecycle.start_conversation)(
            site=self.site, visitor=self.visitor, topic=topic, name=frame["name"].strip(),
            email=(frame.get("email") or "").strip(), context=context,
        )
        # Routing may have assigned the chat already (it runs on commit): read it again. Sent
        # directly as well as through the channel layer, so the client knows its conversation
        # before the queue frame that follows.
        # Its queue position and estimate follow from the routing pass that ran on commit.
        self.conversation = await db(services.fetch_conversation)(started.pk)
        await self.send_frame(frames.state_frame(self.conversation))

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
        await self.channel_layer.group_send(staff_group(self.conversation.pk), {"type": "conv.frame", "frame": {
            "type": "typing", "conversation_id": str(self.conversation.public_id), "by": "visitor",
            "is_typing": frame["is_typing"], "preview": (frame.get("preview") or "") if frame["is_typing"] else "",
        }})

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
                                         field="conversation_id")
        await db(lifecycle.rate_conversation)(
            conversation_id=conversation.pk, channel="widget", csat=frame["csat"], comment=frame.get("comment") or "",
            nps=frame.get("nps"), ces=frame.get("ces"),
        )
        await self.send_frame({"type": "rated", "conversation_id": frame["conversation_id"], "csat": frame["csat"]})

    async def on_transcript(self, frame):
        conversation = await db(survey_selectors.visitor_conversation)(self.visitor, frame["conversation_id"])
        if conversation is None:
            return await self.send_error("no_conversation", "no such conversation of this visitor",
                                         field="conversation_id", ref=frame["client_id"])
        request, _ = await db(lifecycle.request_transcript)(
            conversation_id=conversation.pk, request_id=frame["client_id"], email=(frame.get("email") or "").strip(),
        )
        await self.send_frame({"type": "transcript_requested", "client_id": frame["client_id"],
                               "conversation_id": frame["conversation_id"], "email": request.email})

    # --- channel layer events ----------------------------------------------------------------

    async def conv_frame(self, event):
        frame = event["frame"]
        if frame["type"] == "state":
            frame = await self._follow(frame)
        await self.send_frame(frame)

    async def _follow(self, frame):
        """Keep this socket's conversation current, and answer with the state as it is now.

        Published states can arrive out of order with each other and with direct replies (queued
        after assigned, say); a state read from the database when it is sent is never older than
        one this socket sent before, so the last state a client gets is the true one.
        """
        ours = self.conversation is not None and frame["conversation_id"] == str(self.conversation.public_id)
        if ours:
            self.conversation = await db(services.fetch_conversation)(self.conversation.pk)
        elif self.conversation is None or not self.conversation.is_open:
            # A chat started in another tab of this visitor: follow it here too.
            self.conversation = await db(services.fetch_conversation_by_public_id)(frame["conversation_id"])
            ours = self.conversation is not None
        return frames.state_frame(self.conversation) if ours else frame

    # --- helpers -------------------------------------------------------------------------------

    async def _require_conversation(self, frame):
        if self.conversation is None:
            await self.send_error("no_conversation", "start a conversation first", ref=frame.get("client_id"))
            return None
        return self.conversation
