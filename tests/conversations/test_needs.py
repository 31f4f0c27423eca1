"""A new chat needs the skills of its topic, site, page and language, and the priority of its page."""

import pytest

from agents.models import Skill
from conversations import lifecycle
from conversations.models import PageRule
from conversations.needs import chat_needs, language_matches
from tests.personas import make_site, make_topic, make_visitor

pytestmark = pytest.mark.django_db


@pytest.fixture
def acme():
    return make_site()


def skill(slug, language=""):
    return Skill.objects.create(slug=slug, name=slug, language=language)


def slugs(skill_ids):
    return sorted(Skill.objects.filter(pk__in=skill_ids).values_list("slug", flat=True))


@pytest.mark.parametrize("skill_language, visitor_language, expected", [
    ("lt", "lt", True), ("lt", "lt-LT", True), ("LT", "lt-lt", True), ("zh", "zh-CN", True),
    ("lt", "lv", False), ("zh", "zhx", False), ("en-GB", "en", False),
])
def test_a_language_skill_matches_the_language_and_its_regions(skill_language, visitor_language, expected):
    assert language_matches(skill_language, visitor_language) is expected


def test_a_chat_needs_its_topics_skills_only_when_nothing_else_applies(acme):
    topic = make_topic(acme, "Orders", "orders")
    skill("lithuanian", language="lt")
    assert chat_needs(site=acme, topic=topic, page_url="https://shop.acme.test/", language="en-US") == (
        set(topic.skills.values_list("id", flat=True)), 0)


def test_site_page_and_language_skills_add_up_and_the_page_sets_the_priority(acme):
    topic = make_topic(acme, "Orders", "orders")
    acme.required_skills.add(skill("english"))
    checkout = PageRule.objects.create(site=acme, url_contains="/checkout", priority=5)
    checkout.skills.add(skill("payments"))
    PageRule.objects.create(site=acme, url_contains="/vip", priority=9)  # does not match
    skill("lithuanian", language="lt")
    skill_ids, priority = chat_needs(site=acme, topic=topic, page_url="https://shop.acme.test/checkout/step-2",
                                     language="lt-LT")
    assert slugs(skill_ids) == ["english", "lithuanian", "orders", "payments"]
    assert priority == 5


def test_a_requested_priority_is_kept_when_it_is_higher_than_the_pages(acme):
    PageRule.objects.create(site=acme, url_contains="/checkout", priority=1)
    assert chat_needs(site=acme, topic=None, page_url="/checkout", language="", priority=3) == (set(), 3)


def test_starting_a_chat_stores_what_it_needs_in_the_chat_and_its_queued_event(acme):
    rule = PageRule.objects.create(site=acme, url_contains="/checkout", priority=2)
    rule.skills.add(skill("payments"))
    conversation, _ = lifecycle.start_conversation(
        site=acme, visitor=make_visitor(acme), topic=make_topic(acme, "Orders", "orders"),
        context={"page_url": "https://shop.acme.test/checkout", "language": "en"},
    )
    assert slugs(conversation.required_skills.values_list("id", flat=True)) == ["orders", "payments"]
    assert conversation.priority == 2
    queued = conversation.events.get()
    assert slugs(queued.details["skill_ids"]) == ["orders", "payments"]
    assert queued.details["priority"] == 2
