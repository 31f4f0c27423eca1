"""Reactions carried out by real processes (a Celery worker and celery beat) through the faults that
lost or delayed side effects when they were Celery tasks: a worker killed mid-send, a worker killed
while holding delayed work, a Redis (broker) outage at the moment of the change, Redis restarts.

Every test uses the session's live server database; the ones that stop Redis start a Redis of their
own (servers.DedicatedRedis) for their worker, beat and management commands.
"""

import re
import time
import uuid

import pytest

from tests import servers
from tests.reactions import live

pytestmark = [pytest.mark.multiprocess, pytest.mark.faults]

SLACK = 6.0  # a new worker's start, a beat tick, a poll: what a delay bound allows beyond the lease


def unique(name: str) -> str:
    return f"{name}.{uuid.uuid4().hex[:8]}@example.com"


def leave_offline_messages(server, addresses: list[str]) -> None:
    servers.shell(server, (
        "from conversations import lifecycle\n"
        "from conversations.models import Site, Visitor\n"
        "site = Site.objects.get(key='demo')\n"
        f"for address in {addresses!r}:\n"
        "    visitor = Visitor.objects.create(site=site, name='Ann')\n"
        "    lifecycle.leave_offline_message(site=site, visitor=visitor, name='Ann', email=address,\n"
        "                                    text='Please call ' + address, client_id='o1')\n"
    ))


def team_emails_about(dispatching, addresses: list[str]) -> dict[str, int]:
    bodies = [message.get_payload(decode=True).decode() for message in live.emails_in(dispatching.mail_dir)
              if message["To"] == "team@demo-shop.test"]
    return {address: sum(f"Please call {address}" in body for body in bodies) for address in addresses}


def test_a_worker_killed_mid_send_of_offline_emails_loses_none_and_doubles_none(chatdesk_server, tmp_path):
    hold = tmp_path / "hold"
    hold.write_text("until killed")
    dispatching = live.start_dispatching(chatdesk_server, tmp_path, HELD_MAIL_FILE=str(hold),
                                         EMAIL_BACKEND="tests.surveys.slow_mail.HeldFileBackend")
    try:
        addresses = [unique(f"ann{i}") for i in range(10)]
        leave_offline_messages(dispatching.server, addresses)

        # The first email is inside its send: kill -9 the whole worker there.
        live.wait_until((tmp_path / "sending.pid").exists, "the first send to start", dispatching)
        dispatching.kill_worker()
        killed_at = time.monotonic()
        hold.unlink()
        assert sum(team_emails_about(dispatching, addresses).values()) == 0

        dispatching.start_another_worker()
        live.wait_until(lambda: all(team_emails_about(dispatching, addresses).values()),
                        "every team email", dispatching, timeout=live.LEASE_SECONDS + 30)
        last_arrived = time.monotonic() - killed_at
        time.sleep(2)  # a second copy of any would come with the next ticks

        assert team_emails_about(dispatching, addresses) == {address: 1 for address in addresses}
        # The email the dead worker was sending went out again once its lease ran out, not an hour later.
        assert last_arrived < live.LEASE_SECONDS + SLACK, f"the last email came {last_arrived:.1f}s after the kill"
        print(f"\nlast offline email {last_arrived:.1f}s after kill -9 of the worker (lease {live.LEASE_SECONDS}s)")
    finally:
        dispatching.stop()


def offer_with_expiry(server, *, timeout_seconds: int) -> str:
    """A site of its own whose only agent is offered a chat for timeout_seconds; returns the chat's id."""
    tag = uuid.uuid4().hex[:8]
    return servers.shell(server, (
        "from django.contrib.auth import get_user_model\n"
        "from agents.models import Agent, Department\n"
        "from agents.presence import set_agent_status\n"
        "from conversations import lifecycle\n"
        "from conversations.models import Site, Topic, Visitor\n"
        f"department = Department.objects.create(name='Offers {tag}', accept_mode='offer',\n"
        f"                                       offer_timeout_seconds={timeout_seconds})\n"
        f"site = Site.objects.create(key='offers-{tag}', name='Offers')\n"
        "topic = Topic.objects.create(site=site, label='Anything', department=department)\n"
        f"user = get_user_model().objects.create_user('dana-{tag}', password='pw-dana')\n"
        "dana = Agent.objects.create(user=user, display_name='Dana')\n"
        "dana.departments.add(department)\n"
        "set_agent_status(dana, 'online')\n"
        "chat, _ = lifecycle.start_conversation(site=site, visitor=Visitor.objects.create(site=site), topic=topic)\n"
        "chat.refresh_from_db()\n"
        "assert chat.status == 'assigned', chat.status\n"
        "print(chat.pk)\n"
    ))


def offer_outcome(server, conversation_id: str) -> str:
    return servers.shell(server, (
        "from conversations.models import ConversationEvent\n"
        f"event = ConversationEvent.objects.filter(conversation_id={conversation_id}, kind='requeued').first()\n"
        "print(event.details['reason'] if event else 'pending')\n"
    ))


def test_a_worker_killed_while_holding_delayed_work_delays_nothing_past_its_due_time(chatdesk_server, tmp_path):
    dispatching = live.start_dispatching(chatdesk_server, tmp_path)
    try:
        conversation_id = offer_with_expiry(dispatching.server, timeout_seconds=8)
        offered_at = time.monotonic()
        dispatching.kill_worker()  # it was taking ticks (with the old countdown task, it held the expiry)

        dispatching.start_another_worker()
        waited = live.wait_until(lambda: offer_outcome(dispatching.server, conversation_id) != "pending",
                                 "the offer to expire", dispatching, timeout=60)
        expired_after = time.monotonic() - offered_at

        assert offer_outcome(dispatching.server, conversation_id) == "offer_timeout"
        assert 8 - 1 < expired_after < 8 + SLACK, f"the offer expired {expired_after:.1f}s after it was made"
        print(f"\noffer of 8s expired {expired_after:.1f}s after it was made (worker killed, another started; "
              f"waited {waited:.1f}s)")
    finally:
        dispatching.stop()


def close_answered_chat(server, address: str) -> None:
    """A demo-site chat Alice answers and closes; the site emails surveys at once (delay 0)."""
    servers.shell(server, (
        "from agents.models import Agent\n"
        "from conversations import lifecycle\n"
        "from conversations.lifecycle import Actor\n"
        "from conversations.models import Conversation, Site, Visitor\n"
        "site = Site.objects.get(key='demo')\n"
        "site.survey_delay_minutes = 0\n"
        "site.save(update_fields=['survey_delay_minutes'])\n"
        f"chat = Conversation.objects.get(visitor__email={address!r})\n"
        "alice = Agent.objects.get(user__username='alice')\n"
        "lifecycle.post_message(conversation_id=chat.pk, actor=Actor.of_agent(alice), text='Done.')\n"
        "lifecycle.close_conversation(conversation_id=chat.pk, actor=Actor.of_agent(alice))\n"
    ))


def open_chat_with_alice(server, address: str) -> None:
    servers.shell(server, (
        "from agents.models import Agent\n"
        "from agents.presence import set_agent_status\n"
        "from conversations import lifecycle\n"
        "from conversations.lifecycle import Actor\n"
        "from conversations.models import Site, Visitor\n"
        "site = Site.objects.get(key='demo')\n"
        "alice = Agent.objects.get(user__username='alice')\n"
        "set_agent_status(alice, 'online')\n"
        f"visitor = Visitor.objects.create(site=site, name='Kim', email={address!r})\n"
        "chat, _ = lifecycle.start_conversation(site=site, visitor=visitor, name='Kim')\n"
        "chat.refresh_from_db()\n"
        "if chat.status == 'queued':\n"
        "    lifecycle.assign_conversation(conversation_id=chat.pk, agent=alice, actor=Actor.system())\n"
        "set_agent_status(alice, 'offline')\n"
    ))


def surveys_to(dispatching, address: str) -> int:
    return sum(message["To"] == address for message in live.emails_in(dispatching.mail_dir))


def survey_reactions(server, address: str) -> str:
    return servers.shell(server, (
        "from conversations.models import Conversation\n"
        "from reactions.models import Reaction\n"
        f"chat = Conversation.objects.get(visitor__email={address!r})\n"
        "print(Reaction.objects.filter(key=f'survey:{chat.pk}').count())\n"
    ))


@pytest.fixture
def own_redis(tmp_path):
    redis = servers.DedicatedRedis(tmp_path / "redis").start()
    yield redis
    redis.stop()


def test_a_chat_closed_while_redis_is_down_gets_its_survey_once_redis_is_back(chatdesk_server, own_redis, tmp_path):
    dispatching = live.start_dispatching(chatdesk_server, tmp_path, REDIS_URL=own_redis.url)
    try:
        address = unique("kim")
        open_chat_with_alice(dispatching.server, address)
        own_redis.stop()

        close_answered_chat(dispatching.server, address)  # commits: the publish after it fails, and is only logged
        assert survey_reactions(dispatching.server, address) == "1"
        time.sleep(2)  # the worker and beat notice the outage
        assert surveys_to(dispatching, address) == 0

        own_redis.start_again()
        back_at = time.monotonic()
        live.wait_until(lambda: surveys_to(dispatching, address), "the survey email", dispatching, timeout=60)
        arrived = time.monotonic() - back_at
        time.sleep(2)  # a second email would come with the next ticks

        assert surveys_to(dispatching, address) == 1
        print(f"\nsurvey of a chat closed during the outage arrived {arrived:.1f}s after Redis came back")
    finally:
        dispatching.stop()


def hold_countdown_tasks(server, count: int) -> None:
    """Tasks the worker takes and keeps, unacknowledged, until their time comes (ten minutes away)."""
    servers.shell(server, (
        "from routing.dispatch import broadcast_queue_positions\n"
        f"for _ in range({count}):\n"
        "    broadcast_queue_positions.apply_async((0,), countdown=600)\n"
    ))


def ticks_done(dispatching) -> int:
    return len(re.findall(r"dispatch_due\[[-0-9a-f]+\] succeeded", dispatching.worker.process.output()))


def test_the_worker_survives_redis_restarts_while_holding_tasks_and_still_carries_out_reactions(
        chatdesk_server, own_redis, tmp_path):
    dispatching = live.start_dispatching(chatdesk_server, tmp_path, REDIS_URL=own_redis.url)
    try:
        hold_countdown_tasks(dispatching.server, 3)
        live.wait_until(lambda: dispatching.worker.process.output().count("broadcast_queue_positions[") >= 3,
                        "the worker to take the countdown tasks", dispatching)
        for restart in range(1, 3):
            own_redis.stop()
            time.sleep(2)  # longer than redis-py's own retries: the worker's consumer has to reconnect
            own_redis.start_again()
            ticks = ticks_done(dispatching)
            live.wait_until(lambda: ticks_done(dispatching) >= ticks + 2,
                            f"the worker to run ticks again after restart {restart}", dispatching)
        assert dispatching.worker.process.output().count("Connection to broker lost") >= 1

        address = unique("kim")
        open_chat_with_alice(dispatching.server, address)
        close_answered_chat(dispatching.server, address)
        live.wait_until(lambda: surveys_to(dispatching, address), "the survey email", dispatching, timeout=30)

        assert "Unrecoverable error" not in dispatching.worker.process.output()
        assert surveys_to(dispatching, address) == 1
    finally:
        dispatching.stop()
