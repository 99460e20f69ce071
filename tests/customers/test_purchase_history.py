"""A customer's lifetime figures and purchases by month, as the customer page shows them."""

from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
import time_machine

from customers import selectors
from tests.factories import CustomerFactory, PurchaseFactory, RefundFactory

pytestmark = pytest.mark.django_db


@time_machine.travel(datetime(2026, 11, 20, 12, 0, tzinfo=UTC), tick=False)
def test_lifetime_figures_and_the_last_24_months():
    customer = CustomerFactory()
    old = PurchaseFactory(customer=customer, amount=Decimal("500.00"),
                          occurred_at=datetime(2023, 5, 2, 10, 0, tzinfo=UTC))
    # 22:30 UTC on 30 November 2024 is 1 December in Moscow: it counts for December.
    PurchaseFactory(customer=customer, amount=Decimal("250.50"),
                    occurred_at=datetime(2024, 11, 30, 22, 30, tzinfo=UTC))
    PurchaseFactory(customer=customer, amount=Decimal("100.00"),
                    occurred_at=datetime(2026, 11, 19, 9, 0, tzinfo=UTC))
    latest = PurchaseFactory(customer=customer, amount=Decimal("40.00"),
                             occurred_at=datetime(2026, 11, 20, 8, 0, tzinfo=UTC))
    RefundFactory(purchase=old, amount=Decimal("50.00"))
    RefundFactory(purchase=old, amount=Decimal("25.00"))  # two refunds of one purchase
    RefundFactory(purchase=latest, amount=Decimal("40.00"))
    PurchaseFactory(amount=Decimal("999.00"))  # somebody else's

    summary, monthly = selectors.purchase_history_of(customer)

    assert summary.count == 4
    assert summary.total == Decimal("890.50")
    assert summary.refunded == Decimal("115.00")
    assert summary.net == Decimal("775.50")
    assert summary.first_at == old.occurred_at
    assert summary.last_at == latest.occurred_at
    assert [row["month"] for row in monthly][:2] == [date(2024, 12, 1), date(2025, 1, 1)]
    assert monthly[-1] == {"month": date(2026, 11, 1), "count": 2, "total": Decimal("140.00")}
    assert monthly[0] == {"month": date(2024, 12, 1), "count": 1, "total": Decimal("250.50")}
    assert len(monthly) == 24
    assert sum(row["count"] for row in monthly) == 3  # May 2023 is before the window
    assert selectors.purchase_summary_for(customer) == summary


def test_a_customer_without_purchases():
    summary, monthly = selectors.purchase_history_of(CustomerFactory(), months=3)
    assert (summary.count, summary.total, summary.refunded) == (0, Decimal(0), Decimal(0))
    assert summary.first_at is None
    assert summary.last_at is None
    assert [row["count"] for row in monthly] == [0, 0, 0]
