"""The post-chat rating and the transcript button in a real browser (see test_browser.py)."""

import pytest

from tests.servers import manage
from tests.widget.test_browser import alice_online, chromium, new_page, reload_and_reopen, start_chat  # noqa: F401

pytestmark = pytest.mark.browser


def stored_ratings(server) -> str:
    return manage(server.env, "shell", "-c", (
        "from surveys.models import SurveyResponse\n"
        "print(list(SurveyResponse.objects.filter(conversation__visitor__email='ona@example.com')"
        ".values_list('csat', 'comment', 'channel')))\n"
    )).strip().splitlines()[-1]


def test_a_visitor_rates_the_ended_chat_and_asks_for_the_transcript(chatdesk_server, alice_online, new_page):
    page = new_page()
    page.goto(chatdesk_server.url + "/")
    start_chat(page)
    page.locator(".cd-end").click()

    form = page.locator(".cd-rate")
    form.wait_for(state="visible")
    assert page.locator(".cd-scale-field").nth(1).is_hidden()  # the demo site asks no NPS
    form.locator("button[type=submit]").click()
    page.get_by_text("Please choose a rating.").wait_for()
    form.locator('label:has(input[name="cd-csat"][value="4"])').click()
    page.locator("#cd-comment").fill("Fast <b>help</b>")
    form.locator("button[type=submit]").click()
    page.get_by_text("Thank you for your feedback!").wait_for()

    page.locator(".cd-transcript button").click()
    page.get_by_text("We sent the transcript to ona@example.com.").wait_for()

    reload_and_reopen(page)
    page.get_by_text("Thank you for your feedback!").wait_for()
    assert form.is_hidden()
    assert stored_ratings(chatdesk_server) == "[(4, 'Fast <b>help</b>', 'widget')]"
    assert page.errors == []
