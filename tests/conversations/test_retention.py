"""Visitors who never chatted are pruned after the retention period; their widget loads and goals
stay, so past engagement and conversion keep their figures."""

from datetime import timedelta

import pytest
from django.utils import timezone

from conversations import lifecycle, retention
from conversations.models import Visitor
from metrics import goals
from metrics.conversion import load_engagement
from metrics.models import VisitorGoal, WidgetLoad
from tests.personas import make_site, make_visitor

pytestmark = pytest.mark.django_db


def seen_days_ago(visitor, days: int):
    Visitor.objects.filter(pk=visitor.pk).update(last_seen_at=timezone.now() - timedelta(days=days))


def test_only_visitors_past_retention_who_never_chatted_are_pruned(settings):
    site = make_site()
    settings.VISITOR_RETENTION_DAYS = 30
    idle_old, idle_recent, chatted_old, left_a_message_old = (make_visitor(site, name) for name in
                                                               ["idle old", "idle recent", "chatted", "message"])
    lifecycle.start_conversation(site=site, visitor=chatted_old, name="Chatted", text="hi", client_id="c")
    lifecycle.leave_offline_message(site=site, visitor=left_a_message_old, name="M", email="m@example.com",
                                    text="call me", client_id="o")
    for visitor in (idle_old, chatted_old, left_a_message_old):
        seen_days_ago(visitor, 31)
    seen_days_ago(idle_recent, 29)

    assert retention.prune_visitors(batch=1) == 1
    assert set(Visitor.objects.values_list("name", flat=True)) == {"idle recent", "Chatted", "M"}
    assert retention.prune_visitors() == 0


def test_past_engagement_is_the_same_after_pruning(settings):
    site = make_site()
    settings.VISITOR_RETENTION_DAYS = 30
    visitors = [make_visitor(site, f"v{number}") for number in range(4)]
    for visitor in visitors:
        goals.record_widget_load(site=site, visitor=visitor, new_visit=True)
    goals.record_goal(site=site, visitor=visitors[0], client_id="g", name="signup", value=None)
    lifecycle.start_conversation(site=site, visitor=visitors[3], name="Chatty", text="hi", client_id="c")
    window = (timezone.now() - timedelta(days=1), timezone.now() + timedelta(days=1))

    def figures():
        loads, starts = load_engagement(*window, site_id=site.pk)
        return sorted(loads), sorted(starts)

    before = figures()
    for visitor in visitors:
        seen_days_ago(visitor, 31)
    assert retention.prune_visitors() == 3
    assert figures() == before
    assert WidgetLoad.objects.count() == 4 and VisitorGoal.objects.count() == 1
