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
