"""The agent console's delivery rules in a real browser (docs/protocol.md, "Delivery"): a visitor's
message whose frame is lost on the way is asked for again with `sync` and the chat is shown whole and
in order; the server's `service` frames show and hide a notice; a server that cannot serve (close 4013)
is tried again.

Playwright sits on Alice's console socket (page.route_web_socket) and passes every frame through,
except the one a test drops; the frames a test adds stand for a server whose Redis is gone.
"""

import pytest

from tests.console.test_console_browser import (  # noqa: F401 (fixtures)
    browser,
    chat_button,
    demo_floor,
    log,
    new_page,
    say,
    sign_in,
    start_chat,
)
from tests.widget.test_delivery_browser import DEGRADED, Line, wait_until

pytestmark = pytest.mark.browser

playwright_api = pytest.importorskip("playwright.sync_api")
expect = playwright_api.expect
VISITOR = "Ona Gap"

# Every message text of the chat in the order the console first shows it, so a later message shown
# before an earlier one is caught even when the final order is right.
RECORD_SHOWN = """() => {
  const seen = new Set();
  window.__shown = [];
  const record = () => {
    for (const el of document.querySelectorAll("#log .msg[data-seq] .msg-bubble")) {
      if (!seen.has(el.textContent)) { seen.add(el.textContent); window.__shown.push(el.textContent); }
    }
  };
  new MutationObserver(record).observe(document.getElementById("log"), {childList: true, subtree: true});
  record();
}"""

RECORD_TOASTS = """() => {
  window.__toasts = [];
  new MutationObserver((changes) => {
    for (const change of changes) for (const el of change.addedNodes) window.__toasts.push(el.textContent);
  }).observe(document.getElementById("toasts"), {childList: true});
}"""


def alice_on_the_line(browser, server):
    """Alice's console, online, its socket on a line the test holds."""
    page, line = new_page(browser, []), Line()
    page.route_web_socket("**/ws/agent/", line.route)
    sign_in(page, server, "alice")
    page.get_by_role("radio", name="Online").check()
    expect(page.get_by_role("radio", name="Online")).to_be_checked()
    return page, line


def test_a_lost_message_frame_is_asked_for_with_sync_and_the_chat_is_shown_whole_and_in_order(
        chatdesk_server, demo_floor, browser):
    alice, line = alice_on_the_line(browser, chatdesk_server)
    visitor = new_page(browser, [])
    start_chat(visitor, chatdesk_server, VISITOR, "first")
    chat_button(alice, VISITOR).click()
    expect(log(alice).get_by_text("first")).to_be_visible()
    alice.evaluate(RECORD_SHOWN)

    line.drop_text = "second"
    say(visitor, "second")
    wait_until(alice, lambda: line.dropped)
    [dropped] = line.dropped
    syncs_before = len(line.frames_sent("sync"))  # a state read just before a message frame arrives asks too

    say(visitor, "third")
    expect(log(alice).locator(".msg[data-seq] .msg-bubble")).to_have_text(["first", "second", "third"])
    assert alice.evaluate("window.__shown") == ["first", "second", "third"]
    sync, *_ = line.frames_sent("sync")[syncs_before:]
    assert sync == {"type": "sync", "conversation_id": dropped["conversation_id"], "last_seq": dropped["prev_seq"]}
    assert alice.errors == []


def test_the_server_saying_it_is_degraded_shows_a_notice_until_it_says_ok(chatdesk_server, demo_floor, browser):
    alice, line = alice_on_the_line(browser, chatdesk_server)
    notice = alice.locator("#conn")
    expect(notice).to_be_hidden()

    line.tell_page({"type": "service", "status": "degraded"})
    expect(notice).to_have_text(DEGRADED)
    expect(notice).to_be_visible()

    line.tell_page({"type": "service", "status": "ok"})
    expect(notice).to_be_hidden()
    assert alice.errors == []


def test_a_server_that_cannot_serve_closes_with_4013_and_the_console_connects_again(
        chatdesk_server, demo_floor, browser):
    alice, line = alice_on_the_line(browser, chatdesk_server)
    alice.evaluate(RECORD_TOASTS)
    line.refuse_next = True
    line.cut()
    expect(alice.locator("#conn")).to_have_text("Connection lost. Reconnecting…")

    expect(alice.locator("#conn")).to_be_hidden()  # welcomed again
    assert len(line.sent) >= 3, "no socket after the refused one"
    assert line.sent[-1][0]["type"] == "hello"
    # The refusal is the line's business, not something to show the agent.
    assert alice.evaluate("window.__toasts") == []
    assert alice.errors == []
