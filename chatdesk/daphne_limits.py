"""Request bodies bounded inside daphne, before anything reads or parses them.

daphne hands a request to the application only once Twisted has received the whole body (into a
temporary file), and Twisted's own Request first parses a multipart or form body in memory, on the
event loop that also serves every WebSocket: one anonymous 150 MB upload took a daphne process from
120 MB to about 2 GB and left its WebSockets unanswered for 3.5 to 6 s. daphne has no setting for either, so chatdesk.asgi
makes daphne build its requests as BoundedRequest (install), which

- leaves the body unparsed (daphne never reads Twisted's parse; Django parses the body itself), and
- refuses a body over MAX_REQUEST_BODY_BYTES with a JSON 413 in the API's Error shape: by its
  Content-Length as soon as the headers are in, before any of it is read, and a chunked one as soon
  as the bytes received pass the limit. Nothing of a refused body is kept.
"""

import json

from daphne import http_protocol

from chatdesk.api_errors import too_large

# After a refusal the rest of the body is read and dropped for at most this long, then the connection
# closes: closing on unread bytes resets the connection, and a client still writing its body would
# lose the 413 (Twisted's own refusals close at once). Long enough for a fast link to finish the
# body; a slow sender cannot hold the connection longer.
LINGER_SECONDS = 2.0


def refusal(limit: int) -> bytes:
    """The whole HTTP response to a body over `limit` bytes; the connection closes after it."""
    body = json.dumps(too_large(limit)).encode()
    head = ("HTTP/1.1 413 Content Too Large\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n")
    return head.encode("ascii") + body


class BoundedRequest(http_protocol.WebRequest):
    """daphne's request, refusing a body over `max_body_bytes` while it arrives."""

    max_body_bytes: int  # set by install()

    def __init__(self, *args, **kwargs):
        super().__init__(*args, parsePOSTFormSubmission=False, **kwargs)
        self.body_bytes = 0
        self.refused = False
        self._linger = None

    def gotLength(self, length):
        """All headers are in; `length` is the Content-Length, or None for a chunked body."""
        super().gotLength(length)
        if length is not None and length > self.max_body_bytes:
            # Not asked to send the body: Twisted would answer "100 Continue" after the 413.
            self.requestHeaders.removeHeader(b"expect")
            self._refuse()

    def handleContentChunk(self, data):
        if self.refused:
            return
        self.body_bytes += len(data)
        if self.body_bytes > self.max_body_bytes:
            self._refuse()
            return
        super().handleContentChunk(data)

    def requestReceived(self, command, path, version):
        """The whole body is in (dropped, if refused): the application gets the request unless it was refused."""
        if not self.refused:
            super().requestReceived(command, path, version)
            return
        if self._linger is not None and self._linger.active():
            self._linger.cancel()
        self.channel.loseConnection()

    def connectionLost(self, reason):
        if self._linger is not None and self._linger.active():
            self._linger.cancel()
        super().connectionLost(reason)

    def _refuse(self) -> None:
        self.refused = True
        self.content.close()
        self.channel.persistent = False
        self.channel.transport.write(refusal(self.max_body_bytes))
        self._linger = self.channel.callLater(LINGER_SECONDS, self.channel.loseConnection)


def install(max_body_bytes: int) -> None:
    """Make daphne build every HTTP request of this process as a BoundedRequest.

    daphne's HTTPFactory names its request class as a module global, read for each new connection
    (daphne/http_protocol.py, buildProtocol): setting it before the server starts covers `daphne`,
    `python -m daphne` and daphne's runserver alike, all of which import chatdesk.asgi first.
    """
    BoundedRequest.max_body_bytes = max_body_bytes
    http_protocol.WebRequest = BoundedRequest
