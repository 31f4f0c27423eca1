"""Two daphne processes on one Redis: a frame published by one reaches sockets held by the other."""

import asyncio
import json

import pytest
import websockets

from tests.personas import FIRST_MESSAGE

pytestmark = pytest.mark.multiprocess

FRAME_TIMEOUT = 10.0


async def send(socket, frame: dict) -> None:
    await socket.send(json.dumps(frame))


async def receive(socket, kind: str, **expected) -> dict:
    """The next frame of that type (and with those values), skipping the others."""
    async def first_match():
        while True:
            frame = json.loads(await socket.recv())
            if frame["type"] == kind and all(frame.get(name) == value for name, value in expected.items()):
                return frame
            assert frame["type"] != "error", frame

    return await asyncio.wait_for(first_match(), FRAME_TIMEOUT)


def visitor_socket(server):
    return websockets.connect(f"{server.ws_url}/ws/widget/demo/", origin=server.url)


async def start_chat(socket, **fields) -> tuple[str, dict]:
    """hello, then start a chat on the first topic; returns the visitor token and the state frame."""
    await send(socket, {"type": "hello"})
    welcome = await receive(socket, "welcome")
    await send(socket, {"type": "start", "name": "Ann", "topic": welcome["site"]["topics"][0]["id"], **FIRST_MESSAGE,
                        **fields})
    return welcome["token"], await receive(socket, "state", status="queued")


async def second_tab(socket, token: str, conversation_id: str) -> None:
    """hello as the same visitor; after `replayed` this socket is in the visitor's group."""
    await send(socket, {"type": "hello", "token": token, "conversation_id": conversation_id, "last_seq": 0})
    welcome = await receive(socket, "welcome")
    assert welcome["conversation"]["conversation_id"] == conversation_id
    await receive(socket, "replayed")


@pytest.fixture(scope="module")
def daphne_b(chatdesk_server):
    return chatdesk_server.start_another_daphne()


async def test_a_message_sent_through_one_daphne_reaches_the_visitors_tab_on_the_other(chatdesk_server, daphne_b):
    assert daphne_b.url != chatdesk_server.url
    async with visitor_socket(chatdesk_server) as tab_a, visitor_socket(daphne_b) as tab_b:
        token, state = await start_chat(tab_a)
        await second_tab(tab_b, token, state["conversation_id"])

        await send(tab_a, {"type": "message", "client_id": "c1", "text": "hi"})
        ack = await receive(tab_a, "ack", client_id="c1")

        message = await receive(tab_b, "message", seq=ack["seq"])
        assert message["text"] == "hi"
        assert message["conversation_id"] == state["conversation_id"]


async def test_a_chat_closed_through_one_daphne_is_closed_in_the_tab_on_the_other(chatdesk_server, daphne_b):
    async with visitor_socket(chatdesk_server) as tab_a, visitor_socket(daphne_b) as tab_b:
        token, state = await start_chat(tab_a)
        await second_tab(tab_b, token, state["conversation_id"])

        await send(tab_b, {"type": "close"})

        closed = await receive(tab_a, "state", conversation_id=state["conversation_id"], status="abandoned")
        assert closed["last_seq"] == 1  # the question the chat started with


async def test_the_transcript_limit_of_a_chat_holds_across_processes(chatdesk_server, daphne_b):
    """Two tabs of one visitor on two daphne processes ask for transcripts in turn: together they get
    the chat's limit (LIMITS, 3 a day), because the count is in the Redis both share."""
    async with visitor_socket(chatdesk_server) as tab_a, visitor_socket(daphne_b) as tab_b:
        token, state = await start_chat(tab_a, email="ann@example.com")
        conversation_id = state["conversation_id"]
        await second_tab(tab_b, token, conversation_id)
        answers = []
        for number in range(8):
            tab = (tab_a, tab_b)[number % 2]
            await send(tab, {"type": "transcript", "client_id": f"t{number}", "conversation_id": conversation_id})
            answers.append(await asyncio.wait_for(_answer_to(tab, f"t{number}"), FRAME_TIMEOUT))
        assert [a["type"] for a in answers] == ["transcript_requested"] * 3 + ["error"] * 5
        assert {(a["code"], a["limit"]) for a in answers[3:]} == {("email_limited", "chat")}


async def _answer_to(socket, client_id: str) -> dict:
    while True:
        frame = json.loads(await socket.recv())
        if frame.get("client_id") == client_id or frame.get("ref") == client_id:
            return frame
