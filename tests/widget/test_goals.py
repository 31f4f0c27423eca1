"""The visitor socket's metrics facts: a widget load per greeted socket, and the `goal` frame."""

import json

import pytest
from channels.db import database_sync_to_async

from metrics.models import VisitorGoal, WidgetLoad
from tests.personas import make_site
from widget import protocol

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.asyncio]
db = database_sync_to_async


@pytest.fixture
def acme():
    return make_site()


async def loads():
    return await db(lambda: list(WidgetLoad.objects.order_by("id").values_list("visitor__public_id", "new_visit")))()


async def goals():
    return await db(lambda: list(VisitorGoal.objects.order_by("id").values_list("client_id", "name", "value")))()


async def test_every_greeted_socket_is_a_widget_load_with_its_new_visit_flag(acme, open_widget):
    first = await (await open_widget()).hello(new_visit=True)
    await (await open_widget()).hello(token=first["token"])
    recorded = await loads()
    assert [new_visit for _, new_visit in recorded] == [True, False]
    assert recorded[0][0] == recorded[1][0]


async def test_a_refused_hello_is_no_widget_load(acme, open_widget):
    widget = await open_widget()
    await widget.send({"type": "hello", "token": "forged"})
    assert (await widget.receive())["code"] == "bad_token"
    assert await loads() == []


async def test_a_goal_is_stored_once_however_often_it_is_sent(acme, open_widget):
    widget = await open_widget()
    await widget.hello()
    for _ in range(2):
        await widget.send({"type": "goal", "client_id": "g-1", "name": "purchase", "value": 49.9})
        assert await widget.receive() == {"type": "goal_recorded", "client_id": "g-1"}
    await widget.send({"type": "goal", "client_id": "g-2", "name": "signup"})
    assert (await widget.receive())["type"] == "goal_recorded"
    stored = await goals()
    assert [(c, n, str(v) if v is not None else None) for c, n, v in stored] == [
        ("g-1", "purchase", "49.90"), ("g-2", "signup", None)]


async def test_a_goal_before_hello_is_refused(acme, open_widget):
    widget = await open_widget()
    await widget.send({"type": "goal", "client_id": "g-1", "name": "purchase"})
    error = await widget.receive()
    assert (error["code"], error["ref"]) == ("hello_required", "g-1")


@pytest.mark.parametrize("frame,field", [
    ({"client_id": "g", "name": "buy now"}, "name"),
    ({"client_id": "g", "name": ""}, "name"),
    ({"client_id": "g", "name": "x" * 65}, "name"),
    ({"client_id": " ", "name": "purchase"}, "client_id"),
    ({"name": "purchase"}, "client_id"),
    ({"client_id": "g", "name": "purchase", "value": "49.9"}, "value"),
    ({"client_id": "g", "name": "purchase", "value": True}, "value"),
    ({"client_id": "g", "name": "purchase", "value": -1}, "value"),
    ({"client_id": "g", "name": "purchase", "value": 10**12}, "value"),
    ({"client_id": "g", "name": "purchase", "currency": "EUR"}, "currency"),
])
async def test_a_malformed_goal_is_refused_naming_the_field(frame, field):
    with pytest.raises(protocol.FrameError) as refused:
        protocol.parse_frame(json.dumps({"type": "goal", **frame}))
    assert (refused.value.code, refused.value.field) == ("invalid_field", field)


async def test_nan_and_infinity_are_not_goal_values():
    for raw in ('{"type": "goal", "client_id": "g", "name": "p", "value": NaN}',
                '{"type": "goal", "client_id": "g", "name": "p", "value": Infinity}'):
        with pytest.raises(protocol.FrameError):
            protocol.parse_frame(raw)


async def test_a_refused_goal_is_answered_on_the_socket_and_stores_nothing(acme, open_widget):
    widget = await open_widget()
    await widget.hello()
    await widget.send({"type": "goal", "client_id": "g-1", "name": "purchase", "value": -5})
    error = await widget.receive()
    assert (error["code"], error["field"], error["ref"]) == ("invalid_field", "value", "g-1")
    assert await goals() == []
