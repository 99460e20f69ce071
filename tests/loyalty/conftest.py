"""Helpers for the loyalty tests: purchases and refunds go through the customer base's services, so
the receivers run exactly as they do for imports, the API and the UI."""

import itertools
from datetime import datetime
from decimal import Decimal

import pytest
from django.contrib.auth.models import Permission
from django.db.models import Sum
from django.utils import timezone

from customers import services as customer_services
from customers.models import Purchase
from loyalty.models import LedgerEntry, LoyaltyAccount, Programme, Reward

_numbers = itertools.count(1)


def buy(
    customer,
    amount,
    *,
    at: datetime | None = None,
    currency: str = "RUB",
    source: str = Purchase.Source.API,
):
    purchase, _created = customer_services.record_purchase(
        customer_id=customer.pk,
        occurred_at=at or timezone.now(),
        amount=Decimal(str(amount)),
        currency=currency,
        external_id=f"T-P-{next(_numbers)}",
        source=source,
    )
    return purchase


def refund(purchase, amount, *, at: datetime | None = None):
    refund_row, _created = customer_services.record_refund(
        purchase_id=purchase.pk,
        amount=Decimal(str(amount)),
        external_id=f"T-R-{next(_numbers)}",
        occurred_at=at,
    )
    return refund_row


def balance_of(customer) -> int:
    account = LoyaltyAccount.objects.filter(customer=customer).first()
    return account.balance if account else 0


def ledger_sum(customer) -> int:
    return (
        LedgerEntry.objects.filter(customer=customer).aggregate(total=Sum("points"))["total"] or 0
    )


def grant(user, *codenames: str) -> None:
    user.user_permissions.add(
        *Permission.objects.filter(content_type__app_label="loyalty", codename__in=codenames)
    )
    # Django caches permissions on the user object.
    for cache in ("_perm_cache", "_user_perm_cache", "_group_perm_cache"):
        user.__dict__.pop(cache, None)


@pytest.fixture
def programme(db) -> Programme:
    return Programme.load()


@pytest.fixture
def reward(db) -> Reward:
    return Reward.objects.create(name="Coffee voucher", kind=Reward.Kind.VOUCHER, cost=100)


@pytest.fixture
def gift(db) -> Reward:
    return Reward.objects.create(name="Mug", kind=Reward.Kind.GIFT, cost=50)
