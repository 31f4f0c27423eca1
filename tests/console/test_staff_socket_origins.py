"""Staff sockets (the console's and the wallboard's) open only from this server's own pages: the Origin's
scheme, host and port are those the socket was reached at, or a CSRF_TRUSTED_ORIGINS entry.

The server is reached at localhost:8000 in these tests; a refused socket gets origin_not_allowed and
close 4003, an accepted one (nobody signed in) goes on to not_authenticated.
"""

import json

import pytest
from channels.testing import WebsocketCommunicator

from chatdesk.asgi import application

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.asyncio]
STAFF_SOCKETS = ["/ws/agent/", "/ws/wallboard/"]
SERVER = "localhost:8000"


async def first_error(path: str, *, origin: str | None, host: str = SERVER, **headers: str) -> tuple[str, int]:
    """The code of the socket's first frame and its close code."""
    sent = [(b"host", host.encode()), *((name.replace("_", "-").lower().encode(), value.encode())
                                        for name, value in headers.items())]
    if origin is not None:
        sent.append((b"origin", origin.encode()))
    communicator = WebsocketCommunicator(application, path, headers=sent)
    connected, _ = await communicator.connect()
    assert connected
    frame = json.loads(await communicator.receive_from())
    closed = await communicator.receive_output()
    await communicator.disconnect()  # the app ends at once, instead of at wait()'s timeout
    return frame["code"], closed["code"]


@pytest.mark.parametrize("path", STAFF_SOCKETS)
async def test_a_page_of_this_server_opens_the_socket(path):
    assert await first_error(path, origin="http://localhost:8000") == ("not_authenticated", 4001)


@pytest.mark.parametrize("origin", [
    "http://localhost:9000",   # another service on the same host name
    "http://localhost",        # the same host on the default port
    "https://localhost:8000",  # the same host and port, another scheme
    "http://evil.example:8000",
    "null",
    "",
])
@pytest.mark.parametrize("path", STAFF_SOCKETS)
async def test_a_page_of_any_other_origin_is_refused(path, origin):
    assert await first_error(path, origin=origin) == ("origin_not_allowed", 4003)


@pytest.mark.parametrize("path", STAFF_SOCKETS)
async def test_a_socket_without_an_origin_is_refused(path):
    assert await first_error(path, origin=None) == ("origin_not_allowed", 4003)


@pytest.mark.parametrize("path", STAFF_SOCKETS)
async def test_a_host_this_server_does_not_serve_is_not_its_own_origin(path):
    # A name of the attacker's pointed at this server: Origin and Host agree, but the host is not allowed.
    assert await first_error(path, origin="http://rebound.example:8000",
                             host="rebound.example:8000") == ("origin_not_allowed", 4003)


@pytest.mark.parametrize("path", STAFF_SOCKETS)
async def test_behind_a_tls_proxy_only_the_https_page_opens_the_socket(path, settings):
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    settings.ALLOWED_HOSTS = ["chat.acme.test"]
    proxied = {"host": "chat.acme.test", "X_Forwarded_Proto": "https"}
    assert await first_error(path, origin="https://chat.acme.test", **proxied) == ("not_authenticated", 4001)
    assert await first_error(path, origin="https://chat.acme.test:443", **proxied) == ("not_authenticated", 4001)
    assert await first_error(path, origin="http://chat.acme.test", **proxied) == ("origin_not_allowed", 4003)


@pytest.mark.parametrize("path", STAFF_SOCKETS)
async def test_a_trusted_origin_opens_the_socket_with_its_exact_scheme_and_port(path, settings):
    settings.CSRF_TRUSTED_ORIGINS = ["https://console.acme.test", "https://*.support.acme.test"]
    for origin in ("https://console.acme.test", "https://eu.support.acme.test"):
        assert await first_error(path, origin=origin) == ("not_authenticated", 4001)
    for origin in ("http://console.acme.test", "https://console.acme.test:8443", "http://eu.support.acme.test"):
        assert await first_error(path, origin=origin) == ("origin_not_allowed", 4003)
