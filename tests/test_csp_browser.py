"""The Content-Security-Policy in a real browser (chatdesk/csp.py): every page of chatdesk works under it
with no violation (the console, reports, wallboard, admin, survey, sign-in and the demo shop with the
widget's shadow-DOM panel), and a script slipped into a page does not run.

Sam is a supervisor, Admin the demo's Django admin; Vera Survey is a visitor whose chat has ended.
"""

import pytest

from tests.servers import shell

pytestmark = pytest.mark.browser

playwright_api = pytest.importorskip("playwright.sync_api")
expect = playwright_api.expect
CHROMIUM = "/usr/bin/chromium"
PASSWORD = "demo-pass-123"
# Every violation the page reports, also those of shadow roots (the event is composed).
WATCH_VIOLATIONS = """
window.__violations = [];
document.addEventListener("securitypolicyviolation",
                          e => window.__violations.push(`${e.effectiveDirective} ${e.blockedURI}`), true);
"""
ENDED_CHAT_TOKEN = """
from routing import dispatch
dispatch.route_waiting = lambda *args, **kwargs: None  # this script places the chat itself
from agents.models import Agent
from agents.presence import set_agent_status
from conversations import lifecycle
from conversations.lifecycle import Actor
from conversations.models import Site, Visitor
from surveys import mailing
site = Site.objects.order_by("id").first()
alice = Agent.objects.get(user__username="alice")
set_agent_status(alice, "online")
chat, _ = lifecycle.start_conversation(site=site, visitor=Visitor.objects.create(site=site, name="Vera Survey"))
lifecycle.assign_conversation(conversation_id=chat.pk, agent=alice, actor=Actor.system())
lifecycle.accept_conversation(conversation_id=chat.pk, agent=alice)
lifecycle.close_conversation(conversation_id=chat.pk, actor=Actor.of_agent(alice))
set_agent_status(alice, "offline")
print(mailing.survey_token(chat))
"""


@pytest.fixture
def browser():
    with playwright_api.sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, headless=True)
        yield chromium
        chromium.close()


def new_page(browser):
    context = browser.new_context(locale="en-GB", viewport={"width": 1400, "height": 900})
    context.set_default_timeout(10_000)
    context.add_init_script(WATCH_VIOLATIONS)
    page = context.new_page()
    page.errors = []
    page.on("pageerror", lambda error: page.errors.append(str(error)))
    page.on("console", lambda message: "Content Security Policy" in message.text and page.errors.append(message.text))
    return page


def open_page(page, url: str):
    response = page.goto(url)
    assert "script-src 'self'" in response.headers["content-security-policy"]
    return response


def sign_in(page, url: str, username: str, button: str) -> None:
    open_page(page, url)
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name=button).click()


def assert_no_violation(page) -> None:
    assert page.evaluate("window.__violations") == []
    assert page.errors == []


def test_the_console_reports_and_wallboard_run_under_the_policy(chatdesk_server, browser):
    page = new_page(browser)
    sign_in(page, chatdesk_server.url + "/console/", "sam", "Sign in")
    page.wait_for_url("**/console/")
    expect(page.locator("#conn")).to_be_hidden()  # the socket is welcomed
    open_page(page, chatdesk_server.url + "/reports/")
    expect(page.locator("body[data-loaded]")).to_have_count(1)
    open_page(page, chatdesk_server.url + "/reports/wallboard/")
    expect(page.locator("body[data-snapshots]")).to_have_count(1)
    assert_no_violation(page)


def test_the_admin_runs_under_the_policy(chatdesk_server, browser):
    page = new_page(browser)
    sign_in(page, chatdesk_server.url + "/admin/login/?next=/admin/", "admin", "Log in")
    page.wait_for_url("**/admin/")
    for path in ("/admin/agents/agent/", "/admin/agents/agent/add/", "/admin/conversations/conversation/"):
        open_page(page, chatdesk_server.url + path)
        page.wait_for_load_state("networkidle")
    assert_no_violation(page)


def test_the_demo_shop_shows_the_widget_panel_styled_in_its_shadow_root(chatdesk_server, browser):
    page = new_page(browser)
    response = open_page(page, chatdesk_server.url + "/")
    # As strict as every other page: the widget's styles pass by the nonce its loader tag carries.
    assert "unsafe-inline" not in response.headers["content-security-policy"].split("style-src-attr")[0]
    launcher = page.locator(".cd-launch")
    # The shadow root's own <style> applies: the launcher is the widget's blue circle.
    expect(launcher).to_have_css("background-color", "rgb(31, 94, 255)")
    launcher.click()
    expect(page.locator(".cd-panel")).to_be_visible()
    expect(page.locator(".cd-panel")).not_to_have_css("position", "static")
    assert_no_violation(page)


def test_the_survey_page_is_styled_by_its_own_nonced_style(chatdesk_server, browser):
    token = shell(chatdesk_server, ENDED_CHAT_TOKEN)
    page = new_page(browser)
    open_page(page, f"{chatdesk_server.url}/survey/{token}/")
    expect(page.locator("main")).to_have_css("border-radius", "14px")
    assert_no_violation(page)


def test_a_script_slipped_into_a_page_does_not_run(chatdesk_server, browser):
    page = new_page(browser)
    open_page(page, chatdesk_server.url + "/accounts/login/")
    page.evaluate("""() => {
        const script = document.createElement("script");
        script.textContent = "window.__ran = true";
        document.body.append(script);
        const style = document.createElement("style");
        style.textContent = "body { display: none }";
        document.head.append(style);
    }""")
    assert page.evaluate("window.__ran") is None
    expect(page.locator("body")).to_be_visible()
    assert sorted(v.split()[0] for v in page.evaluate("window.__violations")) == ["script-src-elem", "style-src-elem"]
