"""Values kept in the cache that the database can always compute again."""

import contextlib
import logging
import secrets
from collections.abc import Callable
from typing import TypeVar

from django.conf import settings
from django.core.cache import cache
from django.db import transaction

logger = logging.getLogger(__name__)
T = TypeVar("T")


def _always(_value) -> bool:
    return True


def kept(
    key: str, seconds: int, compute: Callable[[], T], *, worth_keeping: Callable[[T], bool] = _always
) -> T:
    """`compute()`'s value from the cache, or computed and kept for `seconds` (only when
    `worth_keeping(value)`, if given). A cache that cannot be reached (Redis down) costs the
    computation, never the page."""
    try:
        value = cache.get(key)
    except Exception as error:  # noqa: BLE001 - any cache failure: compute
        logger.warning("cache.unavailable key=%s error=%s", key.split(":", 1)[0], type(error).__name__)
        return compute()
    if value is None:
        value = compute()
        if worth_keeping(value):
            with contextlib.suppress(Exception):  # the next request computes it again
                cache.set(key, value, seconds)
    return value


class Generation:
    """A stamp in the shared cache that any change to some rows renews: values kept under it are
    current while it is, and all of them go stale at once when it changes.

    For answers that change only when a few rows change (a user's permissions, the loyalty rules)
    and are read on every request. Whoever changes those rows calls `renew` (usually from model
    signals): the stamp is changed when the change is made, so the process making it never reads
    an old value, and again when its transaction commits, so a value another process computed from
    the not-yet-committed rows in between is not kept. A value is stamped with the generation read
    before it was computed, so one computed across a change never matches. Kept values also expire
    after `ttl` seconds. When the cache cannot be reached every value is computed, as without this
    class; without a shared cache (settings.SHARED_CACHE off: each process would keep its own
    copy, which another process's change could not renew) nothing is kept at all.

    One case it does not cover: a value computed inside the very transaction that made the change
    (from its uncommitted rows) is kept under the new stamp, and if that transaction then rolls
    back the value stays until `ttl`. So read kept values outside the transaction that changes
    their rows; no code here does otherwise (an admin's save commits before anything is read).
    """

    def __init__(self, name: str, *, ttl: int) -> None:
        self.name = name
        self.key = f"{name}:generation"
        self.ttl = ttl

    def renew(self, **_signal_kwargs) -> None:
        """Makes every kept value stale: now, and again when the current transaction commits (the
        second even when the first failed: a blip at the change must not keep values for `ttl`)."""
        self._renew()
        transaction.on_commit(self._renew)

    def _renew(self) -> None:
        if not settings.SHARED_CACHE:
            return
        try:
            cache.set(self.key, secrets.token_hex(8), None)
        except Exception as error:  # noqa: BLE001 - stale values expire after ttl
            self.unavailable(error)

    def unavailable(self, error: Exception) -> None:
        logger.warning("%s.cache_unavailable error=%s", self.name, type(error).__name__)

    def read(self, keys: list[str]) -> tuple[str | None, dict]:
        """(the current generation, {key: value} of the `keys` kept under it), in one cache call
        (two more the first time, or after the cache was emptied). Without a shared cache, or when
        it cannot be reached (logged), (None, {}): nothing is current and `keep` keeps nothing,
        so the caller computes from the database, as without this class."""
        if not settings.SHARED_CACHE:
            return None, {}
        try:
            found = cache.get_many([self.key, *keys])
            generation = found.get(self.key)
            if generation is None:
                # First use, or the cache was emptied: a new generation, whatever was kept before.
                cache.add(self.key, secrets.token_hex(8), None)
                generation = cache.get(self.key)
        except Exception as error:  # noqa: BLE001 - any cache failure: nothing is kept
            self.unavailable(error)
            return None, {}
        current = {}
        for key in keys:
            entry = found.get(key)
            if entry is not None and generation is not None and entry[0] == generation:
                current[key] = entry[1]
        return generation, current

    def keep(self, generation: str | None, key: str, value) -> None:
        """Keeps `value`, computed after `generation` was read, under it (errors are ignored: the
        next reader computes it again)."""
        if generation is None:
            return
        with contextlib.suppress(Exception):
            cache.set(key, (generation, value), self.ttl)

    def kept(self, key: str, compute: Callable[[], T]) -> T:
        """`compute()`'s value as kept under the current generation, or computed and kept."""
        generation, current = self.read([key])
        if key in current:
            return current[key]
        value = compute()
        self.keep(generation, key, value)
        return value
