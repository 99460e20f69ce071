"""The programme's rules as pure reads: tier placement, qualifying spend, refund shares.

Used by the services (which write) and the selectors (which show), so both compute alike.
"""

from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import TypeVar

from django.db.models import Q, Sum

from common.caching import Generation
from customers.models import Purchase, Refund

from .models import Programme, Tier
from .periods import add_months
from .sql import one_of

T = TypeVar("T")

# Ids handled per statement. 5,000 matches the size of the domain signals' batches; IN lists of
# that length are cheap on PostgreSQL and stay far below SQLite's 32,766-variable limit.
CHUNK = 5_000


def chunked(values: Sequence[T], size: int = CHUNK) -> Iterator[Sequence[T]]:
    for start in range(0, len(values), size):
        yield values[start : start + size]


@dataclass(frozen=True)
class Tiers:
    """The tiers as configured now, lowest first."""

    ordered: tuple[Tier, ...]

    @property
    def by_id(self) -> dict[int, Tier]:
        return {tier.pk: tier for tier in self.ordered}

    def get(self, tier_id: int | None) -> Tier | None:
        return self.by_id.get(tier_id) if tier_id is not None else None

    def rank(self, tier_id: int | None) -> int:
        """Position of a tier, lowest 0; no tier (or a deleted one) ranks below every tier."""
        for position, tier in enumerate(self.ordered):
            if tier.pk == tier_id:
                return position
        return -1

    def for_spend(self, spend: Decimal) -> Tier | None:
        """The highest tier whose qualifying spend `spend` reaches."""
        reached = [tier for tier in self.ordered if tier.qualifying_spend <= spend]
        return reached[-1] if reached else None

    def next_above(self, tier_id: int | None) -> Tier | None:
        rank = self.rank(tier_id)
        return self.ordered[rank + 1] if rank + 1 < len(self.ordered) else None


def load_tiers() -> Tiers:
    return Tiers(tuple(Tier.objects.order_by("order")))


# The programme and its tiers change when a loyalty admin saves them, and are read by every
# purchase's accrual: kept in the shared cache under a generation that any save or deletion of
# either renews (at once and at commit; see common.caching.Generation and loyalty.apps).
RULES = Generation("loyalty-rules", ttl=300)


def current_rules() -> tuple[Programme, Tiers]:
    """The programme and its tiers as `Programme.load()` and `load_tiers()` read them, kept."""
    return RULES.kept("loyalty-rules:programme", lambda: (Programme.load(), load_tiers()))


def reversal_share(*, points: int, amount: Decimal, refunded: Decimal) -> int:
    """Points to take back once `refunded` of a purchase of `amount` that earned `points` is refunded.

    Proportional and rounded half up, computed on the cumulative refunded amount so a series of
    partial refunds adding up to the whole purchase takes back exactly the points it earned.
    """
    if refunded >= amount:
        return points
    return int((Decimal(points) * refunded / amount).quantize(Decimal(1), rounding=ROUND_HALF_UP))


def qualifying_spend(
    customer_ids: Iterable[int], *, programme: Programme, as_of: datetime
) -> dict[int, Decimal]:
    """Net qualifying spend per customer over the tier window ending at `as_of` (two queries a chunk).

    Purchases inside the window count, less what was refunded of them by `as_of`. Points and
    redemptions play no part, so redeeming never demotes.
    """
    start = add_months(as_of, -programme.tier_window_months)
    spend: dict[int, Decimal] = defaultdict(Decimal)
    ids = sorted(set(customer_ids))
    for part in chunked(ids):
        in_window = (
            Q(occurred_at__gt=start, occurred_at__lte=as_of) & programme.qualifying_purchases_q()
        )
        bought = (
            Purchase.objects.filter(one_of("customer_id", part))
            .filter(in_window)
            .order_by()
            .values("customer_id")
            .annotate(total=Sum("amount"))
            .values_list("customer_id", "total")
        )
        for customer_id, total in bought:
            spend[customer_id] += total
        refunded = (
            Refund.objects.filter(one_of("purchase__customer_id", part), occurred_at__lte=as_of)
            .filter(
                Q(purchase__occurred_at__gt=start, purchase__occurred_at__lte=as_of)
                & programme.qualifying_purchases_q("purchase__")
            )
            .order_by()
            .values("purchase__customer_id")
            .annotate(total=Sum("amount"))
            .values_list("purchase__customer_id", "total")
        )
        for customer_id, total in refunded:
            spend[customer_id] -= total
    return {customer_id: max(spend.get(customer_id, Decimal(0)), Decimal(0)) for customer_id in ids}
