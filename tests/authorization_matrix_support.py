"""What tests/test_authorization_matrix.py builds on: the endpoints the URL resolver serves, the
expected outcomes a matrix cell names, the people and chats every cell acts on, and socket drivers.

The people (one per column of the matrix):

* anonymous: no session;
* agent: Alice, an agent, on her own data;
* other: Alice again, on another agent's data (Bob's chat, Bob's agent record, Bob's numbers);
* supervisor: Sam (Agent.role supervisor, not Django staff), on Bob's data;
* admin: Ada, a Django superuser with an agent profile whose role is plain "agent" (is_superuser
  alone makes her a supervisor in the console, docs/protocol.md), on Bob's data.
"""

from __future__ import annotations

import inspect
import json
import re
from dataclasses import dataclass, field
from typing import Any, Callable
from urllib.parse import urlencode, urlsplit

from channels.testing import WebsocketCommunicator
from django.contrib.auth import get_user_model
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver, resolve

ROLES = ("anonymous", "agent", "other", "supervisor", "admin")


# --- the endpoints, from the resolver ---------------------------------------------------------------

# A function view that restricts no method (no require_http_methods) answers every method alike: it is
# listed with GET and POST. So are the admin's views, all behind AdminSite.admin_view whatever the method.
UNRESTRICTED = ("GET", "POST")


def normalize(route: str) -> str:
    """One spelling for path() and re_path() routes: "api/^agents/(?P<pk>[0-9]+)/$" -> "api/agents/<pk>/"."""
    route = re.sub(r"\(\?P<(\w+)>(?:[^()]|\([^()]*\))*\)", r"<\1>", route)
    return route.replace("^", "").replace("$", "")


def _walk(patterns, prefix=""):
    for pattern in patterns:
        if isinstance(pattern, URLResolver):
            yield from _walk(pattern.url_patterns, prefix + str(pattern.pattern))
        elif isinstance(pattern, URLPattern):
            yield normalize(prefix + str(pattern.pattern)), pattern.callback


def _declared_methods(callback) -> list[str] | None:
    """The methods a function view lets through (require_http_methods and its shortcuts), if it says."""
    view = callback
    while view is not None:
        try:
            nonlocals = inspect.getclosurevars(view).nonlocals
        except TypeError:
            nonlocals = {}
        if "request_method_list" in nonlocals:
            return list(nonlocals["request_method_list"])
        view = getattr(view, "__wrapped__", None)
    return None


def allowed_methods(route: str, callback) -> list[str]:
    """The methods an endpoint handles. HEAD is GET's (Django and DRF answer it as GET) and is left out."""
    if route.startswith("admin/"):
        return list(UNRESTRICTED)
    actions = getattr(callback, "actions", None)
    if actions:  # a DRF router route: its actions, and DRF's OPTIONS (permission-checked like the rest)
        methods = {method.upper() for method in actions} | {"OPTIONS"}
    elif (view_class := getattr(callback, "cls", None) or getattr(callback, "view_class", None)) is not None:
        methods = {name.upper() for name in view_class.http_method_names if hasattr(view_class, name)}
    else:
        methods = set(_declared_methods(callback) or UNRESTRICTED)
    return sorted(methods - {"HEAD"})


def http_endpoints() -> set[tuple[str, str]]:
    """Every (method, route) the project's URL resolver serves."""
    return {(method, route) for route, callback in _walk(get_resolver().url_patterns)
            for method in allowed_methods(route, callback)}


def route_of(path: str) -> str:
    return normalize(resolve(urlsplit(path).path).route)


# --- what a cell expects ---------------------------------------------------------------------------

class NotApplicable:
    """No cell (no test): the row names nobody's data, so `agent` says it all for `other`; or the role
    cannot get that far (anonymous sending console frames: refused at connect)."""

    def __repr__(self):
        return "NA"


NA = NotApplicable()


@dataclass(frozen=True)
class Status:
    """This status; the page rendered with these template context values (`state="thanks"`), if given."""

    status: int
    context: tuple = ()

    def check(self, response) -> None:
        assert response.status_code == self.status, describe(response)
        for name, value in self.context:
            assert response.context[name] == value, (name, response.context[name])

    def __str__(self):
        return str(self.status)


@dataclass(frozen=True)
class Redirect:
    """302 to a path starting with `to`."""

    to: str

    def check(self, response) -> None:
        assert response.status_code == 302, describe(response)
        assert response["Location"].startswith(self.to), response["Location"]

    def __str__(self):
        return f"302 {self.to}"


@dataclass(frozen=True)
class Error:
    """The documented JSON Error body (chatdesk/api_errors.py): this status and code, and a detail."""

    status: int
    code: str

    def check(self, response) -> None:
        assert response.status_code == self.status, describe(response)
        assert response["Content-Type"].startswith("application/json"), describe(response)
        body = response.json()
        assert body["code"] == self.code, body
        assert isinstance(body.get("detail"), str) and body["detail"], body

    def __str__(self):
        return f"{self.status} {self.code}"


def Page(status: int, **context) -> Status:
    return Status(status, tuple(sorted(context.items())))


def as_expectation(value):
    return Status(value) if isinstance(value, int) else value


def describe(response) -> str:
    body = response.content[:300].decode(errors="replace")
    return f"{response.status_code} {response.get('Location', '')} {body}"


@dataclass
class Row:
    """One (method, route[, case]) of the HTTP matrix: where to send the request and what each role gets."""

    method: str
    route: str
    path: str  # str.format()ed with the cell's context (Context below)
    expect: dict[str, Any]
    body: dict | Callable | None = None
    case: str = ""

    @property
    def keys(self) -> set[tuple[str, str]]:
        return {(self.method, self.route)}

    def label(self) -> str:
        return f"{self.method} /{self.route}" + (f" [{self.case}]" if self.case else "")

    def check(self, world, role) -> None:
        expected = self.expect[role]
        refusal = isinstance(expected, Error) or (isinstance(expected, Status) and expected.status >= 400) or (
            isinstance(expected, Redirect) and "login" in expected.to)
        before = state_of(world) if refusal else None
        expected.check(send(world, self, role))
        if refusal:
            assert state_of(world) == before, "a refused request changed something"


def state_of(world) -> tuple:
    """What a refused request must leave alone: every chat's status and agent, every event, the agents."""
    from agents.models import Agent, AgentStatusEvent, Department, Skill
    from conversations.models import Conversation, ConversationEvent, Message
    from surveys.models import SurveyResponse

    return (list(Conversation.objects.order_by("pk").values_list("pk", "status", "assigned_agent_id", "department_id")),
            ConversationEvent.objects.count(), Message.objects.count(), AgentStatusEvent.objects.count(),
            list(Agent.objects.order_by("pk").values_list("pk", "status", "role", "max_concurrent_chats")),
            list(Skill.objects.order_by("pk").values_list("pk", "slug", "name")),
            list(Department.objects.order_by("pk").values_list("pk", "name", "strategy")),
            SurveyResponse.objects.count())


def send(world, row, role, *, method=None, path=None, body=None):
    """The row's request as the role sends it (a JSON body under /api/, a form elsewhere)."""
    method = method or row.method
    context = Context(world, role)
    path = (path or row.path).format(w=world, subject=context.subject, chat=context.chat, role=role)
    assert route_of(path) in {route for _, route in row.keys}, f"{path} reaches {route_of(path)}, not the row's"
    body = body if body is not None else (row.body(context) if callable(row.body) else row.body)
    client = world.client(role)
    if path.startswith("/api/"):
        return client.generic(method, path, json.dumps(body) if body is not None else "",
                              content_type="application/json")
    if method in ("GET", "OPTIONS"):
        return client.generic(method, path)
    return client.generic(method, path, urlencode(body or {}), content_type="application/x-www-form-urlencoded")


ADMIN_MODEL_ROUTES = ("", "add/", "<path:object_id>/", "<path:object_id>/change/", "<path:object_id>/history/",
                      "<path:object_id>/delete/")


@dataclass
class AdminModel:
    """A model's six admin pages, GET and POST, as one row. The admin site guards them all alike
    (AdminSite.admin_view, is_active and is_staff: test_every_admin_route_is_behind_the_admin_guard),
    so a cell asks for the list and posts to a change page: the sign-in for anyone but staff; for
    staff the list, and the refusals the model admin itself makes even to a superuser (`refuses`:
    "add" is GET add/ -> 403, "change" is POST of a change -> 403). What Django's admin does for
    staff beyond that is Django's, not this project's rule, and costs a page render a request."""

    model: str  # "app_label/model_name"
    refuses: tuple[str, ...] = ()

    @property
    def expect(self) -> dict:
        return {role: NA if role == "other" else role for role in ROLES}

    @property
    def keys(self) -> set[tuple[str, str]]:
        return {(method, f"admin/{self.model}/{route}") for method in UNRESTRICTED for route in ADMIN_MODEL_ROUTES}

    def label(self) -> str:
        return f"GET,POST /admin/{self.model}/*"

    def check(self, world, role) -> None:
        page = f"/admin/{self.model}/"
        change = f"{page}{world.admin_objects[self.model]}/change/"
        client = world.client(role)
        if role != "admin":
            got = {"list": client.get(page), "change (POST)": client.post(change, {})}
            expected = dict.fromkeys(got, Redirect("/admin/login/?next="))
        else:
            got, expected = {"list": client.get(page)}, {"list": Status(200)}
            if "add" in self.refuses:
                got["add"], expected["add"] = client.get(page + "add/"), Status(403)
            if "change" in self.refuses:
                got["change (POST)"], expected["change (POST)"] = client.post(change, {}), Status(403)
        for name, response in got.items():
            try:
                expected[name].check(response)
            except AssertionError as error:
                raise AssertionError(f"{name}: {error}") from None


def R(method, route, path, anonymous, agent, other, supervisor, admin, *, body=None, case="") -> Row:
    """A matrix row, the columns in ROLES order."""
    cells = dict(zip(ROLES, (anonymous, agent, other, supervisor, admin)))
    return Row(method, route, path, {role: as_expectation(v) for role, v in cells.items()}, body, case)


def cells_of(rows: list) -> list:
    import pytest

    return [pytest.param(row, role, id=f"{row.label()} -{role}")
            for row in rows for role in ROLES if row.expect[role] is not NA]


# --- the people and chats every cell acts on -------------------------------------------------------

@dataclass
class World:
    site: Any = None
    other_site: Any = None
    topic: Any = None
    tag: Any = None
    support: Any = None
    orders: Any = None
    billing: Any = None
    alice: Any = None
    bob: Any = None
    sam: Any = None
    ada: Any = None
    shared_canned: Any = None
    bobs_canned: Any = None
    alices_chat: Any = None  # active, visitor Ann; a whisper from Sam for Alice
    bobs_chat: Any = None  # active, visitor Carl; a whisper from Sam for Bob
    queued: Any = None  # waiting, visitor Dora
    anns_earlier: Any = None  # Ann's earlier chat, closed, served by Bob (a whisper for Bob)
    alices_closed: Any = None  # Alice's ended chat with Eve (who has no chat now)
    handed_over: Any = None  # Fay's chat, transferred by Alice to Bob
    offline: Any = None  # an offline message
    survey_token: str = ""
    transcript_token: str = ""
    sessions: dict = field(default_factory=dict)  # role -> sessionid
    admin_objects: dict = field(default_factory=dict)  # "app/model" -> pk

    def actor(self, role):
        """The agent who acts in this column (None for anonymous)."""
        return {"anonymous": None, "agent": self.alice, "other": self.alice, "supervisor": self.sam,
                "admin": self.ada}[role]

    def subject(self, role):
        """Whose data the column acts on: Alice's own in `agent`, Bob's everywhere else."""
        return self.alice if role == "agent" else self.bob

    @staticmethod
    def client_of(agent) -> Client:
        client = Client()
        client.force_login(agent.user)
        return client

    def client(self, role) -> Client:
        client = Client()
        if self.sessions.get(role):
            client.cookies["sessionid"] = self.sessions[role]
        return client


@dataclass
class Context:
    """What a row's path and body may name: {w.<anything of World>}, {subject}, {chat}, {role}."""

    w: World
    role: str

    @property
    def subject(self):
        return self.w.subject(self.role)

    @property
    def chat(self):
        return self.w.alices_chat if self.role == "agent" else self.w.bobs_chat


def build_world() -> World:
    """Everyone and every chat of the matrix, written through the lifecycle as the product writes them.

    Routing must be switched off (tests.console.console.switch_routing_off) so chats stay where put.
    """
    from agents.models import Agent, CannedResponse, Department, Skill
    from conversations import lifecycle
    from conversations.lifecycle import Actor
    from conversations.models import Message, Tag
    from surveys import mailing
    from surveys.models import TranscriptRequest
    from tests.console.console import chat_with, queued_chat
    from tests.personas import make_agent, make_site, make_topic

    w = World()
    w.site = make_site()
    w.other_site = make_site("globex", name="Globex", allowed_origins=["https://globex.test"])
    w.topic = make_topic(w.site)
    w.orders = Skill.objects.get(slug="orders")
    w.billing = Skill.objects.create(slug="billing", name="Billing")
    w.tag = Tag.objects.create(site=w.site, name="refund")
    w.support = Department.objects.create(name="Support")
    # Caps far above what the cells open: socket cells each start chats of their own.
    w.alice = make_agent("alice", cap=200, skills={"orders": 5})
    w.bob = make_agent("bob", cap=200, skills={"orders": 3})
    w.sam = make_agent("sam", cap=200, role=Agent.Role.SUPERVISOR)
    ada = get_user_model().objects.create_superuser("ada", "ada@acme.test", "pw-ada")
    w.ada = Agent.objects.create(user=ada, display_name="Ada", status=Agent.Status.ONLINE, max_concurrent_chats=200)
    for agent in (w.alice, w.bob):
        agent.departments.add(w.support)
    w.shared_canned = CannedResponse.objects.create(shortcut="hi", title="Hi", text="Hello there!")
    w.bobs_canned = CannedResponse.objects.create(shortcut="bobs", title="Bob's own", text="Bob's private wording",
                                                  owner=w.bob)

    def whisper(chat, text):
        lifecycle.post_message(conversation_id=chat.pk, actor=Actor.of_agent(w.sam), text=text,
                               client_id=f"w-{chat.pk}", visibility=Message.Visibility.WHISPER)

    w.anns_earlier = chat_with(w.bob, w.site, "Ann")
    whisper(w.anns_earlier, "for Bob about Ann")
    lifecycle.post_message(conversation_id=w.anns_earlier.pk, actor=Actor.of_agent(w.bob), text="Solved?",
                           client_id="b1")
    lifecycle.close_conversation(conversation_id=w.anns_earlier.pk, actor=Actor.of_agent(w.bob))
    w.alices_chat = chat_with(w.alice, w.site, "Ann")
    whisper(w.alices_chat, "for Alice")
    w.anns_earlier.visitor = w.alices_chat.visitor
    w.anns_earlier.save(update_fields=["visitor"])
    w.bobs_chat = chat_with(w.bob, w.site, "Carl")
    whisper(w.bobs_chat, "for Bob")
    w.queued = queued_chat(w.site, "Dora")

    w.alices_closed = chat_with(w.alice, w.site, "Eve")
    w.alices_closed.visitor.email = "eve@example.com"
    w.alices_closed.visitor.save(update_fields=["email"])
    lifecycle.post_message(conversation_id=w.alices_closed.pk, actor=Actor.of_agent(w.alice), text="Done!",
                           client_id="a1")
    lifecycle.close_conversation(conversation_id=w.alices_closed.pk, actor=Actor.of_agent(w.alice))
    w.alices_closed.refresh_from_db()
    w.survey_token = mailing.survey_token(w.alices_closed)
    transcript = TranscriptRequest.objects.create(conversation=w.alices_closed, request_id="t1",
                                                  email="someone@else.test", language="en", needs_confirmation=True)
    w.transcript_token = urlsplit(mailing.transcript_confirmation_url(transcript)).path.split("/")[2]

    w.handed_over = chat_with(w.alice, w.site, "Fay")
    lifecycle.transfer_conversation(conversation_id=w.handed_over.pk, actor=Actor.of_agent(w.alice), to_agent=w.bob)
    w.offline, _ = lifecycle.leave_offline_message(site=w.site, visitor=w.queued.visitor, name="Dora",
                                                   email="dora@example.com", text="Call me", client_id="o1")
    for role in ROLES:
        agent = w.actor(role)
        if agent is not None and role != "other":
            client = Client()
            client.force_login(agent.user)
            w.sessions[role] = client.cookies["sessionid"].value
    w.sessions["other"] = w.sessions["agent"]
    return w


# --- sockets ---------------------------------------------------------------------------------------

STAFF_HOST = "localhost:8000"
STAFF_ORIGIN = "http://localhost:8000"
FOREIGN_ORIGIN = "https://evil.example"


class Socket:
    """One socket, driven frame by frame (the console's, the wallboard's or a widget's)."""

    def __init__(self, communicator: WebsocketCommunicator):
        self.communicator = communicator

    @classmethod
    async def open(cls, path: str, *, host: str, origin: str | None, session: str | None) -> "Socket":
        from chatdesk.asgi import application

        headers = [(b"host", host.encode())]
        if origin:
            headers.append((b"origin", origin.encode()))
        if session:
            headers.append((b"cookie", f"sessionid={session}".encode()))
        communicator = WebsocketCommunicator(application, path, headers=headers)
        connected, _ = await communicator.connect()
        assert connected
        return cls(communicator)

    async def send(self, frame: dict) -> None:
        await self.communicator.send_to(text_data=json.dumps(frame))

    async def receive(self, timeout: float = 3) -> dict:
        return json.loads(await self.communicator.receive_from(timeout=timeout))

    async def receive_until(self, frame_type: str, **match) -> dict:
        while True:
            frame = await self.receive()
            if frame["type"] == frame_type and all(frame.get(k) == v for k, v in match.items()):
                return frame

    async def first_of(self, *frame_types: str, **match) -> dict:
        """The first frame of one of these types (with these field values), skipping any other."""
        while True:
            frame = await self.receive()
            if frame["type"] in frame_types and all(frame.get(k) == v for k, v in match.items()):
                return frame

    async def close_code(self, timeout: float = 3) -> int:
        while True:
            output = await self.communicator.receive_output(timeout)
            if output["type"] == "websocket.close":
                return output.get("code")

    async def disconnect(self) -> None:
        await self.communicator.disconnect()
