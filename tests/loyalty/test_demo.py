"""The demo base goes through the real receivers: its purchases earn points, and a reset removes
the demo customers' loyalty rows (and only theirs)."""

import pytest
from django.utils import timezone

from customers.demo import seed_demo
from customers.models import Customer
from loyalty import services
from loyalty.models import LedgerEntry, LoyaltyAccount, PurchasePoints, Redemption, Reward
from loyalty.selectors import ledger_audit
from tests.factories import CustomerFactory
from tests.loyalty.conftest import balance_of, buy

pytestmark = pytest.mark.django_db


def test_demo_purchases_earn_points_and_a_reset_removes_only_demo_points(programme):
    today = timezone.localdate()
    seed_demo(customers=60, seed=7, today=today)
    assert LoyaltyAccount.objects.count() > 0
    assert PurchasePoints.objects.count() > 0
    assert ledger_audit().ok
    demo_customer = LoyaltyAccount.objects.filter(balance__gte=10).first().customer
    reward = Reward.objects.create(name="Demo voucher", kind=Reward.Kind.VOUCHER, cost=10)
    services.redeem_reward(customer_id=demo_customer.pk, reward_id=reward.pk, by=None, key="demo-1")
    real = CustomerFactory(external_id="ERP-1")
    buy(real, "10000")

    seed_demo(customers=60, seed=7, today=today, reset=True)

    assert not Customer.objects.filter(pk=demo_customer.pk).exists()
    assert not Redemption.objects.filter(customer_id=demo_customer.pk).exists()
    assert balance_of(real) == 100
    assert LedgerEntry.objects.filter(customer=real).count() == 1
    assert ledger_audit().ok
