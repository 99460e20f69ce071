"""Fixtures shared by the whole suite.

Tests marked `postgres` need PostgreSQL (row locks and real concurrency prove nothing on SQLite);
`redis`, `celery_worker` and `smoke` tests need Redis at TEST_REDIS_URL (the suite itself runs tasks
in-process; only those tests talk to a broker). Outside CI they are skipped when the service is absent; under
CI=true a missing service is a failure, never a skip.
"""

import importlib
import importlib.util
import os
import shutil

import pytest
from django.core.cache import cache
from django.db import connection
from django.utils import translation

from tests.factories import CustomerFactory, ManagerFactory, RepFactory

IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}


def _missing_service(reason: str) -> None:
    if IN_CI:
        pytest.fail(f"CI=true and the service is missing: {reason}", pytrace=False)
    pytest.skip(reason)


@pytest.fixture(autouse=True)
def _required_services(request) -> None:
    """Skips (locally) or fails (under CI) a test whose marked service is not configured."""
    keywords = request.node.keywords
    if "postgres" in keywords and connection.vendor != "postgresql":
        _missing_service("needs PostgreSQL: set DATABASE_URL=postgres://...")
    if "browser" in keywords:
        if importlib.util.find_spec("playwright") is None:
            _missing_service("needs Playwright: pip install -r requirements-dev.txt")
        if not (shutil.which("chromium") or shutil.which("chromium-browser")):
            _missing_service("needs Debian's chromium: apt-get install chromium")
    needs_redis = any(mark in keywords for mark in ("redis", "celery_worker", "smoke"))
    if needs_redis and not os.environ.get("TEST_REDIS_URL"):
        _missing_service("needs Redis: set TEST_REDIS_URL=redis://127.0.0.1:6379/14")


@pytest.fixture(autouse=True)
def _empty_cache(settings) -> None:
    # Each test starts with an empty cache, as a fresh server would: cached permissions,
    # dashboard figures or throttle counts of an earlier test's rows (whose ids a later test's
    # rows may reuse) never leak into it. Only the suite's own local-memory cache is emptied:
    # a Redis named in a developer's .env may hold a broker's queue.
    if settings.CACHES["default"]["BACKEND"].endswith("LocMemCache"):
        cache.clear()


@pytest.fixture(autouse=True)
def _shared_cache(settings) -> None:
    # The suite runs as production does, with sessions and permissions read through the cache:
    # its local-memory cache is shared by the one process that serves the tests' requests.
    # (Without Redis the product reads both from the database; tests/common cover that too.)
    settings.SHARED_CACHE = True
    settings.SESSION_ENGINE = "common.sessions"


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings) -> None:
    # PBKDF2's deliberate slowness is a cost per created user that no test needs.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


# Reference rows that data migrations create; a transactional test's flush removes them.
_REFERENCE_DATA = [
    ("contacts.migrations.0002_seed_defaults", "seed"),
    ("loyalty.migrations.0002_default_programme", "create_defaults"),
]


@pytest.fixture(autouse=True)
def _reference_data(request) -> None:
    """Re-creates the data migrations' reference rows (caps, plans, templates, the loyalty
    programme, role groups) for transactional tests, which start from a flushed database."""
    marker = request.node.get_closest_marker("django_db")
    if not marker or not (marker.kwargs.get("transaction") or "transaction" in marker.args):
        return
    request.getfixturevalue("transactional_db")
    from django.apps import apps

    from common.roles import sync_roles

    sync_roles()
    for module_name, function in _REFERENCE_DATA:
        getattr(importlib.import_module(module_name), function)(apps, None)


@pytest.fixture(autouse=True)
def _default_language():
    # A request in Russian leaves Russian active in the thread; later tests expect the default.
    yield
    translation.deactivate()


@pytest.fixture
def rep(db):
    return RepFactory(username="rep")


@pytest.fixture
def other_rep(db):
    return RepFactory(username="other_rep")


@pytest.fixture
def manager(db):
    return ManagerFactory(username="manager")


@pytest.fixture
def customer(rep):
    return CustomerFactory(owner=rep)


@pytest.fixture
def rep_client(client, rep):
    client.force_login(rep)
    return client


@pytest.fixture
def manager_client(client, manager):
    client.force_login(manager)
    return client
