"""The baseline for the message-path benchmark: a bare Channels relay with no database.

It speaks just enough of the widget protocol for bench/visitor_load.py: hello → welcome,
start → state + queue, and on a message frame it sends the ack at once (seq from a per-socket
counter) and group_sends the message to the socket's own group, whose handler writes it back as a
message frame. Same daphne, same RedisPubSubChannelLayer as chatdesk, so the difference between the
two runs is what chatdesk does per message: validation, the database transaction and its thread.

    REDIS_URL=redis://127.0.0.1:6379/0 daphne -b 127.0.0.1 -p 8001 bench.relay_app:application
"""

import json
import os
import uuid

import django
from django.conf import settings

if not settings.configured:
    settings.configure(
        DEBUG=False,
        SECRET_KEY="bench-relay-only",
        ALLOWED_HOSTS=["127.0.0.1", "localhost"],
        INSTALLED_APPS=["channels"],
        CHANNEL_LAYERS={"default": {
            "BACKEND": "channels_redis.pubsub.RedisPubSubChannelLayer",
            "CONFIG": {
                "hosts": [{"address": os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0"),
                           "max_connections": int(os.environ.get("REDIS_MAX_CONNECTIONS", "2000"))}],
                "prefix": os.environ.get("CHANNEL_PREFIX", "relay"),
            },
        }},
    )
    django.setup()

from channels.generic.websocket import AsyncWebsocketConsumer  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from django.urls import path  # noqa: E402


class RelayConsumer(AsyncWebsocketConsumer):
    async def connect(self):
        await self.accept()
        self.group = f"relay.{uuid.uuid4().hex}"
        self.conversation_id = str(uuid.uuid4())
        self.seq = 0
        await self.channel_layer.group_add(self.group, self.channel_name)

    async def disconnect(self, code):
        await self.channel_layer.group_discard(self.group, self.channel_name)

    async def receive(self, text_data=None, bytes_data=None):
        frame = json.loads(text_data)
        kind = frame.get("type")
        if kind == "message":
            self.seq += 1
            await self._send({"type": "ack", "client_id": frame["client_id"], "seq": self.seq,
                              "conversation_id": self.conversation_id})
            await self.channel_layer.group_send(self.group, {"type": "conv.frame", "frame": {
                "type": "message", "conversation_id": self.conversation_id, "seq": self.seq,
                "client_id": frame["client_id"], "author": "visitor", "text": frame["text"],
            }})
        elif kind == "hello":
            await self._send({"type": "welcome", "token": "relay", "conversation": None})
        elif kind == "start":
            await self._send({"type": "state", "conversation_id": self.conversation_id, "status": "queued"})
            await self._send({"type": "queue", "conversation_id": self.conversation_id, "position": 1})
        elif kind == "ping":
            await self._send({"type": "pong"})

    async def conv_frame(self, event):
        await self._send(event["frame"])

    async def _send(self, frame):
        await self.send(text_data=json.dumps(frame, ensure_ascii=False))


application = ProtocolTypeRouter({
    "websocket": URLRouter([path("ws/widget/<slug:site_key>/", RelayConsumer.as_asgi())]),
})
