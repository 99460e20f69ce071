"""Tier placement: upgrades as soon as they are earned, downgrades only at the period's review."""

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db import transaction

from loyalty.models import LoyaltyAccount, Programme, TierChange
from loyalty.periods import add_months

from ._accounts import (
    INSERT_BATCH,
    UPDATE_BATCH,
    chunked,
    load_tiers,
    lock_accounts,
    move_tier,
    qualifying_spend,
    update_accounts,
)

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class TierReview:
    upgraded: int
    downgraded: int
    renewed: int


@transaction.atomic
def reevaluate_tiers(*, as_of: datetime) -> TierReview:
    """Places every account in the tier its rolling spend earns, under the downgrade policy.

    * Upgrades apply at once (accrual does the same after every batch).
    * A tier, once reached, is kept until `tier_valid_until` (one tier window later). When that
      period has ended, a customer whose spend still reaches the tier is renewed for another
      window; one whose spend fell short keeps it for `downgrade_grace_days` more to re-qualify,
      and then moves to the tier the spend reaches (possibly none).
    Set-based: a few queries per 5,000 accounts; only changed accounts are written.
    """
    programme, tiers = Programme.load(), load_tiers()
    grace = timedelta(days=programme.downgrade_grace_days)
    customer_ids = list(
        LoyaltyAccount.objects.order_by("customer_id").values_list("customer_id", flat=True)
    )
    upgraded = downgraded = renewed = 0
    for part in chunked(customer_ids):
        accounts = lock_accounts(part, programme=programme, tiers=tiers, now=as_of)
        spend = qualifying_spend(part, programme=programme, as_of=as_of)
        moved, changes = [], []
        for customer_id, account in accounts.items():
            target = tiers.for_spend(spend[customer_id])
            current_rank = tiers.rank(account.tier_id)
            target_rank = tiers.rank(target.pk if target else None)
            period_over = account.tier_valid_until is None or as_of >= account.tier_valid_until
            if target_rank > current_rank:
                upgraded += 1
            elif period_over and account.tier_id is not None and target_rank == current_rank:
                account.tier_valid_until = add_months(as_of, programme.tier_window_months)
                moved.append(account)
                renewed += 1
                continue
            elif (
                target_rank < current_rank
                and period_over
                and (account.tier_valid_until is None or as_of >= account.tier_valid_until + grace)
            ):
                downgraded += 1
            else:
                continue
            changes.append(
                move_tier(
                    account,
                    to=target,
                    spend=spend[customer_id],
                    tiers=tiers,
                    programme=programme,
                    now=as_of,
                )
            )
            moved.append(account)
        LoyaltyAccount.objects.bulk_update(
            moved, ["tier", "tier_since", "tier_valid_until"], batch_size=UPDATE_BATCH
        )
        TierChange.objects.bulk_create(changes, batch_size=INSERT_BATCH)
        update_accounts(
            {
                customer_id: (0, spend[customer_id])
                for customer_id, account in accounts.items()
                if account.qualifying_spend != spend[customer_id]
            },
            now=as_of,
        )
    logger.info(
        "loyalty.tiers_reviewed accounts=%s upgraded=%s downgraded=%s renewed=%s",
        len(customer_ids),
        upgraded,
        downgraded,
        renewed,
    )
    return TierReview(upgraded=upgraded, downgraded=downgraded, renewed=renewed)
