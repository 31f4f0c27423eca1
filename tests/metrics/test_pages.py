"""The reports page and the wallboard page: who gets which page, and what the page is told to show.

Personas: Alice and Bob are agents (tests/metrics/conftest.py's golden day), Sam a supervisor,
root an admin without an agent profile, mallory a signed-in user who is no agent.
"""

import json

import pytest
from django.contrib.auth import get_user_model
from django.test import Client

pytestmark = pytest.mark.django_db


def client_for(user=None) -> Client:
    client = Client()
    if user is not None:
        client.force_login(user)
    return client


def config_of(response, name="reports-config") -> dict:
    html = response.content.decode()
    start = html.index(f'id="{name}"')
    body = html[html.index(">", start) + 1:html.index("</script>", start)]
    return json.loads(body)


@pytest.fixture
def admin(db):
    return get_user_model().objects.create_user("root", password="pw", is_staff=True)


@pytest.fixture
def alice(golden_day):
    from agents.models import Agent

    return Agent.objects.get(pk=golden_day["alice"])


@pytest.mark.parametrize("url", ["/reports/", "/reports/wallboard/"])
def test_anonymous_visitors_are_sent_to_sign_in(url):
    response = client_for().get(url)
    assert response.status_code == 302
    assert response["Location"] == f"/accounts/login/?next={url}"


def test_a_signed_in_user_who_is_no_agent_gets_403_on_both_pages(db):
    mallory = get_user_model().objects.create_user("mallory", password="pw")
    assert client_for(mallory).get("/reports/").status_code == 403
    assert client_for(mallory).get("/reports/wallboard/").status_code == 403


def test_an_agent_gets_their_own_numbers_without_team_breakdowns(alice):
    response = client_for(alice.user).get("/reports/")
    assert response.status_code == 200
    config = config_of(response)
    assert config["me"] == {"name": "Alice", "agent_id": alice.pk, "manager": False}
    assert config["departments"] == [] and config["sites"] == []
    html = response.content.decode()
    assert "My numbers" in html
    assert 'id="tags-card"' not in html and 'id="departments-table"' not in html
    assert 'href="/reports/wallboard/"' not in html


def test_the_api_the_agents_page_reads_gives_only_their_row(alice, golden_day):
    """The page shows what the API returns; for an agent that is their own row, whatever is asked."""
    client = client_for(alice.user)
    rows = client.get("/api/metrics/agents/", {"from": "2026-03-02", "to": "2026-03-02", "tz": "UTC"}).json()["rows"]
    assert [row["agent"] for row in rows] == ["Alice"]
    assert client.get("/api/metrics/tags/").status_code == 403


def test_an_agent_may_not_open_the_wallboard(alice):
    response = client_for(alice.user).get("/reports/wallboard/")
    assert response.status_code == 403
    assert "Only supervisors and admins see the wallboard." in response.content.decode()


def test_a_supervisor_sees_the_team_page_with_every_breakdown(supervisor, golden_day):
    response = client_for(supervisor.user).get("/reports/")
    assert response.status_code == 200
    config = config_of(response)
    assert config["me"]["manager"] is True
    assert [d["name"] for d in config["departments"]] == ["Sales"]
    assert [s["name"] for s in config["sites"]] == ["Acme"]
    html = response.content.decode()
    assert 'id="tags-card"' in html and 'id="departments-table"' in html and "Support reports" in html
    assert config["api"] == "/api/metrics/"


def test_an_admin_without_an_agent_profile_sees_the_team_page_and_the_wallboard(admin):
    assert config_of(client_for(admin).get("/reports/"))["me"] == {"name": "root", "agent_id": None, "manager": True}
    response = client_for(admin).get("/reports/wallboard/")
    assert response.status_code == 200
    assert config_of(response, "wallboard-config")["socket"] == "/ws/wallboard/"


def test_a_supervisor_opens_the_wallboard(supervisor):
    response = client_for(supervisor.user).get("/reports/wallboard/")
    assert response.status_code == 200
    assert "Live wallboard" in response.content.decode()


def test_the_default_range_is_the_apis_last_seven_days(supervisor):
    from datetime import date, timedelta

    config = config_of(client_for(supervisor.user).get("/reports/"))
    first, last = date.fromisoformat(config["defaults"]["from"]), date.fromisoformat(config["defaults"]["to"])
    assert last - first == timedelta(days=6)
    assert config["server_tz"] == "UTC"


@pytest.mark.parametrize("language, text", [("lt", "Mano rodikliai"), ("zh-hans", "我的数据")])
def test_the_page_speaks_the_agents_language(alice, language, text):
    response = client_for(alice.user).get("/reports/", HTTP_ACCEPT_LANGUAGE=language)
    html = response.content.decode()
    assert text in html
    assert config_of(response)["strings"]["service_level"] != "Service level"
