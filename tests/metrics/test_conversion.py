"""Conversion rate and visitor engagement: the definitions worked by hand, and the API's rules."""

from datetime import datetime, timedelta, timezone as dt_timezone
from decimal import Decimal

import pytest
from django.contrib.auth import get_user_model
from rest_framework.test import APIClient

from metrics import compute, conversion

pytestmark = pytest.mark.django_db


def at(day, hour, minute=0):
    return datetime(2026, 3, day, hour, minute, tzinfo=dt_timezone.utc)


RANGE = {"from": "2026-03-02", "to": "2026-03-03", "tz": "UTC"}


@pytest.fixture
def shop(db):
    """Two days at Acme, worked out by hand in the tests below.

    Conversion (chats closed with an agent reply, goals up to 7 days after):
      Mon 2 March  A  Ann  09:00-09:10, Alice. Purchase 49.90 on 5 March, another of 20 on 6 March:
                                                converted, worth the first goal's 49.90.
                   B  Ben  10:00-10:20, Bob.   Purchase at 9 March 10:21, a minute past the window: not.
      Tue 3 March  C  Cy   08:00-08:05, missed (Alice never wrote): not a closed chat.
                   D  Cy   09:00-09:30, Alice. Cy's goal at 08:30, before the chat was queued: not.
                   E  Eve  14:00-14:30, Bob.   Signup (no value) at 14:10, during the chat: converted.
                   F  Dee  11:00, abandoned in the queue: not a closed chat.
    Engagement (widget loads; chats started):
      Mon  Ann hello 09:00 (new visit) + 09:05 (reconnect), starts A 09:00  -> engaged
           Ben hello 10:00 (new visit), starts B 10:00                      -> engaged
           Dee hello 23:59 (new visit), starts F on Tuesday 11:00           -> not engaged on Monday
      Tue  Cy  hello 07:55 (new visit), starts C and D                      -> engaged
           Eve hello 13:50 (new visit), starts E 14:00                      -> engaged
           Gus hello 15:00 (new visit), no chat                             -> not engaged
    """
    from conversations.models import Conversation, ConversationEvent
    from metrics.models import VisitorGoal, WidgetLoad
    from tests.personas import make_agent, make_site, make_visitor

    acme = make_site()
    alice, bob = make_agent("alice"), make_agent("bob")
    people = {name: make_visitor(acme, name) for name in ("Ann", "Ben", "Cy", "Dee", "Eve", "Gus")}
    chats = {
        # name: (visitor, queued, ended, outcome, agent)
        "A": ("Ann", at(2, 9), at(2, 9, 10), "closed", alice),
        "B": ("Ben", at(2, 10), at(2, 10, 20), "closed", bob),
        "C": ("Cy", at(3, 8), at(3, 8, 5), "missed", alice),
        "D": ("Cy", at(3, 9), at(3, 9, 30), "closed", alice),
        "E": ("Eve", at(3, 14), at(3, 14, 30), "closed", bob),
        "F": ("Dee", at(3, 11), at(3, 11, 2), "abandoned", None),
    }
    events = []
    for visitor, queued, ended, outcome, agent in chats.values():
        chat = Conversation.objects.create(site=acme, visitor=people[visitor], status=outcome)
        events.append(ConversationEvent(conversation=chat, kind="queued", at=queued, actor="visitor"))
        events.append(ConversationEvent(conversation=chat, kind=outcome, at=ended, actor="agent" if agent else "visitor",
                                        details={"agent_id": agent.pk if agent else None}))
    ConversationEvent.objects.bulk_create(events)
    goals = [("Ann", at(5, 12), "purchase", "49.90"), ("Ann", at(6, 12), "purchase", "20"),
             ("Ben", at(9, 10, 21), "purchase", "15"), ("Cy", at(3, 8, 30), "purchase", "10"),
             ("Eve", at(3, 14, 10), "signup", None)]
    VisitorGoal.objects.bulk_create([
        VisitorGoal(site=acme, visitor=people[v], client_id=f"g{i}", name=name, value=value and Decimal(value), at=when)
        for i, (v, when, name, value) in enumerate(goals)])
    loads = [("Ann", at(2, 9), True), ("Ann", at(2, 9, 5), False), ("Ben", at(2, 10), True),
             ("Dee", at(2, 23, 59), True), ("Cy", at(3, 7, 55), True), ("Eve", at(3, 13, 50), True),
             ("Gus", at(3, 15), True)]
    WidgetLoad.objects.bulk_create([WidgetLoad(site=acme, visitor=people[v], at=when, new_visit=new)
                                    for v, when, new in loads])
    return {"acme": acme, "alice": alice, "bob": bob}


def client_for(user=None):
    client = APIClient()
    if user is not None:
        client.force_authenticate(user)
    return client


@pytest.fixture
def admin(db):
    return get_user_model().objects.create_user("root", password="pw", is_staff=True)


# --- Conversion --------------------------------------------------------------------------------

def test_conversion_per_day_and_in_total_is_the_hand_worked_one(shop, admin):
    body = client_for(admin).get("/api/metrics/conversion/", RANGE).json()
    monday, tuesday = body["rows"]
    # Monday: A and B closed, A converted (49.90).
    assert (monday["period"], monday["closed_chats"], monday["conversion_eligible"], monday["converted_chats"],
            monday["conversion_rate"], monday["converted_value"]) == ("2026-03-02", 2, 2, 1, 0.5, "49.90")
    # Tuesday: D and E closed (C missed, F abandoned), E converted with a goal of no value.
    assert (tuesday["closed_chats"], tuesday["converted_chats"], tuesday["conversion_rate"],
            tuesday["converted_value"]) == (2, 1, 0.5, "0.00")
    assert body["total"] == {"closed_chats": 4, "conversion_eligible": 4, "converted_chats": 2,
                             "conversion_pending": 0, "conversion_rate": 0.5, "converted_value": "49.90"}


def test_conversion_to_one_goal_counts_only_that_goal(shop, admin):
    body = client_for(admin).get("/api/metrics/conversion/", {**RANGE, "goal": "purchase"}).json()
    # Only A converts to a purchase: 1 of 4.
    assert (body["total"]["converted_chats"], body["total"]["conversion_rate"]) == (1, 0.25)


def test_conversion_of_one_agent_counts_the_chats_they_closed(shop, admin):
    body = client_for(admin).get("/api/metrics/conversion/", {**RANGE, "agent": shop["alice"].pk}).json()
    # Alice closed A (converted) and D (not); C was missed.
    assert (body["total"]["closed_chats"], body["total"]["converted_chats"], body["total"]["conversion_rate"]) == (
        2, 1, 0.5)


def test_a_chat_whose_window_is_open_is_pending_not_counted():
    chat = conversion.ClosedChat(1, 7, at(2, 9), at(2, 9, 10), None)
    buckets = compute.periods(at(2, 0).date(), at(2, 0).date(), "day", dt_timezone.utc)
    goal = conversion.Goal(7, at(3, 9), "purchase")
    early = conversion.conversion([chat], [goal], buckets=buckets, as_of=at(2, 9, 10) + timedelta(days=6))[0]
    assert (early.closed_chats, early.pending, early.eligible, early.converted) == (1, 1, 0, 0)
    final = conversion.conversion([chat], [goal], buckets=buckets, as_of=at(2, 9, 10) + timedelta(days=7))[0]
    assert (final.pending, final.eligible, final.converted) == (0, 1, 1)


def test_a_goal_exactly_seven_days_after_the_end_still_counts():
    chat = conversion.ClosedChat(1, 7, at(2, 9), at(2, 9, 10), None)
    buckets = compute.periods(at(2, 0).date(), at(2, 0).date(), "day", dt_timezone.utc)
    on_the_edge = conversion.Goal(7, at(9, 9, 10), "purchase")
    tally = conversion.conversion([chat], [on_the_edge], buckets=buckets, as_of=at(20, 0))[0]
    assert tally.converted == 1


# --- Engagement ----------------------------------------------------------------------------------

def test_engagement_per_day_and_in_total_is_the_hand_worked_one(shop, admin):
    body = client_for(admin).get("/api/metrics/engagement/", RANGE).json()
    monday, tuesday = body["rows"]
    # Monday: Ann, Ben, Dee connected (3 new visits); Ann and Ben started chats: 2/3. 2 chats.
    assert monday == {"period": "2026-03-02", "start": "2026-03-02T00:00:00+00:00",
                      "end": "2026-03-03T00:00:00+00:00", "visitors": 3, "engaged_visitors": 2,
                      "engagement": 0.6667, "widget_loads": 3, "chats": 2, "chats_per_load": 0.6667}
    # Tuesday: Cy, Eve, Gus connected; Cy and Eve started chats (Dee's F too, but Dee connected
    # on Monday): 2/3. Chats C, D, E, F = 4 over 3 new visits.
    assert (tuesday["visitors"], tuesday["engaged_visitors"], tuesday["engagement"], tuesday["widget_loads"],
            tuesday["chats"], tuesday["chats_per_load"]) == (3, 2, 0.6667, 3, 4, 1.3333)
    # The range: 6 visitors, 4 engaged; 6 new visits, 6 chats.
    assert body["total"] == {"visitors": 6, "engaged_visitors": 4, "engagement": 0.6667, "widget_loads": 6,
                             "chats": 6, "chats_per_load": 1.0}


def test_engagement_follows_the_local_day(shop, admin):
    # In Vilnius (UTC+2 in March) Dee's 23:59 UTC hello and her 11:00 UTC chat are both on Tuesday.
    body = client_for(admin).get("/api/metrics/engagement/", {**RANGE, "tz": "Europe/Vilnius"}).json()
    tuesday = body["rows"][1]
    assert (tuesday["visitors"], tuesday["engaged_visitors"]) == (4, 3)


# --- Who may read ----------------------------------------------------------------------------------

@pytest.mark.parametrize("endpoint", ["conversion", "engagement"])
def test_admins_and_supervisors_see_both(shop, admin, supervisor, endpoint):
    for user in (admin, supervisor.user):
        assert client_for(user).get(f"/api/metrics/{endpoint}/", RANGE).status_code == 200


@pytest.mark.parametrize("endpoint", ["conversion", "engagement"])
def test_anonymous_visitors_and_users_who_are_no_agent_are_refused(shop, endpoint):
    mallory = get_user_model().objects.create_user("mallory", password="pw")
    for user in (None, mallory):
        assert client_for(user).get(f"/api/metrics/{endpoint}/", RANGE).status_code == 403


def test_an_agent_sees_the_conversion_of_their_own_chats_only(shop):
    alice = shop["alice"]
    body = client_for(alice.user).get("/api/metrics/conversion/", RANGE).json()
    assert body["filters"]["agent"] == alice.pk
    assert body["total"]["closed_chats"] == 2
    response = client_for(alice.user).get("/api/metrics/conversion/", {**RANGE, "agent": shop["bob"].pk})
    assert response.status_code == 403


def test_an_agent_does_not_see_engagement(shop):
    assert client_for(shop["alice"].user).get("/api/metrics/engagement/", RANGE).status_code == 403


@pytest.mark.parametrize("endpoint,params,field", [
    ("conversion", {"goal": "no spaces"}, "goal"), ("conversion", {"agent": 999}, "agent"),
    ("conversion", {"from": "2026-03-04", "to": "2026-03-03"}, "from"), ("engagement", {"tz": "Nowhere"}, "tz"),
    ("engagement", {"site": 999}, "site"), ("engagement", {"from": "2025-01-01", "to": "2026-03-03"}, "to"),
])
def test_bad_parameters_are_a_400_naming_the_field(shop, admin, endpoint, params, field):
    response = client_for(admin).get(f"/api/metrics/{endpoint}/", {**RANGE, **params})
    assert response.status_code == 400
    assert field in response.json()["fields"]
