"""Sessions are rows read through the cache; an unreachable cache costs a query, not the page."""

import pytest
from django.contrib.sessions.models import Session
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from tests.common.test_grants import UNREACHABLE_REDIS
from tests.factories import ManagerFactory

pytestmark = pytest.mark.django_db


def session_queries(captured) -> list[str]:
    return [query["sql"] for query in captured.captured_queries if "django_session" in query["sql"]]


def test_a_session_is_read_from_the_cache_after_the_first_request(client):
    client.force_login(ManagerFactory())
    assert client.get(reverse("customers:list")).status_code == 200
    with CaptureQueriesContext(connection) as captured:
        assert client.get(reverse("customers:list")).status_code == 200
    assert session_queries(captured) == []


def test_a_session_whose_cache_entry_is_gone_is_read_from_its_row(client):
    from django.core.cache import cache

    client.force_login(ManagerFactory())
    cache.clear()  # Redis restarted empty
    with CaptureQueriesContext(connection) as captured:
        assert client.get(reverse("customers:list")).status_code == 200
    assert len(session_queries(captured)) == 1


def test_pages_and_logout_work_while_the_cache_is_unreachable(client, settings, caplog):
    settings.CACHES = UNREACHABLE_REDIS
    client.force_login(ManagerFactory())
    assert client.get(reverse("customers:list")).status_code == 200
    assert client.post(reverse("logout")).status_code == 302
    assert not Session.objects.exists()
    assert client.get(reverse("customers:list")).status_code == 302  # to the login page
    assert "sessions.cache_unavailable" in caplog.text


def test_a_session_is_kept_in_the_cache_for_five_minutes_at_most(client, time_machine):
    time_machine.move_to("2026-11-24 10:00:00+00:00", tick=False)
    client.force_login(ManagerFactory())
    assert client.get(reverse("customers:list")).status_code == 200
    # Logged out elsewhere while Redis could not be told: the row is gone, the cache entry not.
    Session.objects.all().delete()
    assert client.get(reverse("customers:list")).status_code == 200
    time_machine.shift(5 * 60 + 1)
    assert client.get(reverse("customers:list")).status_code == 302


@pytest.mark.parametrize(
    ("redis_url", "engine", "shared", "cache"),
    [("", "django.contrib.sessions.backends.db", False,
      "django.core.cache.backends.locmem.LocMemCache"),
     ("redis://127.0.0.1:6379/3", "common.sessions", True, "common.redis_cache.RedisCache")],
)
def test_sessions_go_through_the_cache_only_when_it_is_shared(redis_url, engine, shared, cache):
    # The settings module as a fresh process reads it from its environment.
    import json
    import os
    import subprocess
    import sys

    code = (
        "import json; from retention import settings as s; "
        "print(json.dumps([s.SESSION_ENGINE, s.SHARED_CACHE, s.CACHES['default']['BACKEND']]))"
    )
    environment = {**os.environ, "REDIS_URL": redis_url, "DEBUG": "true"}
    output = subprocess.run(
        [sys.executable, "-c", code], env=environment, capture_output=True, text=True,
        check=True, timeout=60,
    ).stdout
    assert json.loads(output.strip().splitlines()[-1]) == [engine, shared, cache]
