"""`make run`: the whole of chatdesk on one machine, with demo data, in one command.

Starts an embedded Redis unless REDIS_URL is set, uses var/chatdesk.sqlite3 unless DATABASE_URL
is set, migrates, loads the demo data, then runs daphne, a Celery worker and Celery beat until
Ctrl-C or SIGTERM, which stop every process. If one of them dies the rest are stopped and the
exit status is non-zero.

    python -m chatdesk.run        (HOST and PORT from the environment; default 127.0.0.1:8000)
"""

import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

from chatdesk.embedded_redis import EmbeddedRedis, die_with_parent, stop_process

BASE_DIR = Path(__file__).resolve().parent.parent
VAR = BASE_DIR / "var"
DEMO_LOGINS = ("admin", "alice", "bob", "carol", "sam")
DEMO_PASSWORD = "demo-pass-123"  # conversations/management/commands/load_demo.py
READY_TIMEOUT = 60.0
LOCAL_HOSTS = {"127.0.0.1", "localhost", "::1"}


class Stop(Exception):
    """Raised from the signal handler so that start-up steps stop as soon as asked."""


def log(text: str) -> None:
    print(f"[run] {text}", flush=True)


def refusal(host: str) -> str | None:
    """Why `make run` must not start: the dev key (used without SECRET_KEY) is public, so with it anyone
    could forge visitor tokens and survey links; it may serve this machine only."""
    if "SECRET_KEY" in os.environ or host in LOCAL_HOSTS:
        return None
    return (f"HOST={host} serves other machines, but without SECRET_KEY the public dev key would sign visitor "
            f"tokens and survey links: set SECRET_KEY (a long random string), or serve {', '.join(sorted(LOCAL_HOSTS))}")


def environment(host: str, port: int) -> dict[str, str]:
    env = dict(os.environ)
    env.setdefault("DATABASE_URL", f"sqlite:///{VAR / 'chatdesk.sqlite3'}")
    if "SECRET_KEY" not in env:
        env["CHATDESK_DEMO"] = "1"
    env.setdefault("EMAIL_BACKEND", "django.core.mail.backends.filebased.EmailBackend")
    env.setdefault("EMAIL_FILE_PATH", str(VAR / "mail"))
    if "ALLOWED_HOSTS" not in env and host not in {"127.0.0.1", "localhost", "0.0.0.0"}:
        env["ALLOWED_HOSTS"] = f"localhost,127.0.0.1,[::1],{host}"
    env["DJANGO_SETTINGS_MODULE"] = "chatdesk.settings"
    env["PYTHONUNBUFFERED"] = "1"
    return env


def manage(env: dict[str, str], *arguments: str) -> None:
    subprocess.run([sys.executable, str(BASE_DIR / "manage.py"), *arguments], cwd=BASE_DIR, env=env, check=True)


def start(name: str, command: list[str], env: dict[str, str]) -> subprocess.Popen:
    log(f"starting {name}: {' '.join(command)}")
    # Its own session: the terminal's Ctrl-C reaches only this launcher, which stops the
    # children in order (the worker last but Redis, so it can finish its tasks).
    return subprocess.Popen(command, cwd=BASE_DIR, env=env, stdin=subprocess.DEVNULL,
                            start_new_session=True, preexec_fn=die_with_parent)


def wait_for_http(url: str, children: dict[str, subprocess.Popen]) -> None:
    deadline = time.monotonic() + READY_TIMEOUT
    while time.monotonic() < deadline:
        check_alive(children)
        try:
            urllib.request.urlopen(url, timeout=2).close()
            return
        except urllib.error.HTTPError:
            return  # it answered
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"daphne did not answer {url} within {READY_TIMEOUT:.0f}s")


def check_alive(children: dict[str, subprocess.Popen]) -> None:
    for name, process in children.items():
        if process.poll() is not None:
            raise RuntimeError(f"{name} exited unexpectedly with status {process.returncode}")


def banner(url: str, env: dict[str, str]) -> str:
    if env["EMAIL_BACKEND"].endswith(".filebased.EmailBackend"):
        emails = f"written to files in {env['EMAIL_FILE_PATH']}"
    else:
        emails = f"sent with {env['EMAIL_BACKEND']}"
    return "\n".join([
        "",
        "chatdesk is running (Ctrl-C stops everything):",
        f"  demo page      {url}/",
        f"  agent console  {url}/console/",
        f"  admin          {url}/admin/",
        f"  reports (API)  {url}/api/metrics/summary/  (also agents/, departments/, tags/, timeseries/; ?format=csv)",
        f"  REST API       {url}/api/  (schema at {url}/api/schema/)",
        f"  logins         {', '.join(DEMO_LOGINS)} (password {DEMO_PASSWORD})",
        f"  emails         {emails}",
        "",
    ])


def main() -> int:
    host = os.environ.get("HOST", "127.0.0.1")
    port = int(os.environ.get("PORT", "8000"))
    if reason := refusal(host):
        log(f"error: {reason}")
        return 1
    env = environment(host, port)

    def request_stop(signum, frame):
        raise Stop(signal.Signals(signum).name)

    signal.signal(signal.SIGINT, request_stop)
    signal.signal(signal.SIGTERM, request_stop)

    redis = None
    children: dict[str, subprocess.Popen] = {}
    status = 0
    try:
        if "REDIS_URL" not in env:
            redis = EmbeddedRedis(VAR / "redis", persist=True).start()
            env["REDIS_URL"] = redis.url
            log(f"embedded Redis on {redis.url} (data in {redis.data_dir})")
        Path(env["EMAIL_FILE_PATH"]).mkdir(parents=True, exist_ok=True)
        VAR.mkdir(exist_ok=True)
        url = f"http://{host}:{port}"
        manage(env, "migrate", "--noinput")
        manage(env, "load_demo", "--origin", url)
        python = sys.executable
        children["daphne"] = start("daphne", [python, "-m", "daphne", "-b", host, "-p", str(port),
                                              "chatdesk.asgi:application"], env)
        children["celery worker"] = start("celery worker", [python, "-m", "celery", "-A", "chatdesk", "worker",
                                                            "-l", "warning", "--concurrency", "2"], env)
        children["celery beat"] = start("celery beat", [python, "-m", "celery", "-A", "chatdesk", "beat",
                                                        "-l", "warning"], env)
        local = f"http://{'127.0.0.1' if host in {'0.0.0.0', '::'} else host}:{port}"
        wait_for_http(f"{local}/", children)
        print(banner(url, env), flush=True)
        while True:
            check_alive(children)
            time.sleep(0.5)
    except Stop as stop:
        log(f"{stop}: stopping")
    except (RuntimeError, subprocess.CalledProcessError) as error:
        log(f"error: {error}")
        status = 1
    finally:
        # Ignore further Ctrl-C while stopping, so a second one does not leave processes behind.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        for name in ("daphne", "celery beat", "celery worker"):
            if name in children:
                log(f"stopping {name}")
                stop_process(children[name], timeout=15)
        if redis is not None:
            log("stopping Redis")
            redis.stop()
    log("stopped")
    return status


if __name__ == "__main__":
    sys.exit(main())
