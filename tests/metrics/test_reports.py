"""Reports read settled days from the daily rollup and give the numbers of the live computation."""

from datetime import date, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.contrib.auth import get_user_model
from rest_framework.test import APIClient

from metrics import compute, reports, rollup, selectors
from tests.metrics import golden

pytestmark = pytest.mark.django_db
DAY = date(2026, 3, 2)
UTC = ZoneInfo("UTC")
# Two days either side of the golden day; only the middle three get rollup rows below.
RANGE = {"from": "2026-02-28", "to": "2026-03-04", "tz": "UTC"}
ENDPOINTS = ["summary", "agents", "departments", "tags", "timeseries"]


@pytest.fixture(autouse=True)
def server_zone_utc(settings):
    settings.TIME_ZONE = "UTC"


@pytest.fixture
def admin(db):
    return get_user_model().objects.create_user("root", password="pw", is_staff=True)


def roll_up(*days: date, as_of=golden.AS_OF) -> None:
    for day in days:
        rollup.rollup_day(day, as_of=as_of)


def query(**fields) -> selectors.Query:
    return selectors.Query(**{"first_day": DAY - timedelta(days=2), "last_day": DAY + timedelta(days=2), "tz": UTC,
                              **fields})


def test_a_report_over_rolled_up_and_other_days_equals_the_live_computation(golden_day):
    roll_up(DAY - timedelta(days=1), DAY, DAY + timedelta(days=1))
    assert reports.settled_days(query(), as_of=golden.AS_OF) == {DAY - timedelta(days=1), DAY, DAY + timedelta(days=1)}
    for scopes in (compute.SCOPES, (compute.AGENT,), (compute.TOTAL, compute.TAG)):
        assert (reports.compute_tallies(query(), as_of=golden.AS_OF, scopes=scopes)
                == selectors.compute_tallies(query(), as_of=golden.AS_OF, scopes=scopes))


def test_a_fully_rolled_up_range_does_not_read_the_events(golden_day, monkeypatch):
    roll_up(DAY)
    expected = selectors.compute_tallies(query(first_day=DAY, last_day=DAY), as_of=golden.AS_OF)

    def no_events(*args, **kwargs):
        raise AssertionError("the events were read")

    monkeypatch.setattr(selectors, "load", no_events)
    assert reports.compute_tallies(query(first_day=DAY, last_day=DAY), as_of=golden.AS_OF) == expected


def test_days_rolled_up_before_their_fcr_window_passed_come_from_the_events(golden_day):
    roll_up(DAY, as_of=golden.DAY + timedelta(days=3))  # the day's first-contact windows still open
    assert reports.settled_days(query(), as_of=golden.AS_OF) == set()
    roll_up(DAY)
    assert reports.settled_days(query(), as_of=golden.DAY + timedelta(days=3)) == set()


@pytest.mark.parametrize("fields", [{"granularity": "week"}, {"granularity": "hour"}, {"tz": ZoneInfo("Europe/Vilnius")},
                                    {"site_id": 1}, {"department_id": 1}, {"tag_id": 1}])
def test_weeks_other_zones_and_filters_are_computed_from_the_events(fields):
    assert not reports.rollups_apply(query(**fields))
    assert reports.rollups_apply(query())


@pytest.mark.parametrize("endpoint", ENDPOINTS)
def test_the_api_answers_the_same_from_rollups_as_from_the_events(admin, golden_day, endpoint):
    client = APIClient()
    client.force_authenticate(admin)
    live = client.get(f"/api/metrics/{endpoint}/", RANGE).json()
    roll_up(DAY - timedelta(days=1), DAY, DAY + timedelta(days=1), as_of=None)  # now: long settled
    from_rollups = client.get(f"/api/metrics/{endpoint}/", RANGE).json()
    assert from_rollups == live
    assert from_rollups["rows"]
