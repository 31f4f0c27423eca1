"""Production settings: the documented configuration (README.md, "Running in production") passes
`manage.py check --deploy` with no warning; the public dev key never serves other machines; with those
settings a request gets https, HSTS and secure cookies; every page carries its Content-Security-Policy.
"""

import os
import re
import secrets
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.test import Client

from chatdesk import csp
from chatdesk.env import env_proxy_ssl_header
from tests.personas import make_agent

ROOT = Path(__file__).resolve().parent.parent
DEV_KEY = "dev-only-secret-key-change-me"  # chatdesk/settings.py


def documented_production_environment() -> dict[str, str]:
    """The README's production block, with a real random key in place of its description of one."""
    block = re.search(r"```env\n(.*?)```", (ROOT / "README.md").read_text(), re.S).group(1)
    variables = dict(line.split("=", 1) for line in block.splitlines() if line and not line.startswith("#"))
    return {**variables, "SECRET_KEY": secrets.token_urlsafe(50)}


def run(command: list[str], environment: dict[str, str]) -> subprocess.CompletedProcess:
    """A process with only this environment (and PATH), as a deployment would start it."""
    return subprocess.run(command, cwd=ROOT, env={"PATH": os.environ["PATH"], **environment},
                          capture_output=True, text=True, timeout=120)


def manage(*arguments: str, environment: dict[str, str]) -> subprocess.CompletedProcess:
    return run([sys.executable, "manage.py", *arguments], environment)


def test_the_documented_production_configuration_passes_check_deploy_without_a_warning():
    result = manage("check", "--deploy", "--fail-level", "WARNING", environment=documented_production_environment())
    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues" in result.stdout


def test_without_the_https_settings_check_deploy_names_each_of_them():
    environment = {name: value for name, value in documented_production_environment().items()
                   if not name.startswith(("SECURE_", "SESSION_COOKIE_", "CSRF_COOKIE_"))}
    result = manage("check", "--deploy", environment=environment)
    for warning in ("W004", "W008", "W012", "W016"):
        assert f"security.{warning}" in result.stdout + result.stderr


@pytest.mark.parametrize("environment", [
    {"CHATDESK_DEMO": "1", "ALLOWED_HOSTS": "chat.example.com"},
    {"DEBUG": "1", "ALLOWED_HOSTS": "localhost,*"},
    {"SECRET_KEY": DEV_KEY, "ALLOWED_HOSTS": "203.0.113.5"},
], ids=["demo", "debug", "the dev key set by hand"])
def test_the_dev_key_refuses_to_serve_a_host_other_than_localhost(environment):
    result = manage("check", environment=environment)
    assert result.returncode != 0
    assert "the dev SECRET_KEY serves only localhost" in result.stderr


def test_the_dev_key_serves_localhost():
    assert manage("check", environment={"CHATDESK_DEMO": "1"}).returncode == 0


@pytest.mark.parametrize("host", ["0.0.0.0", "203.0.113.5", "chat.example.com"])
def test_make_run_refuses_a_public_host_without_a_secret_key(host):
    result = run([sys.executable, "-m", "chatdesk.run"], {"HOST": host})
    assert result.returncode == 1
    assert f"HOST={host} serves other machines" in result.stdout and "set SECRET_KEY" in result.stdout


def test_the_proxy_ssl_header_is_read_as_the_proxy_sends_it(monkeypatch):
    monkeypatch.setenv("SECURE_PROXY_SSL_HEADER", "X-Forwarded-Proto: https")
    assert env_proxy_ssl_header("SECURE_PROXY_SSL_HEADER") == ("HTTP_X_FORWARDED_PROTO", "https")
    monkeypatch.setenv("SECURE_PROXY_SSL_HEADER", "X-Forwarded-Proto")
    with pytest.raises(ImproperlyConfigured):
        env_proxy_ssl_header("SECURE_PROXY_SSL_HEADER")
    monkeypatch.delenv("SECURE_PROXY_SSL_HEADER")
    assert env_proxy_ssl_header("SECURE_PROXY_SSL_HEADER") is None


@pytest.fixture
def production(settings):
    settings.ALLOWED_HOSTS = ["chat.example.com"]
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    settings.SECURE_SSL_REDIRECT = True
    settings.SECURE_HSTS_SECONDS = 31536000
    settings.SESSION_COOKIE_SECURE = settings.CSRF_COOKIE_SECURE = True
    return settings


def test_behind_the_proxy_plain_http_is_sent_to_https(production):
    response = Client(HTTP_HOST="chat.example.com").get("/accounts/login/")
    assert (response.status_code, response["Location"]) == (301, "https://chat.example.com/accounts/login/")


@pytest.mark.django_db
def test_over_https_pages_carry_hsts_and_cookies_are_secure_only(production):
    make_agent("alice")
    client = Client(HTTP_HOST="chat.example.com", HTTP_X_FORWARDED_PROTO="https")
    page = client.get("/accounts/login/")
    assert page["Strict-Transport-Security"] == "max-age=31536000"
    assert client.cookies["csrftoken"]["secure"]
    client.post("/accounts/login/", {"username": "alice", "password": "pw-alice"})
    assert client.cookies["sessionid"]["secure"] and client.cookies["sessionid"]["httponly"]


@pytest.mark.django_db
@pytest.mark.parametrize("path", ["/accounts/login/", "/admin/login/", "/console/", "/reports/", "/survey/x/"])
def test_every_staff_and_survey_page_has_the_strict_policy(path):
    client = Client()
    client.force_login(make_agent("alice").user)
    response = client.get(path, follow=True)
    policy = response["Content-Security-Policy"]
    assert "script-src 'self';" in policy and "frame-ancestors 'none'" in policy
    assert re.search(r"style-src 'self' 'nonce-[\w-]{20,}';", policy)
    assert "unsafe-inline" not in policy.split("style-src-attr")[0]


@pytest.mark.django_db
def test_each_page_gets_a_nonce_of_its_own():
    policies = {Client().get("/accounts/login/")["Content-Security-Policy"] for _ in range(3)}
    assert len(policies) == 3


def test_the_demo_shop_hosting_the_widget_gives_the_loader_its_nonce_and_allows_no_inline_style():
    response = Client().get("/")
    nonce = re.search(r"'nonce-([\w-]+)'", response["Content-Security-Policy"]).group(1)
    assert response["Content-Security-Policy"] == csp.policy(nonce)
    assert f'data-site="demo" nonce="{nonce}"' in response.content.decode()


def test_json_and_scripts_carry_no_page_policy():
    assert "Content-Security-Policy" not in Client().get("/widget.js")
