"""Points out when they expire, soonest-expiring (oldest earned) first."""

import logging
from datetime import datetime

from django.db import transaction
from django.utils import timezone

from loyalty.models import LedgerEntry, Programme
from loyalty.selectors import expiring_points_by_customer

from ._accounts import chunked, existing_keys, load_tiers, lock_accounts, write_entries

logger = logging.getLogger(__name__)


def expiry_key(customer_id: int, as_of: datetime) -> str:
    return f"expire:{customer_id}:{timezone.localdate(as_of).isoformat()}"


@transaction.atomic
def expire_points(*, as_of: datetime) -> int:
    """Removes every point whose lot expired by `as_of` and was not spent; returns points expired.

    First in, first out: points earned form lots (a purchase's points net of its refund reversal,
    partner points, positive adjustments), each with its expiry; everything that takes points away
    (redemptions, expiry, negative adjustments) is taken from the soonest-expiring lots first, so
    what is left of the lots expired by `as_of` is max(0, their points - everything consumed).
    One entry per customer per local day of `as_of` (key `expire:<customer>:<date>`): a re-run
    that day changes nothing. Set-based: one aggregate finds the customers, then a few queries per
    5,000 of them, recomputed under their account locks.
    """
    programme, tiers, now = Programme.load(), load_tiers(), timezone.now()
    candidates = sorted(expiring_points_by_customer(until=as_of))
    expired = 0
    for part in chunked(candidates):
        accounts = lock_accounts(part, programme=programme, tiers=tiers, now=now)
        due = expiring_points_by_customer(until=as_of, customer_ids=part)
        done = existing_keys(expiry_key(customer_id, as_of) for customer_id in due)
        entries = []
        for customer_id, points in sorted(due.items()):
            # Never more than the balance (it cannot be, by the arithmetic above; this is a guard).
            points = min(points, accounts[customer_id].balance)
            if points <= 0 or expiry_key(customer_id, as_of) in done:
                continue
            entries.append(
                LedgerEntry(
                    customer_id=customer_id,
                    kind=LedgerEntry.Kind.EXPIRE,
                    points=-points,
                    key=expiry_key(customer_id, as_of),
                    created_at=now,
                )
            )
        write_entries(entries, accounts, now=now)
        expired -= sum(entry.points for entry in entries)
    logger.info("loyalty.expired customers=%s points=%s", len(candidates), expired)
    return expired
