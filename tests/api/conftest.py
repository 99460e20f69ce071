"""API clients that authenticate with real tokens, as systems do."""

import pytest
from django.core.cache import cache
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient


def token_client(user) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=user).key}")
    return client


@pytest.fixture(autouse=True)
def _fresh_throttle_counters():
    # Throttle counters live in the cache; no test may inherit another's.
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def rep_api(rep) -> APIClient:
    return token_client(rep)


@pytest.fixture
def other_rep_api(other_rep) -> APIClient:
    return token_client(other_rep)


@pytest.fixture
def manager_api(manager) -> APIClient:
    return token_client(manager)
