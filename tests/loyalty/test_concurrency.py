"""Races closed in the database, proven on PostgreSQL with real threads (SQLite proves nothing)."""

import threading
from collections import Counter
from decimal import Decimal

import pytest
from django.db import connection
from django.utils import timezone

from customers import services as customer_services
from customers.models import Purchase
from loyalty import services
from loyalty.errors import InsufficientPointsError, RedemptionNotCancellableError
from loyalty.models import LedgerEntry, LoyaltyAccount, Redemption, Reward
from loyalty.selectors import ledger_audit
from tests.factories import CustomerFactory
from tests.loyalty.conftest import ledger_sum

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def _in_threads(count: int, work) -> list[str]:
    """Runs work(index) in `count` threads released together; returns each outcome's name."""
    barrier = threading.Barrier(count)
    outcomes: list[str] = []
    lock = threading.Lock()

    def run(index: int) -> None:
        try:
            barrier.wait(timeout=30)
            outcome = work(index)
        except Exception as error:  # noqa: BLE001 - every outcome is counted by the test
            outcome = type(error).__name__
        finally:
            connection.close()
        with lock:
            outcomes.append(outcome)

    threads = [threading.Thread(target=run, args=(index,)) for index in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert len(outcomes) == count
    return outcomes


def test_fifty_concurrent_redemptions_of_a_tenth_of_the_balance_issue_exactly_ten():
    customer = CustomerFactory()
    services.adjust_points(
        customer_id=customer.pk, points=1000, by=None, reason="Opening", key="open-1"
    )
    reward = Reward.objects.create(name="Voucher", kind=Reward.Kind.VOUCHER, cost=100)

    def redeem(index: int) -> str:
        services.redeem_reward(
            customer_id=customer.pk, reward_id=reward.pk, by=None, key=f"race-{index}"
        )
        return "issued"

    outcomes = Counter(_in_threads(50, redeem))
    assert outcomes == {"issued": 10, InsufficientPointsError.__name__: 40}
    assert LoyaltyAccount.objects.get(customer=customer).balance == 0
    assert ledger_sum(customer) == 0
    assert Redemption.objects.count() == LedgerEntry.objects.filter(kind="redeem").count() == 10
    assert len(set(Redemption.objects.values_list("code", flat=True))) == 10
    assert ledger_audit().ok


def test_concurrent_cancellations_restore_the_points_once():
    customer = CustomerFactory()
    services.adjust_points(
        customer_id=customer.pk, points=100, by=None, reason="Opening", key="open-1"
    )
    reward = Reward.objects.create(name="Voucher", kind=Reward.Kind.VOUCHER, cost=100)
    redemption = services.redeem_reward(
        customer_id=customer.pk, reward_id=reward.pk, by=None, key="r-1"
    )

    def cancel(index: int) -> str:
        services.cancel_redemption(redemption_id=redemption.pk, by=None)
        return "cancelled"

    outcomes = Counter(_in_threads(10, cancel))
    assert outcomes == {"cancelled": 1, RedemptionNotCancellableError.__name__: 9}
    assert LoyaltyAccount.objects.get(customer=customer).balance == ledger_sum(customer) == 100


def test_the_same_redemption_key_sent_concurrently_redeems_once():
    customer = CustomerFactory()
    services.adjust_points(
        customer_id=customer.pk, points=1000, by=None, reason="Opening", key="open-1"
    )
    reward = Reward.objects.create(name="Voucher", kind=Reward.Kind.VOUCHER, cost=100)

    def redeem(index: int) -> str:
        return str(
            services.redeem_reward(
                customer_id=customer.pk, reward_id=reward.pk, by=None, key="same"
            ).pk
        )

    outcomes = Counter(_in_threads(10, redeem))
    assert len(outcomes) == 1
    assert sum(outcomes.values()) == 10
    assert LoyaltyAccount.objects.get(customer=customer).balance == ledger_sum(customer) == 900


def test_purchases_refunds_and_redemptions_racing_on_one_account_keep_the_ledger_whole():
    customer = CustomerFactory()
    services.adjust_points(
        customer_id=customer.pk, points=500, by=None, reason="Opening", key="open-1"
    )
    reward = Reward.objects.create(name="Voucher", kind=Reward.Kind.GIFT, cost=30)
    purchase, _ = customer_services.record_purchase(
        customer_id=customer.pk,
        occurred_at=timezone.now(),
        amount=Decimal("50000"),
        external_id="BIG",
        source=Purchase.Source.API,
    )

    def work(index: int) -> str:
        if index % 3 == 0:
            customer_services.record_purchase(
                customer_id=customer.pk,
                occurred_at=timezone.now(),
                amount=Decimal("1000"),
                external_id=f"P-{index}",
                source=Purchase.Source.API,
            )
            return "bought"
        if index % 3 == 1:
            customer_services.record_refund(
                purchase_id=purchase.pk, amount=Decimal("2000"), external_id=f"R-{index}"
            )
            return "refunded"
        services.redeem_reward(
            customer_id=customer.pk, reward_id=reward.pk, by=None, key=f"k-{index}"
        )
        return "redeemed"

    _in_threads(30, work)
    account = LoyaltyAccount.objects.get(customer=customer)
    assert account.balance == ledger_sum(customer) >= 0
    assert ledger_audit().ok


def test_workers_sweeping_the_backlog_at_once_accrue_each_purchase_once(monkeypatch):
    from loyalty.models import PendingAccrual, PurchasePoints
    from loyalty.services import backlog
    from tests.factories import PurchaseFactory

    # Small chunks, so four workers share one backlog (each claims with SKIP LOCKED).
    monkeypatch.setattr(backlog, "CHUNK", 25)
    customers = CustomerFactory.create_batch(30)
    ids = [PurchaseFactory(customer=customers[n % 30]).pk for n in range(600)]
    # A backlog left by lost hand-offs (defer_accrual would hand it to the in-process worker).
    PendingAccrual.objects.bulk_create(PendingAccrual(purchase_id=pk) for pk in ids)

    def sweep(index: int) -> str:
        return str(len(backlog.accrue_backlog()))

    handled = _in_threads(4, sweep)
    assert sum(int(count) for count in handled) == 600
    assert not PendingAccrual.objects.exists()
    assert PurchasePoints.objects.count() == LedgerEntry.objects.filter(kind="earn").count() == 600
    assert ledger_audit().ok
