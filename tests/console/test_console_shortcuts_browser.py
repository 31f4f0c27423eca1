"""The agent console's keyboard, sounds, notifications, drafts and supervisor actions, in a real browser.

Alice works two chats at once from the keyboard; her drafts survive a reload; a new chat or a
message in a chat she is not looking at rings (unless she muted the console, which a reload keeps)
and raises a browser notification. Sam, a supervisor, barges into a chat Alice took from the queue
and reassigns it to Bob.

Browser APIs are observed by wrapping them in init scripts (OscillatorNode.start, Notification);
the console's own code runs untouched.
"""

import re

import pytest

from tests.console.test_console_browser import (  # noqa: F401 (fixtures)
    RECORD_NOTIFICATIONS,
    browser,
    chat_button,
    demo_floor,
    log,
    new_page,
    offering_support,
    say,
    sign_in,
    start_chat,
)
from tests.servers import shell

pytestmark = pytest.mark.browser

playwright_api = pytest.importorskip("playwright.sync_api")
expect = playwright_api.expect

ONA = "Ona Keys"
JONAS = "Jonas Keys"

# Counts the tones the page starts (the console beeps with an oscillator).
COUNT_SOUNDS = """
window.__sounds = 0;
const realStart = OscillatorNode.prototype.start;
OscillatorNode.prototype.start = function (...args) { window.__sounds += 1; return realStart.apply(this, args); };
"""

# Records the title of every notification the page raises, then raises it for real.
WRAP_NOTIFICATIONS = """
window.__notifications = [];
window.Notification = new Proxy(window.Notification, {
  construct(target, args, newTarget) {
    window.__notifications.push(String(args[0]));
    return Reflect.construct(target, args, newTarget);
  },
});
"""


def composer(page):
    return page.get_by_role("textbox", name=re.compile("^Write to"))


def canned_list(page):
    return page.get_by_role("listbox", name="Canned responses")


def expect_current(page, name: str):
    expect(chat_button(page, name)).to_have_attribute("aria-current", "true")
    expect(page.locator("#chat-title")).to_have_text(name)


def alice_online(browser, server, dialogs, **page_options):
    alice = sign_in(new_page(browser, dialogs, **page_options), server, "alice")
    alice.get_by_role("radio", name="Online").check()
    expect(alice.get_by_role("radio", name="Online")).to_be_checked()
    return alice


def two_chats(browser, server, dialogs, alice, first_text="Hello from Ona", second_text="Hello from Jonas"):
    """Ona's chat, then Jonas's, both routed to Alice in that order."""
    ona = new_page(browser, dialogs)
    start_chat(ona, server, ONA, first_text)
    expect(chat_button(alice, ONA)).to_be_visible()
    jonas = new_page(browser, dialogs)
    start_chat(jonas, server, JONAS, second_text)
    expect(chat_button(alice, JONAS)).to_be_visible()
    return ona, jonas


def test_an_agent_switches_chats_and_fills_canned_responses_from_the_keyboard(chatdesk_server, demo_floor, browser):
    dialogs = []
    alice = alice_online(browser, chatdesk_server, dialogs)
    two_chats(browser, chatdesk_server, dialogs, alice)
    expect_current(alice, ONA)

    # Alt+<n>: the n-th chat of the list, ready to type in.
    alice.keyboard.press("Alt+2")
    expect_current(alice, JONAS)
    expect(composer(alice)).to_be_focused()
    alice.keyboard.press("Alt+1")
    expect_current(alice, ONA)
    alice.keyboard.press("Alt+3")  # no third chat: nothing moves
    expect_current(alice, ONA)

    # Ctrl+Down / Ctrl+Up: the next and previous chat, round the list.
    alice.keyboard.press("Control+ArrowDown")
    expect_current(alice, JONAS)
    alice.keyboard.press("Control+ArrowDown")
    expect_current(alice, ONA)
    alice.keyboard.press("Control+ArrowUp")
    expect_current(alice, JONAS)

    # "/" outside the composer starts a canned response search there; Enter inserts the pick, filled in.
    log(alice).focus()
    alice.keyboard.press("/")
    expect(composer(alice)).to_be_focused()
    expect(composer(alice)).to_have_value("/")
    alice.keyboard.type("hel")
    expect(canned_list(alice).get_by_role("option", selected=True)).to_contain_text("Greeting")
    alice.keyboard.press("Enter")
    expect(composer(alice)).to_have_value(f"Hi {JONAS}, I'm Alice from Demo Shop. How can I help?")
    expect(canned_list(alice)).to_be_hidden()

    # "#" too; the arrows move through every response (by shortcut: bye, hello, order, refund).
    composer(alice).fill("")
    log(alice).focus()
    alice.keyboard.type("#")
    expect(composer(alice)).to_have_value("#")
    expect(canned_list(alice).get_by_role("option")).to_have_count(4)
    for key in ("ArrowDown", "ArrowDown", "ArrowDown", "ArrowUp"):
        alice.keyboard.press(key)
    expect(canned_list(alice).get_by_role("option", selected=True)).to_contain_text("Order number")
    alice.keyboard.press("Enter")
    expect(composer(alice)).to_have_value("Could you tell me your order number? It starts with SH-.")

    # Escape closes the list and leaves the text alone.
    alice.keyboard.type(" /")
    expect(canned_list(alice)).to_be_visible()
    alice.keyboard.press("Escape")
    expect(canned_list(alice)).to_be_hidden()
    expect(composer(alice)).to_have_value("Could you tell me your order number? It starts with SH-. /")
    assert dialogs == [] and alice.errors == []


def test_alt_a_accepts_the_offer_on_screen_and_only_that_one(chatdesk_server, demo_floor, offering_support, browser):
    dialogs = []
    alice = alice_online(browser, chatdesk_server, dialogs)
    two_chats(browser, chatdesk_server, dialogs, alice)
    expect(chat_button(alice, ONA)).to_have_accessible_name(re.compile("waiting for you to accept"))
    expect(chat_button(alice, JONAS)).to_have_accessible_name(re.compile("waiting for you to accept"))

    alice.keyboard.press("Alt+2")
    expect_current(alice, JONAS)
    expect(alice.get_by_role("button", name="Accept", exact=True)).to_be_focused()
    alice.keyboard.press("Alt+a")
    expect(alice.get_by_role("button", name="Accept", exact=True)).to_be_hidden()
    expect(alice.locator("#chat-sub")).to_contain_text("Active")
    expect(composer(alice)).to_be_focused()
    expect(chat_button(alice, JONAS)).not_to_have_accessible_name(re.compile("waiting for you to accept"))
    expect(chat_button(alice, ONA)).to_have_accessible_name(re.compile("waiting for you to accept"))
    statuses = shell(chatdesk_server, "from conversations.models import Conversation as C; "
                                      "print(sorted((c.visitor.name, c.status) for c in C.objects.filter("
                                      f"visitor__name__in=[{ONA!r}, {JONAS!r}], status__in=C.OPEN_STATUSES)))")
    assert statuses == f"[({JONAS!r}, 'active'), ({ONA!r}, 'assigned')]"
    assert dialogs == [] and alice.errors == []


def test_drafts_survive_a_reload_until_sent(chatdesk_server, demo_floor, browser):
    dialogs = []
    alice = alice_online(browser, chatdesk_server, dialogs)
    _, jonas = two_chats(browser, chatdesk_server, dialogs, alice)
    expect_current(alice, ONA)
    composer(alice).fill("Draft for Ona")
    alice.keyboard.press("Alt+2")
    expect_current(alice, JONAS)
    composer(alice).fill("Draft for Jonas")

    alice.reload()
    expect_current(alice, ONA)
    expect(composer(alice)).to_have_value("Draft for Ona")
    chat_button(alice, JONAS).click()
    expect_current(alice, JONAS)
    expect(composer(alice)).to_have_value("Draft for Jonas")

    # Sent: gone from the composer, and it stays gone after a reload (Ona's draft stays).
    composer(alice).press("Enter")
    expect(jonas.locator(".cd-agent .cd-bubble", has_text="Draft for Jonas")).to_be_visible()
    expect(composer(alice)).to_have_value("")
    alice.reload()
    expect(composer(alice)).to_have_value("Draft for Ona")
    chat_button(alice, JONAS).click()
    expect_current(alice, JONAS)
    expect(composer(alice)).to_be_visible()
    expect(composer(alice)).to_have_value("")

    # A chat that leaves the list takes its draft with it.
    chat_button(alice, ONA).click()
    alice.get_by_role("button", name="Close chat").click()
    wrapup = alice.get_by_role("dialog", name="Close and wrap up")
    wrapup.get_by_role("button", name="Close chat").click()
    expect(chat_button(alice, ONA)).to_have_count(0)
    assert "Draft for" not in alice.evaluate("Object.values(localStorage).join(' ')")
    assert dialogs == [] and alice.errors == []


def test_new_chats_and_messages_ring_unless_muted_and_mute_survives_a_reload(chatdesk_server, demo_floor, browser):
    dialogs = []
    alice = alice_online(browser, chatdesk_server, dialogs, init_scripts=(RECORD_NOTIFICATIONS, COUNT_SOUNDS))
    mute = alice.locator("#mute-btn")
    expect(mute).to_have_accessible_name("Mute sounds")
    _, jonas = two_chats(browser, chatdesk_server, dialogs, alice)
    expect_current(alice, ONA)
    expect(chat_button(alice, JONAS)).to_contain_text("Hello from Jonas")
    # One per new chat, and one more when Jonas's first message came after his chat was loaded.
    alice.wait_for_function("() => window.__sounds >= 2")
    rung = alice.evaluate("window.__sounds")

    mute.click()
    expect(mute).to_have_attribute("aria-pressed", "true")
    say(jonas, "Muted question")
    expect(chat_button(alice, JONAS)).to_contain_text("Muted question")
    assert alice.evaluate("window.__sounds") == rung

    alice.reload()
    expect(mute).to_have_accessible_name("Turn sounds on")
    expect(mute).to_have_attribute("aria-pressed", "true")
    chat_button(alice, ONA).click()
    expect_current(alice, ONA)
    say(jonas, "Still muted")
    expect(chat_button(alice, JONAS)).to_contain_text("Still muted")
    assert alice.evaluate("window.__sounds") == 0

    mute.click()  # sounds on: a beep says so
    expect(mute).to_have_attribute("aria-pressed", "false")
    alice.wait_for_function("() => window.__sounds === 1")
    say(jonas, "Loud question")
    expect(chat_button(alice, JONAS)).to_contain_text("Loud question")
    alice.wait_for_function("() => window.__sounds === 2")
    assert dialogs == [] and alice.errors == []


def test_a_new_chat_and_a_message_in_a_chat_not_on_screen_raise_notifications(chatdesk_server, demo_floor, browser):
    dialogs = []
    alice = alice_online(browser, chatdesk_server, dialogs, init_scripts=(WRAP_NOTIFICATIONS,),
                         notify_origin=chatdesk_server.url)
    assert alice.evaluate("Notification.permission") == "granted"
    expect(alice.locator("#notify-btn")).to_be_hidden()

    ona, jonas = two_chats(browser, chatdesk_server, dialogs, alice)
    alice.wait_for_function(f"() => window.__notifications.includes('New chat from {ONA}')")
    alice.wait_for_function(f"() => window.__notifications.includes('New chat from {JONAS}')")
    expect_current(alice, ONA)
    expect(chat_button(alice, JONAS)).to_contain_text("Hello from Jonas")
    before = alice.evaluate("window.__notifications").count(f"New message from {JONAS}")

    # A message in the chat on screen does not notify; one in the other chat does.
    say(ona, "On screen")
    expect(log(alice).get_by_text("On screen")).to_be_visible()
    say(jonas, "Off screen")
    alice.wait_for_function(
        f"() => window.__notifications.filter((t) => t === 'New message from {JONAS}').length === {before + 1}")
    assert f"New message from {ONA}" not in alice.evaluate("window.__notifications")
    assert dialogs == [] and alice.errors == []


@pytest.fixture
def alice_outside_support(chatdesk_server):
    """Alice leaves the Support department (which routes the demo shop's chats) for this test."""
    def member(joined: bool) -> None:
        shell(chatdesk_server, "from agents.models import Agent, Department; "
                               "a = Agent.objects.get(user__username='alice'); d = Department.objects.get(name='Support'); "
                               f"a.departments.add(d) if {joined} else a.departments.remove(d)")
    member(False)
    yield
    member(True)


def test_an_agent_takes_a_queued_chat_and_a_supervisor_barges_in_and_reassigns_it(
        chatdesk_server, demo_floor, alice_outside_support, browser):
    dialogs = []
    server = chatdesk_server
    alice = alice_online(browser, server, dialogs)  # online, but nothing is routed to her
    ona = new_page(browser, dialogs)
    start_chat(ona, server, ONA, "Anyone?")

    alice.get_by_role("button", name=f"Take the chat with {ONA}").click()
    expect_current(alice, ONA)
    expect(log(alice).get_by_text("Anyone?")).to_be_visible()
    composer(alice).fill("Alice here.")
    composer(alice).press("Enter")
    expect(ona.locator(".cd-agent .cd-bubble", has_text="Alice here.")).to_be_visible()

    bob = sign_in(new_page(browser, dialogs), server, "bob")
    bob.get_by_role("radio", name="Online").check()
    expect(bob.get_by_role("radio", name="Online")).to_be_checked()

    sam = sign_in(new_page(browser, dialogs), server, "sam")
    sam.get_by_role("button", name="Board").click()
    sam.get_by_role("button", name=f"Monitor: {ONA}").click()
    expect(log(sam).get_by_text("Alice here.")).to_be_visible()
    sam.get_by_role("radio", name="Barge in").check()
    barge = sam.get_by_role("textbox", name="Write to the visitor as yourself")
    barge.fill("Sam from the team, joining in.")
    barge.press("Enter")
    expect(ona.locator(".cd-agent .cd-bubble", has_text="Sam from the team, joining in.")).to_be_visible()
    expect(log(alice).get_by_text("Sam from the team, joining in.")).to_be_visible()

    sam.get_by_role("button", name="Reassign").click()
    reassign = sam.get_by_role("dialog", name="Reassign to an agent")
    choice = reassign.get_by_role("combobox", name="An agent")
    choice.select_option(label=choice.locator("option", has_text="Bob").text_content())
    reassign.get_by_role("button", name="Reassign").click()
    expect(reassign).to_be_hidden()
    expect(chat_button(bob, ONA)).to_be_visible()
    chat_button(bob, ONA).click()
    expect(log(bob).get_by_text("Sam from the team, joining in.")).to_be_visible()
    expect(sam.locator("#chat-sub")).to_contain_text("with Bob")
    expect(alice.locator("#chat-banner")).to_have_text("This chat is now with Bob.")
    assert dialogs == []
    for page in (alice, bob, sam, ona):
        assert page.errors == []
