"""Input that once reached a 500 or an HTML error page now gets a specific 4xx: from the API always the
documented JSON Error body ({"code", "detail"}, chatdesk/api_errors.py), whatever format was asked for.

Ada is a Django admin and Alice an agent; Acme is a site.
"""

import json

import pytest
from django.conf import settings
from django.contrib.auth import get_user_model
from django.test import Client

from conversations import lifecycle
from surveys import mailing
from surveys.models import SurveyResponse
from tests.personas import make_agent, make_site, make_visitor

pytestmark = pytest.mark.django_db

DEEP_JSON = "[" * 1000 + "]" * 1000
METRICS_ENDPOINTS = ["summary", "agents", "departments", "tags", "timeseries", "conversion", "engagement"]


def signed_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def ada():
    return signed_in(get_user_model().objects.create_superuser("ada", "ada@acme.test", "pw-ada"))


@pytest.fixture
def alice():
    return make_agent("alice")


def error_of(response, status: int) -> str:
    """The response's error code, once it is checked to be the JSON Error body with this status."""
    assert response.status_code == status, response.content[:300]
    assert response["Content-Type"] == "application/json", response["Content-Type"]
    body = response.json()
    assert set(body) - {"fields"} == {"code", "detail"}, body
    return body["code"]


def post_json(client, url: str, body: str, method: str = "post"):
    return getattr(client, method)(url, body, content_type="application/json")


@pytest.mark.parametrize("action", ["assign", "transfer"])
@pytest.mark.parametrize("conversation_id", ["abc", "1.5"])
def test_a_routing_action_on_an_id_that_is_no_integer_is_not_found(ada, alice, action, conversation_id):
    response = post_json(ada, f"/api/conversations/{conversation_id}/{action}/", json.dumps({"agent": alice.pk}))
    assert error_of(response, 404) == "not_found"


@pytest.mark.parametrize("url", ["/api/departments/0.5/", "/api/agents/x/", "/api/no-such-thing/", "/api/metrics/nope/"])
def test_an_api_path_that_names_nothing_is_a_json_404(ada, url):
    assert error_of(ada.get(url), 404) == "not_found"
    assert error_of(Client().post(url), 404) == "not_found"


def test_json_nested_too_deep_is_a_parse_error(ada):
    assert error_of(post_json(ada, "/api/skills/", DEEP_JSON), 400) == "parse_error"


def test_json_nested_too_deep_is_a_parse_error_even_where_the_agent_would_be_refused(alice):
    # An agent may change their own status and nothing else: the check reads the body before it refuses.
    client = signed_in(alice.user)
    assert error_of(post_json(client, f"/api/agents/{alice.pk}/", '{"max_concurrent_chats": 9}', "patch"),
                    403) == "permission_denied"
    assert error_of(post_json(client, f"/api/agents/{alice.pk}/", DEEP_JSON, "patch"), 400) == "parse_error"


@pytest.mark.parametrize("body", ["5", "null", "[[1]]", '[{"status": "away"}]'])
def test_an_agents_change_of_their_own_profile_that_is_no_json_object_is_refused(alice, body):
    response = post_json(signed_in(alice.user), f"/api/agents/{alice.pk}/", body, method="patch")
    assert error_of(response, 403) == "permission_denied"


@pytest.mark.parametrize("dates", [{"from": "0001-01-01", "to": "0001-01-07"}, {"to": "9999-12-31"},
                                   {"from": "9999-12-31", "to": "9999-12-31"}],
                         ids=["the first days", "the last days", "the very last day"])
@pytest.mark.parametrize("endpoint", METRICS_ENDPOINTS)
def test_metrics_for_days_at_the_ends_of_the_calendar_are_refused_by_name(ada, endpoint, dates):
    response = ada.get(f"/api/metrics/{endpoint}/", dates)
    assert error_of(response, 400) == "invalid_field"
    assert set(response.json()["fields"]) <= set(dates)


def test_an_error_is_json_even_when_csv_was_asked_for(ada):
    response = ada.get("/api/metrics/summary/", {"format": "csv", "tz": "Nowhere"})
    assert error_of(response, 400) == "invalid_field"
    assert "Content-Disposition" not in response
    assert error_of(Client().get("/api/metrics/summary/", {"format": "csv"}), 403) == "not_authenticated"


def test_an_error_is_json_even_when_a_browser_asks_for_html(ada):
    assert error_of(ada.get("/api/agents/999999/", HTTP_ACCEPT="text/html"), 404) == "not_found"


@pytest.mark.parametrize("encode", [
    lambda text: (json.dumps({"name": text}), "application/json"),
    lambda text: (f"name={text}", "application/x-www-form-urlencoded"),
    lambda text: ({"name": text}, None),
], ids=["json", "form", "multipart"])
def test_a_body_over_the_limit_is_a_json_413(ada, encode):
    body, content_type = encode("x" * (settings.MAX_REQUEST_BODY_BYTES + 1))
    response = ada.post("/api/skills/", body, **({"content_type": content_type} if content_type else {}))
    assert error_of(response, 413) == "request_too_large"


def test_a_survey_answer_for_a_chat_still_open_is_a_broken_link_and_records_nothing():
    acme = make_site()
    chat, _ = lifecycle.start_conversation(site=acme, visitor=make_visitor(acme))
    path = f"/survey/{mailing.survey_token(chat)}/"
    assert Client().get(path).status_code == 404
    response = Client().post(path, {"csat": "5"})
    assert response.status_code == 404 and b"does not work" in response.content
    assert not SurveyResponse.objects.exists()
