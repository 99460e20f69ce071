"""Accrual of large batches in a worker, so a big import or bulk API call does not wait for it.

A batch of `DEFER_FROM` purchases or more, when a broker is configured, is not accrued inside the
transaction that records it: a `PendingAccrual` row per purchase is written there instead (one
statement), and after commit a worker is asked to accrue the backlog. The rows make the hand-off
safe: a worker that is down, a lost message or a crash mid-way leaves them in place, and the
sweeper (every few minutes, from beat) accrues whatever is left. Each chunk is claimed with
`SELECT ... FOR UPDATE SKIP LOCKED`, accrued and deleted in one transaction, so two workers never
accrue the same purchases and a failed chunk is retried whole. Accrual itself stays exactly once
per purchase whatever happens (its own unique rows under the account locks).

Small batches (a purchase from the UI, a single API call) and the in-process default (no broker)
accrue at once, as before.
"""

import logging
from collections.abc import Iterable

from django.db import transaction
from django.utils import timezone

from common.enqueue import enqueue
from loyalty.models import PendingAccrual
from loyalty.rules import CHUNK
from loyalty.sql import insert_rows

from .accrual import accrue_points_for_purchases

logger = logging.getLogger(__name__)

# From this many purchases in one signal, accrual goes to a worker (when there is one). An import
# batch is 5,000 purchases; a bulk API call a few hundred at most goes at once, so the caller
# sees its points.
DEFER_FROM = 1_000


def deferral_available() -> bool:
    """Whether a worker can take the backlog (a broker is configured, tasks are not in-process)."""
    from loyalty.tasks import accrue_backlog_task

    return not accrue_backlog_task.app.conf.task_always_eager


@transaction.atomic
def defer_accrual(*, purchase_ids: Iterable[int]) -> int:
    """Records the purchases as awaiting accrual and asks a worker for it after commit."""
    from loyalty.tasks import accrue_backlog_task

    ids = sorted(set(purchase_ids))
    if not ids:
        return 0
    now = timezone.now()
    insert_rows(
        PendingAccrual,
        [PendingAccrual(purchase_id=pk, created_at=now) for pk in ids],
        ignore_conflicts=True,
    )
    transaction.on_commit(lambda: enqueue(accrue_backlog_task))
    logger.info("loyalty.accrual_deferred purchases=%s", len(ids))
    return len(ids)


def accrue_backlog(*, max_chunks: int | None = None) -> list[int]:
    """Accrues deferred purchases chunk by chunk (a transaction each); returns the purchase ids."""
    handled: list[int] = []
    chunks = 0
    while max_chunks is None or chunks < max_chunks:
        with transaction.atomic():
            ids = list(
                PendingAccrual.objects.select_for_update(skip_locked=True)
                .order_by("purchase_id")
                .values_list("purchase_id", flat=True)[:CHUNK]
            )
            if not ids:
                break
            accrue_points_for_purchases(purchase_ids=ids)
            PendingAccrual.objects.filter(purchase_id__in=ids).delete()
        handled += ids
        chunks += 1
    if handled:
        logger.info("loyalty.backlog_accrued purchases=%s chunks=%s", len(handled), chunks)
    return handled
