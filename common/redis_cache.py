"""Django's Redis cache backend, without a new client object for every call.

Django's RedisCacheClient builds a `redis.Redis` for each cache call; the object is cheap to use
but not to make (it copies redis-py's table of some 170 response callbacks). A page makes a few
cache calls (its session, its user's permissions, kept figures), so the copies cost a page about
a tenth of a millisecond each. Here each connection pool gets one client, made on first use and
kept: a `redis.Redis` is safe to share between threads (every command borrows a connection from
the pool) and across a fork (the pool notices the new process and opens its own connections).
"""

from django.core.cache.backends.redis import RedisCache as DjangoRedisCache
from django.core.cache.backends.redis import RedisCacheClient


class ReusingRedisCacheClient(RedisCacheClient):
    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._clients: dict[int, object] = {}

    def get_client(self, key=None, *, write=False):
        pool = self._get_connection_pool(write)
        # Pools live as long as this object (Django keeps them in self._pools), so their ids do.
        client = self._clients.get(id(pool))
        if client is None:
            client = self._clients[id(pool)] = self._client(connection_pool=pool)
        return client


class RedisCache(DjangoRedisCache):
    """settings.CACHES backend: Django's RedisCache with one client per connection pool."""

    def __init__(self, server, params) -> None:
        super().__init__(server, params)
        self._class = ReusingRedisCacheClient
