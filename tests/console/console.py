"""Driving the agent console socket in tests: sign-in cookie, frame helpers, chats in known states."""

import json

from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from django.test import Client

from agents.models import Agent
from chatdesk.asgi import application
from conversations import lifecycle
from conversations.lifecycle import Actor
from conversations.models import Conversation
from tests.personas import make_visitor

CONSOLE_ORIGIN = "http://localhost:8000"
db = database_sync_to_async


class Console:
    """One console tab: a socket signed in as an agent, driven frame by frame."""

    def __init__(self, communicator: WebsocketCommunicator):
        self.communicator = communicator

    async def send(self, frame: dict | str) -> None:
        await self.communicator.send_to(text_data=frame if isinstance(frame, str) else json.dumps(frame))

    async def receive(self, timeout: float = 3) -> dict:
        return json.loads(await self.communicator.receive_from(timeout=timeout))

    async def receive_until(self, frame_type: str, timeout: float = 3, **match) -> dict:
        """The next frame of a type (with these field values), skipping others (queue and board refreshes)."""
        while True:
            frame = await self.receive(timeout)
            if frame["type"] == frame_type and all(frame.get(k) == v for k, v in match.items()):
                return frame

    async def error(self, **match) -> dict:
        return await self.receive_until("error", **match)

    async def close_code(self, timeout: float = 3) -> int:
        while True:
            output = await self.communicator.receive_output(timeout)
            if output["type"] == "websocket.close":
                return output.get("code")

    async def frames_about(self, conversation_id: str, wait: float = 0.5) -> list[dict]:
        """Every frame naming this conversation that arrives within `wait` seconds (queue lists aside)."""
        about = []
        while True:
            # receive_nothing, not a receive that times out: a timeout stops the socket's application.
            if await self.communicator.receive_nothing(timeout=wait):
                return about
            frame = await self.receive()
            if frame.get("conversation_id") == conversation_id or conversation_id in json.dumps(
                    frame.get("conversations", [])):
                about.append(frame)

    async def hello(self, **fields) -> dict:
        await self.send({"type": "hello", **fields})
        return await self.receive_until("welcome")

    async def disconnect(self) -> None:
        await self.communicator.disconnect()


def session_cookie(user) -> str:
    client = Client()
    client.force_login(user)
    return client.cookies["sessionid"].value


async def open_staff_socket(path: str, agent_or_user=None, *, origin: str | None = CONSOLE_ORIGIN):
    """A connected socket of a staff page (console, wallboard), signed in as that user if given."""
    headers = [(b"host", b"localhost:8000")]
    if origin:
        headers.append((b"origin", origin.encode()))
    if agent_or_user is not None:
        user = agent_or_user.user if isinstance(agent_or_user, Agent) else agent_or_user
        headers.append((b"cookie", f"sessionid={await db(session_cookie)(user)}".encode()))
    communicator = WebsocketCommunicator(application, path, headers=headers)
    connected, _ = await communicator.connect()
    assert connected
    return communicator


async def connect(agent_or_user=None, *, origin: str | None = CONSOLE_ORIGIN) -> Console:
    return Console(await open_staff_socket("/ws/agent/", agent_or_user, origin=origin))


def queued_chat(site, visitor_name: str = "Ann", topic=None) -> Conversation:
    """A chat waiting in the queue (with routing switched off, see `no_routing`)."""
    conversation, _ = lifecycle.start_conversation(site=site, visitor=make_visitor(site, visitor_name), topic=topic,
                                                   name=visitor_name)
    return Conversation.objects.get(pk=conversation.pk)


def chat_with(agent: Agent, site, visitor_name: str = "Ann") -> Conversation:
    """An active chat of this agent, with one visitor message (seq 1)."""
    conversation = queued_chat(site, visitor_name)
    lifecycle.assign_conversation(conversation_id=conversation.pk, agent=agent, actor=Actor.system())
    lifecycle.accept_conversation(conversation_id=conversation.pk, agent=agent)
    lifecycle.post_message(conversation_id=conversation.pk, actor=Actor.visitor(), text="Where is my order?",
                           client_id="v1")
    return Conversation.objects.select_related("visitor").get(pk=conversation.pk)


def switch_routing_off(monkeypatch) -> None:
    """Chats stay where a test puts them: no routing pass runs after a change."""
    from routing import dispatch

    monkeypatch.setattr(dispatch, "route_waiting", lambda *args, **kwargs: None)
    monkeypatch.setattr(dispatch, "route_all_sites", lambda *args, **kwargs: 0)
