"""The survey email through real processes (a Celery worker and beat, tests/reactions/live.py): one
survey email per chat when the worker dies mid-send or the handler runs twice."""

import os
import signal
import time
import uuid

import pytest

from tests import servers
from tests.reactions import live

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


def run_survey_handler_again(server, address: str) -> None:
    servers.shell(server, (
        "from conversations.models import Conversation\n"
        "from surveys.reactions import email_survey\n"
        f"email_survey(conversation_id=Conversation.objects.get(visitor__email={address!r}).pk)\n"
    ))


def survey_rows(server, address: str) -> str:
    return servers.shell(server, (
        "from surveys.models import Survey\n"
        f"print(Survey.objects.filter(email={address!r}).count())\n"
    ))


def surveys_to(dispatching, address: str) -> list:
    return [m for m in live.emails_in(dispatching.mail_dir) if m["To"] == address]


def test_a_survey_whose_handler_runs_twice_sends_one_email(chatdesk_server, tmp_path):
    dispatching = live.start_dispatching(chatdesk_server, tmp_path)
    try:
        address = f"kim.{uuid.uuid4().hex[:8]}@example.com"
        close_a_chat_in_the_live_server(dispatching.server, address)
        live.wait_until(lambda: surveys_to(dispatching, address), "the survey email", dispatching)
        run_survey_handler_again(dispatching.server, address)

        [sent] = surveys_to(dispatching, address)
        assert "/survey/" in sent.get_payload()
        assert survey_rows(dispatching.server, address) == "1"
    finally:
        dispatching.stop()


@pytest.mark.faults  # a process killed mid-task: the PostgreSQL pass, with the other fault tests
def test_a_worker_killed_while_sending_the_survey_sends_it_once_after_the_lease(chatdesk_server, tmp_path):
    hold = tmp_path / "hold"
    hold.write_text("until killed")
    dispatching = live.start_dispatching(chatdesk_server, tmp_path, HELD_MAIL_FILE=str(hold),
                                         EMAIL_BACKEND="tests.surveys.slow_mail.HeldFileBackend")
    try:
        address = f"kim.{uuid.uuid4().hex[:8]}@example.com"
        close_a_chat_in_the_live_server(dispatching.server, address)

        # The run is inside send_mail: kill its pool process there. The worker lives on and starts another.
        pid_file = tmp_path / "sending.pid"
        live.wait_until(pid_file.exists, "the send to start", dispatching)
        os.kill(int(pid_file.read_text()), signal.SIGKILL)
        killed_at = time.monotonic()
        hold.unlink()
        assert surveys_to(dispatching, address) == []  # nothing was sent before the kill

        # The dead run's lease runs out and the next tick sends.
        live.wait_until(lambda: surveys_to(dispatching, address), "the survey to be sent again", dispatching)
        resent_after = time.monotonic() - killed_at
        run_survey_handler_again(dispatching.server, address)

        assert len(surveys_to(dispatching, address)) == 1
        assert survey_rows(dispatching.server, address) == "1"
        assert resent_after < live.LEASE_SECONDS + 4, f"sent {resent_after:.1f}s after the kill"
    finally:
        dispatching.stop()
