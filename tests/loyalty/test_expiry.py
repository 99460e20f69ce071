from datetime import timedelta

import pytest
from django.utils import timezone

from loyalty import services
from loyalty.models import LedgerEntry, Reward
from loyalty.selectors import points_expiring_within
from tests.factories import CustomerFactory
from tests.loyalty.conftest import balance_of, buy, ledger_sum, refund

pytestmark = pytest.mark.django_db


@pytest.fixture
def yearly(programme):
    programme.expiry_months = 12
    programme.save()
    return programme


@pytest.fixture
def two_lots(customer, yearly):
    """100 points that expired about a month ago and 200 that expire in about half a year."""
    now = timezone.now()
    old = buy(customer, "10000", at=now - timedelta(days=400))
    recent = buy(customer, "20000", at=now - timedelta(days=200))
    return old, recent


def _redeem(customer, cost: int, key: str):
    reward = Reward.objects.create(name=f"Reward {key}", kind=Reward.Kind.GIFT, cost=cost)
    return services.redeem_reward(customer_id=customer.pk, reward_id=reward.pk, by=None, key=key)


def test_unspent_points_expire_oldest_first(customer, two_lots):
    _redeem(customer, 60, "r-1")  # taken from the old lot
    assert services.expire_points(as_of=timezone.now()) == 40
    assert balance_of(customer) == ledger_sum(customer) == 200
    entry = LedgerEntry.objects.get(kind="expire")
    assert entry.points == -40
    assert services.expire_points(as_of=timezone.now() + timedelta(days=200)) == 200
    assert balance_of(customer) == 0


def test_points_spent_before_they_expire_do_not_expire(customer, two_lots):
    _redeem(customer, 150, "r-1")  # the whole old lot and 50 of the recent one
    assert services.expire_points(as_of=timezone.now()) == 0
    assert services.expire_points(as_of=timezone.now() + timedelta(days=200)) == 150


def test_expiry_runs_once_per_day(customer, two_lots):
    as_of = timezone.now()
    assert services.expire_points(as_of=as_of) == 100
    assert services.expire_points(as_of=as_of + timedelta(minutes=5)) == 0
    assert LedgerEntry.objects.filter(kind="expire").count() == 1


def test_a_refund_shrinks_its_own_lot(customer, two_lots):
    old, _recent = two_lots
    refund(old, "10000")
    assert services.expire_points(as_of=timezone.now()) == 0
    assert balance_of(customer) == 200


def test_a_partly_refunded_recent_purchase_leaves_the_old_lot_to_expire(customer, two_lots):
    _old, recent = two_lots
    refund(recent, "5000")  # -50 from the recent lot
    assert services.expire_points(as_of=timezone.now()) == 100
    assert balance_of(customer) == 150


def test_points_restored_after_their_expiry_expire_at_the_next_run(customer, two_lots):
    redemption = _redeem(customer, 100, "r-1")
    assert services.expire_points(as_of=timezone.now()) == 0
    services.cancel_redemption(redemption_id=redemption.pk, by=None)
    assert services.expire_points(as_of=timezone.now() + timedelta(days=1)) == 100
    assert balance_of(customer) == 200


def test_a_negative_adjustment_consumes_the_oldest_points(customer, two_lots):
    services.adjust_points(customer_id=customer.pk, points=-30, by=None, reason="Fix", key="a-1")
    assert services.expire_points(as_of=timezone.now()) == 70


def test_points_never_expire_when_expiry_is_off(customer, programme):
    programme.expiry_months = 0
    programme.save()
    buy(customer, "10000", at=timezone.now() - timedelta(days=3000))
    assert LedgerEntry.objects.get().expires_at is None
    assert services.expire_points(as_of=timezone.now() + timedelta(days=10000)) == 0


def test_customers_with_points_expiring_soon_are_found_with_the_first_date(yearly):
    now = timezone.now()
    soon, later, spent = CustomerFactory(), CustomerFactory(), CustomerFactory()
    first = buy(soon, "10000", at=now - timedelta(days=355))  # expires in about 10 days
    buy(soon, "5000", at=now - timedelta(days=350))
    buy(later, "10000", at=now - timedelta(days=300))  # in about 65 days
    buy(spent, "10000", at=now - timedelta(days=355))
    _redeem(spent, 100, "r-1")
    found = points_expiring_within(days=30, as_of=now)
    assert [(item.customer_id, item.points) for item in found] == [(soon.pk, 150)]
    assert found[0].first_expires_at == LedgerEntry.objects.get(purchase=first).expires_at
    everyone = points_expiring_within(days=90, as_of=now)
    assert [item.customer_id for item in everyone] == [soon.pk, later.pk]


def test_the_first_expiry_date_skips_lots_already_spent(customer, yearly):
    now = timezone.now()
    buy(customer, "10000", at=now - timedelta(days=355))
    second = buy(customer, "10000", at=now - timedelta(days=345))
    _redeem(customer, 100, "r-1")
    [item] = points_expiring_within(days=30, as_of=now)
    assert item.points == 100
    assert item.first_expires_at == LedgerEntry.objects.get(purchase=second).expires_at
