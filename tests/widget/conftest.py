import json

import pytest
from channels.testing import WebsocketCommunicator

from chatdesk.asgi import application
from tests.personas import ACME_ORIGIN

FIREFOX_ON_ANDROID = "Mozilla/5.0 (Android 14; Mobile; rv:128.0) Gecko/128.0 Firefox/128.0"


class Widget:
    """A visitor's socket, driven frame by frame."""

    def __init__(self, communicator: WebsocketCommunicator):
        self.communicator = communicator

    async def send(self, frame: dict | str) -> None:
        await self.communicator.send_to(text_data=frame if isinstance(frame, str) else json.dumps(frame))

    async def receive(self, timeout: float = 3) -> dict:
        return json.loads(await self.communicator.receive_from(timeout=timeout))

    async def receive_until(self, frame_type: str, timeout: float = 3) -> dict:
        """The next frame of a type, skipping others (state and queue frames arrive in between)."""
        while True:
            frame = await self.receive(timeout)
            if frame["type"] == frame_type:
                return frame

    async def collect(self, *frame_types: str, timeout: float = 3) -> dict:
        """The first frame of each type, in whatever order they arrive (direct frames can overtake
        frames that travel through the channel layer)."""
        found = {}
        while set(frame_types) - found.keys():
            frame = await self.receive(timeout)
            found.setdefault(frame["type"], frame)
        return found

    async def close_code(self, timeout: float = 3) -> int:
        while True:
            output = await self.communicator.receive_output(timeout)
            if output["type"] == "websocket.close":
                return output.get("code")

    async def nothing_more(self) -> bool:
        return await self.communicator.receive_nothing(timeout=0.3)

    async def hello(self, **fields) -> dict:
        await self.send({"type": "hello", **fields})
        return await self.receive_until("welcome")

    async def disconnect(self) -> None:
        await self.communicator.disconnect()


@pytest.fixture
def acme():
    """The Acme shop site with its one pre-chat topic (Orders); test files may define their own."""
    from tests.personas import make_site, make_topic

    site = make_site()
    make_topic(site)
    return site


@pytest.fixture
def open_widget():
    opened = []

    async def connect(site_key: str = "acme", origin: str | None = ACME_ORIGIN, user_agent=FIREFOX_ON_ANDROID,
                      address: str | None = None):
        """address: the peer's IP as daphne reports it (none by default, as an in-process socket has)."""
        headers = [(b"host", b"chat.acme.test"), (b"user-agent", user_agent.encode())]
        if origin:
            headers.append((b"origin", origin.encode()))
        communicator = WebsocketCommunicator(application, f"/ws/widget/{site_key}/", headers=headers)
        if address:
            communicator.scope["client"] = (address, 50000)
        connected, _ = await communicator.connect()
        assert connected
        widget = Widget(communicator)
        opened.append(widget)
        return widget

    yield connect
