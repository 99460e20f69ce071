"""The one deletion the ledger allows: points of demo customers, when the demo base is reset."""

import logging
from collections.abc import Iterable

from django.db import models, transaction

from loyalty.models import LedgerEntry, LoyaltyAccount, PurchasePoints, Redemption, TierChange
from loyalty.rules import chunked

logger = logging.getLogger(__name__)


@transaction.atomic
def delete_points_of_demo_customers(*, customer_ids: Iterable[int]) -> int:
    """Deletes every loyalty row of these customers; returns how many ledger entries went.

    Only `customers.signals.demo_data_deleting` calls this, for customers the demo made and is
    about to delete with their purchases (the ledger's PROTECT links would otherwise refuse the
    reset). Real customers' entries are never deleted: the ledger's own guards stay in place, and
    this bypasses them deliberately and visibly (models.QuerySet.delete).
    """
    deleted = 0
    for part in chunked(sorted(set(customer_ids))):
        entries = LedgerEntry.objects.filter(customer_id__in=part)
        deleted += models.QuerySet.delete(entries)[0]
        Redemption.objects.filter(customer_id__in=part).delete()
        PurchasePoints.objects.filter(customer_id__in=part).delete()
        TierChange.objects.filter(customer_id__in=part).delete()
        LoyaltyAccount.objects.filter(customer_id__in=part).delete()
    logger.info("loyalty.demo_points_deleted entries=%s", deleted)
    return deleted
