"""email_offline_message through a real Celery worker: the team gets exactly one email per offline message."""

import asyncio
import email
import json
import uuid

import pytest
import websockets

from tests import servers

pytestmark = pytest.mark.multiprocess

TEAM_EMAIL = "team@demo-shop.test"  # load_demo's site
FRAME_TIMEOUT = 10.0


def emails_in(mail_dir) -> list[email.message.Message]:
    """Every email the file backend wrote: one file per connection, messages split by a line of dashes."""
    messages = []
    for path in sorted(mail_dir.glob("*.log")):
        for chunk in path.read_text().split("\n" + "-" * 79 + "\n"):
            if chunk.strip():
                messages.append(email.message_from_string(chunk.lstrip("\n")))
    return messages


def body(message: email.message.Message) -> str:
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


def enqueue_again(server, email_address: str, times: int) -> None:
    """Enqueue the task for that visitor's offline message from another process, as a retry would."""
    servers.manage(server.env, "shell", "-c", (
        "from conversations.models import Conversation\n"
        "from conversations.tasks import email_offline_message\n"
        f"conversation = Conversation.objects.get(status='offline', visitor__email={email_address!r})\n"
        f"for _ in range({times}):\n"
        "    email_offline_message.delay(conversation.pk)\n"
    ))


async def test_an_offline_message_is_emailed_to_the_sites_team(chatdesk_server, celery_worker_process):
    await leave_offline_message(chatdesk_server, email_address="ann@example.com", text="Call me")

    await asyncio.to_thread(celery_worker_process.wait_for_tasks, 1)

    [sent] = emails_in(celery_worker_process.mail_dir)
    assert sent["To"] == TEAM_EMAIL
    assert "Ann" in sent["Subject"]
    assert "Call me" in body(sent)
    assert "ann@example.com" in body(sent)


async def test_an_offline_message_resent_and_its_task_delivered_twice_is_emailed_once(
    chatdesk_server, celery_worker_process,
):
    address = f"ann.{uuid.uuid4().hex[:8]}@example.com"
    await leave_offline_message(chatdesk_server, email_address=address, text="Call me", times=2)
    await asyncio.to_thread(enqueue_again, chatdesk_server, address, 2)

    # One run from the first frame (a resend enqueues nothing) and the two enqueued again.
    await asyncio.to_thread(celery_worker_process.wait_for_tasks, 3)

    sent = emails_in(celery_worker_process.mail_dir)
    assert [message["To"] for message in sent] == [TEAM_EMAIL]
    assert address in body(sent[0])
