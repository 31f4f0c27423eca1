"""Request bodies are bounded inside a real daphne (chatdesk/daphne_limits.py): a body over
MAX_REQUEST_BODY_BYTES gets a JSON 413 as it arrives, never parsed, and a 150 MB upload leaves the
process's memory and its WebSockets alone (as shipped, daphne went from 120 MB to about 2 GB and
answered no WebSocket ping for 3.5 to 6 s)."""

import asyncio
import json
import socket
import threading
import time
from contextlib import contextmanager
from urllib.parse import urlsplit

import psutil
import pytest
import websockets
from django.conf import settings

pytestmark = pytest.mark.multiprocess

ATTACK_BYTES = 150 * 1024 * 1024
BLOCK = b"a" * (1024 * 1024)
BOUNDARY = "chatdesk-test-boundary"
PART_HEAD = (f"--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"upload\"; filename=\"big.bin\"\r\n"
             "Content-Type: application/octet-stream\r\n\r\n").encode()
PART_TAIL = f"\r\n--{BOUNDARY}--\r\n".encode()


def connect(server) -> socket.socket:
    address = urlsplit(server.url)
    return socket.create_connection((address.hostname, address.port), timeout=30)


def request_head(server, **headers) -> bytes:
    lines = ["POST / HTTP/1.1", f"Host: {urlsplit(server.url).netloc}",
             f"Content-Type: multipart/form-data; boundary={BOUNDARY}", "Connection: close",
             *(f"{name.replace('_', '-')}: {value}" for name, value in headers.items())]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def read_response(connection: socket.socket) -> tuple[int, dict[str, str], bytes]:
    data = b""
    while chunk := connection.recv(65536):
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    headers = dict(line.split(": ", 1) for line in header_lines)
    return int(status_line.split()[1]), {name.lower(): value for name, value in headers.items()}, body


def upload(server, size: int, *, chunked: bool) -> tuple[int, dict[str, str], bytes]:
    """A multipart upload of `size` bytes, written whole as a careless client would, then its response."""
    total = len(PART_HEAD) + size + len(PART_TAIL)
    framing = {"Transfer_Encoding": "chunked"} if chunked else {"Content_Length": total}
    with connect(server) as connection:
        connection.sendall(request_head(server, **framing))

        def send(data: bytes) -> None:
            connection.sendall(f"{len(data):x}\r\n".encode() + data + b"\r\n" if chunked else data)

        send(PART_HEAD)
        for start in range(0, size, len(BLOCK)):
            send(BLOCK[:size - start])
        send(PART_TAIL)
        if chunked:
            connection.sendall(b"0\r\n\r\n")
        return read_response(connection)


@contextmanager
def peak_memory(pid: int):
    """The largest resident size of a process while the block runs, sampled every 20 ms: [before, peak]."""
    process = psutil.Process(pid)
    seen = [process.memory_info().rss] * 2
    done = threading.Event()

    def sample():
        while not done.wait(0.02):
            seen[1] = max(seen[1], process.memory_info().rss)

    sampler = threading.Thread(target=sample)
    sampler.start()
    try:
        yield seen
    finally:
        done.set()
        sampler.join()


async def ping_times_while(server, work) -> tuple[list[float], object]:
    """Round trips of WebSocket pings to the server, one after another, for as long as `work` runs in a thread."""
    async with websockets.connect(f"{server.ws_url}/ws/widget/demo/", origin=server.url) as visitor_socket:
        running = asyncio.get_running_loop().run_in_executor(None, work)
        times = []
        while not running.done() or not times:
            started = time.monotonic()
            await asyncio.wait_for(await visitor_socket.ping(), 30)
            times.append(time.monotonic() - started)
            await asyncio.sleep(0.02)
        return times, await running


def assert_refused(status: int, headers: dict[str, str], body: bytes) -> None:
    assert status == 413
    assert headers["content-type"] == "application/json"
    error = json.loads(body)
    assert error["code"] == "request_too_large"
    assert str(settings.MAX_REQUEST_BODY_BYTES) in error["detail"]


def test_a_body_over_the_limit_is_refused_by_its_length_before_any_of_it_is_sent(chatdesk_server):
    with connect(chatdesk_server) as connection:
        connection.sendall(request_head(chatdesk_server, Content_Length=ATTACK_BYTES, Expect="100-continue"))
        status, headers, body = read_response(connection)
    assert_refused(status, headers, body)


@pytest.mark.parametrize("chunked", [False, True], ids=["with a length", "chunked"])
async def test_a_150_mb_upload_is_refused_without_growing_daphne_or_stalling_its_sockets(chatdesk_server, chunked):
    with peak_memory(chatdesk_server.daphnes[0].process.pid) as rss:
        times, response = await ping_times_while(
            chatdesk_server, lambda: upload(chatdesk_server, ATTACK_BYTES, chunked=chunked))
    assert_refused(*response)
    before, peak = rss
    assert peak - before < 50 * 1024 * 1024
    assert max(times) < 0.5


@pytest.mark.parametrize("chunked", [False, True], ids=["with a length", "chunked"])
def test_a_body_within_the_limit_still_reaches_the_application(chatdesk_server, chunked):
    status, _, body = upload(chatdesk_server, settings.MAX_REQUEST_BODY_BYTES - 1024, chunked=chunked)
    # Django answered: the demo page takes no POST without a CSRF token.
    assert status == 403
    assert b"CSRF" in body
