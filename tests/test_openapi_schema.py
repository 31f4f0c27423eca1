"""The OpenAPI schema: it generates without a warning, and the API returns exactly what it documents.

Root is a Django admin (staff); the numbers are the golden day's (tests/metrics/conftest.py), with
one survey answer so the survey metrics are numbers, not only nulls. A key the API returns but the
schema lacks fails here, so a metric cannot be added without being documented. Alice and Bob are
agents, Alice in Support, for the agents API.
"""

import json

import pytest
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management import call_command
from drf_spectacular.drainage import GENERATOR_STATS, reset_generator_stats
from drf_spectacular.generators import SchemaGenerator
from drf_spectacular.validation import validate_schema
from rest_framework.test import APIClient

from tests.metrics import golden
from tests.metrics.conftest import golden_day  # noqa: F401  (a fixture of tests/metrics, used here too)

GOLDEN = {"from": "2026-03-02", "to": "2026-03-02", "tz": "UTC"}
ENDPOINTS = {
    "summary": GOLDEN,
    "agents": GOLDEN,
    "departments": GOLDEN,
    "tags": GOLDEN,
    "timeseries": {**GOLDEN, "granularity": "hour"},
    "conversion": GOLDEN,
    "engagement": GOLDEN,
    "staffing": {"tz": "UTC"},
}
JSON_TYPES = {"integer": (int,), "number": (int, float), "string": (str,), "boolean": (bool,),
              "object": (dict,), "array": (list,)}


@pytest.fixture(scope="module")
def schema():
    reset_generator_stats()
    with GENERATOR_STATS.silence():
        generated = SchemaGenerator().get_schema(request=None, public=True)
    validate_schema(generated)
    return generated


@pytest.fixture
def root(db):
    client = APIClient()
    client.force_authenticate(get_user_model().objects.create_user("root", password="pw", is_staff=True))
    return client


@pytest.fixture
def surveyed_golden_day(golden_day):  # noqa: F811  (the imported fixture, asked for by name)
    """The golden day, and Ann's answer to the survey of chat A (closed by Bob)."""
    from conversations.models import ConversationEvent

    ConversationEvent.objects.create(
        conversation_id=golden_day["A"], kind=ConversationEvent.Kind.RATED, at=golden.at("10:07:00"),
        actor="visitor", details={"csat": 5, "nps": 9, "ces": 6, "channel": "widget", "agent_id": golden_day["bob"]})
    return golden_day


def resolve(schema: dict, node: dict) -> dict:
    """The node itself, through a $ref or the allOf that wraps a $ref given a description or nullable."""
    if "$ref" in node:
        return resolve(schema, schema["components"]["schemas"][node["$ref"].rsplit("/", 1)[1]])
    if "allOf" in node and len(node["allOf"]) == 1:
        return {**resolve(schema, node["allOf"][0]), **{k: v for k, v in node.items() if k != "allOf"}}
    return node


def mismatches(schema: dict, value, node: dict, path: str = "") -> list[str]:
    """Where a returned value and its documentation differ: keys, types, nulls; nested objects and lists too."""
    node = resolve(schema, node)
    if value is None:
        return [] if node.get("nullable") else [f"{path or '.'}: null, documented as not nullable"]
    if "enum" in node and value not in node["enum"]:
        return [f"{path}: {value!r} is not one of {node['enum']}"]
    kind = node.get("type", "object" if "properties" in node else None)
    wrong_type = kind in JSON_TYPES and (not isinstance(value, JSON_TYPES[kind])
                                         or isinstance(value, bool) != (kind == "boolean"))
    if wrong_type:
        return [f"{path}: {value!r} is not a documented {kind}"]
    found = []
    if isinstance(value, dict):
        documented = node.get("properties", {})
        found += [f"{path}.{key}: returned, not documented" for key in sorted(set(value) - set(documented))]
        found += [f"{path}.{key}: documented, not returned" for key in sorted(set(documented) - set(value))]
        for key in sorted(set(value) & set(documented)):
            found += mismatches(schema, value[key], documented[key], f"{path}.{key}")
    elif isinstance(value, list):
        for i, item in enumerate(value):
            found += mismatches(schema, item, node["items"], f"{path}[{i}]")
    return found


def documented_body(schema: dict, path: str, method: str = "get", status: int = 200) -> dict:
    return schema["paths"][path][method]["responses"][str(status)]["content"]["application/json"]["schema"]


def documented_response(schema: dict, endpoint: str) -> dict:
    return documented_body(schema, f"/api/metrics/{endpoint}/")


def test_the_schema_generates_without_warnings_or_errors(tmp_path, capsys):
    reset_generator_stats()
    try:
        call_command("spectacular", "--fail-on-warn", "--validate", "--file", str(tmp_path / "schema.yml"))
    except Exception as failure:
        pytest.fail(f"{failure}\n{capsys.readouterr().err}")


@pytest.mark.parametrize("endpoint", ENDPOINTS)
def test_each_metrics_endpoint_returns_exactly_the_documented_keys(schema, root, surveyed_golden_day, endpoint):
    response = root.get(f"/api/metrics/{endpoint}/", ENDPOINTS[endpoint])
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["rows"], "no rows: nothing to compare with the schema"
    if endpoint == "summary":
        assert body["rows"][0]["csat_mean"] == 5.0  # the survey fields are checked with numbers in them
    assert mismatches(schema, body, documented_response(schema, endpoint)) == []


def test_the_documented_first_response_histogram_has_every_band_of_the_docs(schema):
    response = resolve(schema, documented_response(schema, "summary"))
    row = resolve(schema, response["properties"]["rows"]["items"])
    histogram = resolve(schema, row["properties"]["first_response_histogram"])
    assert list(histogram["properties"]) == [
        "0-10", "10-20", "20-30", "30-45", "45-60", "60-90", "90-120", "120-180", "180-300", "300-600", "600+"]


def test_a_metric_missing_from_the_schema_is_caught(schema, root, golden_day):  # noqa: F811
    body = root.get("/api/metrics/summary/", GOLDEN).json()
    body["rows"][0]["new_metric"] = 1
    body["rows"][0]["first_response_seconds"]["p99"] = 1.0
    assert sorted(mismatches(schema, body, documented_response(schema, "summary"))) == [
        ".rows[0].first_response_seconds.p99: returned, not documented",
        ".rows[0].new_metric: returned, not documented",
    ]


def test_the_agents_api_returns_exactly_the_documented_shapes(schema, root):
    from agents.models import Agent, Department
    from conversations import lifecycle
    from tests.personas import make_agent, make_site, make_topic, make_visitor

    support = Department.objects.create(name="Support")
    alice, bob = make_agent("alice", skills={"orders": 5}), make_agent("bob", skills={"orders": 2})
    alice.departments.add(support)
    site = make_site()
    Agent.objects.update(status=Agent.Status.AWAY)  # nobody takes the chat while it starts
    chat, _ = lifecycle.start_conversation(site=site, visitor=make_visitor(site), topic=make_topic(site))
    Agent.objects.update(status=Agent.Status.ONLINE)
    calls = [
        ("get", "/api/agents/", "/api/agents/", None),
        ("get", "/api/agents/{id}/", f"/api/agents/{alice.pk}/", None),
        ("patch", "/api/agents/{id}/", f"/api/agents/{bob.pk}/", {"max_concurrent_chats": 4}),
        ("get", "/api/skills/", "/api/skills/", None),
        ("get", "/api/departments/", "/api/departments/", None),
        ("post", "/api/departments/", "/api/departments/", {"name": "Sales", "fallback_department": support.pk}),
        ("get", "/api/departments/{id}/", f"/api/departments/{support.pk}/", None),
        ("post", "/api/conversations/{id}/assign/", f"/api/conversations/{chat.pk}/assign/", {"agent": bob.pk}),
        # Back to a department's queue: no agent holds the chat, so agent_name is null.
        ("post", "/api/conversations/{id}/transfer/", f"/api/conversations/{chat.pk}/transfer/",
         {"department": support.pk}),
    ]
    found = []
    for method, path, url, data in calls:
        send = getattr(root, method)
        body = data if isinstance(data, str) else json.dumps(data)  # a str is sent as it is
        response = send(url, body, content_type="application/json") if data else send(url)
        assert response.status_code in (200, 201), (url, response.content)
        documented = documented_body(schema, path, method, response.status_code)
        found += mismatches(schema, response.json(), documented, f"{method} {url}")
    assert found == []


def test_every_error_the_api_returns_is_documented_for_its_status(schema, root, golden_day):  # noqa: F811
    """Real refusals, each checked against the operation's documented response for its status: the
    Error body, and its code named in that response's description."""
    from agents.models import Agent
    from conversations import lifecycle
    from tests.personas import make_agent, make_site, make_visitor

    site = make_site("beta")
    Agent.objects.update(status=Agent.Status.AWAY)  # nobody takes the chat while it starts
    chat, _ = lifecycle.start_conversation(site=site, visitor=make_visitor(site))
    away = make_agent("away-agent", status=Agent.Status.AWAY)
    agent = APIClient()
    agent.force_authenticate(get_user_model().objects.get(pk=away.user_id))
    calls = [
        (root, "get", "/api/metrics/summary/", "/api/metrics/summary/?from=2026-13-01", None, 400),
        (root, "get", "/api/metrics/summary/", "/api/metrics/summary/?format=xml", None, 400),
        (root, "get", "/api/schema/", "/api/schema/?format=xml", None, 400),
        (APIClient(), "get", "/api/metrics/agents/", "/api/metrics/agents/", None, 403),
        (agent, "get", "/api/metrics/agents/", f"/api/metrics/agents/?agent={golden_day['bob']}", None, 403),
        (agent, "post", "/api/departments/", "/api/departments/", {"name": "Sales"}, 403),
        (root, "post", "/api/departments/", "/api/departments/", {"strategy": "nonsense"}, 400),
        (root, "post", "/api/skills/", "/api/skills/", "[" * 1000 + "]" * 1000, 400),
        (root, "post", "/api/skills/", "/api/skills/", {"name": "x" * settings.MAX_REQUEST_BODY_BYTES}, 413),
        (root, "get", "/api/agents/{id}/", "/api/agents/999999/", None, 404),
        (root, "post", "/api/conversations/{id}/transfer/", "/api/conversations/999999/transfer/",
         {"agent": away.pk}, 404),
        (root, "post", "/api/conversations/{id}/assign/", f"/api/conversations/{chat.pk}/assign/",
         {"agent": away.pk}, 409),
    ]
    error = schema["components"]["schemas"]["Error"]
    for client, method, path, url, data, status in calls:
        send = getattr(client, method)
        body = data if isinstance(data, str) else json.dumps(data)  # a str is sent as it is
        response = send(url, body, content_type="application/json") if data else send(url)
        assert response.status_code == status, (url, response.content)
        documented = schema["paths"][path][method]["responses"][str(status)]
        assert documented["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/Error"}
        body = response.json()
        expected_keys = {"code", "detail", "fields"} if body["code"] == "invalid_field" else {"code", "detail"}
        assert set(body) == expected_keys, (url, body)
        assert set(error["required"]) <= set(body) <= set(error["properties"])
        assert f"{body['code']}:" in documented["description"], (url, body["code"], documented["description"])
