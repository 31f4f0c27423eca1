"""What every socket shares (conversations/sockets.py): however a socket ends, or whatever a frame
meant for it costs, the socket's presence and the other frames are not what pays."""

import pytest
from autobahn.exception import Disconnected
from channels.db import database_sync_to_async
from channels.layers import get_channel_layer

from realtime.connections import consoles
from conversations.sockets import FrameSocket
from tests.console.console import connect
from tests.personas import make_agent

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.asyncio]
db = database_sync_to_async


async def test_a_frame_for_a_socket_that_closed_on_the_way_is_dropped_not_raised():
    socket = FrameSocket()

    async def closed_protocol(message):
        raise Disconnected("Attempt to send on a closed protocol")

    socket.base_send = closed_protocol
    await socket.send_frame({"type": "pong"})
    assert socket.closing


async def test_a_message_the_console_cannot_handle_costs_that_message_and_the_close_still_counts():
    alice = await db(make_agent)("alice")
    console = await connect(alice)
    await console.hello()
    channel = next(iter(get_channel_layer().channels))  # the only socket of this test
    await get_channel_layer().send(channel, {"type": "no.such.handler"})
    await console.send({"type": "ping"})
    assert (await console.receive_until("pong"))["type"] == "pong"
    assert consoles.live_sockets(alice.pk) == 1
    await console.disconnect()
    assert consoles.live_sockets(alice.pk) == 0
