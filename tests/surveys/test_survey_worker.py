"""email_survey through a real Celery worker: one survey email per chat when the worker dies mid-send
or the task runs twice."""

import dataclasses
import os
import signal
import time
import uuid

import pytest

from tests import servers
from tests.conversations.test_tasks_worker import emails_in

pytestmark = pytest.mark.multiprocess


def close_a_chat_in_the_live_server(server, address: str) -> None:
    """A demo-site chat Alice answered and closed; the site emails surveys at once (delay 0)."""
    servers.manage(server.env, "shell", "-c", (
        "from agents.models import Agent\n"
        "from agents.presence import set_agent_status\n"
        "from conversations import lifecycle\n"
        "from conversations.lifecycle import Actor\n"
        "from conversations.models import Site, Visitor\n"
        "site = Site.objects.get(key='demo')\n"
        "site.survey_delay_minutes = 0\n"
        "site.save(update_fields=['survey_delay_minutes'])\n"
        "alice = Agent.objects.get(user__username='alice')\n"
        "set_agent_status(alice, 'online')\n"
        f"visitor = Visitor.objects.create(site=site, name='Kim', email={address!r})\n"
        "chat, _ = lifecycle.start_conversation(site=site, visitor=visitor, name='Kim')\n"
        "chat.refresh_from_db()\n"
        "if chat.status == 'queued':\n"
        "    lifecycle.assign_conversation(conversation_id=chat.pk, agent=alice, actor=Actor.system())\n"
        "lifecycle.post_message(conversation_id=chat.pk, actor=Actor.of_agent(alice), text='Done.')\n"
        "lifecycle.close_conversation(conversation_id=chat.pk, actor=Actor.of_agent(alice))\n"
        "set_agent_status(alice, 'offline')\n"
    ))


def run_survey_task_again(server, address: str) -> None:
    servers.manage(server.env, "shell", "-c", (
        "from conversations.models import Conversation\n"
        "from surveys.tasks import email_survey\n"
        f"email_survey.delay(Conversation.objects.get(visitor__email={address!r}).pk)\n"
    ))


def survey_rows(server, address: str) -> str:
    return servers.manage(server.env, "shell", "-c", (
        "from surveys.models import Survey\n"
        f"print(Survey.objects.filter(email={address!r}).count())\n"
    )).strip().splitlines()[-1]


def surveys_to(worker, address: str) -> list:
    return [m for m in emails_in(worker.mail_dir) if m["To"] == address]


def wait_for(condition, what: str, worker, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        worker.process.check_alive()
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}:\n{worker.process.tail()}")
        time.sleep(0.05)


def test_a_survey_task_run_twice_sends_one_email(chatdesk_server, celery_worker_process):
    address = f"kim.{uuid.uuid4().hex[:8]}@example.com"
    close_a_chat_in_the_live_server(chatdesk_server, address)
    run_survey_task_again(chatdesk_server, address)

    celery_worker_process.wait_for_tasks(2)

    [sent] = surveys_to(celery_worker_process, address)
    assert "/survey/" in sent.get_payload()
    assert survey_rows(chatdesk_server, address) == "1"


def test_a_worker_killed_while_sending_the_survey_sends_it_once_on_redelivery(chatdesk_server, tmp_path):
    hold = tmp_path / "hold"
    hold.write_text("until killed")
    env = {**chatdesk_server.env, "EMAIL_BACKEND": "tests.surveys.slow_mail.HeldFileBackend",
           "HELD_MAIL_FILE": str(hold)}
    worker = servers.start_celery_worker(dataclasses.replace(chatdesk_server, env=env), tmp_path / "worker")
    try:
        address = f"kim.{uuid.uuid4().hex[:8]}@example.com"
        close_a_chat_in_the_live_server(chatdesk_server, address)

        # The run has claimed the survey and is inside send_mail: kill its pool process there.
        pid_file = tmp_path / "sending.pid"
        wait_for(pid_file.exists, "the send to start", worker)
        os.kill(int(pid_file.read_text()), signal.SIGKILL)
        hold.unlink()
        wait_for(lambda: "WorkerLostError" in worker.process.output(), "the worker to notice the loss", worker)
        assert surveys_to(worker, address) == []  # nothing was sent before the kill

        # acks_late + reject_on_worker_lost: the message comes back, its claim is taken over, mail goes.
        wait_for(lambda: surveys_to(worker, address), "the redelivered task to send", worker)
        run_survey_task_again(chatdesk_server, address)
        worker.wait_for_tasks(2)

        assert len(surveys_to(worker, address)) == 1
        assert survey_rows(chatdesk_server, address) == "1"
    finally:
        worker.process.stop()
