"""Handing work to Celery after the transaction that recorded it commits, without ever failing
the request: the row is the source of truth, the message only a nudge.

With the broker down, `delay()` would raise (after the bounded connection retries in settings)
inside an on-commit callback, turning a saved change into an error page. Here the failure is
logged and the row stays pending for its app's sweeper to enqueue again.
"""

import logging

from django.db import transaction

logger = logging.getLogger(__name__)


def enqueue(task, **kwargs) -> bool:
    """Sends `task` with JSON kwargs now; False (logged) when the broker cannot be reached."""
    if task.app.conf.task_always_eager:
        # In-process tasks: nothing to reach, and their own errors must surface as usual.
        task.apply_async(kwargs=kwargs)
        return True
    try:
        task.apply_async(kwargs=kwargs)
    except Exception as error:  # noqa: BLE001 - any broker failure leaves the row pending
        logger.error(
            "task.enqueue_failed task=%s kwargs=%s error=%s", task.name, kwargs, type(error).__name__
        )
        return False
    return True


def enqueue_on_commit(task, **kwargs) -> None:
    """Sends `task` once the current transaction commits (never for rolled-back data)."""
    transaction.on_commit(lambda: enqueue(task, **kwargs))
