"""Property-based tests: random sequences of purchases, refunds, redemptions, cancellations,
adjustments and expiry runs, checked against an independent first-in-first-out model of lots.

The model keeps, per customer, lots of points (one per purchase or positive adjustment) with their
expiry and how much of each was used; spending fills the soonest-expiring lots first, a cancelled
redemption gives back to the last lots used, a refund shrinks its purchase's own lot, and expiry
removes what is left of the lots expired by then (at most once per local day).
"""

import itertools
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import ROUND_DOWN, ROUND_HALF_UP, Decimal

import pytest
import time_machine
from django.db import transaction
from django.utils import timezone
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from customers import services as customer_services
from customers.models import Purchase
from loyalty import services
from loyalty.errors import InsufficientPointsError, RedemptionNotCancellableError
from loyalty.models import LoyaltyAccount, Programme, Reward, Tier
from loyalty.periods import add_months
from loyalty.selectors import expiring_points_by_customer, ledger_audit
from tests.factories import CustomerFactory
from tests.loyalty.conftest import ledger_sum

pytestmark = pytest.mark.django_db

EXPIRY_MONTHS = 2
CUSTOMERS = 2


@dataclass
class Lot:
    expires_at: datetime
    size: int
    used: int = 0

    @property
    def left(self) -> int:
        return self.size - self.used


@dataclass
class Wallet:
    lots: list[Lot] = field(default_factory=list)
    expired_days: set = field(default_factory=set)

    @property
    def balance(self) -> int:
        return sum(lot.left for lot in self.lots)

    def add(self, lot: Lot) -> None:
        # Time only moves forward here, so a new lot never expires before an older one.
        assert not self.lots or self.lots[-1].expires_at <= lot.expires_at
        self.lots.append(lot)

    def consume(self, points: int) -> None:
        for lot in self.lots:
            taken = min(points, lot.left)
            lot.used += taken
            points -= taken
        assert points == 0

    def give_back(self, points: int) -> None:
        for lot in reversed(self.lots):
            returned = min(points, lot.used)
            lot.used -= returned
            points -= returned
        assert points == 0

    def shrink(self, lot: Lot, points: int) -> None:
        lot.size -= points
        if lot.used > lot.size:
            overflow, lot.used = lot.used - lot.size, lot.size
            self.consume(overflow)

    def expire(self, as_of: datetime) -> int:
        day = timezone.localdate(as_of)
        if day in self.expired_days:
            return 0
        due = sum(lot.left for lot in self.lots if lot.expires_at <= as_of)
        if due:
            self.expired_days.add(day)
            self.consume(due)
            assert all(lot.left == 0 for lot in self.lots if lot.expires_at <= as_of)
        return due


def _share(points: int, amount: Decimal, refunded: Decimal) -> int:
    if refunded >= amount:
        return points
    return int((Decimal(points) * refunded / amount).quantize(Decimal(1), rounding=ROUND_HALF_UP))


# Mostly the first customer, so its lots pile up and are spent, refunded and expired in many
# orders; the second is there to show that one customer's history never touches another's.
customer_index = st.sampled_from([0, 0, 0, 1])
operations = st.lists(
    st.one_of(
        st.tuples(st.just("buy"), customer_index, st.integers(1, 40_000)),
        st.tuples(st.just("refund"), st.integers(0, 50), st.integers(1, 100)),
        st.tuples(st.just("redeem"), customer_index, st.integers(1, 150)),
        st.tuples(st.just("cancel"), st.integers(0, 20)),
        st.tuples(st.just("adjust"), customer_index, st.integers(-150, -1) | st.integers(1, 300)),
        st.tuples(st.just("expire")),
    ).flatmap(lambda operation: st.tuples(st.just(operation), st.integers(0, 20))),
    min_size=1,
    max_size=30,
)


# A failure is shrunk to a short history before it is reported, which can take minutes.
@pytest.mark.timeout(900)
@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(operations=operations)
def test_random_histories_keep_the_ledger_consistent_and_expire_oldest_points_first(db, operations):
    with transaction.atomic():
        _play(operations)
        transaction.set_rollback(True)


def _play(operations) -> None:
    programme = Programme.load()
    programme.expiry_months = EXPIRY_MONTHS
    programme.return_window_days = 0
    programme.save()
    # No tiers: every purchase earns at the base rate, so the model needs no multipliers.
    Tier.objects.all().delete()
    customers = CustomerFactory.create_batch(CUSTOMERS)
    wallets = [Wallet() for _ in customers]
    purchases: list[dict] = []
    redemptions: list[dict] = []
    numbers = itertools.count()
    clock = timezone.now() - timedelta(days=2000)
    for operation, days in operations:
        # Each step happens some days after the previous one; expiry is two months.
        clock += timedelta(days=days, hours=days % 5)
        kind = operation[0]
        with time_machine.travel(clock, tick=False):
            if kind == "buy":
                _, who, amount = operation
                purchase, _created = customer_services.record_purchase(
                    customer_id=customers[who].pk,
                    occurred_at=clock,
                    amount=Decimal(amount),
                    external_id=f"PB-{next(numbers)}",
                    source=Purchase.Source.API,
                )
                points = int((Decimal(amount) / 100).to_integral_value(rounding=ROUND_DOWN))
                lot = Lot(add_months(clock, EXPIRY_MONTHS), points) if points else None
                if lot:
                    wallets[who].add(lot)
                purchases.append(
                    {
                        "pk": purchase.pk,
                        "who": who,
                        "amount": Decimal(amount),
                        "refunded": Decimal(0),
                        "points": points,
                        "lot": lot,
                    }
                )
            elif kind == "refund" and purchases:
                _, index, percent = operation
                bought = purchases[index % len(purchases)]
                amount = ((bought["amount"] - bought["refunded"]) * percent / 100).quantize(
                    Decimal("0.01"), rounding=ROUND_DOWN
                )
                if amount <= 0:
                    continue
                customer_services.record_refund(
                    purchase_id=bought["pk"], amount=amount, external_id=f"RB-{next(numbers)}"
                )
                before = _share(bought["points"], bought["amount"], bought["refunded"])
                bought["refunded"] += amount
                share = _share(bought["points"], bought["amount"], bought["refunded"]) - before
                wallet = wallets[bought["who"]]
                taken = min(share, wallet.balance)
                if bought["lot"] and taken:
                    wallet.shrink(bought["lot"], taken)
            elif kind == "redeem":
                _, who, cost = operation
                reward = Reward.objects.create(name=f"R{cost}", kind=Reward.Kind.GIFT, cost=cost)
                wallet = wallets[who]
                if wallet.balance >= cost:
                    redemption = services.redeem_reward(
                        customer_id=customers[who].pk,
                        reward_id=reward.pk,
                        by=None,
                        key=f"K{next(numbers)}",
                    )
                    wallet.consume(cost)
                    redemptions.append(
                        {"pk": redemption.pk, "who": who, "cost": cost, "open": True}
                    )
                else:
                    with pytest.raises(InsufficientPointsError):
                        services.redeem_reward(
                            customer_id=customers[who].pk,
                            reward_id=reward.pk,
                            by=None,
                            key=f"K{next(numbers)}",
                        )
            elif kind == "cancel" and redemptions:
                redemption = redemptions[operation[1] % len(redemptions)]
                if redemption["open"]:
                    services.cancel_redemption(redemption_id=redemption["pk"], by=None)
                    wallets[redemption["who"]].give_back(redemption["cost"])
                    redemption["open"] = False
                else:
                    with pytest.raises(RedemptionNotCancellableError):
                        services.cancel_redemption(redemption_id=redemption["pk"], by=None)
            elif kind == "adjust":
                _, who, points = operation
                wallet = wallets[who]
                if wallet.balance + points >= 0:
                    services.adjust_points(
                        customer_id=customers[who].pk,
                        points=points,
                        by=None,
                        reason="test",
                        key=f"A{next(numbers)}",
                    )
                    if points > 0:
                        wallet.add(Lot(add_months(clock, EXPIRY_MONTHS), points))
                    else:
                        wallet.consume(-points)
                else:
                    with pytest.raises(InsufficientPointsError):
                        services.adjust_points(
                            customer_id=customers[who].pk,
                            points=points,
                            by=None,
                            reason="test",
                            key=f"A{next(numbers)}",
                        )
            elif kind == "expire":
                expired = services.expire_points(as_of=clock)
                assert expired == sum(wallet.expire(clock) for wallet in wallets)
        for customer, wallet in zip(customers, wallets, strict=True):
            account = LoyaltyAccount.objects.filter(customer=customer).first()
            stored = account.balance if account else 0
            assert stored >= 0
            assert stored == ledger_sum(customer) == wallet.balance
    # What is left of the lots, by expiry date, is what first-in-first-out leaves (not only the
    # totals): for every lot's expiry, the points still to expire by then agree.
    for customer, wallet in zip(customers, wallets, strict=True):
        for moment in sorted({lot.expires_at for lot in wallet.lots}):
            expected = sum(lot.left for lot in wallet.lots if lot.expires_at <= moment)
            found = expiring_points_by_customer(until=moment, customer_ids=[customer.pk])
            assert found.get(customer.pk, 0) == expected
    assert ledger_audit().ok
