"""The widget's delivery rules in a real browser (docs/protocol.md, "Delivery"): a message frame lost on
the way is asked for again with `sync` and the chat is shown whole and in order; the server's
`service` frames show and hide a notice; a server that cannot serve (close 4013) is tried again.

Playwright sits on the widget's socket (page.route_web_socket) and passes every frame through, except
the one a test drops; the frames a test adds stand for a server whose Redis is gone.
"""

import json

import pytest

from tests.servers import shell
from tests.widget.test_browser import (  # noqa: F401 (fixtures)
    alice_online,
    chromium,
    new_page,
    send,
    start_chat,
    wait_delivered,
)

pytestmark = pytest.mark.browser

playwright_api = pytest.importorskip("playwright.sync_api")
expect = playwright_api.expect
DEGRADED = "Connection to the server is degraded; messages may be delayed"

# Every agent message text in the order the widget first shows it, so a later message shown before
# an earlier one is caught even when the final order is right.
RECORD_SHOWN = """() => {
  const root = window.chatdesk._root, seen = new Set();
  window.__shown = [];
  const record = () => {
    for (const el of root.querySelectorAll(".cd-msgs:not(.cd-outbox) .cd-agent .cd-bubble")) {
      if (!seen.has(el.textContent)) { seen.add(el.textContent); window.__shown.push(el.textContent); }
    }
  };
  new MutationObserver(record).observe(root, {childList: true, subtree: true});
}"""


class Line:
    """The widget's socket, frame by frame: every socket it opens and the frames it sent on each."""

    def __init__(self):
        self.sent: list[list[dict]] = []  # per socket, in the order opened
        self.drop_text = None  # the server's next `message` frame with this text never reaches the page
        self.dropped: list[dict] = []
        self.swallow_next = None  # the page's next frame of this type never reaches the server
        self.refuse_next = False  # the next socket is refused as a server without Redis refuses it
        self.current = None

    def route(self, page_side):
        sent = []
        self.sent.append(sent)
        if self.refuse_next:
            self.refuse_next = False
            page_side.on_message(lambda message: sent.append(json.loads(message)))
            page_side.send(json.dumps({"type": "error", "code": "service_unavailable", "retry": True,
                                       "message": "the server cannot serve chats right now"}))
            page_side.close(code=4013, reason="service unavailable")
            return
        server_side = page_side.connect_to_server()
        self.current = (page_side, server_side)

        def from_page(message):
            frame = json.loads(message)
            sent.append(frame)
            if frame["type"] == self.swallow_next:
                self.swallow_next = None
                return
            server_side.send(message)

        def from_server(message):
            frame = json.loads(message)
            if frame.get("type") == "message" and frame.get("text") == self.drop_text:
                self.drop_text = None
                self.dropped.append(frame)
                return
            page_side.send(message)

        page_side.on_message(from_page)
        server_side.on_message(from_server)

    def tell_page(self, frame: dict) -> None:
        self.current[0].send(json.dumps(frame))

    def cut(self) -> None:
        page_side, server_side = self.current
        page_side.close(code=1011, reason="cut by the test")
        server_side.close()

    def frames_sent(self, frame_type: str) -> list[dict]:
        return [frame for sent in self.sent for frame in sent if frame["type"] == frame_type]


def widget_on_the_line(new_page, server):
    page, line = new_page(), Line()
    page.route_web_socket("**/ws/widget/**", line.route)
    page.goto(server.url + "/")
    return page, line


def agent_says(server, visitor_name: str, text: str) -> None:
    """The agent of the visitor's open chat writes to them, through the lifecycle as the console does."""
    shell(server, (
        "from conversations.models import Conversation; from conversations import lifecycle; "
        f"c = Conversation.objects.filter(visitor__name={visitor_name!r}, "
        "status__in=Conversation.OPEN_STATUSES).latest('id'); "
        f"lifecycle.post_message(conversation_id=c.pk, actor=lifecycle.Actor.of_agent(c.assigned_agent), text={text!r})"
    ))


def wait_until(page, condition, timeout_ms: int = 10_000) -> None:
    """Waits on the page, so that Playwright runs the line's handlers meanwhile, until condition() holds."""
    for _ in range(timeout_ms // 100):
        if condition():
            return
        page.wait_for_timeout(100)
    raise AssertionError("the line never saw it")


def agent_bubbles(page):
    return page.locator(".cd-msgs .cd-agent .cd-bubble")


def test_a_lost_message_frame_is_asked_for_with_sync_and_the_chat_is_shown_whole_and_in_order(
        chatdesk_server, alice_online, new_page):
    page, line = widget_on_the_line(new_page, chatdesk_server)
    start_chat(page, name="Ona Gap")
    expect(page.locator(".cd-row[data-local]", has_text="Alice joined the chat")).to_be_visible()
    page.evaluate(RECORD_SHOWN)

    agent_says(chatdesk_server, "Ona Gap", "first")
    expect(agent_bubbles(page)).to_have_text(["first"])
    line.drop_text = "second"
    agent_says(chatdesk_server, "Ona Gap", "second")
    wait_until(page, lambda: line.dropped)
    [dropped] = line.dropped
    syncs_before = len(line.frames_sent("sync"))  # a state read just before a message frame arrives asks too

    agent_says(chatdesk_server, "Ona Gap", "third")
    expect(agent_bubbles(page)).to_have_text(["first", "second", "third"])
    assert page.evaluate("window.__shown") == ["first", "second", "third"]
    sync, *_ = line.frames_sent("sync")[syncs_before:]
    assert sync == {"type": "sync", "conversation_id": dropped["conversation_id"], "last_seq": dropped["prev_seq"]}
    assert page.errors == []


def test_a_sync_that_goes_unanswered_is_sent_again(chatdesk_server, alice_online, new_page):
    page, line = widget_on_the_line(new_page, chatdesk_server)
    start_chat(page, name="Ona Again")
    expect(page.locator(".cd-row[data-local]", has_text="Alice joined the chat")).to_be_visible()
    line.drop_text = "lost on the way"
    agent_says(chatdesk_server, "Ona Again", "lost on the way")
    wait_until(page, lambda: line.dropped)
    syncs_before = len(line.frames_sent("sync"))

    line.swallow_next = "sync"
    agent_says(chatdesk_server, "Ona Again", "then this one")
    expect(agent_bubbles(page)).to_have_text(["lost on the way", "then this one"], timeout=15_000)
    asked, again, *_ = line.frames_sent("sync")[syncs_before:]
    assert asked == again
    assert page.errors == []


def test_the_server_saying_it_is_degraded_shows_a_notice_until_it_says_ok(chatdesk_server, alice_online, new_page):
    page, line = widget_on_the_line(new_page, chatdesk_server)
    start_chat(page, name="Ona Slow")
    notice = page.locator(".cd-status")
    expect(notice).to_be_hidden()

    line.tell_page({"type": "service", "status": "degraded"})
    expect(notice).to_have_text(DEGRADED)
    expect(notice).to_be_visible()
    send(page, "still here?")
    wait_delivered(page, "still here?")  # the chat goes on meanwhile

    line.tell_page({"type": "service", "status": "ok"})
    expect(notice).to_be_hidden()
    assert page.errors == []


def test_a_server_that_cannot_serve_closes_with_4013_and_the_widget_connects_again(
        chatdesk_server, alice_online, new_page):
    page, line = widget_on_the_line(new_page, chatdesk_server)
    start_chat(page, name="Ona Retry")
    line.refuse_next = True
    line.cut()
    send(page, "written while refused")

    wait_delivered(page, "written while refused")
    _, refused, *later = line.sent
    assert later, "no socket after the refused one"
    assert [frame["type"] for frame in refused if frame["type"] != "hello"] == []
    assert later[-1][0]["type"] == "hello"
    assert "written while refused" in [frame.get("text") for frame in later[-1]]
    expect(page.locator(".cd-status")).to_be_hidden()
    assert page.errors == []
