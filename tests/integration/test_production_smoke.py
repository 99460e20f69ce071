"""Production smoke test: gunicorn, a Celery worker and beat, started as docker-compose.yml starts
them, against the local PostgreSQL and Redis. Checks /healthz, a logged-in page and a task round
trip through the worker."""

import http.client
import os
import re
import secrets
import subprocess
from http.cookies import SimpleCookie
from urllib.parse import urlencode, urlsplit

import psycopg
import pytest

from tests.integration.compose import (
    ROOT,
    free_port,
    load_services,
    process_env,
    run_once,
    start,
    wait_for,
)

pytestmark = [pytest.mark.smoke, pytest.mark.postgres, pytest.mark.timeout(240)]

SMOKE_DB = "retention_smoke"


class Browser:
    """A tiny HTTP client that keeps cookies itself: the production cookies are Secure, and the
    proxy's TLS is stood in for by the X-Forwarded-Proto header gunicorn trusts."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.cookies: dict[str, str] = {}

    def request(self, method: str, path: str, body: dict | None = None, headers=None):
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        all_headers = {"Host": "127.0.0.1", "X-Forwarded-Proto": "https", **(headers or {})}
        if self.cookies:
            all_headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        payload = None
        if body is not None:
            payload = urlencode(body)
            all_headers["Content-Type"] = "application/x-www-form-urlencoded"
            all_headers["Referer"] = "https://127.0.0.1/login/"
        connection.request(method, path, body=payload, headers=all_headers)
        response = connection.getresponse()
        content = response.read().decode("utf-8", errors="replace")
        for header in response.headers.get_all("Set-Cookie") or []:
            for name, morsel in SimpleCookie(header).items():
                self.cookies[name] = morsel.value
        connection.close()
        return response.status, dict(response.headers), content


def _admin_url(database_url: str) -> str:
    parts = urlsplit(database_url)
    return f"postgresql://{parts.netloc}/postgres"


@pytest.fixture
def smoke_database():
    database_url = os.environ.get("DATABASE_URL", "")
    admin = _admin_url(database_url)
    with psycopg.connect(admin, autocommit=True) as connection:
        connection.execute(f'DROP DATABASE IF EXISTS "{SMOKE_DB}" WITH (FORCE)')
        connection.execute(f'CREATE DATABASE "{SMOKE_DB}"')
    parts = urlsplit(database_url)
    yield f"postgres://{parts.netloc}/{SMOKE_DB}"
    with psycopg.connect(admin, autocommit=True) as connection:
        connection.execute(f'DROP DATABASE IF EXISTS "{SMOKE_DB}" WITH (FORCE)')


def test_production_processes_serve_pages_and_run_tasks(smoke_database, tmp_path):
    redis_url = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/14")
    services = load_services(
        variables={"SECRET_KEY": secrets.token_urlsafe(50), "ALLOWED_HOSTS": "127.0.0.1"},
        database_url=smoke_database,
        redis_url=redis_url,
    )
    assert {"migrate", "web", "worker", "beat"} <= set(services)
    overrides = {"STATIC_ROOT": str(tmp_path / "static"), "MEDIA_ROOT": str(tmp_path / "media")}

    def env_for(name: str) -> dict[str, str]:
        return process_env(services[name].env, **overrides)

    run_once(services["migrate"], env=env_for("migrate"))
    # The image collects static files at build time (Dockerfile); do the same here.
    subprocess.run(
        [str(ROOT / ".venv/bin/python"), "manage.py", "collectstatic", "--noinput", "-v", "0"],
        cwd=ROOT, env=env_for("web"), check=True, timeout=120,
    )
    password = secrets.token_urlsafe(16)
    subprocess.run(
        [str(ROOT / ".venv/bin/python"), "manage.py", "createsuperuser", "--noinput",
         "--username", "smoke", "--email", "smoke@example.com"],
        cwd=ROOT, env={**env_for("web"), "DJANGO_SUPERUSER_PASSWORD": password},
        check=True, timeout=60,
    )

    port = free_port()
    web_argv = [
        f"127.0.0.1:{port}" if argument.startswith("0.0.0.0:") else argument
        for argument in services["web"].argv
    ]
    running = []
    try:
        running.append(start(services["web"], env=env_for("web"), log_dir=tmp_path, argv=web_argv))
        worker = start(services["worker"], env=env_for("worker"), log_dir=tmp_path)
        running.append(worker)
        beat = start(services["beat"], env=env_for("beat"), log_dir=tmp_path)
        running.append(beat)
        browser = Browser(port)

        status, _headers, body = wait_for(
            lambda: (result := browser.request("GET", "/healthz"))[0] == 200 and result,
            timeout=60, what="gunicorn /healthz",
        )
        assert '"broker": "ok"' in body
        assert '"database": "ok"' in body

        status, headers, body = browser.request("GET", "/login/")
        assert status == 200, body[:500]
        assert "Strict-Transport-Security" in headers
        token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', body).group(1)
        status, headers, _ = browser.request(
            "POST", "/login/",
            {"username": "smoke", "password": password, "csrfmiddlewaretoken": token},
        )
        assert status == 302, f"login failed with {status}"
        status, _headers, body = browser.request("GET", "/customers/")
        assert status == 200
        assert "smoke" in body  # the navbar names the logged-in user
        status, _headers, body = browser.request("GET", "/static/vendor/htmx.min.js")
        assert status == 200
        assert "htmx" in body

        wait_for(lambda: "ready" in worker.log(), timeout=60, what="the Celery worker")
        round_trip = subprocess.run(
            [str(ROOT / ".venv/bin/python"), "manage.py", "shell", "-c",
             "from retention.celery import ping_task; print(ping_task.delay().get(timeout=30))"],
            cwd=ROOT, env=env_for("worker"), capture_output=True, text=True, timeout=90,
            check=False,
        )
        assert round_trip.stdout.strip().endswith("pong"), round_trip.stderr[-2000:]
        assert "retention.ping" in worker.log()
        wait_for(lambda: "beat: Starting" in beat.log(), timeout=30, what="Celery beat")
        assert beat.process.poll() is None, beat.log()
    finally:
        for process in reversed(running):
            process.stop()
