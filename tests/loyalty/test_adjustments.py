import io
from datetime import timedelta

import pytest
from django.utils import timezone

from loyalty import services
from loyalty.errors import (
    IdempotencyConflictError,
    InsufficientPointsError,
    InvalidAdjustmentError,
    LoyaltyError,
)
from loyalty.models import LedgerEntry
from tests.factories import CustomerFactory
from tests.loyalty.conftest import balance_of, ledger_sum

pytestmark = pytest.mark.django_db


def test_an_adjustment_adds_points_that_expire_like_earned_ones(customer, programme, manager):
    entry = services.adjust_points(
        customer_id=customer.pk, points=300, by=manager, reason="Goodwill", key="a-1"
    )
    assert (entry.kind, entry.points, entry.note, entry.created_by) == (
        "adjust",
        300,
        "Goodwill",
        manager,
    )
    assert entry.expires_at > timezone.now() + timedelta(days=700)
    assert balance_of(customer) == 300


def test_a_negative_adjustment_never_takes_the_balance_below_zero(customer, programme, manager):
    services.adjust_points(
        customer_id=customer.pk, points=100, by=manager, reason="Goodwill", key="a-1"
    )
    with pytest.raises(InsufficientPointsError):
        services.adjust_points(
            customer_id=customer.pk, points=-101, by=manager, reason="Mistake", key="a-2"
        )
    services.adjust_points(
        customer_id=customer.pk, points=-100, by=manager, reason="Mistake", key="a-3"
    )
    assert balance_of(customer) == ledger_sum(customer) == 0


@pytest.mark.parametrize(("points", "reason"), [(0, "Why"), (10, ""), (10, "   ")])
def test_an_adjustment_needs_points_and_a_reason(customer, programme, points, reason):
    with pytest.raises(InvalidAdjustmentError):
        services.adjust_points(
            customer_id=customer.pk, points=points, by=None, reason=reason, key="a-1"
        )


def test_an_adjustment_key_is_used_once(customer, programme):
    first = services.adjust_points(
        customer_id=customer.pk, points=10, by=None, reason="x", key="a-1"
    )
    assert (
        services.adjust_points(
            customer_id=customer.pk, points=10, by=None, reason="x", key="a-1"
        ).pk
        == first.pk
    )
    with pytest.raises(IdempotencyConflictError):
        services.adjust_points(customer_id=customer.pk, points=20, by=None, reason="x", key="a-1")
    assert balance_of(customer) == 10


def _import(text: str):
    return services.import_opening_balances(stream=io.StringIO(text))


def test_opening_balances_are_imported_once_and_bad_rows_are_reported(programme):
    first, second = CustomerFactory(external_id="C-1"), CustomerFactory(external_id="C-2")
    text = (
        "external_id,points,expires_at,note\n"
        "C-1,500,,Moved from the old card\n"
        "C-2,250,2099-12-31,\n"
        "C-404,10,,\n"
        "C-1,20,,\n"
        ",5,,\n"
        "C-3,-5,,\n"
        "C-4,lots,,\n"
        "C-5,5,31.12.2099,\n"
        "C-6,5,2001-01-01,\n"
    )
    report = _import(text)
    assert (report.rows, report.imported, report.points, report.already_imported) == (9, 2, 750, 0)
    assert [line for line, _message in report.errors] == [4, 5, 6, 7, 8, 9, 10]
    assert "line 2" in dict(report.errors)[5]
    assert balance_of(first) == 500
    assert balance_of(second) == 250
    entry = LedgerEntry.objects.get(customer=second)
    assert (entry.kind, entry.note, entry.expires_at.year) == ("adjust", "Opening balance", 2099)
    again = _import(text)
    assert (again.imported, again.already_imported) == (0, 2)
    assert balance_of(first) == 500


def test_opening_balances_accept_semicolons_and_internal_ids(programme):
    customer = CustomerFactory()
    report = _import(f"customer_id;points\n{customer.pk};40\n")
    assert (report.imported, report.errors) == (1, [])
    assert balance_of(customer) == 40


def test_an_opening_balance_file_without_the_needed_columns_is_refused(programme):
    with pytest.raises(LoyaltyError):
        _import("name,amount\nX,1\n")
