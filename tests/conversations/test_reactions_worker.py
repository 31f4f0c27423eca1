"""The offline-message email through real processes (a Celery worker and beat, tests/reactions/live.py):
the team hears of each offline message exactly once, in its site's notice."""

import asyncio
import json
import uuid

import pytest
import websockets

from tests import servers
from tests.reactions import live

pytestmark = pytest.mark.multiprocess

TEAM_EMAIL = "team@demo-shop.test"  # load_demo's site
FRAME_TIMEOUT = 10.0


@pytest.fixture
def dispatching(chatdesk_server, tmp_path):
    processes = live.start_dispatching(chatdesk_server, tmp_path)
    yield processes
    processes.stop()


def body(message) -> str:
    return message.get_payload(decode=True).decode()


async def receive(socket, kind: str) -> dict:
    async def first_match():
        while True:
            frame = json.loads(await socket.recv())
            assert frame["type"] != "error", frame
            if frame["type"] == kind:
                return frame

    return await asyncio.wait_for(first_match(), FRAME_TIMEOUT)


async def leave_offline_message(server, *, email_address: str, text: str, times: int = 1) -> None:
    async with websockets.connect(f"{server.ws_url}/ws/widget/demo/", origin=server.url) as socket:
        await socket.send(json.dumps({"type": "hello"}))
        await receive(socket, "welcome")
        for _ in range(times):
            await socket.send(json.dumps({"type": "offline_message", "client_id": "o1", "name": "Ann",
                                          "email": email_address, "text": text}))
            await receive(socket, "offline_received")


def emails_about(dispatching, address: str) -> list:
    return [message for message in live.emails_in(dispatching.mail_dir) if address in body(message)]


def run_handler_again(server, email_address: str) -> None:
    """The handler once more, from another process, as a re-run after a crash would."""
    servers.shell(server, (
        "from conversations.models import Conversation\n"
        "from conversations.reactions import email_offline_messages\n"
        f"conversation = Conversation.objects.get(status='offline', visitor__email={email_address!r})\n"
        "email_offline_messages(site_id=conversation.site_id)\n"
    ))


async def test_an_offline_message_is_emailed_to_the_sites_team(chatdesk_server, dispatching):
    address = f"ann.{uuid.uuid4().hex[:8]}@example.com"
    await leave_offline_message(chatdesk_server, email_address=address, text="Call me")

    await asyncio.to_thread(live.wait_until, lambda: emails_about(dispatching, address), "the team email",
                            dispatching)

    [sent] = emails_about(dispatching, address)
    assert sent["To"] == TEAM_EMAIL
    assert "offline message" in sent["Subject"]
    assert "From: Ann" in body(sent) and "Call me" in body(sent)


async def test_an_offline_message_resent_and_its_handler_run_again_is_emailed_once(chatdesk_server, dispatching):
    address = f"ann.{uuid.uuid4().hex[:8]}@example.com"
    await leave_offline_message(chatdesk_server, email_address=address, text="Call me", times=2)
    await asyncio.to_thread(live.wait_until, lambda: emails_about(dispatching, address), "the team email",
                            dispatching)
    await asyncio.to_thread(run_handler_again, dispatching.server, address)
    await asyncio.sleep(2)  # ticks enough for a second reaction, had the resend scheduled one

    assert [message["To"] for message in emails_about(dispatching, address)] == [TEAM_EMAIL]
