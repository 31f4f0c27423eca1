"""Who may do what: every HTTP endpoint and every WebSocket route, for every role.

The columns (tests/authorization_matrix_support.py): `anonymous`; `agent` (Alice on her own data);
`other` (Alice on another agent's data: Bob's chat, agent record, numbers); `supervisor` (Sam, on
Bob's data); `admin` (Ada, a superuser with an agent profile, on Bob's data). NA: the endpoint
names nobody's data, so `agent` says it all.

The HTTP endpoints are read from the URL resolver (DRF router routes and each method a view
handles included): an endpoint without a row fails test_every_endpoint_has_a_row ("unlisted
endpoint"), and a row naming no endpoint fails too. Adding an endpoint is adding a row, one line:

    R("POST", "api/visitors/<pk>/ban/", "/api/visitors/{chat.visitor_id}/ban/",
      NOT_AUTH, DENIED, DENIED, 201, 201, body={"scope": "visitor"}),

A path is str.format()ed with the cell's Context: {chat} is the column's subject's active chat
(Alice's in `agent`, Bob's elsewhere), {subject} that agent, {w.<name>} anything of the World.

The sockets (chatdesk/asgi.py) are checked the same way with channels' WebsocketCommunicator: who
may connect and which refusal and close code the others get, then every console frame that names
a conversation against another agent's chat (and the agent's own), and every widget frame that
names a conversation against another visitor's.

Speed: HTTP cells share one world, built once inside a transaction that is rolled back at the end,
each cell in a savepoint of its own (TestHttp); socket cells need data that other threads see, so
they share one committed world, flushed at the end as a transactional test's data is, and each
builds the chats it changes (TestSockets). A refused request or frame is also checked to have
changed nothing.
"""

import os
from dataclasses import dataclass
from functools import partial
from typing import Any, Callable

import pytest
import redis
from channels.db import database_sync_to_async
from django.contrib.auth.models import Group
from django.core.management import call_command
from django.db import transaction
from django.urls import get_resolver
from django.utils import timezone

from tests.console.console import switch_routing_off
from tests.authorization_matrix_support import (
    FOREIGN_ORIGIN, NA, ROLES, STAFF_HOST, STAFF_ORIGIN, AdminModel, Error, Page, R, Redirect, Socket, Status,
    build_world, cells_of, http_endpoints,
)
from tests.personas import ACME_ORIGIN

# Who may do what is the code's, not the database's: the SQLite pass runs it (tests/run.py).
pytestmark = pytest.mark.contract

db = database_sync_to_async

LOGIN = Redirect("/accounts/login/?next=")
ADMIN_LOGIN = Redirect("/admin/login/?next=")
TO_CONSOLE = Redirect("/console/")
SIGNED_OUT = Redirect("/accounts/login/")
NOT_AUTH = Error(403, "not_authenticated")
DENIED = Error(403, "permission_denied")
FORBIDDEN = Error(403, "forbidden")
NOT_FOUND = Error(404, "not_found")
NO_CHAT = Status(404)  # the console's JSON reads answer an unknown id with Django's 404 page (Http404)

DEPARTMENT = {"name": "Sales", "accept_mode": "offer", "offer_timeout_seconds": 45}


def metrics_path(name: str) -> str:
    """A metrics endpoint asked for the subject's numbers (Alice's own in `agent`, Bob's elsewhere)."""
    return f"/api/metrics/{name}/?from=2024-01-01&to=2024-01-07&agent={{subject.pk}}"


# --- the HTTP matrix -----------------------------------------------------------------------------------

HTTP = [
    # method  route                                   path                                           anonymous  agent      other      supervisor admin
    # Public pages: the demo shop, the widget's loader and strings, the console's sign-in.
    R("GET", "", "/",                                                                                 200, 200, NA, 200, 200),
    R("POST", "", "/",                                                                                200, 200, NA, 200, 200),
    R("GET", "widget.js", "/widget.js",                                                               200, 200, NA, 200, 200),
    R("GET", "widget/strings/<str:language>.json", "/widget/strings/lt.json",                         200, 200, NA, 200, 200),
    R("GET", "widget/strings/<str:language>.json", "/widget/strings/xx.json",                         404, 404, NA, 404, 404, case="unknown language"),
    R("GET", "accounts/login/", "/accounts/login/",                                                   200, TO_CONSOLE, NA, TO_CONSOLE, TO_CONSOLE),
    R("POST", "accounts/login/", "/accounts/login/",                                                  200, TO_CONSOLE, NA, TO_CONSOLE, TO_CONSOLE, body={"username": "bob", "password": "wrong"}, case="wrong password"),
    R("POST", "accounts/login/", "/accounts/login/",                                                  TO_CONSOLE, TO_CONSOLE, NA, TO_CONSOLE, TO_CONSOLE, body={"username": "bob", "password": "pw-bob"}, case="right password"),
    R("PUT", "accounts/login/", "/accounts/login/",                                                   200, TO_CONSOLE, NA, TO_CONSOLE, TO_CONSOLE),
    R("OPTIONS", "accounts/login/", "/accounts/login/",                                               200, TO_CONSOLE, NA, TO_CONSOLE, TO_CONSOLE),
    R("POST", "accounts/logout/", "/accounts/logout/",                                                SIGNED_OUT, SIGNED_OUT, NA, SIGNED_OUT, SIGNED_OUT),
    R("OPTIONS", "accounts/logout/", "/accounts/logout/",                                             200, 200, NA, 200, 200),
    # The emailed survey and transcript-confirmation links: the signed token is the permission.
    R("GET", "survey/<str:token>/", "/survey/{w.survey_token}/",                                      Page(200, state="form"), Page(200, state="form"), NA, Page(200, state="form"), Page(200, state="form")),
    R("GET", "survey/<str:token>/", "/survey/forged/",                                                Page(404, state="invalid"), Page(404, state="invalid"), NA, Page(404, state="invalid"), Page(404, state="invalid"), case="forged token"),
    R("POST", "survey/<str:token>/", "/survey/{w.survey_token}/",                                     Page(200, state="thanks"), Page(200, state="thanks"), NA, Page(200, state="thanks"), Page(200, state="thanks"), body={"csat": "5"}),
    R("POST", "survey/<str:token>/", "/survey/forged/",                                               Page(404, state="invalid"), Page(404, state="invalid"), NA, Page(404, state="invalid"), Page(404, state="invalid"), body={"csat": "5"}, case="forged token"),
    R("GET", "transcript/<str:token>/", "/transcript/{w.transcript_token}/",                          Page(200, state="confirm"), Page(200, state="confirm"), NA, Page(200, state="confirm"), Page(200, state="confirm")),
    R("GET", "transcript/<str:token>/", "/transcript/forged/",                                        Page(404, state="invalid"), Page(404, state="invalid"), NA, Page(404, state="invalid"), Page(404, state="invalid"), case="forged token"),
    R("POST", "transcript/<str:token>/", "/transcript/{w.transcript_token}/",                         Page(200, state="sent"), Page(200, state="sent"), NA, Page(200, state="sent"), Page(200, state="sent")),
    R("POST", "transcript/<str:token>/", "/transcript/forged/",                                       Page(404, state="invalid"), Page(404, state="invalid"), NA, Page(404, state="invalid"), Page(404, state="invalid"), case="forged token"),
    # The console page and its two JSON reads (console/views.py); transcripts have a table of their own below.
    R("GET", "console/", "/console/",                                                                 LOGIN, Page(200, supervisor=False), NA, Page(200, supervisor=True), Page(200, supervisor=True)),
    R("POST", "console/", "/console/",                                                                LOGIN, Page(200, supervisor=False), NA, Page(200, supervisor=True), Page(200, supervisor=True)),
    R("GET", "console/agents.json", "/console/agents.json",                                           LOGIN, 200, NA, 200, 200),
    R("GET", "console/transcript/<uuid:public_id>.json", "/console/transcript/{chat.public_id}.json",  LOGIN, 200, FORBIDDEN, 200, 200),
    # Reports and the wallboard page (metrics/views.py).
    R("GET", "reports/", "/reports/",                                                                 LOGIN, Page(200, manager=False), NA, Page(200, manager=True), Page(200, manager=True)),
    R("GET", "reports/wallboard/", "/reports/wallboard/",                                             LOGIN, 403, NA, 200, 200),
    # The REST API's schema: any signed-in user (SPECTACULAR_SETTINGS SERVE_PERMISSIONS).
    R("GET", "api/schema/", "/api/schema/?format=json",                                               NOT_AUTH, 200, NA, 200, 200),
    R("OPTIONS", "api/schema/", "/api/schema/",                                                       NOT_AUTH, 200, NA, 200, 200),
    # Metrics: an agent reads their own numbers only; team breakdowns and the plan are managers'.
    R("GET", "api/metrics/summary/", metrics_path("summary"),                                         NOT_AUTH, 200, DENIED, 200, 200),
    R("OPTIONS", "api/metrics/summary/", "/api/metrics/summary/",                                     NOT_AUTH, 200, NA, 200, 200),
    R("GET", "api/metrics/agents/", metrics_path("agents"),                                           NOT_AUTH, 200, DENIED, 200, 200),
    R("OPTIONS", "api/metrics/agents/", "/api/metrics/agents/",                                       NOT_AUTH, 200, NA, 200, 200),
    R("GET", "api/metrics/timeseries/", metrics_path("timeseries"),                                   NOT_AUTH, 200, DENIED, 200, 200),
    R("OPTIONS", "api/metrics/timeseries/", "/api/metrics/timeseries/",                               NOT_AUTH, 200, NA, 200, 200),
    R("GET", "api/metrics/conversion/", metrics_path("conversion"),                                   NOT_AUTH, 200, DENIED, 200, 200),
    R("OPTIONS", "api/metrics/conversion/", "/api/metrics/conversion/",                               NOT_AUTH, 200, NA, 200, 200),
    R("GET", "api/metrics/departments/", "/api/metrics/departments/?from=2024-01-01&to=2024-01-07",  NOT_AUTH, DENIED, NA, 200, 200),
    R("OPTIONS", "api/metrics/departments/", "/api/metrics/departments/",                             NOT_AUTH, DENIED, NA, 200, 200),
    R("GET", "api/metrics/tags/", "/api/metrics/tags/?from=2024-01-01&to=2024-01-07",                NOT_AUTH, DENIED, NA, 200, 200),
    R("OPTIONS", "api/metrics/tags/", "/api/metrics/tags/",                                           NOT_AUTH, DENIED, NA, 200, 200),
    R("GET", "api/metrics/staffing/", "/api/metrics/staffing/?weeks=1",                               NOT_AUTH, DENIED, NA, 200, 200),
    R("OPTIONS", "api/metrics/staffing/", "/api/metrics/staffing/",                                   NOT_AUTH, DENIED, NA, 200, 200),
    R("GET", "api/metrics/engagement/", "/api/metrics/engagement/?from=2024-01-01&to=2024-01-07",    NOT_AUTH, DENIED, NA, 200, 200),
    R("OPTIONS", "api/metrics/engagement/", "/api/metrics/engagement/",                               NOT_AUTH, DENIED, NA, 200, 200),
    # Agents: the whole team reads; an agent changes their own status and nothing else (agents/permissions.py).
    R("GET", "api/agents/", "/api/agents/",                                                           NOT_AUTH, 200, NA, 200, 200),
    R("OPTIONS", "api/agents/", "/api/agents/",                                                       NOT_AUTH, 200, NA, 200, 200),
    R("GET", "api/agents/<pk>/", "/api/agents/{subject.pk}/",                                         NOT_AUTH, 200, 200, 200, 200),
    R("OPTIONS", "api/agents/<pk>/", "/api/agents/{subject.pk}/",                                     NOT_AUTH, 200, 200, 200, 200),
    R("PATCH", "api/agents/<pk>/", "/api/agents/{subject.pk}/",                                       NOT_AUTH, 200, DENIED, 200, 200, body={"status": "away"}, case="status"),
    R("PATCH", "api/agents/<pk>/", "/api/agents/{subject.pk}/",                                       NOT_AUTH, DENIED, DENIED, 200, 200, body={"max_concurrent_chats": 9}, case="cap"),
    R("PATCH", "api/agents/<pk>/", "/api/agents/{subject.pk}/",                                       NOT_AUTH, DENIED, DENIED, 200, 200, body={"status": "away", "role": "supervisor"}, case="status and role"),
    R("GET", "api/agents/<pk>/", "/api/agents/999999/",                                               NOT_AUTH, NOT_FOUND, NA, NOT_FOUND, NOT_FOUND, case="no such agent"),
    # Skills and departments: agents read, managers write.
    R("GET", "api/skills/", "/api/skills/",                                                           NOT_AUTH, 200, NA, 200, 200),
    R("POST", "api/skills/", "/api/skills/",                                                          NOT_AUTH, DENIED, NA, 201, 201, body={"slug": "returns", "name": "Returns"}),
    R("OPTIONS", "api/skills/", "/api/skills/",                                                       NOT_AUTH, 200, NA, 200, 200),
    R("GET", "api/skills/<pk>/", "/api/skills/{w.billing.pk}/",                                       NOT_AUTH, 200, NA, 200, 200),
    R("PUT", "api/skills/<pk>/", "/api/skills/{w.billing.pk}/",                                       NOT_AUTH, DENIED, NA, 200, 200, body={"slug": "billing", "name": "Invoices"}),
    R("PATCH", "api/skills/<pk>/", "/api/skills/{w.billing.pk}/",                                     NOT_AUTH, DENIED, NA, 200, 200, body={"name": "Invoices"}),
    R("DELETE", "api/skills/<pk>/", "/api/skills/{w.billing.pk}/",                                    NOT_AUTH, DENIED, NA, 204, 204),
    R("OPTIONS", "api/skills/<pk>/", "/api/skills/{w.billing.pk}/",                                   NOT_AUTH, 200, NA, 200, 200),
    R("GET", "api/departments/", "/api/departments/",                                                 NOT_AUTH, 200, NA, 200, 200),
    R("POST", "api/departments/", "/api/departments/",                                                NOT_AUTH, DENIED, NA, 201, 201, body=DEPARTMENT),
    R("OPTIONS", "api/departments/", "/api/departments/",                                             NOT_AUTH, 200, NA, 200, 200),
    R("GET", "api/departments/<pk>/", "/api/departments/{w.support.pk}/",                             NOT_AUTH, 200, NA, 200, 200),
    R("PUT", "api/departments/<pk>/", "/api/departments/{w.support.pk}/",                             NOT_AUTH, DENIED, NA, 200, 200, body={"name": "Support", "strategy": "least_busy"}),
    R("PATCH", "api/departments/<pk>/", "/api/departments/{w.support.pk}/",                           NOT_AUTH, DENIED, NA, 200, 200, body={"strategy": "least_busy"}),
    R("DELETE", "api/departments/<pk>/", "/api/departments/{w.support.pk}/",                          NOT_AUTH, DENIED, NA, 204, 204),
    R("OPTIONS", "api/departments/<pk>/", "/api/departments/{w.support.pk}/",                         NOT_AUTH, 200, NA, 200, 200),
    # Routing actions: managers only, whoever's chat it is.
    R("POST", "api/conversations/<pk>/assign/", "/api/conversations/{w.queued.pk}/assign/",           NOT_AUTH, DENIED, DENIED, 200, 200, body=lambda c: {"agent": c.subject.pk}),
    R("OPTIONS", "api/conversations/<pk>/assign/", "/api/conversations/{w.queued.pk}/assign/",        NOT_AUTH, DENIED, NA, 200, 200),
    R("POST", "api/conversations/<pk>/transfer/", "/api/conversations/{chat.pk}/transfer/",           NOT_AUTH, DENIED, DENIED, 200, 200, body=lambda c: {"department": c.w.support.pk}),
    R("OPTIONS", "api/conversations/<pk>/transfer/", "/api/conversations/{chat.pk}/transfer/",        NOT_AUTH, DENIED, NA, 200, 200),
    # Any other path under /api/: the JSON 404, the same for everyone, before any sign-in.
    *[R(method, "api/<path>", "/api/nothing/here/", NOT_FOUND, NOT_FOUND, NA, NOT_FOUND, NOT_FOUND)
      for method in ("GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")],
]


# --- the Django admin: staff only ------------------------------------------------------------------------

def admin_site_rows() -> list:
    """The admin site's own pages. Only Ada is staff; everyone else is sent to the admin's sign-in."""
    rows = []
    for method, admin_only_get in (("GET", 200), ("POST", 405)):
        rows += [
            R(method, "admin/", "/admin/",                                             ADMIN_LOGIN, ADMIN_LOGIN, NA, ADMIN_LOGIN, 200),
            R(method, "admin/<app_label>/", "/admin/agents/",                          ADMIN_LOGIN, ADMIN_LOGIN, NA, ADMIN_LOGIN, 200),
            R(method, "admin/password_change/", "/admin/password_change/",             ADMIN_LOGIN, ADMIN_LOGIN, NA, ADMIN_LOGIN, 200),
            R(method, "admin/password_change/done/", "/admin/password_change/done/",   ADMIN_LOGIN, ADMIN_LOGIN, NA, ADMIN_LOGIN, admin_only_get),
            R(method, "admin/autocomplete/", "/admin/autocomplete/",                   ADMIN_LOGIN, ADMIN_LOGIN, NA, ADMIN_LOGIN, 403 if method == "GET" else 405),
            R(method, "admin/jsi18n/", "/admin/jsi18n/",                               ADMIN_LOGIN, ADMIN_LOGIN, NA, ADMIN_LOGIN, admin_only_get),
            R(method, "admin/r/<path:content_type_id>/<path:object_id>/", "/admin/r/1/1/", ADMIN_LOGIN, ADMIN_LOGIN, NA, ADMIN_LOGIN, 404),
            R(method, "admin/<url>", "/admin/no/such/page/",                          ADMIN_LOGIN, ADMIN_LOGIN, NA, ADMIN_LOGIN, 404),
            R(method, "admin/auth/user/<id>/password/", "/admin/auth/user/{subject.user_id}/password/", ADMIN_LOGIN, ADMIN_LOGIN, NA, ADMIN_LOGIN, 200),
        ]
    return rows + [
        # Django's admin sign-in page is public; a signed-in non-staff user is told they may not enter.
        R("GET", "admin/login/", "/admin/login/",                                      200, 200, NA, 200, Redirect("/admin/")),
        R("POST", "admin/login/", "/admin/login/",                                     200, 200, NA, 200, 200, body={"username": "bob", "password": "pw-bob"}),
        R("GET", "admin/logout/", "/admin/logout/",                                    Redirect("/admin/"), Redirect("/admin/"), NA, Redirect("/admin/"), 405),
        R("POST", "admin/logout/", "/admin/logout/",                                   Redirect("/admin/"), Redirect("/admin/"), NA, Redirect("/admin/"), 200),
    ]


ADMIN = [
    *admin_site_rows(),
    # model                                    what the model admin refuses even a superuser
    AdminModel("auth/group"),
    AdminModel("auth/user"),
    AdminModel("django_celery_beat/periodictask"),
    AdminModel("django_celery_beat/clockedschedule"),
    AdminModel("django_celery_beat/crontabschedule"),
    AdminModel("django_celery_beat/solarschedule"),
    AdminModel("django_celery_beat/intervalschedule"),
    AdminModel("axes/accessattempt",           refuses=("add",)),
    AdminModel("axes/accesslog",               refuses=("add",)),
    AdminModel("axes/accessfailurelog",        refuses=("add",)),
    AdminModel("reactions/reaction",           refuses=("add",)),
    AdminModel("agents/agent"),
    AdminModel("agents/skill"),
    AdminModel("agents/department"),
    AdminModel("agents/cannedresponse"),
    AdminModel("conversations/site"),
    AdminModel("conversations/ban",            refuses=("change",)),  # its read-only page: test_a_superuser_opens_a_ban…
    AdminModel("conversations/visitor"),
    AdminModel("conversations/conversation",   refuses=("add", "change")),
    AdminModel("metrics/dailyrollup",          refuses=("add", "change")),
    AdminModel("surveys/surveyresponse",       refuses=("add",)),
    AdminModel("surveys/survey",               refuses=("add",)),
    AdminModel("surveys/transcriptrequest",    refuses=("add",)),
]


# --- transcripts (/console/transcript/<id>.json): the rules of console.views.transcript_json -----------

# For supervisors, the chat's own agent, or an agent who has a chat with the same visitor now; a
# whisper only for supervisors and the agent it was written for. Alice is the agent; "other" is
# spelled out per case. Each cell: the status, and for a 200 the whispers the reader gets.
TRANSCRIPTS = [
    # case                                        chat            anonymous agent                     supervisor               admin
    ("her own open chat",                         "alices_chat",   LOGIN, ["for Alice"],               ["for Alice"],           ["for Alice"]),
    ("another agent's open chat",                 "bobs_chat",     LOGIN, FORBIDDEN,                   ["for Bob"],             ["for Bob"]),
    ("the earlier chat of the visitor she serves now, by Bob", "anns_earlier", LOGIN, [],              ["for Bob about Ann"],   ["for Bob about Ann"]),
    ("her own ended chat",                        "alices_closed", LOGIN, [],                          [],                      []),
    ("a chat she transferred to Bob",             "handed_over",   LOGIN, FORBIDDEN,                   [],                      []),
    ("a chat waiting in the queue",               "queued",        LOGIN, FORBIDDEN,                   [],                      []),
    ("an offline message",                        "offline",       LOGIN, NO_CHAT,                     NO_CHAT,                 NO_CHAT),
    ("no such chat",                              None,            LOGIN, NO_CHAT,                     NO_CHAT,                 NO_CHAT),
]
TRANSCRIPT_ROLES = ("anonymous", "agent", "supervisor", "admin")
# Whoever is not Alice: Bob reads his open chat and the chat handed to him, not Ann's that is Alice's now.
BOB_READS = {"alices_chat": FORBIDDEN, "bobs_chat": ["for Bob"], "anns_earlier": ["for Bob about Ann"],
             "alices_closed": FORBIDDEN, "handed_over": [], "queued": FORBIDDEN, "offline": NO_CHAT, None: NO_CHAT}


def transcript_cells():
    cells = []
    for case, chat, *expected in TRANSCRIPTS:
        for role, expect in zip(TRANSCRIPT_ROLES, expected):
            cells.append(pytest.param(chat, role, "alice", expect, id=f"{case} -{role}"))
        cells.append(pytest.param(chat, "bob", "bob", BOB_READS[chat], id=f"{case} -bob"))
    return cells


# --- the shared worlds -----------------------------------------------------------------------------------

def add_admin_objects(w) -> None:
    """One object of every model the admin lists, for its change, history and delete pages."""
    from axes.models import AccessAttempt, AccessFailureLog, AccessLog
    from django_celery_beat.models import (
        ClockedSchedule, CrontabSchedule, IntervalSchedule, PeriodicTask, SolarSchedule,
    )

    from conversations.models import Ban, Conversation, Visitor
    from metrics.models import DailyRollup
    from reactions.models import Reaction
    from surveys import services as survey_services
    from surveys.models import Survey, SurveyResponse, TranscriptRequest

    now = timezone.now()
    seen = {"user_agent": "test", "http_accept": "*/*", "path_info": "/accounts/login/", "username": "bob"}
    survey_services.rate_conversation(conversation_id=w.anns_earlier.pk, channel=SurveyResponse.Channel.WIDGET, csat=4)
    interval = IntervalSchedule.objects.create(every=10, period=IntervalSchedule.SECONDS)
    objects = {
        "auth/group": Group.objects.create(name="Leads"),
        "auth/user": w.bob.user,
        "django_celery_beat/periodictask": PeriodicTask.objects.create(name="matrix", task="matrix.task",
                                                                       interval=interval),
        "django_celery_beat/clockedschedule": ClockedSchedule.objects.create(clocked_time=now),
        "django_celery_beat/crontabschedule": CrontabSchedule.objects.create(),
        "django_celery_beat/solarschedule": SolarSchedule.objects.create(event="sunrise", latitude=54.7,
                                                                         longitude=25.3),
        "django_celery_beat/intervalschedule": interval,
        "axes/accessattempt": AccessAttempt.objects.create(get_data="", post_data="", failures_since_start=1,
                                                           **seen),
        "axes/accesslog": AccessLog.objects.create(**seen),
        "axes/accessfailurelog": AccessFailureLog.objects.create(**seen),
        "reactions/reaction": Reaction.objects.order_by("pk").first(),
        "agents/agent": w.bob,
        "agents/skill": w.billing,
        "agents/department": w.support,
        "agents/cannedresponse": w.bobs_canned,
        "conversations/site": w.site,
        "conversations/ban": Ban.objects.create(site=w.site, visitor=Visitor.objects.create(site=w.site, name="Gus"),
                                                created_at=now),
        "conversations/visitor": w.bobs_chat.visitor,
        "conversations/conversation": Conversation.objects.get(pk=w.bobs_chat.pk),
        "metrics/dailyrollup": DailyRollup.objects.create(day=now.date(), time_zone="UTC", scope="total",
                                                          computed_at=now),
        "surveys/surveyresponse": SurveyResponse.objects.get(conversation=w.anns_earlier),
        "surveys/survey": Survey.objects.create(conversation=w.alices_closed, email="eve@example.com", language="en"),
        "surveys/transcriptrequest": TranscriptRequest.objects.get(conversation=w.alices_closed),
    }
    missing = [label for label, obj in objects.items() if obj is None]
    assert not missing, missing
    w.admin_objects = {label: obj.pk for label, obj in objects.items()}


def assert_test_database():
    """The worlds write and flush: never outside the test database (pytest-django sets it up only
    for tests marked django_db, as both classes below are)."""
    from django.db import connection

    name = str(connection.settings_dict["NAME"])
    assert "memory" in name or name.startswith("test"), f"not a test database: {name}"


@pytest.fixture(scope="class")
def http_world(django_db_setup, django_db_blocker):
    """Built once in a transaction that is rolled back when the class ends (as TestCase.setUpTestData)."""
    with pytest.MonkeyPatch.context() as patch:
        switch_routing_off(patch)
        with django_db_blocker.unblock():
            assert_test_database()
            outer = transaction.atomic()
            outer.__enter__()
            try:
                world = build_world()
                add_admin_objects(world)
            except BaseException:
                transaction.set_rollback(True)
                outer.__exit__(None, None, None)
                raise
        yield world
        with django_db_blocker.unblock():
            transaction.set_rollback(True)
            outer.__exit__(None, None, None)


@pytest.fixture(scope="class")
def socket_world(django_db_setup, django_db_blocker, embedded_redis):
    """Committed, so the consumers' threads read it; emptied at the end as a transactional test's data is."""
    from routing import grace

    if embedded_redis is not None:  # as tests/conftest.py's _flush_session_redis, once for the class
        with redis.Redis.from_url(os.environ["REDIS_URL"]) as client:
            client.flushdb()

    with pytest.MonkeyPatch.context() as patch:
        switch_routing_off(patch)
        patch.setattr(grace, "schedule_check", lambda agent_id: None)  # a console closing schedules nothing
        with django_db_blocker.unblock():
            assert_test_database()
            try:
                yield build_world()
            finally:
                call_command("flush", interactive=False, verbosity=0)


# --- the endpoints' list ---------------------------------------------------------------------------------

ALL_ROWS = HTTP + ADMIN


def test_every_endpoint_has_a_row():
    listed = set().union(*(row.keys for row in ALL_ROWS))
    unlisted = sorted(http_endpoints() - listed, key=lambda key: (key[1], key[0]))
    assert not unlisted, "unlisted endpoint(s): add a row to the matrix for each:\n" + "\n".join(
        f"  {method} /{route}" for method, route in unlisted)


def test_every_row_names_an_endpoint():
    stale = sorted(set().union(*(row.keys for row in ALL_ROWS)) - http_endpoints())
    assert not stale, f"rows for no endpoint the resolver serves (removed or renamed?): {stale}"


def test_every_row_has_a_cell_for_every_role():
    for row in ALL_ROWS:
        assert set(row.expect) == set(ROLES), row.label()
        assert row.expect["agent"] is not NA, row.label()


def test_every_admin_route_is_behind_the_admin_guard():
    """What lets an AdminModel row ask two of its pages: every route it stands for goes through
    AdminSite.admin_view (is_active and is_staff), which Django's wrappers mark. Routes with rows of
    their own (the sign-in, the password change of a user) are asked for every role instead."""
    from django.contrib.admin import AdminSite

    from tests.authorization_matrix_support import _walk

    own_rows = {route for row in ALL_ROWS if not isinstance(row, AdminModel) for _, route in row.keys}

    def guarded(callback) -> bool:
        site = getattr(callback, "admin_site", None) or getattr(getattr(callback, "model_admin", None), "admin_site", None)
        return isinstance(site, AdminSite)

    unguarded = [route for route, callback in _walk(get_resolver().url_patterns)
                 if route.startswith("admin/") and not guarded(callback) and route not in own_rows]
    assert not unguarded, f"admin routes outside AdminSite.admin_view: {unguarded}"


# --- the HTTP cells --------------------------------------------------------------------------------------

@pytest.mark.django_db
class TestHttp:
    """Each cell runs in a savepoint of the class's world, rolled back after it: what it changes and
    the work it leaves for after the commit are gone. pytest-django's marker sets up the test
    database and orders these with the other `db` tests; its per-test TestCase (10 ms a cell, and
    the Redis flush as much again) is replaced for these ~700 cells."""

    @pytest.fixture
    def _django_db_helper(self, http_world, django_db_blocker):
        with django_db_blocker.unblock():
            savepoint = transaction.atomic()
            savepoint.__enter__()
            try:
                yield
            finally:
                transaction.set_rollback(True)
                savepoint.__exit__(None, None, None)

    @pytest.fixture
    def _flush_session_redis(self):
        """No HTTP cell reads what another left in Redis (tests/conftest.py flushes it per test)."""

    @pytest.fixture
    def cell(self, http_world, _django_db_helper):
        return http_world

    @pytest.mark.parametrize("row, role", cells_of(ALL_ROWS))
    def test_cell(self, cell, row, role):
        row.check(cell, role)

    @pytest.mark.parametrize("chat, role, reader, expected", transcript_cells())
    def test_transcript(self, cell, chat, role, reader, expected):
        public_id = getattr(cell, chat).public_id if chat else "7d3c8f9e-1111-4222-8333-944455556666"
        client = cell.client(role) if reader == "alice" else cell.client_of(cell.bob)
        response = client.get(f"/console/transcript/{public_id}.json")
        if isinstance(expected, list):
            assert response.status_code == 200, response.content
            body = response.json()
            assert body["conversation_id"] == str(public_id)
            assert [m["text"] for m in body["messages"] if m["visibility"] == "whisper"] == expected
        else:
            expected.check(response)

    def test_the_console_page_lists_no_other_agent_s_private_canned_response(self, cell):
        config = cell.client("agent").get("/console/").context["config"]
        canned = {c["id"] for c in config["canned"]}
        assert cell.shared_canned.pk in canned and cell.bobs_canned.pk not in canned

    def test_a_superuser_opens_a_ban_in_the_admin(self, cell):
        """The ban admin's change page is view-only (no change permission); it once was a 500
        (BanAdmin.get_form made the absent `network` field required)."""
        response = cell.client("admin").get(f"/admin/conversations/ban/{cell.admin_objects['conversations/ban']}/change/")
        assert response.status_code == 200


# --- the sockets (chatdesk/asgi.py) ------------------------------------------------------------------------

CONSOLE, WALLBOARD, WIDGET = "ws/agent/", "ws/wallboard/", "ws/widget/<slug:site_key>/"
WIDGET_HOST = "chat.acme.test"


def refused(code: str, close: int) -> tuple:
    """An error frame with this code, then this close code (the socket is accepted first)."""
    return ("refused", code, close)


def error(code: str) -> tuple:
    """The frame is answered with an error frame with this code (and nothing is changed)."""
    return ("error", code)


OK = "done"  # the frame's documented reply came, no error
AS_AGENT, AS_SUPERVISOR = ("welcome", "agent"), ("welcome", "supervisor")
WATCHING = ("welcome", "wallboard")  # welcome, then a snapshot
NEW_VISITOR = ("visitor", "a new visitor without a chat")  # a staff session is nobody's visitor identity


async def _close(sock) -> None:
    try:
        await sock.disconnect()
    except Exception:  # already closed by the server
        pass


async def console_hello(w, role, *, origin=STAFF_ORIGIN, path="/ws/agent/"):
    sock = await Socket.open(path, host=STAFF_HOST, origin=origin, session=w.sessions.get(role))
    try:
        await sock.send({"type": "hello"})
        frame = await sock.receive()
        if frame["type"] == "error":
            return refused(frame["code"], await sock.close_code())
        assert frame["type"] == "welcome", frame
        if path == "/ws/wallboard/":
            await sock.receive_until("wallboard")
            return WATCHING
        assert frame["agent"]["id"] == w.actor(role).pk
        if frame["agent"]["supervisor"]:
            await sock.receive_until("board")
        return AS_SUPERVISOR if frame["agent"]["supervisor"] else AS_AGENT
    finally:
        await _close(sock)


async def widget_hello(w, role, *, site="acme", origin=ACME_ORIGIN, token=None):
    sock = await Socket.open(f"/ws/widget/{site}/", host=WIDGET_HOST, origin=origin, session=w.sessions.get(role))
    try:
        await sock.send({"type": "hello", "token": token})
        frame = await sock.receive()
        if frame["type"] == "error":
            return refused(frame["code"], await sock.close_code())
        assert frame["type"] == "welcome", frame
        return NEW_VISITOR if frame["conversation"] is None else ("visitor", frame["conversation"]["conversation_id"])
    finally:
        await _close(sock)


def visitor_token(w, site_key="acme"):
    from widget.tokens import make_visitor_token

    return make_visitor_token(site_key=site_key, visitor_public_id=str(w.alices_chat.visitor.public_id))


@dataclass
class SocketRow:
    route: str
    case: str
    run: Callable  # async (world, role) -> what was seen
    expect: dict

    def label(self) -> str:
        return f"/{self.route} [{self.case}]"


def S(route, case, run, anonymous, agent, other, supervisor, admin) -> SocketRow:
    return SocketRow(route, case, run, dict(zip(ROLES, (anonymous, agent, other, supervisor, admin))))


R4001, R4003 = refused("not_authenticated", 4001), refused("origin_not_allowed", 4003)
CONNECT = [
    # route      case                                   run                                                                anonymous agent other supervisor admin
    S(CONSOLE,   "hello",                               console_hello,                                                     R4001, AS_AGENT, NA, AS_SUPERVISOR, AS_SUPERVISOR),
    S(CONSOLE,   "a page of another origin",            partial(console_hello, origin=FOREIGN_ORIGIN),                     R4003, R4003, NA, R4003, R4003),
    S(CONSOLE,   "no Origin header",                    partial(console_hello, origin=None),                               R4003, R4003, NA, R4003, R4003),
    S(WALLBOARD, "hello",                               partial(console_hello, path="/ws/wallboard/"),                      R4001, refused("forbidden", 4003), NA, WATCHING, WATCHING),
    S(WALLBOARD, "a page of another origin",            partial(console_hello, path="/ws/wallboard/", origin=FOREIGN_ORIGIN), R4003, R4003, NA, R4003, R4003),
    S(WIDGET,    "hello",                               widget_hello,                                                      NEW_VISITOR, NEW_VISITOR, NA, NEW_VISITOR, NEW_VISITOR),
    S(WIDGET,    "an origin the site does not allow",   partial(widget_hello, origin=FOREIGN_ORIGIN),                      R4003, R4003, NA, R4003, R4003),
    S(WIDGET,    "no such site",                        partial(widget_hello, site="nosuchsite"),                          refused("unknown_site", 4004), refused("unknown_site", 4004), NA, refused("unknown_site", 4004), refused("unknown_site", 4004)),
    S(WIDGET,    "a forged visitor token",              partial(widget_hello, token="forged"),                             refused("bad_token", 4001), refused("bad_token", 4001), NA, refused("bad_token", 4001), refused("bad_token", 4001)),
]


async def widget_other_token(w, role):
    """Ann's token made for another site: the widget of Acme does not take it."""
    return await widget_hello(w, role, token=visitor_token(w, "globex"))


CONNECT.append(S(WIDGET, "a visitor token of another site", widget_other_token,
                 refused("bad_token", 4001), refused("bad_token", 4001), NA, refused("bad_token", 4001),
                 refused("bad_token", 4001)))


# Console frames that name a conversation, against the column's target (docs/protocol.md,
# "Permissions"): `agent` a fresh chat of Alice's, `other` and the managers one of Bob's. Each cell
# builds its own chat, so what one allows does not change another's.
@dataclass
class Action:
    frame: str
    case: str
    target: str  # chat | offer (assigned, not accepted) | tagged | take (queued; Bob's chat for `other`) | queued | own
    fields: Any  # dict, or (world, role) -> dict
    reply: str | None  # the reply that says it was done; None: no error before the pong of a ping sent after it
    expect: dict

    def label(self) -> str:
        return f"/{CONSOLE} {self.frame}" + (f" [{self.case}]" if self.case else "")


def A(frame, case, target, fields, reply, agent, other, supervisor, admin) -> Action:
    # anonymous never gets this far: refused at connect (CONNECT above)
    return Action(frame, case, target, fields, reply,
                  dict(zip(ROLES, (NA, agent, other, supervisor, admin))))


F = error("forbidden")
WRITE = {"client_id": "c1", "text": "Hello"}
ACTIONS = [
    # frame      case                         target    fields                                          reply       agent      other                        supervisor admin
    A("hello",   "the chat in conversations", "chat",   {},                                             "replayed", OK,        F,                           OK,        OK),
    A("open",    "",                          "chat",   {},                                             "context",  OK,        F,                           OK,        OK),
    A("open",    "a chat in the queue",       "queued", {},                                             "context",  OK,        NA,                          OK,        OK),
    A("sync",    "",                          "chat",   {"last_seq": 0},                                "replayed", OK,        F,                           OK,        OK),
    A("take",    "",                          "take",   {},                                             "state",    OK,        error("illegal_transition"), OK,        OK),
    A("accept",  "",                          "offer",  {},                                             "state",    OK,        F,                           F,         F),
    A("message", "",                          "chat",   WRITE,                                          "ack",      OK,        F,                           F,         F),
    A("message", "canned: the shared one (agent), Bob's own (others)", "own", lambda w, role: {**WRITE, "canned_response_id": (w.shared_canned if role == "agent" else w.bobs_canned).pk},
                                                                                                        "ack",      OK,        error("not_found"),          error("not_found"), error("not_found")),
    A("note",    "",                          "chat",   WRITE,                                          "ack",      OK,        F,                           OK,        OK),
    A("whisper", "",                          "chat",   WRITE,                                          "ack",      F,         F,                           OK,        OK),
    A("barge",   "",                          "chat",   WRITE,                                          "ack",      F,         F,                           OK,        OK),
    A("typing",  "",                          "chat",   {"is_typing": True},                            None,       OK,        F,                           OK,        OK),
    A("seen",    "",                          "chat",   {"seq": 1},                                     None,       OK,        F,                           OK,        OK),
    A("tag",     "",                          "chat",   {"tag": "refund"},                              "tags",     OK,        F,                           OK,        OK),
    A("untag",   "",                          "tagged", {"tag": "refund"},                              "tags",     OK,        F,                           OK,        OK),
    A("transfer", "",                         "chat",   lambda w, role: {"department": w.support.pk},   "state",    OK,        F,                           OK,        OK),
    A("reassign", "",                         "chat",   lambda w, role: {"agent": w.alice.pk},          "state",    F,         F,                           OK,        OK),
    A("wrapup",  "",                          "chat",   {},                                             "wrapup",   OK,        F,                           OK,        OK),
    A("close",   "",                          "chat",   {"resolved": True},                             "state",    OK,        F,                           OK,        OK),
    A("ban",     "",                          "chat",   {},                                             "banned",   F,         F,                           OK,        OK),
]
def make_target(w, kind, role):
    """A fresh chat for one cell, of the column's subject (Alice in `agent`, Bob elsewhere)."""
    from conversations import lifecycle
    from conversations.lifecycle import Actor
    from conversations.models import Conversation
    from tests.console.console import chat_with, queued_chat

    owner = w.actor(role) if kind == "own" else w.subject(role)
    if kind == "queued" or (kind == "take" and role != "other"):
        return queued_chat(w.site, "Vera")
    if kind == "offer":
        chat = queued_chat(w.site, "Vera")
        lifecycle.assign_conversation(conversation_id=chat.pk, agent=owner, actor=Actor.system())
        return Conversation.objects.get(pk=chat.pk)
    chat = chat_with(owner, w.site, "Vera")
    if kind == "tagged":
        lifecycle.tag_conversation(conversation_id=chat.pk, actor=Actor.of_agent(owner), tag=w.tag)
    return chat


def snapshot(conversation_pk):
    """What a refused frame must leave as it was."""
    from conversations.models import Ban, Conversation, Message

    chat = Conversation.objects.get(pk=conversation_pk)
    return (chat.status, chat.assigned_agent_id, chat.last_seq, chat.agent_seen_seq, chat.events.count(),
            Message.objects.filter(conversation=chat).count(), sorted(chat.tags.values_list("name", flat=True)),
            Ban.objects.filter(visitor_id=chat.visitor_id).count())


def visitor_writes(conversation_pk, text):
    from conversations import lifecycle
    from conversations.lifecycle import Actor

    lifecycle.post_message(conversation_id=conversation_pk, actor=Actor.visitor(), text=text, client_id=text)


async def console_action(w, action, role) -> Any:
    target = await db(make_target)(w, action.target, role)
    cid = str(target.public_id)
    before = await db(snapshot)(target.pk)
    sock = await Socket.open("/ws/agent/", host=STAFF_HOST, origin=STAFF_ORIGIN, session=w.sessions[role])
    try:
        if action.frame == "hello":
            await sock.send({"type": "hello", "conversations": {cid: 0}})
        else:
            await sock.send({"type": "hello"})
            await sock.receive_until("welcome")
            fields = action.fields(w, role) if callable(action.fields) else action.fields
            await sock.send({"type": action.frame, "conversation_id": cid, **fields})
        if action.reply is None:
            await sock.send({"type": "ping"})
        reply = await _reply_or_error(sock, action.reply or "pong", cid)
        if reply["type"] != "error":
            return OK
        assert reply["conversation_id"] == cid, reply
        assert reply["code"] != "server_error", reply
        assert await db(snapshot)(target.pk) == before, "a refused frame changed the chat"
        if role == "other" and action.target != "own":
            await _assert_nothing_reaches(sock, w, target)
        return error(reply["code"])
    finally:
        await _close(sock)
        await db(set_aside)(target.pk)


def set_aside(conversation_pk):
    """The cell is over: its chat leaves the lists the next cells' hello and board read (a plain
    UPDATE, not a transition: nothing is checked after this, and the world is flushed at the end)."""
    from conversations.models import Conversation

    Conversation.objects.filter(pk=conversation_pk, status__in=Conversation.OPEN_STATUSES).update(
        status=Conversation.Status.CLOSED, closed_at=timezone.now())


async def _reply_or_error(sock, reply_type, cid):
    while True:
        frame = await sock.receive()
        if frame["type"] == "error" or (frame["type"] == reply_type and frame.get("conversation_id", cid) == cid):
            return frame


async def _assert_nothing_reaches(sock, w, target):
    """After a refusal, the chat's live frames do not reach this agent: the visitor writes in it,
    then in Alice's own chat (shown on this socket); the second arrives, and nothing of the first
    before it (both go through the one Redis connection of the layer, in that order)."""
    cid, own = str(target.public_id), str(w.alices_chat.public_id)
    await db(visitor_writes)(target.pk, f"probe-{target.pk}")
    await db(visitor_writes)(w.alices_chat.pk, f"sentinel-{target.pk}")
    seen = []
    while True:
        frame = await sock.receive()
        if frame.get("conversation_id") == cid:
            seen.append(frame["type"])
        if frame["type"] == "message" and frame.get("conversation_id") == own and frame["text"] == f"sentinel-{target.pk}":
            break
    assert not seen, f"frames of another agent's chat reached this socket: {seen}"


# The widget frames that name a conversation, sent about another visitor's: `other` is Ann (Alice's
# visitor, with her token), every other column a new visitor whose socket carries that person's
# session cookie (the widget socket reads no session: staff get nothing there either).
@dataclass
class VisitorAction:
    frame: str
    target: str  # a World chat that is not Ann's
    fields: dict
    expect: dict

    def label(self) -> str:
        return f"/{WIDGET} {self.frame} [another visitor's chat]"


def V(frame, target, fields, anonymous, agent, other, supervisor, admin) -> VisitorAction:
    return VisitorAction(frame, target, fields, dict(zip(ROLES, (anonymous, agent, other, supervisor, admin))))


NO_CONVERSATION = error("no_conversation")
NOTHING_OF_IT = ("visitor", "replays nothing of another visitor's chat")
VISITOR_ACTIONS = [
    # frame         target           fields                                anonymous        agent            other            supervisor       admin
    V("hello",      "bobs_chat",     {"last_seq": 0},                      NOTHING_OF_IT,   NOTHING_OF_IT,   NOTHING_OF_IT,   NOTHING_OF_IT,   NOTHING_OF_IT),
    V("sync",       "bobs_chat",     {"last_seq": 0},                      NO_CONVERSATION, NO_CONVERSATION, NO_CONVERSATION, NO_CONVERSATION, NO_CONVERSATION),
    V("rate",       "alices_closed", {"csat": 1},                          NO_CONVERSATION, NO_CONVERSATION, NO_CONVERSATION, NO_CONVERSATION, NO_CONVERSATION),
    V("transcript", "bobs_chat",     {"client_id": "t9", "email": "x@example.com"}, NO_CONVERSATION, NO_CONVERSATION, NO_CONVERSATION, NO_CONVERSATION, NO_CONVERSATION),
]


def visitor_snapshot(conversation_pk):
    from surveys.models import SurveyResponse, TranscriptRequest

    return (snapshot(conversation_pk), SurveyResponse.objects.filter(conversation_id=conversation_pk).count(),
            TranscriptRequest.objects.filter(conversation_id=conversation_pk).count())


async def visitor_action(w, action, role):
    target = getattr(w, action.target)
    cid = str(target.public_id)
    before = await db(visitor_snapshot)(target.pk)
    sock = await Socket.open("/ws/widget/acme/", host=WIDGET_HOST, origin=ACME_ORIGIN, session=w.sessions.get(role))
    try:
        hello = {"type": "hello", "token": visitor_token(w) if role == "other" else None}
        if action.frame == "hello":
            hello.update(conversation_id=cid, **action.fields)
        await sock.send(hello)
        welcome = await sock.receive_until("welcome")
        own = welcome["conversation"] and welcome["conversation"]["conversation_id"]
        assert own == (str(w.alices_chat.public_id) if role == "other" else None), welcome["conversation"]
        if action.frame != "hello":
            await sock.send({"type": action.frame, "conversation_id": cid, **action.fields})
        await sock.send({"type": "ping"})
        seen = []
        while (frame := await sock.receive())["type"] != "pong":
            if frame["type"] == "error":
                assert frame.get("conversation_id") == cid, frame
                seen.append(error(frame["code"]))
            elif frame.get("conversation_id") == cid:
                seen.append(frame["type"])
        assert await db(visitor_snapshot)(target.pk) == before, "a refused frame changed the chat"
        if action.frame == "hello":
            assert not seen, seen
            return NOTHING_OF_IT
        assert len(seen) == 1, seen
        return seen[0]
    finally:
        await _close(sock)


# --- the socket routes' list --------------------------------------------------------------------------------

def test_every_socket_route_has_rows():
    from chatdesk.asgi import websocket_urlpatterns

    routes = {str(pattern.pattern) for pattern in websocket_urlpatterns}
    listed = {row.route for row in CONNECT}
    assert routes - listed == set(), f"unlisted socket route(s): {sorted(routes - listed)}"
    assert listed - routes == set(), f"rows for no socket route: {sorted(listed - routes)}"


def test_every_console_frame_that_names_a_conversation_has_rows():
    from console.protocol import CLIENT_FRAMES

    naming = {kind for kind, fields in CLIENT_FRAMES.items() if "conversation_id" in fields} | {"hello"}
    assert naming - {action.frame for action in ACTIONS} == set()


def test_every_widget_frame_that_names_a_conversation_has_a_row():
    from widget.protocol import CLIENT_FRAMES

    naming = {kind for kind, fields in CLIENT_FRAMES.items() if "conversation_id" in fields}
    assert naming - {action.frame for action in VISITOR_ACTIONS} == set()


# --- the socket cells ---------------------------------------------------------------------------------------

def socket_cells(rows):
    return [pytest.param(row, role, id=f"{row.label()} -{role}")
            for row in rows for role in ROLES if row.expect[role] is not NA]


@pytest.mark.django_db(transaction=True)
class TestSockets:
    """Sockets read the database from worker threads, so their world is committed (socket_world).
    The marker sets the test database up and orders these with the transactional tests, whose data
    is flushed after them; pytest-django's own flush after every cell is replaced by the world's one
    flush at the end of the class."""

    @pytest.fixture
    def _django_db_helper(self, socket_world, django_db_blocker):
        with django_db_blocker.unblock():
            yield

    @pytest.fixture
    def _flush_session_redis(self):
        """Redis is flushed once, when the world is built: no cell reaches a limit it keeps."""

    @pytest.mark.parametrize("row, role", socket_cells(CONNECT))
    async def test_connect(self, socket_world, row, role):
        assert await row.run(socket_world, role) == row.expect[role]

    @pytest.mark.parametrize("action, role", socket_cells(ACTIONS))
    async def test_console_frame(self, socket_world, action, role):
        assert await console_action(socket_world, action, role) == action.expect[role]

    @pytest.mark.parametrize("action, role", socket_cells(VISITOR_ACTIONS))
    async def test_widget_frame(self, socket_world, action, role):
        assert await visitor_action(socket_world, action, role) == action.expect[role]
