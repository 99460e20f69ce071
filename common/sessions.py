"""Database sessions read through the cache, which keep working while the cache is down.

Django's cached_db store reads a session from the cache and falls back to its row; but a cache
that cannot be reached makes it fail on the write-back after a miss, on logout and on `exists`,
turning a Redis outage into an outage of every page. Here those calls log and carry on with the
row, which stays the session's source of truth. A session is kept in the cache for at most
`CACHE_SECONDS`, then read from its row again: should removing it from the cache fail at logout
(Redis blipping at that moment), a copied cookie works for minutes, not for the rest of the day.
Used only with a cache shared by every process (settings.SHARED_CACHE).
"""

import logging

from django.contrib.sessions.backends.cached_db import SessionStore as CachedDBStore

logger = logging.getLogger(__name__)


class SessionStore(CachedDBStore):
    CACHE_SECONDS = 5 * 60

    def _cache_age(self, **kwargs) -> int:
        return min(self.get_expiry_age(**kwargs), self.CACHE_SECONDS)

    def _cache_call(self, method: str, *args):
        try:
            return getattr(self._cache, method)(*args)
        except Exception as error:  # noqa: BLE001 - the row still holds the session
            logger.warning("sessions.cache_unavailable call=%s error=%s", method, type(error).__name__)
            return None

    def load(self):
        data = self._cache_call("get", self.cache_key)
        if data is not None:
            return data
        row = self._get_session_from_db()
        if not row:
            return {}
        data = self.decode(row.session_data)
        self._cache_call("set", self.cache_key, data, self._cache_age(expiry=row.expire_date))
        return data

    def save(self, must_create=False):
        super(CachedDBStore, self).save(must_create)
        self._cache_call("set", self.cache_key, self._session, self._cache_age())

    def exists(self, session_key):
        if session_key and self._cache_call("has_key", self.cache_key_prefix + session_key):
            return True
        return super(CachedDBStore, self).exists(session_key)

    def delete(self, session_key=None):
        super(CachedDBStore, self).delete(session_key)
        if session_key is None:
            if self.session_key is None:
                return
            session_key = self.session_key
        self._cache_call("delete", self.cache_key_prefix + session_key)
