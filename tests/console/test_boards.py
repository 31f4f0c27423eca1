"""The consoles' queue and the supervisors' board are computed once per burst of changes and sent
to every console (console/boards.py): a change costs the same queries with one console open as with
fifty, whatever the queue's length."""

import asyncio

import pytest
from django.utils import timezone

from agents.models import Agent
from console import boards, workspace
from conversations import lifecycle
from conversations.lifecycle import Actor
from conversations.models import Conversation, Visitor
from tests.console.console import connect, db, switch_routing_off
from tests.personas import make_agent, make_site

QUEUED = 500
CONSOLES = 50


def fill_the_queue(site, count):
    now = timezone.now()
    visitors = Visitor.objects.bulk_create([Visitor(site=site, name=f"V{n}") for n in range(count)])
    Conversation.objects.bulk_create([Conversation(site=site, visitor=visitor, status=Conversation.Status.QUEUED,
                                                   queued_at=now) for visitor in visitors])


async def cost_of_one_change(consoles, queries, site_id) -> int:
    """Queries from one chat leaving the queue until every console shows the new queue."""
    await asyncio.sleep(0.3)  # the greetings' own reads are over
    waiting = await db(Conversation.objects.filter(status=Conversation.Status.QUEUED).count)()
    chat_id = await db(lambda: Conversation.objects.filter(site_id=site_id, status=Conversation.Status.QUEUED)
                       .values_list("pk", flat=True).first())()
    before = queries.count
    await db(lifecycle.close_conversation)(conversation_id=chat_id, actor=Actor.visitor())
    for each in consoles:
        await each.receive_until("queue", waiting=waiting - 1)
    await asyncio.sleep(0.3)  # anything a socket would still read
    return queries.count - before


@pytest.mark.django_db(transaction=True)
@pytest.mark.asyncio
async def test_a_change_costs_the_same_queries_with_fifty_consoles_as_with_one(settings, monkeypatch, all_queries):
    settings.DELIVERY_CHECK_SECONDS = 3600  # no periodic check during the count
    switch_routing_off(monkeypatch)
    site = await db(make_site)()
    await db(fill_the_queue)(site, QUEUED)
    sam = await db(make_agent)("sam", role=Agent.Role.SUPERVISOR)
    agents = [sam] + [await db(make_agent)(f"agent{n}") for n in range(CONSOLES - 1)]

    first = await connect(sam)
    await first.hello()
    one = await cost_of_one_change([first], all_queries, site.pk)

    others = [await connect(agent) for agent in agents[1:]]
    for each in others:
        await each.hello()
    fifty = await cost_of_one_change([first, *others], all_queries, site.pk)

    assert one == fifty
    assert one < 40  # the close itself and one queue summary and board, not the whole queue per console
    for each in [first, *others]:
        await each.disconnect()


@pytest.mark.django_db
def test_the_queue_summary_reads_a_bounded_number_of_rows_whatever_the_queue(django_assert_max_num_queries):
    site = make_site()
    fill_the_queue(site, 5)
    with django_assert_max_num_queries(4):
        small = workspace.queue_summary()
    fill_the_queue(site, 120)
    with django_assert_max_num_queries(4):
        large = workspace.queue_summary()
    assert (small["waiting"], large["waiting"]) == (5, 125)
    assert len(large["chats"]) == workspace.QUEUE_LIST_LIMIT
    assert large["by_skill"] == [{"skill": None, "waiting": 125, "longest_wait_seconds": large["longest_wait_seconds"]}]


@pytest.mark.django_db
def test_a_burst_outside_a_server_sends_the_floor_at_once(sent_frames, django_capture_on_commit_callbacks):
    site = make_site()
    fill_the_queue(site, 3)
    with django_capture_on_commit_callbacks(execute=True):
        boards.floor.request()
    groups = [(group, frame["type"]) for group, frame in sent_frames]
    assert groups == [("staff.consoles", "queue"), ("staff.supervisors", "board")]
    assert sent_frames[0][1]["waiting"] == 3


@pytest.mark.django_db(transaction=True)  # each change commits inside the task, as in a worker
def test_a_celery_task_that_changes_many_chats_sends_the_floor_once_when_it_ends(monkeypatch, sent_frames):
    from routing.tasks import sweep_queues

    site = make_site()
    fill_the_queue(site, 4)
    make_agent("alice", cap=4)
    summaries = []
    real_summary = workspace.queue_summary
    monkeypatch.setattr(workspace, "queue_summary", lambda: summaries.append(1) or real_summary())
    assert sweep_queues.apply().get() == 4  # eight changes: four assigned, four accepted
    assert len(summaries) == 1
    assert [frame["waiting"] for group, frame in sent_frames if group == "staff.consoles"] == [0]
