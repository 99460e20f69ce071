"""The production cache backend against a real Redis: Django's, with one client per pool."""

import os
import secrets

import pytest
import redis

from common.redis_cache import RedisCache

pytestmark = pytest.mark.redis


@pytest.fixture
def backend():
    # A key prefix of its own: the Redis database may hold a Celery test's queue.
    cache = RedisCache(
        os.environ["TEST_REDIS_URL"],
        {"KEY_PREFIX": f"test-redis-cache-{secrets.token_hex(4)}", "TIMEOUT": 60},
    )
    yield cache
    client = redis.Redis.from_url(os.environ["TEST_REDIS_URL"])
    keys = list(client.scan_iter(f"{cache.key_prefix}:*"))
    if keys:
        client.delete(*keys)
    cache.close()


def test_reads_and_writes_like_djangos_backend(backend):
    assert backend.get("missing") is None
    backend.set("answer", {"value": 42})
    assert backend.get("answer") == {"value": 42}
    assert backend.add("answer", "other") is False
    assert backend.get_many(["answer", "missing"]) == {"answer": {"value": 42}}
    backend.set("count", 1)
    assert backend.incr("count", 2) == 3
    assert backend.delete("answer") is True
    assert backend.get("answer") is None


def test_one_client_per_pool_is_kept(backend):
    client = backend._cache.get_client("a", write=True)
    assert client is backend._cache.get_client("b", write=False)
    assert client.connection_pool is backend._cache._get_connection_pool(True)
    backend.set("kept", "yes")
    assert backend._cache.get_client() is client
    assert backend.get("kept") == "yes"

