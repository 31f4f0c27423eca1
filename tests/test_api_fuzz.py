"""The REST API fuzzed against its own OpenAPI schema with schemathesis, as an agent and as a manager.

Every operation of the document /api/schema/ serves (but that one) is called in process through
Django's WSGI handler with generated input (valid and invalid, JSON and forms), signed in as Alice
(an agent) or Sam (a supervisor), with every built-in check of schemathesis: no 5xx, every status
documented, bodies and content types as documented, invalid input refused, valid input accepted
(or refused as invalid_field), authentication enforced. Deterministic and bounded: a fixed seed,
derandomized, FUZZ_EXAMPLES generated cases per operation and role, and as the manager also the
coverage phase's valid boundary and enum values of each parameter (as the agent nearly every write
and team breakdown is a 403 anyway): about 1,300 requests.

Acme's support desk: Ann's chat is closed (answered by Alice, tagged, rated, followed by a
purchase), Ben's is with Bob, Cid's is waiting; Dan only loaded the widget. Each operation starts
from it again, and each generated case sees the changes of the cases before it.
"""

import json
from datetime import timedelta

import pytest
import schemathesis
from django.conf import settings as django_settings
from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
from django.contrib.sessions.backends.db import SessionStore
from django.contrib.sessions.models import Session
from django.core.management.color import no_style
from django.core.wsgi import get_wsgi_application
from django.db import connection
from django.test import Client
from django.utils import timezone
from drf_spectacular.drainage import GENERATOR_STATS
from drf_spectacular.generators import SchemaGenerator
from drf_spectacular.renderers import OpenApiJsonRenderer
from hypothesis import HealthCheck, settings

from agents.models import Agent, Department, Skill
from conversations import lifecycle
from conversations.lifecycle import Actor
from conversations.models import Conversation, Tag
from metrics import goals
from surveys import services as survey_services
from tests.personas import make_agent, make_site, make_topic, make_visitor

# The API's contract, not the database's: the SQLite pass runs it (tests/run.py).
pytestmark = pytest.mark.contract

FUZZ_EXAMPLES = 10
# Fixed session keys: the schemas' auth config sends them, so schemathesis knows the session cookie
# for the credential it is (its auth check sends each request again without it, and with a bad one).
SESSION_KEYS = {"agent": "fuzz-session-of-alice-an-agent", "manager": "fuzz-session-of-sam-a-supervisor"}
# The id in the path of a positive case: 1 is Alice, Orders, Sales and Ann's (closed) chat; 2 is Bob,
# Billing, Support and Ben's chat (with Bob). The agent's own profile, the manager someone else's.
PATH_IDS = {"agent": 1, "manager": 2}
DESK_MODELS = (Agent, Skill, Department, Conversation)
CSRF_SECRET = "fuzzfuzzfuzzfuzzfuzzfuzzfuzzfuzz"  # a CSRF cookie value (32 letters), sent back in the header


def config_for(role: str) -> schemathesis.Config:
    return schemathesis.Config.from_dict({
        "seed": 20260302,
        "generation": {"max-examples": FUZZ_EXAMPLES, "deterministic": True, "database": "none"},
        "phases": {"coverage": {"enabled": role == "manager", "generation": {"mode": "positive"},
                                "extra-data-sources": {"responses": False}}},
        "auth": {"openapi": {"cookieAuth": {"api_key": SESSION_KEYS[role]}}},
        # A schema-valid request may still name an agent that does not exist, a range longer than a
        # year or an unknown time zone: rules a JSON schema cannot state, refused with the documented
        # 400 invalid_field (schema_valid_input_is_refused_only_as_an_invalid_field checks the code).
        "checks": {"positive_data_acceptance": {"expected-statuses": ["2xx", "3xx", 400, 401, 403, 404, 409, 429]}},
        "operations": [
            # drf-spectacular's view of the document under test (tests/test_openapi_schema.py): each call
            # generates the whole schema, and its `lang` falls back to the default for any value.
            {"include-path": "/api/schema/", "enabled": False},
        ],
    })


def schema_valid_input_is_refused_only_as_an_invalid_field(ctx, response, case):
    """What positive_data_acceptance, which lets a 400 through, leaves to check: not a parse error."""
    if case.meta is not None and case.meta.generation.mode.is_positive and response.status_code == 400:
        assert response.json()["code"] == "invalid_field", response.json()


def sign_in(user, session_key: str) -> None:
    """The session Client.force_login stores, under a key fixed in advance. (A SessionStore given a key
    that is not in the database yet starts a new random one, as it must against session fixation.)"""
    data = {SESSION_KEY: str(user.pk), BACKEND_SESSION_KEY: "django.contrib.auth.backends.ModelBackend",
            HASH_SESSION_KEY: user.get_session_auth_hash()}
    Session.objects.create(session_key=session_key, session_data=SessionStore().encode(data),
                           expire_date=timezone.now() + timedelta(seconds=django_settings.SESSION_COOKIE_AGE))


@pytest.fixture
def support_desk(db) -> None:
    """Acme's desk (the module's docstring), with Alice and Sam signed in."""
    restart_ids_at_1(DESK_MODELS)
    acme = make_site(ask_nps=True)
    orders = make_topic(acme)
    billing = Skill.objects.create(slug="billing", name="Billing")
    sales = Department.objects.create(name="Sales")
    support = Department.objects.create(name="Support", fallback_department=sales, fallback_after_seconds=120)
    alice = make_agent("alice", skills={"orders": 5})
    bob = make_agent("bob", cap=2, skills={"orders": 2})
    sam = make_agent("sam", role=Agent.Role.SUPERVISOR)
    alice.agent_skills.create(skill=billing, proficiency=3)
    for agent in (alice, bob):
        agent.departments.add(support)
    refund = Tag.objects.create(site=acme, name="refund")
    chats = {}
    for name in ("Ann", "Ben", "Cid"):
        visitor = make_visitor(acme, name)
        goals.record_widget_load(site=acme, visitor=visitor, new_visit=True)
        chats[name], _ = lifecycle.start_conversation(site=acme, visitor=visitor, topic=orders, text="Hello")
    goals.record_widget_load(site=acme, visitor=make_visitor(acme, "Dan"), new_visit=True)
    ann = chats["Ann"].pk
    lifecycle.assign_conversation(conversation_id=ann, agent=alice, actor=Actor.system())
    lifecycle.accept_conversation(conversation_id=ann, agent=alice)
    lifecycle.post_message(conversation_id=ann, actor=Actor.of_agent(alice), text="Happy to help")
    lifecycle.tag_conversation(conversation_id=ann, actor=Actor.of_agent(alice), tag=refund)
    lifecycle.close_conversation(conversation_id=ann, actor=Actor.of_agent(alice), resolved=True)
    survey_services.rate_conversation(conversation_id=ann, csat=5, nps=9, channel="widget")
    goals.record_goal(site=acme, visitor=chats["Ann"].visitor, client_id="g1", name="purchase", value=49.9)
    lifecycle.assign_conversation(conversation_id=chats["Ben"].pk, agent=bob, actor=Actor.system())
    sign_in(alice.user, SESSION_KEYS["agent"])
    sign_in(sam.user, SESSION_KEYS["manager"])


def restart_ids_at_1(models) -> None:
    """PostgreSQL's sequences keep counting across rolled-back tests, SQLite's across a flushing one;
    restarted, the desk's objects have the ids PATH_IDS names. The tables are empty at the start."""
    assert not any(model.objects.exists() for model in models)
    tables = [{"table": model._meta.db_table, "column": model._meta.pk.column} for model in models]
    with connection.cursor() as cursor:
        for statement in connection.ops.sequence_reset_by_name_sql(no_style(), tables):
            cursor.execute(statement)


def served_document() -> dict:
    """The document /api/schema/ serves (the first test checks that), built at import: the tests are
    collected from it, before any database is open to sign in with."""
    with GENERATOR_STATS.silence():
        generated = SchemaGenerator().get_schema(request=None, public=True)
    return json.loads(OpenApiJsonRenderer().render(generated))


DOCUMENT = served_document()
APPLICATION = get_wsgi_application()
SCHEMAS = {role: schemathesis.openapi.from_dict(DOCUMENT, config=config_for(role)) for role in SESSION_KEYS}
for loaded in SCHEMAS.values():
    loaded.app = APPLICATION  # as from_wsgi does, which would fetch the document over a session at import


def test_the_fuzzed_document_is_the_one_the_api_serves(support_desk):
    client = Client()
    client.cookies["sessionid"] = SESSION_KEYS["agent"]
    response = client.get("/api/schema/", {"format": "json"})
    assert response.status_code == 200
    assert response.json() == DOCUMENT


def call_and_validate(case, role: str) -> None:
    if "id" in (case.path_parameters or {}) and case.meta is not None and case.meta.generation.mode.is_positive:
        # Real objects, not only 404s; a negative case keeps the bad id it was made with.
        case.path_parameters["id"] = PATH_IDS[role]
    case.call_and_validate(headers={"X-CSRFToken": CSRF_SECRET}, cookies={"csrftoken": CSRF_SECRET},
                           additional_checks=[schema_valid_input_is_refused_only_as_an_invalid_field])


# One desk per operation: the cases of an operation share it, as clients of a server do.
@SCHEMAS["agent"].parametrize()
@settings(suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_the_api_answers_an_agent_as_documented(case, support_desk):
    call_and_validate(case, "agent")


@SCHEMAS["manager"].parametrize()
@settings(suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_the_api_answers_a_manager_as_documented(case, support_desk):
    call_and_validate(case, "manager")
