"""Reports and the wallboard in a real browser, on a live server with some finished chats.

Sam (a supervisor) opens /reports/: the cards and the agents table show what the metrics API
returns for the same filters, the table sorts, the CSV links download. Then he opens the
wallboard, and a visitor starting a chat on the demo shop shows up on it without a reload.
"""

import math
import re
from decimal import ROUND_HALF_UP, Decimal
from urllib.parse import parse_qs

import pytest

from tests.servers import shell

pytestmark = pytest.mark.browser

playwright_api = pytest.importorskip("playwright.sync_api")
expect = playwright_api.expect
CHROMIUM = "/usr/bin/chromium"
PASSWORD = "demo-pass-123"

# Finished chats for the reports: (agent, visitor, tag, resolved); then one visitor who gives up.
SEED = """
from routing import dispatch
dispatch.route_waiting = lambda *args, **kwargs: None  # this script places every chat itself
from agents.models import Agent
from agents.presence import set_agent_status
from conversations import lifecycle
from conversations.lifecycle import Actor
from conversations.models import Conversation, Site, Tag, Visitor
site = Site.objects.order_by("id").first()
tags = {tag.name: tag for tag in Tag.objects.filter(site=site)}
for conversation in Conversation.objects.filter(status__in=Conversation.OPEN_STATUSES):
    lifecycle.close_conversation(conversation_id=conversation.pk, actor=Actor.system())
for username, name, tag, resolved in [("alice", "Rita Report", "order-status", True),
                                      ("alice", "Saule Report", "refund", True),
                                      ("bob", "Tomas Report", "bug", False)]:
    agent = Agent.objects.get(user__username=username)
    set_agent_status(agent, "online")
    visitor = Visitor.objects.create(site=site, name=name)
    chat, _ = lifecycle.start_conversation(site=site, visitor=visitor, name=name)
    lifecycle.post_message(conversation_id=chat.pk, actor=Actor.visitor(), text="Hello", client_id=f"v{chat.pk}")
    lifecycle.assign_conversation(conversation_id=chat.pk, agent=agent, actor=Actor.system())
    lifecycle.accept_conversation(conversation_id=chat.pk, agent=agent)
    lifecycle.post_message(conversation_id=chat.pk, actor=Actor.of_agent(agent), text="Hi!", client_id=f"a{chat.pk}")
    lifecycle.close_with_wrapup(conversation_id=chat.pk, actor=Actor.of_agent(agent), resolved=resolved,
                                tags=[tags[tag]])
visitor = Visitor.objects.create(site=site, name="Uma Report")
chat, _ = lifecycle.start_conversation(site=site, visitor=visitor, name="Uma Report")
lifecycle.close_conversation(conversation_id=chat.pk, actor=Actor.visitor())
for agent in Agent.objects.all():
    set_agent_status(agent, "offline")
"""


@pytest.fixture
def browser():
    with playwright_api.sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, headless=True)
        yield chromium
        chromium.close()


@pytest.fixture
def history(chatdesk_server):
    shell(chatdesk_server, SEED)
    yield
    shell(chatdesk_server, "from agents.models import Agent; from agents.presence import set_agent_status; "
                           "[set_agent_status(a, 'offline') for a in Agent.objects.all()]")


def new_page(browser, *, locale="en-GB", width=1440, height=900):
    context = browser.new_context(locale=locale, viewport={"width": width, "height": height})
    context.set_default_timeout(10_000)
    page = context.new_page()
    page.errors = []
    page.on("pageerror", lambda error: page.errors.append(str(error)))
    return page


def sign_in(page, server, username: str, url: str):
    page.goto(server.url + url)
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url("**" + url)
    return page


def pct(value) -> str:
    """As Intl.NumberFormat (en) shows a ratio: the exact value of the double, half away from zero."""
    if value is None:
        return "–"
    shown = (Decimal(value) * 100).quantize(Decimal("0.1"), rounding=ROUND_HALF_UP)
    return f"{shown.normalize():f}%"


def seconds(value) -> str:
    """As reports.js shows a duration: Math.round(v * 10) / 10 below a minute."""
    if value is None:
        return "–"
    if value < 60:
        return f"{math.floor(value * 10 + 0.5) / 10:g} s"
    total = round(value)
    return f"{total // 60} min {total % 60:02d} s"


def card(page, metric: str) -> str:
    return page.locator(f'[data-metric="{metric}"] .kpi-value').inner_text()


def test_a_supervisor_reads_the_reports_and_watches_the_wallboard_live(chatdesk_server, history, browser, tmp_path):
    server = chatdesk_server
    sam = sign_in(new_page(browser), server, "sam", "/reports/")
    expect(sam.locator("body[data-loaded]")).to_have_count(1)
    query = sam.evaluate("document.body.dataset.query")
    assert parse_qs(query)["granularity"] == ["day"]

    def api(endpoint):
        response = sam.request.get(f"{server.url}/api/metrics/{endpoint}/?{query}")
        assert response.ok
        return response.json()["rows"]

    # The cards: the API's summary for the same filters.
    summary = api("summary")[0]
    assert summary["chats"] >= 4 and summary["closed"] >= 3
    assert card(sam, "chats") == str(summary["chats"])
    assert card(sam, "service_level") == pct(summary["service_level"])
    assert card(sam, "first_response") == seconds(summary["first_response_seconds"]["median"])
    assert card(sam, "abandonment_rate") == pct(summary["abandonment_rate"])
    assert card(sam, "handle") == seconds(summary["handle_seconds"]["mean"])
    expect(sam.locator("#chart-volume svg")).to_be_visible()
    expect(sam.locator("#chart-sl svg")).to_be_visible()
    # The FRT distribution: one bar per band, the API's counts.
    bands = sam.locator("#frt-histogram li")
    assert bands.evaluate_all("els => els.map(e => [e.dataset.band, e.querySelector('.hist-count').textContent])") == [
        [band, str(n)] for band, n in summary["first_response_histogram"].items()]
    assert sum(summary["first_response_histogram"].values()) == summary["first_response_seconds"]["count"] > 0

    # The agents table: one row per agent of the API, with its numbers.
    agents = api("agents")
    table = sam.locator("#agents-table")
    assert table.locator("tbody tr").count() == len(agents)
    for row in agents:
        line = table.locator(f'tbody tr[data-id="{row["agent_id"]}"]')
        assert line.locator('[data-col="agent"]').inner_text() == row["agent"]
        assert line.locator('[data-col="chats"]').inner_text() == str(row["chats"])
        assert line.locator('[data-col="closed"]').inner_text() == str(row["closed"])
        assert line.locator('[data-col="service_level"]').inner_text().strip() == pct(row["service_level"])
    alice = next(row for row in agents if row["agent"] == "Alice")
    assert alice["closed"] >= 2

    # Sorting: by closed chats, most first; again, fewest first.
    closed_header = table.get_by_role("button", name="Closed")
    closed_header.click()
    expect(table.locator("thead th[aria-sort=descending]")).to_have_text("Closed")
    first = table.locator('tbody tr:first-child [data-col="closed"]').inner_text()
    assert int(first) == max(row["closed"] for row in agents)
    closed_header.click()
    expect(table.locator("thead th[aria-sort=ascending]")).to_have_text("Closed")

    # The tag breakdown and the CSV downloads.
    tags = {row["tag"]: row for row in api("tags")}
    for name in ("order-status", "refund", "bug"):
        expect(sam.locator(f'#tags [data-tag="{name}"] .hbar-value')).to_contain_text(pct(tags[name]["share_of_ended"]))
    csv_href = sam.get_by_role("link", name=re.compile("Download Agents as CSV")).get_attribute("href")
    assert "format=csv" in csv_href
    download = sam.request.get(server.url + csv_href)
    assert download.headers["content-type"].startswith("text/csv")
    assert "Alice" in download.text()

    # Another range through the picker: today only, by hour; the cards follow the API again.
    sam.get_by_role("button", name="Today", exact=True).click()
    expect(sam.locator("#f-granularity")).to_have_value("hour")
    sam.wait_for_function("() => document.body.dataset.query.includes('granularity=hour')")
    expect(sam.locator("body[data-loaded='2']")).to_have_count(1)
    query = sam.evaluate("document.body.dataset.query")
    assert card(sam, "chats") == str(api("summary")[0]["chats"])
    sam.screenshot(path=str(tmp_path / "reports.png"), full_page=True)
    assert sam.errors == []

    # The wallboard: live over its socket.
    shell(server, "from agents.models import Agent; from agents.presence import set_agent_status; "
                  "set_agent_status(Agent.objects.get(user__username='alice'), 'online')")
    sam.get_by_role("link", name="Wallboard").click()
    sam.wait_for_url("**/reports/wallboard/")
    expect(sam.locator("#live")).to_have_text("Live")
    expect(sam.locator('[data-metric="agents_online"] .kpi-value')).to_have_text("1")
    before_today = int(card(sam, "chats_today"))
    before_open = int(card(sam, "waiting")) + int(card(sam, "in_progress"))
    snapshots = int(sam.evaluate("document.body.dataset.snapshots"))

    visitor = new_page(browser, width=1200, height=800)
    visitor.goto(server.url + "/")
    visitor.locator(".cd-launch").click()
    visitor.locator("#cd-name").fill("Vera Wallboard")
    visitor.locator("#cd-email").fill("vera@example.com")
    visitor.locator("#cd-topic").select_option(label="Orders and delivery")
    visitor.locator("#cd-question").fill("Hello, is anyone there?")
    visitor.locator(".cd-prechat button[type=submit]").click()

    expect(sam.locator('[data-metric="chats_today"] .kpi-value')).to_have_text(str(before_today + 1))
    sam.wait_for_function(f"() => +document.body.dataset.snapshots > {snapshots}")
    assert int(card(sam, "waiting")) + int(card(sam, "in_progress")) == before_open + 1
    sam.screenshot(path=str(tmp_path / "wallboard.png"), full_page=True)
    assert sam.errors == []

    # The same reports in Lithuanian, from the browser's language.
    context = browser.new_context(locale="lt-LT", viewport={"width": 1440, "height": 900},
                                  storage_state=sam.context.storage_state())
    lithuanian = context.new_page()
    lithuanian.goto(server.url + "/reports/")
    expect(lithuanian.get_by_role("heading", name="Aptarnavimo ataskaitos")).to_be_visible()
    expect(lithuanian.locator("body[data-loaded]")).to_have_count(1)
    expect(lithuanian.locator('[data-metric="service_level"] .kpi-label')).to_have_text("Aptarnavimo lygis")
    lithuanian.screenshot(path=str(tmp_path / "reports-lt.png"), full_page=True)
