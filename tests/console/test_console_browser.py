"""The agent console in a real browser: a visitor on the demo shop and agents at /console/.

One story, end to end: Alice goes online and gets the visitor's chat, answers with a canned
response (variables filled), tags it, writes a note the visitor never sees, gets a whisper from
Sam (a supervisor) that the visitor never sees, exchanges markup that stays text, transfers the
chat to Bob, who accepts it (without seeing Sam's whisper for Alice) and closes it with wrap-up.
And an offer: in a department that offers chats, Alice accepts the visitor's chat in the page.
"""

import re

import pytest

from tests.servers import clear_floor, set_agent_status, shell

pytestmark = pytest.mark.browser

playwright_api = pytest.importorskip("playwright.sync_api")
expect = playwright_api.expect
CHROMIUM = "/usr/bin/chromium"
XSS = "<img src=x onerror=alert(1)>"
PASSWORD = "demo-pass-123"
VISITOR = "Ona Console"
NOTE = "VIP customer, second order this week"
WHISPER = "Offer her free delivery"

# Records notifications instead of showing them (headless Chromium has no notification centre).
RECORD_NOTIFICATIONS = """
window.__notifications = [];
window.Notification = class {
  constructor(title, options) { window.__notifications.push({title, body: (options || {}).body || ""}); }
  close() {}
  static get permission() { return "granted"; }
  static requestPermission() { return Promise.resolve("granted"); }
};
"""


@pytest.fixture
def browser():
    with playwright_api.sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, headless=True)
        yield chromium
        chromium.close()


@pytest.fixture
def demo_floor(chatdesk_server):
    """Nobody online and no chat left open by earlier tests, so the new chat goes to Alice."""
    clear_floor(chatdesk_server)
    yield
    set_agent_status(chatdesk_server, ("alice", "bob"), "offline")


def new_page(browser, dialogs, *, locale="en-GB", init_scripts=(RECORD_NOTIFICATIONS,), notify_origin=None):
    """A page in a context of its own; `notify_origin`: grant that origin the notification permission."""
    context = browser.new_context(locale=locale, viewport={"width": 1400, "height": 860})
    context.set_default_timeout(10_000)
    if notify_origin:
        context.grant_permissions(["notifications"], origin=notify_origin)
    for script in init_scripts:
        context.add_init_script(script)
    page = context.new_page()
    page.errors = []
    page.on("pageerror", lambda error: page.errors.append(str(error)))
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    return page


def sign_in(page, server, username: str):
    page.goto(server.url + "/console/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url("**/console/")
    expect(page.locator("#conn")).to_be_hidden()  # the socket is welcomed
    return page


def chat_button(page, name: str = VISITOR):
    return page.get_by_role("list", name="My chats").get_by_role("button", name=re.compile(f"^{name}"))


def start_chat(visitor, server, name: str, text: str, *, email: str = ""):
    """The visitor opens the demo shop's widget and fills the pre-chat form, `text` as the question
    (the chat's first message)."""
    visitor.goto(server.url + "/")
    visitor.locator(".cd-launch").click()
    visitor.locator("#cd-name").fill(name)
    if email:
        visitor.locator("#cd-email").fill(email)
    visitor.locator("#cd-topic").select_option(label="Orders and delivery")
    visitor.locator("#cd-question").fill(text)
    visitor.locator(".cd-prechat button[type=submit]").click()


def say(visitor, text: str):
    visitor.locator("#cd-input").fill(text)
    visitor.locator("#cd-input").press("Enter")


def log(page):
    return page.get_by_role("log")


def widget_bubbles(visitor) -> list[str]:
    return visitor.locator(".cd-msgs .cd-row:not([data-local]) .cd-bubble").all_text_contents()


def test_an_agent_team_handles_a_chat_from_first_message_to_wrap_up(chatdesk_server, demo_floor, browser, tmp_path):
    dialogs = []
    server = chatdesk_server

    # Alice signs in and goes online: routing now sends her the demo site's chats.
    alice = sign_in(new_page(browser, dialogs), server, "alice")
    alice.get_by_role("radio", name="Online").check()
    expect(alice.get_by_role("radio", name="Online")).to_be_checked()
    expect(alice.locator("#load")).to_have_text("0 of 4 chats")

    # The visitor starts a chat on the demo shop.
    visitor = new_page(browser, dialogs)
    start_chat(visitor, server, VISITOR, "Hello, where is my order SH-1042?", email="ona@example.com")

    # Alice is told, opens it, and sees the message and who the visitor is.
    chat_button(alice).click()
    expect(log(alice).get_by_text("Hello, where is my order SH-1042?")).to_be_visible()
    expect(alice.get_by_role("complementary", name="Visitor")).to_contain_text("ona@example.com")
    expect(alice.locator("#load")).to_have_text("1 of 4 chats")
    assert any(VISITOR in n["title"] for n in alice.evaluate("window.__notifications"))

    # A canned response: "/" opens the list, Enter inserts it with its variables filled, Enter sends.
    composer = alice.get_by_role("textbox", name=re.compile("^Write to"))
    composer.fill("/hel")
    expect(alice.get_by_role("listbox", name="Canned responses").get_by_role("option", name=re.compile("Greeting"))).to_be_visible()
    composer.press("Enter")
    greeting = f"Hi {VISITOR}, I'm Alice from Demo Shop. How can I help?"
    expect(composer).to_have_value(greeting)
    composer.press("Enter")
    expect(composer).to_have_value("")
    expect(visitor.locator(".cd-agent .cd-bubble", has_text=greeting)).to_be_visible()
    used = shell(server, "from conversations.models import Message; "
                         f"print(Message.objects.filter(text={greeting!r}).values_list('canned_response__shortcut', flat=True).get())")
    assert used.strip() == "hello"

    # Tags: autocomplete from the site's tags, shown on the chat.
    tag_box = alice.get_by_role("combobox", name="Add a tag")
    tag_box.fill("order-status")
    tag_box.press("Enter")
    expect(alice.get_by_role("list", name="Tags").get_by_text("order-status")).to_be_visible()

    # An internal note: shown to staff, never to the visitor.
    alice.get_by_role("radio", name="Note").check()
    note_box = alice.get_by_role("textbox", name=re.compile("^Internal note"))
    note_box.fill(NOTE)
    note_box.press("Enter")
    expect(log(alice).locator(".msg-note", has_text=NOTE)).to_be_visible()
    alice.get_by_role("radio", name="Reply").check()

    # Markup is text on both sides and runs nothing.
    visitor.locator("#cd-input").fill(XSS)
    visitor.locator("#cd-input").press("Enter")
    expect(log(alice).get_by_text(XSS, exact=True)).to_be_visible()
    composer.fill(XSS)
    composer.press("Enter")
    expect(visitor.locator(".cd-agent .cd-bubble", has_text="onerror")).to_have_text(XSS)
    assert log(alice).locator("img").count() == 0
    assert visitor.locator(".cd-panel img").count() == 0

    # Sam, a supervisor, finds the chat on the board, monitors it and whispers to Alice.
    sam = sign_in(new_page(browser, dialogs), server, "sam")
    sam.get_by_role("button", name="Board").click()
    sam.get_by_role("button", name=f"Monitor: {VISITOR}").click()
    expect(log(sam).get_by_text(NOTE)).to_be_visible()  # staff see notes
    sam.get_by_role("radio", name="Whisper").check()
    whisper_box = sam.get_by_role("textbox", name=re.compile("^Whisper to Alice"))
    whisper_box.fill(WHISPER)
    whisper_box.press("Enter")
    expect(log(alice).locator(".msg-whisper", has_text=WHISPER)).to_be_visible()

    # Bob comes online; Alice transfers the chat to him with a note.
    bob = sign_in(new_page(browser, dialogs), server, "bob")
    bob.get_by_role("radio", name="Online").check()
    expect(bob.get_by_role("radio", name="Online")).to_be_checked()
    alice.get_by_role("button", name="Transfer").click()
    transfer = alice.get_by_role("dialog", name="Transfer the chat")
    agent_choice = transfer.get_by_role("combobox", name="An agent")
    expect(agent_choice.locator("option", has_text="Bob")).to_contain_text("3 free of 3")
    agent_choice.select_option(label=agent_choice.locator("option", has_text="Bob").text_content())
    transfer.get_by_label("Note for the next agent").fill("Wants delivery by Friday")
    transfer.get_by_role("button", name="Transfer").click()
    expect(transfer).to_be_hidden()
    expect(chat_button(alice)).to_have_count(0)

    # Bob gets it with its history, but not the whisper meant for Alice, and accepts it (Alt+A).
    chat_button(bob).click()
    expect(log(bob).get_by_text(greeting)).to_be_visible()
    expect(log(bob).get_by_text(NOTE)).to_be_visible()
    expect(log(bob).get_by_text(WHISPER)).to_have_count(0)
    expect(bob.get_by_role("button", name="Accept", exact=True)).to_be_visible()
    expect(bob.get_by_role("textbox", name=re.compile("^Write to"))).to_be_hidden()
    bob.keyboard.press("Alt+a")
    expect(bob.get_by_role("button", name="Accept", exact=True)).to_be_hidden()
    expect(bob.get_by_role("textbox", name=re.compile("^Write to"))).to_be_focused()
    expect(bob.locator("#chat-sub")).to_contain_text("Active")
    assert any(VISITOR in n["title"] for n in bob.evaluate("window.__notifications"))
    bob.screenshot(path=str(tmp_path / "bob.png"))
    bob.get_by_role("button", name="Close chat").click()
    wrapup = bob.get_by_role("dialog", name="Close and wrap up")
    expect(wrapup.get_by_text("order-status")).to_be_visible()
    wrapup.get_by_label("No", exact=True).check()
    wrapup.get_by_label("Summary").fill("Delivery date confirmed")
    wrapup.get_by_role("button", name="Close chat").click()
    expect(wrapup).to_be_hidden()
    expect(chat_button(bob)).to_have_count(0)
    expect(visitor.locator(".cd-ended")).to_be_visible()
    closed = shell(server, "from conversations.models import ConversationEvent as E; "
                           "e = E.objects.filter(kind='closed').latest('id'); "
                           "print(e.details['resolved'], e.details['summary'], e.details['tags'], e.details['wrapup_source'])")
    assert closed.strip() == "False Delivery date confirmed ['order-status'] wrapup"

    # The visitor never saw the note or the whisper, nothing ran, and no page had an error.
    texts = widget_bubbles(visitor)
    assert greeting in texts and XSS in texts
    assert not any(NOTE in text or WHISPER in text for text in texts)
    assert NOTE not in visitor.content() and WHISPER not in visitor.content()
    assert dialogs == []
    for page in (alice, bob, sam, visitor):
        assert page.errors == []


@pytest.fixture
def offering_support(chatdesk_server):
    """The demo's Support department offers its chats (120 s to accept) for this test."""
    def set_mode(mode: str) -> None:
        shell(chatdesk_server, "from agents.models import Department; "
                               f"Department.objects.filter(name='Support').update(accept_mode={mode!r}, "
                               "offer_timeout_seconds=120)")
    set_mode("offer")
    yield
    set_mode("auto")


def test_an_agent_accepts_a_chat_offered_to_her(chatdesk_server, demo_floor, offering_support, browser):
    dialogs = []
    server = chatdesk_server
    alice = sign_in(new_page(browser, dialogs), server, "alice")
    alice.get_by_role("radio", name="Online").check()
    expect(alice.get_by_role("radio", name="Online")).to_be_checked()

    visitor = new_page(browser, dialogs)
    start_chat(visitor, server, VISITOR, "Is anyone there?")

    # The offer: listed as waiting for her, with the time left to accept; no reply before accepting.
    chat_button(alice).click()
    expect(chat_button(alice)).to_have_accessible_name(re.compile("waiting for you to accept"))
    expect(log(alice).get_by_text("Is anyone there?")).to_be_visible()
    expect(alice.locator("#chat-sub")).to_contain_text("Assigned")
    expect(alice.get_by_role("timer")).to_have_text(re.compile(r"^(2:00|1:[0-5]\d) left$"))
    expect(alice.get_by_role("textbox", name=re.compile("^Write to"))).to_be_hidden()

    alice.get_by_role("button", name="Accept", exact=True).click()
    expect(alice.get_by_role("button", name="Accept", exact=True)).to_be_hidden()
    expect(alice.locator("#chat-sub")).to_contain_text("Active")
    composer = alice.get_by_role("textbox", name=re.compile("^Write to"))
    composer.fill("Yes, I am here.")
    composer.press("Enter")
    expect(visitor.locator(".cd-agent .cd-bubble", has_text="Yes, I am here.")).to_be_visible()
    accepted = shell(server, "from conversations.models import ConversationEvent as E; "
                             "e = E.objects.filter(kind='accepted').latest('id'); "
                             "print(e.conversation.events.filter(kind='accepted').count(), e.actor, "
                             "e.actor_agent.display_name, e.details['auto'], e.conversation.status)")
    assert accepted.strip() == "1 agent Alice False active"
    assert dialogs == []
    for page in (alice, visitor):
        assert page.errors == []
