"""Values kept in the cache that the database can always compute again."""

import contextlib
import logging
from collections.abc import Callable
from typing import TypeVar

from django.core.cache import cache

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
