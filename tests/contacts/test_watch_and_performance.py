"""Key-account watch and rep performance: set-based reads for managers."""

from datetime import date, timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from contacts.models import CallListEntry, Channel, Kind, Touch
from contacts.selectors import key_account_watch, overdue_key_account_count, rep_performance
from tests.contacts.conftest import moscow
from tests.contacts.factories import CallListEntryFactory, CustomerScoreFactory, TouchFactory
from tests.factories import CustomerFactory, PurchaseFactory, RefundFactory, RepFactory

pytestmark = [pytest.mark.django_db, pytest.mark.urls("tests.contacts.urls")]


def key_account(owner, **score):
    customer = CustomerFactory(owner=owner)
    CustomerScoreFactory(customer=customer, **{"value_class": "A", **score})
    return customer


def test_a_key_account_not_called_for_30_days_is_on_the_watch_of_its_rep(
    rep, other_rep, manager, noon
):
    forgotten = key_account(rep)
    TouchFactory(customer=forgotten, at=timezone.now() - timedelta(days=41))
    # Automated messages are not a personal contact.
    TouchFactory(
        customer=forgotten,
        channel=Channel.EMAIL,
        kind=Kind.CONTENT,
        at=timezone.now() - timedelta(days=1),
    )
    called = key_account(rep)
    TouchFactory(customer=called, at=timezone.now() - timedelta(days=5))
    never = key_account(other_rep)
    small = CustomerFactory(owner=rep)
    CustomerScoreFactory(customer=small, value_class="C")

    groups = {group.rep: group.customers for group in key_account_watch(user=manager)}

    assert groups[rep] == [forgotten]
    assert groups[rep][0].days_without_contact == 41
    assert groups[other_rep] == [never]
    assert groups[other_rep][0].days_without_contact is None
    assert overdue_key_account_count(user=manager) == 2


def test_a_rep_sees_only_their_own_overdue_key_accounts(rep, other_rep, noon):
    key_account(rep)
    key_account(other_rep)
    assert overdue_key_account_count(user=rep) == 1


def test_revenue_above_the_threshold_makes_a_key_account(rep, manager, settings, noon):
    big_b = key_account(rep, value_class="B", revenue_12m=Decimal("2500000"))
    assert overdue_key_account_count(user=manager) == 0
    settings.CONTACTS_KEY_ACCOUNT_MIN_REVENUE = "2000000"
    assert [
        customer for group in key_account_watch(user=manager) for customer in group.customers
    ] == [big_b]


def test_the_number_of_days_is_a_setting(rep, manager, settings, noon):
    customer = key_account(rep)
    TouchFactory(customer=customer, at=timezone.now() - timedelta(days=20))
    assert overdue_key_account_count(user=manager) == 0
    settings.CONTACTS_KEY_ACCOUNT_DAYS = 14
    assert overdue_key_account_count(user=manager) == 1


def test_accounts_of_a_deactivated_rep_show_as_without_a_rep(manager, noon):
    gone = RepFactory(is_active=False)
    customer = key_account(gone)
    [group] = key_account_watch(user=manager)
    assert group.rep is None
    assert group.customers == [customer]


def test_rep_performance_counts_planned_made_and_reached(rep, other_rep, noon):
    mine = CustomerFactory(owner=rep)
    CallListEntryFactory(customer=mine, day=date(2026, 3, 9), status=CallListEntry.Status.DONE)
    CallListEntryFactory(customer=mine, day=date(2026, 3, 10))
    CallListEntryFactory(customer=mine, day=date(2026, 1, 1))
    TouchFactory(customer=mine, by=rep, outcome="reached", at=moscow(2026, 3, 9, 11, 0))
    TouchFactory(customer=mine, by=rep, outcome="no_answer", at=moscow(2026, 3, 8, 11, 0))
    TouchFactory(
        customer=mine, by=rep, kind=Kind.CONTENT, channel=Channel.EMAIL, source=Touch.Source.PLANNER
    )

    rows = {row.rep: row for row in rep_performance(start=date(2026, 3, 1), end=date(2026, 3, 10))}

    assert (rows[rep].planned, rows[rep].planned_done, rows[rep].planned_done_percent) == (2, 1, 50)
    assert (rows[rep].contacts_made, rows[rep].reached) == (2, 1)
    assert (rows[other_rep].planned, rows[other_rep].contacts_made) == (0, 0)


def test_a_win_back_is_a_dormant_customer_buying_within_60_days_of_a_contact(rep, noon):
    won = CustomerFactory(owner=rep)
    TouchFactory(customer=won, by=rep, was_dormant=True, at=moscow(2026, 1, 10, 11, 0))
    PurchaseFactory(customer=won, occurred_at=moscow(2026, 2, 20, 11, 0))
    too_late = CustomerFactory(owner=rep)
    TouchFactory(customer=too_late, by=rep, was_dormant=True, at=moscow(2026, 1, 10, 11, 0))
    PurchaseFactory(customer=too_late, occurred_at=moscow(2026, 3, 12, 11, 0))
    not_dormant = CustomerFactory(owner=rep)
    TouchFactory(customer=not_dormant, by=rep, was_dormant=False, at=moscow(2026, 1, 10, 11, 0))
    PurchaseFactory(customer=not_dormant, occurred_at=moscow(2026, 1, 20, 11, 0))

    [row] = [
        r for r in rep_performance(start=date(2026, 1, 1), end=date(2026, 1, 31)) if r.rep == rep
    ]

    assert row.win_backs == 1


def test_revenue_from_existing_customers_excludes_new_ones_and_nets_refunds(rep, noon):
    existing = CustomerFactory(owner=rep)
    PurchaseFactory(
        customer=existing, occurred_at=moscow(2025, 12, 1, 10, 0), amount=Decimal("999")
    )
    in_period = PurchaseFactory(
        customer=existing, occurred_at=moscow(2026, 3, 5, 10, 0), amount=Decimal("1000.00")
    )
    RefundFactory(purchase=in_period, amount=Decimal("150.00"))
    newcomer = CustomerFactory(owner=rep)
    PurchaseFactory(
        customer=newcomer, occurred_at=moscow(2026, 3, 6, 10, 0), amount=Decimal("5000.00")
    )

    [row] = [
        r for r in rep_performance(start=date(2026, 3, 1), end=date(2026, 3, 10)) if r.rep == rep
    ]

    assert row.revenue_existing == Decimal("850.00")


def test_rep_performance_runs_a_fixed_number_of_queries(noon, django_assert_max_num_queries):
    for _ in range(6):
        rep = RepFactory()
        customer = key_account(rep)
        TouchFactory(customer=customer, by=rep)
        CallListEntryFactory(customer=customer)
    with django_assert_max_num_queries(7):
        rows = rep_performance(start=date(2026, 3, 1), end=date(2026, 3, 10))
    assert len(rows) == 6
