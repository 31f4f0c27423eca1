"""The widget in a real browser: headless Chromium on the demo shop page of a live daphne.

Every test gets a new browser context, so a new visitor (empty localStorage). The chat tests
need someone to chat with: the demo agents start offline, so the module puts Alice online in
the live server's database; routing then assigns each new chat to her.
"""

import json

import pytest

from tests.servers import clear_floor, set_agent_status

pytestmark = pytest.mark.browser

playwright_api = pytest.importorskip("playwright.sync_api")
CHROMIUM = "/usr/bin/chromium"
XSS = "<img src=x onerror=alert(1)>"


@pytest.fixture(scope="module")
def alice_online(chatdesk_server):
    clear_floor(chatdesk_server)  # earlier modules may have left agents online or Alice's slots taken
    set_agent_status(chatdesk_server, "alice", "online")
    yield
    set_agent_status(chatdesk_server, "alice", "offline")


@pytest.fixture(scope="module")
def chromium():
    with playwright_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True)
        yield browser
        browser.close()


@pytest.fixture
def new_page(chromium):
    contexts = []

    def open_page(locale: str = "en-GB"):
        context = chromium.new_context(locale=locale, viewport={"width": 1280, "height": 800})
        context.set_default_timeout(10_000)
        contexts.append(context)
        page = context.new_page()
        page.errors = []
        page.on("pageerror", lambda error: page.errors.append(str(error)))
        return page

    yield open_page
    for context in contexts:
        context.close()


def open_widget(page):
    page.locator(".cd-launch").click()
    page.locator(".cd-panel").wait_for(state="visible")


QUESTION = "Hi, I have a question about an order"


def start_chat(page, name: str = "Ona", question: str = QUESTION) -> None:
    """The pre-chat form, sent; the chat starts with the question as its first message."""
    open_widget(page)
    page.locator("#cd-name").fill(name)
    page.locator("#cd-email").fill("ona@example.com")
    page.locator("#cd-topic").select_option(label="Orders and delivery")
    page.locator("#cd-question").fill(question)
    page.locator(".cd-prechat button[type=submit]").click()
    page.locator("#cd-input").wait_for(state="visible")


def send(page, text: str) -> None:
    page.locator("#cd-input").fill(text)
    page.locator("#cd-input").press("Enter")


def visitor_row(page, text: str):
    return page.locator(".cd-visitor", has=page.locator(".cd-bubble", has_text=text))


def wait_delivered(page, text: str) -> None:
    visitor_row(page, text).and_(page.locator("[data-status=delivered]")).wait_for()


def bubble_texts(page) -> list[str]:
    return page.locator(".cd-msgs .cd-row:not([data-local]) .cd-bubble").all_text_contents()


def reload_and_reopen(page) -> None:
    page.reload()
    panel = page.locator(".cd-panel")
    try:
        panel.wait_for(state="visible", timeout=3000)  # it was open before the reload
    except playwright_api.TimeoutError:
        open_widget(page)


def test_a_visitor_chats_and_finds_the_whole_history_after_a_reload(chatdesk_server, alice_online, new_page, tmp_path):
    page = new_page()
    page.goto(chatdesk_server.url + "/")
    start_chat(page)

    send(page, "Hello, where is my order SH-1042?")
    wait_delivered(page, "SH-1042")
    send(page, "It was due on Monday.")
    wait_delivered(page, "due on Monday")
    assert page.locator(".cd-pending .cd-row").count() == 0
    page.screenshot(path=str(tmp_path / "chat.png"))

    reload_and_reopen(page)
    page.locator(".cd-visitor[data-status=delivered]").nth(2).wait_for()
    assert bubble_texts(page) == [QUESTION, "Hello, where is my order SH-1042?", "It was due on Monday."]
    assert page.errors == []


def test_markup_in_a_message_is_shown_as_text_and_never_runs(chatdesk_server, alice_online, new_page):
    page = new_page()
    dialogs = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    page.goto(chatdesk_server.url + "/")
    start_chat(page, name='<b onmouseover="alert(2)">Eve</b>')

    send(page, XSS)
    wait_delivered(page, "onerror")
    bubble = visitor_row(page, "onerror").locator(".cd-bubble")
    assert bubble.text_content() == XSS
    assert bubble.locator("img").count() == 0
    reload_and_reopen(page)
    visitor_row(page, "onerror").wait_for()
    assert page.locator(".cd-panel img").count() == 0
    page.wait_for_timeout(300)
    assert dialogs == []


def test_the_widget_speaks_lithuanian_to_a_lithuanian_browser(chatdesk_server, alice_online, new_page):
    page = new_page(locale="lt-LT")
    page.goto(chatdesk_server.url + "/")
    assert page.locator(".cd-launch").get_attribute("aria-label") == "Atidaryti pokalbį"
    open_widget(page)
    page.locator(".cd-prechat").wait_for(state="visible")
    assert page.locator(".cd-prechat button[type=submit]").text_content() == "Pradėti pokalbį"
    assert page.locator("label[for=cd-name]").text_content() == "Jūsų vardas"
    assert page.locator("#cd-topic option").first.text_content() == "Pasirinkite temą"


def test_the_widget_speaks_simplified_chinese_to_a_chinese_browser(chatdesk_server, alice_online, new_page):
    page = new_page(locale="zh-CN")
    page.goto(chatdesk_server.url + "/")
    open_widget(page)
    page.locator(".cd-prechat").wait_for(state="visible")
    assert page.locator(".cd-prechat button[type=submit]").text_content() == "开始聊天"


class FlakyLine:
    """Sits between the page and the server on the widget socket and breaks it on request.

    Playwright calls these handlers on the test's thread while the test waits on the page.
    """

    def __init__(self):
        self.mode = None  # None, "lose_next_message", "lose_next_ack" or "refuse"
        self.sockets = 0
        self.sent_to_server = []
        self.current = None

    def cut(self) -> None:
        page_side, server_side = self.current
        page_side.close(code=1011, reason="cut by the test")
        server_side.close()

    def route(self, page_side):
        self.sockets += 1
        if self.mode == "refuse":
            page_side.close(code=1011, reason="refused by the test")
            return
        server_side = page_side.connect_to_server()
        self.current = (page_side, server_side)

        def from_page(message):
            frame = json.loads(message)
            if frame.get("type") == "message" and self.mode == "lose_next_message":
                self.mode = None
                self.cut()
                return
            self.sent_to_server.append(frame)
            server_side.send(message)

        def from_server(message):
            frame = json.loads(message)
            if frame.get("type") == "ack" and self.mode == "lose_next_ack":
                # The server has stored the message; the widget never hears so.
                self.mode = None
                self.cut()
                return
            page_side.send(message)

        page_side.on_message(from_page)
        server_side.on_message(from_server)


def test_messages_survive_a_dropped_connection_and_arrive_exactly_once(chatdesk_server, alice_online, new_page):
    page = new_page()
    line = FlakyLine()
    page.route_web_socket("**/ws/widget/**", line.route)
    page.goto(chatdesk_server.url + "/")
    start_chat(page)

    # 1. The message frame is lost before the server sees it; the widget resends it on reconnect.
    line.mode = "lose_next_message"
    send(page, "first: lost on the way")
    wait_delivered(page, "first: lost on the way")

    # 2. The server stores the message but the ack is lost. The replay after the reconnect carries
    #    the stored copy with its client_id, which settles the outbox entry: no second copy.
    line.mode = "lose_next_ack"
    send(page, "second: ack lost")
    wait_delivered(page, "second: ack lost")
    copies = [f for f in line.sent_to_server if f.get("type") == "message" and f["text"] == "second: ack lost"]
    assert len(copies) == 1

    # 3. Written while the server cannot be reached at all: it waits in the outbox, then goes.
    line.mode = "refuse"
    line.cut()
    page.locator(".cd-status").wait_for(state="visible")
    send(page, "third: typed while offline")
    assert visitor_row(page, "third: typed while offline").get_attribute("data-status") == "sending"
    page.wait_for_timeout(1500)  # a few refused reconnects
    assert visitor_row(page, "third: typed while offline").get_attribute("data-status") == "sending"
    line.mode = None
    wait_delivered(page, "third: typed while offline")

    reload_and_reopen(page)
    page.locator(".cd-visitor[data-status=delivered]").nth(3).wait_for()
    assert bubble_texts(page) == [QUESTION, "first: lost on the way", "second: ack lost", "third: typed while offline"]


def test_the_offline_form_is_shown_when_nobody_can_chat(chatdesk_server, alice_online, new_page):
    set_agent_status(chatdesk_server, "alice", "offline")
    try:
        leave_an_offline_message(new_page(), chatdesk_server)
    finally:
        set_agent_status(chatdesk_server, "alice", "online")


def leave_an_offline_message(page, chatdesk_server):
    page.goto(chatdesk_server.url + "/")
    open_widget(page)
    page.locator(".cd-offline").wait_for(state="visible")
    page.locator("#cd-oname").fill("Jonas")
    page.locator("#cd-oemail").fill("jonas@example.com")
    page.locator("#cd-otext").fill("Do you ship to Latvia?")
    page.locator(".cd-offline button[type=submit]").click()
    page.locator(".cd-thanks").wait_for(state="visible")


def test_the_launcher_stays_and_says_so_when_the_server_is_unreachable(chatdesk_server, new_page):
    page = new_page()
    page.route("**/static/widget/app.js*", lambda route: route.abort())
    page.goto(chatdesk_server.url + "/")
    assert page.evaluate("() => typeof window.chatdesk") == "function"
    page.locator(".cd-launch").click()
    page.locator(".cd-tip").wait_for(state="visible")
    assert page.locator(".cd-tip").text_content() == "Can't connect. Retrying…"
    # The page itself is untouched: its own buttons still work and no error escaped.
    assert page.locator("button", has_text="Add to basket").first.is_visible()
    assert page.errors == []
