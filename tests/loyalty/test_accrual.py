import io
from datetime import timedelta
from decimal import Decimal

import pytest
import time_machine
from django.core.management import call_command
from django.utils import timezone

from customers import services as customer_services
from customers.models import Purchase
from customers.signals import purchases_recorded
from loyalty import services
from loyalty.errors import IdempotencyConflictError, InvalidAdjustmentError, PartnerUnavailableError
from loyalty.models import (
    LedgerEntry,
    LoyaltyAccount,
    Partner,
    Programme,
    PurchasePoints,
    Tier,
    TierChange,
)
from loyalty.periods import add_months
from loyalty.selectors import loyalty_summary_for
from tests.factories import CustomerFactory, PurchaseFactory, RefundFactory
from tests.loyalty.conftest import balance_of, buy, ledger_sum, refund

pytestmark = pytest.mark.django_db


def test_a_purchase_earns_points_at_the_programme_rate(customer, programme):
    purchase = buy(customer, "10000.00")
    assert balance_of(customer) == 100
    entry = LedgerEntry.objects.get(customer=customer)
    assert (entry.kind, entry.points, entry.key, entry.purchase_id) == (
        "earn",
        100,
        f"earn:purchase:{purchase.pk}",
        purchase.pk,
    )
    lot = PurchasePoints.objects.get(purchase=purchase)
    assert (lot.points, lot.multiplier, lot.tier_name, lot.rate) == (
        100,
        Decimal("1.00"),
        "Silver",
        Decimal("0.0100"),
    )


def test_the_same_purchase_recorded_twice_accrues_once(customer, programme):
    kwargs = {
        "customer_id": customer.pk,
        "occurred_at": timezone.now(),
        "amount": Decimal("5000"),
        "external_id": "INV-7",
        "source": Purchase.Source.API,
    }
    customer_services.record_purchase(**kwargs)
    customer_services.record_purchase(**kwargs)
    assert balance_of(customer) == 50
    assert LedgerEntry.objects.filter(customer=customer).count() == 1


def test_accruing_ids_again_changes_nothing(customer, programme):
    purchase = buy(customer, "5000")
    assert services.accrue_points_for_purchases(purchase_ids=[purchase.pk, purchase.pk]) == 0
    purchases_recorded.send(sender=Purchase, purchase_ids=[purchase.pk])
    assert balance_of(customer) == ledger_sum(customer) == 50


def test_purchases_that_do_not_qualify_earn_nothing(customer, programme):
    programme.minimum_purchase = Decimal("500")
    programme.qualifying_sources = "api,ui"
    programme.save()
    buy(customer, "10000", currency="USD")
    buy(customer, "499.99")
    buy(customer, "10000", source=Purchase.Source.IMPORT)
    assert balance_of(customer) == 0
    assert not LedgerEntry.objects.exists()
    buy(customer, "500")
    assert balance_of(customer) == 5


@pytest.mark.parametrize(
    ("rounding", "amount", "points"),
    [("down", "199.99", 1), ("down", "99.99", 0), ("half_up", "150", 2), ("half_up", "149.99", 1)],
)
def test_points_are_rounded_as_configured(customer, programme, rounding, amount, points):
    programme.rounding = rounding
    programme.save()
    buy(customer, amount)
    assert balance_of(customer) == points
    # A purchase too small to earn a point leaves no entry at all.
    assert LedgerEntry.objects.filter(customer=customer).count() == (1 if points else 0)


def test_the_tier_multiplier_in_force_at_the_time_applies(customer, programme):
    buy(customer, "100000")  # 1,000 points in Silver, and the spend reaches Gold at once
    account = LoyaltyAccount.objects.select_related("tier").get(customer=customer)
    assert account.tier.name == "Gold"
    assert account.qualifying_spend == Decimal("100000")
    buy(customer, "10000")  # 100 x 1.25
    assert balance_of(customer) == 1000 + 125
    change = TierChange.objects.get(customer=customer)
    assert (change.direction, change.from_name, change.to_name) == ("up", "Silver", "Gold")


def test_points_earned_keep_the_rules_of_their_time(customer, programme):
    purchase = buy(customer, "10000")
    programme.points_per_unit = Decimal("0.05")
    programme.save()
    Tier.objects.filter(name="Silver").update(earn_multiplier=Decimal("3"))
    refund(purchase, "10000")
    assert balance_of(customer) == 0
    reversal = LedgerEntry.objects.get(kind="reverse")
    assert (reversal.points, reversal.shortfall) == (-100, 0)


def test_refunds_recorded_before_the_purchase_was_accrued_are_reversed_with_it(customer, programme):
    purchase = PurchaseFactory(customer=customer, amount=Decimal("10000"))  # no signal sent
    RefundFactory(purchase=purchase, amount=Decimal("4000"))
    assert services.reverse_points_for_refunds(refund_ids=[purchase.refunds.get().pk]) == 0
    assert services.accrue_points_for_purchases(purchase_ids=[purchase.pk]) == 60
    assert balance_of(customer) == ledger_sum(customer) == 60
    services.reverse_points_for_refunds(refund_ids=[purchase.refunds.get().pk])
    assert balance_of(customer) == 60


def test_a_partial_refund_reverses_points_proportionally(customer, programme):
    purchase = buy(customer, "10000")
    refund(purchase, "2500")
    assert balance_of(customer) == 75
    refund(purchase, "7500")
    assert balance_of(customer) == 0
    assert sorted(LedgerEntry.objects.filter(kind="reverse").values_list("points", flat=True)) == [
        -75,
        -25,
    ]


def test_partial_refunds_adding_up_to_the_purchase_reverse_exactly_what_it_earned(
    customer, programme
):
    purchase = buy(customer, "1000")  # 10 points
    for _ in range(2):
        refund(purchase, "333.33")
    refund(purchase, "333.34")
    assert [e.points for e in LedgerEntry.objects.filter(kind="reverse").order_by("pk")] == [
        -3,
        -4,
        -3,
    ]
    assert balance_of(customer) == 0


def test_refunded_points_already_spent_are_reversed_only_as_far_as_the_balance_goes(
    customer, programme, reward
):
    purchase = buy(customer, "15000")  # 150 points
    services.redeem_reward(customer_id=customer.pk, reward_id=reward.pk, by=None, key="spend-1")
    refund(purchase, "15000")
    reversal = LedgerEntry.objects.get(kind="reverse")
    assert (reversal.points, reversal.shortfall) == (-50, 100)
    assert balance_of(customer) == ledger_sum(customer) == 0


def test_a_refund_of_a_purchase_that_earned_nothing_writes_nothing(customer, programme):
    purchase = buy(customer, "50")
    refund(purchase, "50")
    assert not LedgerEntry.objects.exists()


def test_a_refund_never_promotes_and_updates_the_cached_spend(customer, programme):
    purchase = buy(customer, "150000")
    refund(purchase, "100000")
    account = LoyaltyAccount.objects.get(customer=customer)
    assert account.qualifying_spend == Decimal("50000")
    assert account.tier.name == "Gold"  # downgrades wait for the period's review


def test_points_expire_months_after_the_purchase(customer, programme):
    bought_at = timezone.now() - timedelta(days=40)
    buy(customer, "1000", at=bought_at)
    entry = LedgerEntry.objects.get()
    assert entry.expires_at == add_months(bought_at, 24)


def test_points_stay_pending_during_the_return_window(customer, programme):
    programme.return_window_days = 14
    programme.save()
    purchase = buy(customer, "10000")
    refund(purchase, "2000")
    assert balance_of(customer) == 0
    assert not LedgerEntry.objects.exists()
    assert loyalty_summary_for(customer.pk).pending == 80
    assert services.release_pending_points() == 0
    with time_machine.travel(timezone.now() + timedelta(days=14, minutes=1)):
        assert services.release_pending_points() == 80
        assert services.release_pending_points() == 0
    assert balance_of(customer) == ledger_sum(customer) == 80
    kinds = sorted(LedgerEntry.objects.values_list("kind", "points"))
    assert kinds == [("earn", 100), ("reverse", -20)]
    assert loyalty_summary_for(customer.pk).pending == 0
    refund(purchase, "8000")
    assert balance_of(customer) == 0


def test_old_purchases_arrive_already_spendable(customer, programme):
    programme.return_window_days = 14
    programme.save()
    buy(customer, "10000", at=timezone.now() - timedelta(days=30))
    assert balance_of(customer) == 100


def test_a_batch_of_purchases_accrues_in_a_bounded_number_of_queries(
    programme, django_assert_max_num_queries
):
    customers = CustomerFactory.create_batch(40)
    purchases = [
        PurchaseFactory(customer=customers[number % 40], amount=Decimal(1000 + number))
        for number in range(400)
    ]
    # About a dozen queries on PostgreSQL; SQLite adds INSERTs because Django sends at most 999
    # parameters a statement there (about 80 rows), still far from one query per purchase.
    with django_assert_max_num_queries(25):
        accrued = services.accrue_points_for_purchases(purchase_ids=[p.pk for p in purchases])
    assert accrued == sum(int(p.amount / 100) for p in purchases)
    for customer in customers[:3]:
        assert balance_of(customer) == ledger_sum(customer)


def test_the_signal_accrues_purchases_inserted_in_bulk(programme):
    customer = CustomerFactory()
    purchases = Purchase.objects.bulk_create(
        [
            Purchase(
                customer=customer,
                occurred_at=timezone.now(),
                amount=Decimal("2000"),
                external_id=f"BULK-{n}",
                source=Purchase.Source.IMPORT,
            )
            for n in range(30)
        ]
    )
    purchases_recorded.send(sender=Purchase, purchase_ids=[p.pk for p in purchases])
    assert balance_of(customer) == 30 * 20


def test_partner_points_use_the_partner_rate_without_tier_multiplier(customer, programme):
    buy(customer, "100000")  # Gold now
    hotel = Partner.objects.create(name="Hotel", earn_rate=Decimal("0.02"))
    entry = services.record_partner_points(
        customer_id=customer.pk, partner_id=hotel.pk, amount=Decimal("10000"), key="H-1"
    )
    assert (entry.kind, entry.points, entry.partner_id) == ("partner_earn", 200, hotel.pk)
    again = services.record_partner_points(
        customer_id=customer.pk, partner_id=hotel.pk, amount=Decimal("10000"), key="H-1"
    )
    assert again.pk == entry.pk
    assert balance_of(customer) == 1000 + 200
    assert LoyaltyAccount.objects.get(customer=customer).qualifying_spend == Decimal("100000")


def test_partner_points_refuse_inactive_partners_tiny_amounts_and_reused_keys(customer, programme):
    hotel = Partner.objects.create(name="Hotel", earn_rate=Decimal("0.02"))
    closed = Partner.objects.create(name="Closed", earn_rate=Decimal("1"), active=False)
    with pytest.raises(PartnerUnavailableError):
        services.record_partner_points(
            customer_id=customer.pk, partner_id=closed.pk, amount=Decimal("100"), key="C-1"
        )
    with pytest.raises(InvalidAdjustmentError):
        services.record_partner_points(
            customer_id=customer.pk, partner_id=hotel.pk, amount=Decimal("10"), key="H-0"
        )
    services.record_partner_points(
        customer_id=customer.pk, partner_id=hotel.pk, amount=Decimal("1000"), key="H-2"
    )
    with pytest.raises(IdempotencyConflictError):
        services.record_partner_points(
            customer_id=customer.pk, partner_id=hotel.pk, amount=Decimal("5000"), key="H-2"
        )


def test_accrual_without_any_tier_uses_no_multiplier(customer, programme):
    Tier.objects.all().delete()
    buy(customer, "10000")
    account = LoyaltyAccount.objects.get(customer=customer)
    assert (account.tier, account.balance) == (None, 100)


def test_the_programme_is_created_with_defaults_when_missing(db):
    Programme.objects.all().delete()
    programme = Programme.load()
    assert (programme.pk, programme.points_per_unit, programme.expiry_months) == (
        1,
        Decimal("0.01"),
        24,
    )


@pytest.mark.parametrize(("expiry_months", "rounding"), [(24, "down"), (0, "half_up")])
def test_a_large_batch_accrues_exactly_once_per_purchase(
    programme, expiry_months, rounding, caplog
):
    """Past the bulk threshold (arrays and one statement on PostgreSQL) the rules are the same."""
    from django.db import connection

    from loyalty.services.accrual import BULK_ACCRUAL_FROM

    Programme.objects.filter(pk=1).update(
        expiry_months=expiry_months, return_window_days=3, rounding=rounding
    )
    programme = Programme.load()
    customers = CustomerFactory.create_batch(150)
    now = timezone.now()
    purchases = [
        PurchaseFactory(
            customer=customers[n % 150],
            amount=Decimal("150000")
            if n % 50 == 0
            # Whole halves of a point (x.5) where the two roundings differ, and odd cents.
            else Decimal(f"{n}50")
            if n % 3 == 0
            else Decimal(f"{100 + n * 37}.55"),
            # Half are old enough to be spendable at once, half wait for the return window.
            occurred_at=now - timedelta(days=10 if n % 2 else 1, minutes=n),
        )
        for n in range(BULK_ACCRUAL_FROM + 100)
    ]
    ids = [purchase.pk for purchase in purchases]
    with caplog.at_level("INFO", logger="loyalty.services.accrual"):
        first = services.accrue_points_for_purchases(purchase_ids=ids)
    assert ("bulk=1" in caplog.text) == (connection.vendor == "postgresql")
    again = services.accrue_points_for_purchases(purchase_ids=list(reversed(ids)))
    assert again == 0
    lots = {lot.purchase_id: lot for lot in PurchasePoints.objects.all()}
    for purchase in Purchase.objects.filter(pk__in=ids):
        lot = lots[purchase.pk]
        assert lot.points == programme.points_for(purchase.amount, rate=programme.points_per_unit)
        assert lot.expires_at == programme.expiry_for(purchase.occurred_at)
        assert lot.available_at == programme.available_from(purchase.occurred_at)
        assert (lot.released_at is not None) == (lot.available_at <= timezone.now())
    released = [lot for lot in lots.values() if lot.released_at is not None]
    assert first == sum(lot.points for lot in released)
    assert set(
        LedgerEntry.objects.filter(kind="earn").values_list("purchase_id", "points", "expires_at")
    ) == {(lot.purchase_id, lot.points, lot.expires_at) for lot in released}
    for customer in customers:
        assert balance_of(customer) == ledger_sum(customer)
    # Customers with 150,000 purchases moved up at once (Platinum: four of them), with a record.
    moved = LoyaltyAccount.objects.exclude(tier__name="Silver")
    assert set(moved.values_list("customer_id", "tier__name")) == set(
        TierChange.objects.filter(direction="up").values_list("customer_id", "to_name")
    )
    assert moved.filter(tier__name="Platinum").count() == 3
    call_command("check_ledger", stdout=io.StringIO())


def test_a_large_batch_with_refunds_recorded_first_reverses_them(programme):
    from loyalty.services.accrual import BULK_ACCRUAL_FROM

    customer = CustomerFactory()
    purchases = [
        PurchaseFactory(customer=customer, amount=Decimal("1000"))
        for _n in range(BULK_ACCRUAL_FROM)
    ]
    RefundFactory(purchase=purchases[0], amount=Decimal("500"))
    accrued = services.accrue_points_for_purchases(purchase_ids=[p.pk for p in purchases])
    assert accrued == 10 * BULK_ACCRUAL_FROM - 5
    assert balance_of(customer) == ledger_sum(customer) == accrued


# --- The programme and tiers, kept between purchases ------------------------------------------


def test_a_purchase_reads_the_programme_and_tiers_from_the_cache_once_kept(customer, programme):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    buy(customer, "1000")
    with CaptureQueriesContext(connection) as captured:
        buy(customer, "1000")
    tables = " ".join(query["sql"] for query in captured.captured_queries)
    assert '"loyalty_programme"' not in tables
    assert '"loyalty_tier"' not in tables
    assert balance_of(customer) == 20


def test_a_changed_rate_or_multiplier_counts_from_the_next_purchase(customer, programme):
    buy(customer, "10000")  # 100 points, kept rules
    programme.points_per_unit = Decimal("0.05")
    programme.save()
    buy(customer, "10000")  # 500
    silver = Tier.objects.get(name="Silver")
    silver.earn_multiplier = Decimal("2")
    silver.save()
    buy(customer, "10000")  # 500 x 2
    assert balance_of(customer) == 100 + 500 + 1000
    silver.delete()  # the customer falls below every tier: no multiplier
    buy(customer, "10000")
    assert balance_of(customer) == 100 + 500 + 1000 + 500


def test_without_the_cache_the_rules_come_from_the_database(customer, programme, settings, caplog):
    buy(customer, "10000")
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": "redis://127.0.0.1:1/0",  # nothing listens: refused at once
        }
    }
    programme.points_per_unit = Decimal("0.05")
    programme.save()
    buy(customer, "10000")
    assert balance_of(customer) == 100 + 500
    assert "loyalty-rules.cache_unavailable" in caplog.text
