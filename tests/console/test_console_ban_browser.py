"""A supervisor bans a visitor from the console, in a real browser: the visitor's widget says chat
is not available, now and after a reload, and the ban is on record in the admin's list."""

import pytest

from tests.console.test_console_browser import (  # noqa: F401 (fixtures)
    browser,
    demo_floor,
    log,
    new_page,
    sign_in,
    start_chat,
)
from tests.servers import set_agent_status, shell

pytestmark = pytest.mark.browser

playwright_api = pytest.importorskip("playwright.sync_api")
expect = playwright_api.expect

MALLORY = "Mallory Spam"
BANS_OF_MALLORY = f"""
from conversations.models import Ban
print(sorted((b.reason, b.network, b.created_by.display_name) for b in Ban.objects.filter(visitor__name={MALLORY!r})))
"""


def test_a_supervisor_bans_a_visitor_from_the_chat_and_their_widget_stops(chatdesk_server, demo_floor, browser):
    dialogs = []
    set_agent_status(chatdesk_server, "bob", "online")  # the chat goes to Bob; Sam watches the floor
    visitor = new_page(browser, dialogs)
    start_chat(visitor, chatdesk_server, MALLORY, "BUY CHEAP PILLS at spam.example")
    expect(visitor.locator(".cd-msgs .cd-bubble", has_text="CHEAP PILLS")).to_be_visible()

    sam = sign_in(new_page(browser, dialogs), chatdesk_server, "sam")
    sam.get_by_role("button", name="Board").click()
    sam.get_by_role("button", name=f"Monitor: {MALLORY}").click()
    expect(log(sam).get_by_text("CHEAP PILLS")).to_be_visible()
    sam.get_by_role("button", name="Ban visitor").click()
    dialog = sam.get_by_role("dialog", name="Ban this visitor")
    dialog.get_by_label("For").select_option(label="A day")
    dialog.get_by_label("Reason (optional)").fill("spam")
    dialog.get_by_role("button", name="Ban", exact=True).click()
    expect(dialog).to_be_hidden()
    expect(sam.locator("#chat-banner")).to_have_text("The visitor is banned; their chat has ended.")

    expect(visitor.locator(".cd-status")).to_have_text("Chat is not available.")
    visitor.reload()
    visitor.locator(".cd-launch").click()
    expect(visitor.locator(".cd-status")).to_have_text("Chat is not available.")
    expect(visitor.locator(".cd-prechat")).to_be_hidden()
    assert shell(chatdesk_server, BANS_OF_MALLORY) == str([("spam", "", "Sam (supervisor)")])
    assert visitor.errors == [] and sam.errors == [] and dialogs == []
