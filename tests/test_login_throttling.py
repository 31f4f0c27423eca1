"""Sign-in throttling (django-axes, chatdesk/settings.py): after LOGIN_FAILURE_LIMIT wrong passwords for one
account from one address, that account cannot sign in from there, even with the right password, until
LOGIN_LOCKOUT_MINUTES pass. The console's sign-in and the admin's alike.

Alice is an agent; Mallory guesses her password from 203.0.113.9; Alice herself signs in from 198.51.100.7.
"""

import time
from datetime import timedelta

import pytest
from django.conf import settings
from django.test import Client

from tests.personas import make_agent

pytestmark = pytest.mark.django_db

MALLORY = "203.0.113.9"
ALICES_OFFICE = "198.51.100.7"
SIGN_IN_PAGES = {"console": "/accounts/login/", "admin": "/admin/login/"}


@pytest.fixture
def alice():
    agent = make_agent("alice")
    agent.user.is_staff = True  # so that the admin's sign-in takes her too
    agent.user.save(update_fields=["is_staff"])
    return agent


def sign_in(page: str, password: str, *, address: str = MALLORY, username: str = "alice"):
    client = Client(REMOTE_ADDR=address)
    response = client.post(SIGN_IN_PAGES[page], {"username": username, "password": password})
    return response, "sessionid" in client.cookies


def guess(page: str, times: int, **who) -> None:
    for _ in range(times):
        response, signed_in = sign_in(page, "wrong", **who)
        assert not signed_in


@pytest.mark.parametrize("page", SIGN_IN_PAGES)
def test_after_the_failure_limit_even_the_right_password_is_refused_with_the_lockout_page(alice, page):
    guess(page, settings.AXES_FAILURE_LIMIT)
    response, signed_in = sign_in(page, "pw-alice")
    assert not signed_in
    assert response.status_code == 429
    assert "Too many failed sign-ins" in response.content.decode()
    assert f"paused for {settings.AXES_COOLOFF_TIME.seconds // 60} minutes" in response.content.decode()


@pytest.mark.parametrize("page", SIGN_IN_PAGES)
def test_below_the_limit_the_right_password_works(alice, page):
    guess(page, settings.AXES_FAILURE_LIMIT - 1)
    assert sign_in(page, "pw-alice")[1]


def test_a_success_starts_the_count_again(alice):
    guess("console", settings.AXES_FAILURE_LIMIT - 1)
    assert sign_in("console", "pw-alice")[1]
    guess("console", settings.AXES_FAILURE_LIMIT - 1)
    assert sign_in("console", "pw-alice")[1]


def test_failures_on_the_console_count_for_the_admin_too(alice):
    guess("console", settings.AXES_FAILURE_LIMIT)
    assert sign_in("admin", "pw-alice")[0].status_code == 429


def test_a_guesser_elsewhere_locks_out_neither_alice_in_her_office_nor_other_accounts(alice):
    make_agent("bob")
    guess("console", settings.AXES_FAILURE_LIMIT)
    assert sign_in("console", "pw-alice", address=ALICES_OFFICE)[1]
    assert sign_in("console", "pw-bob", username="bob")[1]


def test_the_lockout_ends_after_the_cool_off(alice, settings):
    settings.AXES_COOLOFF_TIME = timedelta(seconds=1)
    guess("console", settings.AXES_FAILURE_LIMIT)
    assert not sign_in("console", "pw-alice")[1]
    time.sleep(1.2)
    assert sign_in("console", "pw-alice")[1]
