"""Recording many purchases at once, with the same rules as `services.record_purchase`.

This is the set-based counterpart of `record_purchase` for the bulk endpoint: a few queries per
batch instead of a savepoint, an insert and a loyalty accrual per purchase. It belongs next to
`record_purchase` in customers/services.py (as `record_purchases`) and lives here only until the
owner of that module moves it; nothing in it depends on the API.
"""

import logging
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from django.conf import settings
from django.db import IntegrityError, transaction

from customers.errors import PurchaseConflictError
from customers.models import Purchase
from customers.services import _same_purchase
from customers.signals import purchases_recorded

logger = logging.getLogger(__name__)

# A batch that lost a race on a unique external id (a retry of the same request, an import) is
# read and written again; the next pass sees the winner's rows and reports them as existing.
WRITE_ATTEMPTS = 3

CENT = Decimal("0.01")


@dataclass(frozen=True)
class PurchaseLine:
    """One purchase to record; `customer_id` must already be resolved and checked by the caller."""

    customer_id: int
    occurred_at: datetime
    amount: Decimal
    external_id: str
    currency: str | None = None


@dataclass(frozen=True)
class LineOutcome:
    """What happened to one line: created, exists (the stored purchase) or error (not recorded)."""

    status: str
    purchase: Purchase | None = None
    field: str | None = None
    message: str | None = None


def record_purchases(*, lines: list[PurchaseLine], source: str) -> list[LineOutcome]:
    """Records each line once per external id; returns one outcome per line, in order.

    Each line stands alone: a line whose external id already holds a different purchase is an
    error and the others are still recorded. The same purchase twice (stored before, or twice in
    `lines`) is "exists". New purchases are announced with one `purchases_recorded` signal.
    """
    attempt = 1
    while True:
        try:
            return _record_purchases_once(lines=lines, source=source)
        except IntegrityError:
            if attempt >= WRITE_ATTEMPTS:
                raise
            logger.info("purchases.bulk_retry attempt=%s lines=%s", attempt, len(lines))
            attempt += 1


@transaction.atomic
def _record_purchases_once(*, lines: list[PurchaseLine], source: str) -> list[LineOutcome]:
    default_currency = settings.DEFAULT_CURRENCY.upper()
    stored = {
        purchase.external_id: purchase
        for purchase in Purchase.objects.filter(
            external_id__in={line.external_id for line in lines}
        )
    }
    new: dict[str, Purchase] = {}
    outcomes: list[LineOutcome] = []
    for line in lines:
        amount = Decimal(line.amount).quantize(CENT)
        currency = (line.currency or default_currency).upper()
        earlier = stored.get(line.external_id) or new.get(line.external_id)
        if earlier is not None:
            if _same_purchase(
                earlier, customer_id=line.customer_id, amount=amount, currency=currency
            ):
                outcomes.append(LineOutcome(status="exists", purchase=earlier))
            else:
                outcomes.append(
                    LineOutcome(
                        status="error",
                        field="external_id",
                        message=str(PurchaseConflictError.default_message),
                    )
                )
            continue
        purchase = Purchase(
            customer_id=line.customer_id,
            occurred_at=line.occurred_at,
            amount=amount,
            currency=currency,
            external_id=line.external_id,
            source=source,
        )
        new[line.external_id] = purchase
        outcomes.append(LineOutcome(status="created", purchase=purchase))
    # No ignore_conflicts: the external ids were read inside this transaction, so a conflict
    # means another request inserted one meanwhile, and the IntegrityError sends the batch round
    # again. That keeps the announced ids exactly the inserted ones, which loyalty relies on.
    # Inserted in external-id order, so two overlapping batches wait on each other's unique
    # index entries in the same order and never deadlock.
    created = Purchase.objects.bulk_create(sorted(new.values(), key=lambda p: p.external_id))
    if any(purchase.pk is None for purchase in created):
        # Backends that cannot return ids from a bulk insert: read them back by external id.
        ids = dict(
            Purchase.objects.filter(external_id__in=list(new)).values_list("external_id", "pk")
        )
        for purchase in created:
            purchase.pk = ids[purchase.external_id]
    if created:
        purchases_recorded.send(sender=Purchase, purchase_ids=[purchase.pk for purchase in created])
    logger.info(
        "purchases.recorded_bulk lines=%s created=%s source=%s", len(lines), len(created), source
    )
    return outcomes
