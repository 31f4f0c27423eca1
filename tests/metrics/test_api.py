"""The metrics REST API: who sees what, bad input, CSV, and the golden day's numbers over HTTP."""

import csv
import io

import pytest
from django.contrib.auth import get_user_model
from rest_framework.test import APIClient


pytestmark = pytest.mark.django_db
ENDPOINTS = ["summary", "agents", "departments", "tags", "timeseries"]
AGENT_ENDPOINTS = ["summary", "agents", "timeseries"]
TEAM_ENDPOINTS = ["departments", "tags"]
GOLDEN = {"from": "2026-03-02", "to": "2026-03-02", "tz": "UTC"}


def client_for(user=None) -> APIClient:
    client = APIClient()
    if user is not None:
        client.force_authenticate(user)
    return client


@pytest.fixture
def admin(db):
    return get_user_model().objects.create_user("root", password="pw", is_staff=True)


def get(client, endpoint, **params):
    return client.get(f"/api/metrics/{endpoint}/", {**GOLDEN, **params})


@pytest.mark.parametrize("endpoint", ENDPOINTS)
def test_admins_see_every_endpoint(admin, golden_day, endpoint):
    assert get(client_for(admin), endpoint).status_code == 200


@pytest.mark.parametrize("endpoint", ENDPOINTS)
def test_supervisors_see_every_endpoint(supervisor, golden_day, endpoint):
    response = get(client_for(supervisor.user), endpoint, agent=golden_day["bob"])
    assert response.status_code == 200


@pytest.mark.parametrize("endpoint", ENDPOINTS)
def test_anonymous_visitors_are_refused(golden_day, endpoint):
    assert get(client_for(), endpoint).status_code == 403


@pytest.mark.parametrize("endpoint", ENDPOINTS)
def test_a_signed_in_user_who_is_no_agent_is_refused(db, endpoint):
    user = get_user_model().objects.create_user("mallory", password="pw")
    assert get(client_for(user), endpoint).status_code == 403


@pytest.mark.parametrize("endpoint", AGENT_ENDPOINTS)
def test_an_agent_sees_their_own_numbers_even_without_asking(golden_day, endpoint):
    from agents.models import Agent

    alice = Agent.objects.get(pk=golden_day["alice"])
    for params in ({}, {"agent": alice.pk}):
        response = get(client_for(alice.user), endpoint, **params)
        assert response.status_code == 200
        assert response.json()["filters"]["agent"] == alice.pk


@pytest.mark.parametrize("endpoint", AGENT_ENDPOINTS)
def test_an_agent_asking_for_another_agents_numbers_is_refused(golden_day, endpoint):
    from agents.models import Agent

    alice = Agent.objects.get(pk=golden_day["alice"])
    response = get(client_for(alice.user), endpoint, agent=golden_day["bob"])
    assert response.status_code == 403
    assert response.json()["detail"] == "agents see only their own numbers"


@pytest.mark.parametrize("endpoint", TEAM_ENDPOINTS)
def test_an_agent_does_not_see_team_breakdowns(golden_day, endpoint):
    from agents.models import Agent

    alice = Agent.objects.get(pk=golden_day["alice"])
    assert get(client_for(alice.user), endpoint).status_code == 403


def test_an_agents_summary_is_their_golden_row(golden_day):
    from agents.models import Agent

    alice = Agent.objects.get(pk=golden_day["alice"])
    row = get(client_for(alice.user), "summary").json()["rows"][0]
    # tests/metrics/test_compute.py::test_the_golden_day_for_alice_who_handed_chat_a_to_bob
    assert (row["chats"], row["closed"], row["transferred_chats"], row["occupancy"]) == (3, 2, 1, 0.0316)


def test_the_summary_gives_the_golden_day_totals(admin, golden_day):
    body = get(client_for(admin), "summary").json()
    assert body["filters"] == {"from": "2026-03-02", "to": "2026-03-02", "tz": "UTC", "granularity": "day",
                               "agent": None, "department": None, "tag": None, "site": None}
    row = body["rows"][0]
    # tests/metrics/test_compute.py::test_the_golden_day_in_total
    assert (row["chats"], row["service_level"], row["abandonment_rate"], row["canned_share"]) == (6, 0.4, 0.2, 0.25)
    assert row["first_response_seconds"] == {"count": 3, "mean": 25.0, "median": 20.0, "p90": 40.0}


def test_per_agent_department_and_tag_rows(admin, golden_day):
    client = client_for(admin)
    agents = {r["agent"]: r["closed"] for r in get(client, "agents").json()["rows"]}
    assert agents == {"Alice": 2, "Bob": 1}
    departments = {r["department"]: r["chats"] for r in get(client, "departments").json()["rows"]}
    assert departments == {"Sales": 3, "(none)": 3}
    tags = get(client, "tags").json()["rows"]
    assert [(t["tag"], t["ended"], t["share_of_ended"]) for t in tags] == [("billing", 2, 0.3333)]  # 2 of 6 ended


def test_filters_narrow_the_chats(admin, golden_day):
    client = client_for(admin)
    assert get(client, "summary", department=golden_day["sales"]).json()["rows"][0]["chats"] == 3  # A B E
    assert get(client, "summary", tag=golden_day["billing"]).json()["rows"][0]["closed"] == 2  # A F
    assert get(client, "summary", site=golden_day["acme"]).json()["rows"][0]["chats"] == 6


def test_the_timeseries_lists_every_period_in_the_time_zone(admin, golden_day):
    rows = get(client_for(admin), "timeseries", granularity="hour", tz="Europe/Vilnius").json()["rows"]
    assert len(rows) == 24 and rows[0]["period"] == "2026-03-02T00:00+0200"
    ended = {r["period"][11:16]: r["ended"] for r in rows if r["ended"]}
    assert ended == {"12:00": 1, "13:00": 2, "14:00": 2, "15:00": 1}  # the UTC hours 10-13, two hours later


def test_csv_export_has_a_header_and_one_line_per_row(admin, golden_day):
    response = get(client_for(admin), "agents", format="csv")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    assert 'filename="metrics-agents-2026-03-02-2026-03-02.csv"' in response["Content-Disposition"]
    lines = list(csv.DictReader(io.StringIO(response.content.decode())))
    assert [(line["agent"], line["handle_seconds_mean"]) for line in lines] == [("Alice", "306.0"), ("Bob", "265.0")]


@pytest.mark.parametrize("params, field", [
    ({"from": "2026-13-01"}, "from"),
    ({"from": "2026-03-05", "to": "2026-03-01"}, "from"),
    ({"from": "2025-01-01", "to": "2026-03-01"}, "to"),
    ({"tz": "Mars/Olympus_Mons"}, "tz"),
    ({"granularity": "fortnight"}, "granularity"),
    ({"granularity": "hour", "from": "2026-01-01", "to": "2026-03-01"}, "granularity"),
    ({"agent": "alice"}, "agent"),
    ({"agent": "999999"}, "agent"),
    ({"department": "0"}, "department"),
    ({"tag": "999999"}, "tag"),
    ({"site": "-1"}, "site"),
    ({"format": "xml"}, "format"),  # DRF's own answer was a 404
])
@pytest.mark.parametrize("endpoint", ENDPOINTS)
def test_bad_input_is_a_400_naming_the_field(admin, endpoint, params, field):
    response = get(client_for(admin), endpoint, **params)
    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "invalid_field" and field in body["fields"]


def test_bad_input_in_a_csv_request_is_a_400_too_with_the_json_error_body(admin):
    response = get(client_for(admin), "summary", format="csv", tz="Nowhere")
    assert response.status_code == 400
    assert response["Content-Type"] == "application/json" and response.json()["code"] == "invalid_field"


def test_options_describe_the_endpoint_in_json_even_when_csv_was_asked_for(admin):
    response = client_for(admin).options("/api/metrics/summary/?format=csv")  # was a 500: no rows to write
    assert response.status_code == 200 and response["Content-Type"] == "application/json"
    assert response.json()["renders"] == ["application/json", "text/csv"]


def test_the_schema_documents_every_endpoint_and_filter(admin):
    schema = client_for(admin).get("/api/schema/", {"format": "json"}).json()
    for endpoint in ENDPOINTS:
        operation = schema["paths"][f"/api/metrics/{endpoint}/"]["get"]
        names = {p["name"] for p in operation["parameters"]}
        assert {"from", "to", "tz", "granularity", "agent", "department", "tag", "site"} <= names
        assert all(p["allowEmptyValue"] for p in operation["parameters"])


def test_an_empty_filter_is_the_same_as_none(admin, golden_day):
    empty = {name: "" for name in ("from", "to", "tz", "granularity", "agent", "department", "tag", "site", "format")}
    response = client_for(admin).get("/api/metrics/summary/", empty)
    assert response.status_code == 200
    assert response.json() == client_for(admin).get("/api/metrics/summary/").json()


def test_defaults_are_the_last_seven_days(admin):
    body = client_for(admin).get("/api/metrics/timeseries/").json()
    assert len(body["rows"]) == 7 and body["filters"]["granularity"] == "day"
