import hashlib
import math
from datetime import date, datetime, timedelta
from decimal import Decimal
from io import StringIO
from zoneinfo import ZoneInfo

import pytest
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.db.models import Count, F, Max, Min, Q, Sum
from django.utils import timezone

from common.roles import ACCOUNT_REP, LOYALTY_ADMIN, SALES_MANAGER
from customers.demo import (
    DEMO_PASSWORD,
    DEMO_USERS,
    HISTORY_DAYS,
    DemoIdsTakenError,
    demo_data_deleting,
    seed_demo,
)
from customers.models import Customer, Purchase, Refund
from customers.signals import purchases_recorded, refunds_recorded
from tests.factories import CustomerFactory, PurchaseFactory, RefundFactory, UserFactory

pytestmark = pytest.mark.django_db

TODAY = date(2026, 6, 15)
SMALL_BASE = 300


def _midnight(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=ZoneInfo(settings.TIME_ZONE))


def _demo_digest() -> str:
    digest = hashlib.sha256()
    purchases = Purchase.objects.filter(source=Purchase.Source.DEMO).order_by("external_id")
    for row in purchases.values_list(
        "external_id", "customer__external_id", "customer__name", "amount", "occurred_at"
    ):
        digest.update(repr(row).encode())
    refunds = Refund.objects.filter(external_id__startswith="DEMO-R-").order_by("external_id")
    for row in refunds.values_list("external_id", "purchase__external_id", "amount", "occurred_at"):
        digest.update(repr(row).encode())
    return digest.hexdigest()


def _net_revenue_by_customer() -> list[Decimal]:
    gross = dict(
        Purchase.objects.values("customer_id")
        .annotate(total=Sum("amount"))
        .values_list("customer_id", "total")
    )
    refunds = (
        Refund.objects.values("purchase__customer_id")
        .annotate(total=Sum("amount"))
        .values_list("purchase__customer_id", "total")
    )
    for customer_id, total in refunds:
        gross[customer_id] -= total
    return sorted(gross.values(), reverse=True)


@pytest.fixture(autouse=True)
def _customers_alone():
    """The demo on its own: receivers of other apps (loyalty accrual) are detached for the test."""
    signals = (purchases_recorded, refunds_recorded, demo_data_deleting)
    saved = [(signal, signal.receivers) for signal in signals]
    for signal in signals:
        signal.receivers = []
        signal.sender_receivers_cache.clear()
    yield
    for signal, receivers in saved:
        signal.receivers = receivers
        signal.sender_receivers_cache.clear()


@pytest.fixture
def demo():
    return seed_demo(customers=SMALL_BASE, seed=7, today=TODAY)


def test_demo_users_exist_in_their_roles_and_can_log_in(demo, client):
    users = {user.username: user for user in get_user_model().objects.all()}
    assert users["admin"].is_superuser
    assert users["admin"].is_staff
    assert users["loyalty"].is_staff
    roles = {
        username: set(user.groups.values_list("name", flat=True))
        for username, user in users.items()
    }
    assert roles["manager"] == {SALES_MANAGER}
    assert roles["manager2"] == {SALES_MANAGER}
    assert roles["loyalty"] == {LOYALTY_ADMIN}
    reps = [name for name, groups in roles.items() if groups == {ACCOUNT_REP}]
    assert len(reps) == 5
    assert [login.username for login in demo.logins] == [spec.username for spec in DEMO_USERS]
    for login in demo.logins:
        assert login.password == DEMO_PASSWORD
        assert client.login(username=login.username, password=DEMO_PASSWORD), login.username
        client.logout()


def test_every_rep_owns_customers_and_a_few_are_unassigned(demo):
    owned = dict(
        Customer.objects.filter(owner__isnull=False)
        .values("owner__username")
        .annotate(count=Count("pk"))
        .values_list("owner__username", "count")
    )
    reps = get_user_model().objects.filter(groups__name=ACCOUNT_REP)
    assert all(owned.get(rep.username, 0) >= 20 for rep in reps)
    unassigned = Customer.objects.filter(owner__isnull=True).count()
    assert 0 < unassigned < SMALL_BASE * 0.05
    assert Customer.objects.exclude(backup=None).exists()
    assert not Customer.objects.filter(backup=None, tags__name="VIP").exists()


def test_base_has_the_requested_size_with_russian_and_english_customers(demo):
    assert demo.customers == Customer.objects.count() == SMALL_BASE
    languages = dict(
        Customer.objects.values("language")
        .annotate(count=Count("pk"))
        .values_list("language", "count")
    )
    assert languages["ru"] > languages["en"] > SMALL_BASE * 0.1
    kinds = dict(
        Customer.objects.values("kind").annotate(count=Count("pk")).values_list("kind", "count")
    )
    assert kinds["person"] > kinds["company"] > SMALL_BASE * 0.1
    cyrillic = set("абвгдеёжзийклмнопрстуфхцчшщъыьэюя")
    for customer in Customer.objects.all():
        assert customer.external_id.startswith("CUST-")
        if customer.kind == Customer.Kind.PERSON:
            # Russian names are in Cyrillic, English ones are not; e-mails are always Latin.
            is_russian = bool(cyrillic & set(customer.name.lower()))
            assert (customer.language == Customer.Language.RU) == is_russian
        assert customer.email.isascii()
        assert not customer.email or customer.email.split("@")[1].endswith(
            ("example.com", "example.net", "example.org")
        )


def test_purchases_lie_within_two_years_before_today(demo):
    window = Purchase.objects.aggregate(first=Min("occurred_at"), last=Max("occurred_at"))
    assert window["first"] >= _midnight(TODAY - timedelta(days=HISTORY_DAYS))
    assert window["last"] < _midnight(TODAY)
    assert window["last"] >= _midnight(TODAY - timedelta(days=7))
    assert not Refund.objects.filter(occurred_at__gte=_midnight(TODAY)).exists()
    hours = {
        timezone.localtime(moment, ZoneInfo(settings.TIME_ZONE)).hour
        for moment in Purchase.objects.values_list("occurred_at", flat=True)
    }
    assert min(hours) >= 9
    assert max(hours) <= 20


def test_customers_are_created_at_their_first_purchase(demo):
    customers = Customer.objects.annotate(first_purchase=Min("purchases__occurred_at"))
    assert all(customer.created_at == customer.first_purchase for customer in customers)


def test_nothing_lies_in_the_future_when_today_is_not_given():
    seed_demo(customers=60, seed=3)
    now = timezone.now()
    assert Purchase.objects.filter(occurred_at__gt=now).count() == 0
    assert Refund.objects.filter(occurred_at__gt=now).count() == 0


def test_money_is_decimal_with_two_places(demo):
    amounts = list(Purchase.objects.values_list("amount", flat=True))
    amounts += list(Refund.objects.values_list("amount", flat=True))
    assert all(isinstance(amount, Decimal) for amount in amounts)
    assert all(amount.as_tuple().exponent == -2 for amount in amounts)
    assert all(amount > 0 for amount in amounts)
    assert set(Purchase.objects.values_list("currency", flat=True)) == {"RUB"}
    assert not Refund.objects.filter(amount__gt=F("purchase__amount")).exists()
    assert isinstance(demo.revenue, Decimal)


def test_a_few_purchases_are_refunded(demo):
    share = Refund.objects.count() / Purchase.objects.count()
    assert 0.005 < share < 0.04
    assert Refund.objects.filter(amount__lt=F("purchase__amount")).exists()
    assert Refund.objects.filter(amount=F("purchase__amount")).exists()


def test_some_regular_customers_went_quiet(demo):
    cutoff = _midnight(TODAY - timedelta(days=120))
    quiet = Customer.objects.annotate(
        before=Count("purchases", filter=Q(purchases__occurred_at__lt=cutoff)),
        after=Count("purchases", filter=Q(purchases__occurred_at__gte=cutoff)),
    ).filter(before__gte=3, after=0)
    assert quiet.count() >= 10
    assert quiet.filter(stage=Customer.Stage.REGULAR).exists()


def test_a_key_account_went_quiet_three_to_four_months_ago(demo):
    key_accounts = Customer.objects.filter(tags__name="VIP").annotate(
        last=Max("purchases__occurred_at"), orders=Count("purchases")
    )
    quiet = [
        account
        for account in key_accounts
        if _midnight(TODAY - timedelta(days=130))
        <= account.last
        < _midnight(TODAY - timedelta(days=90))
    ]
    assert len(quiet) == 1
    assert quiet[0].orders >= 20
    assert quiet[0].stage == Customer.Stage.PARTNER


def test_key_accounts_hold_a_large_share_of_revenue(demo):
    revenue = _net_revenue_by_customer()
    total = sum(revenue)
    top = math.ceil(len(revenue) * 0.02)
    assert sum(revenue[:top]) / total >= Decimal("0.25")
    assert Decimal("0.08") <= revenue[0] / total <= Decimal("0.18")
    assert demo.revenue == total
    assert demo.top_customer_share == (revenue[0] / total).quantize(Decimal("0.0001"))


def test_stage_follows_the_purchase_history(demo):
    year_ago = _midnight(TODAY - timedelta(days=365))
    purchases = Purchase.objects.filter(occurred_at__gte=year_ago)
    days_by_customer: dict[int, set] = {}
    for customer_id, moment in purchases.values_list("customer_id", "occurred_at"):
        days_by_customer.setdefault(customer_id, set()).add(timezone.localtime(moment).date())
    stages = dict(Customer.objects.values_list("pk", "stage"))
    assert list(stages.values()).count(Customer.Stage.PARTNER) == 3
    for customer_id, stage in stages.items():
        if stage == Customer.Stage.PARTNER:
            continue
        regular = len(days_by_customer.get(customer_id, ())) >= 3
        assert stage == (Customer.Stage.REGULAR if regular else Customer.Stage.ONE_OFF)


def test_same_seed_gives_the_same_data_after_reset(demo):
    first = _demo_digest()
    seed_demo(customers=SMALL_BASE, seed=7, today=TODAY, reset=True)
    assert _demo_digest() == first
    seed_demo(customers=SMALL_BASE, seed=8, today=TODAY, reset=True)
    assert _demo_digest() != first


def test_second_run_without_reset_adds_nothing(demo):
    received = []

    def receiver(sender, purchase_ids, **kwargs):
        received.extend(purchase_ids)

    counts = (Customer.objects.count(), Purchase.objects.count(), Refund.objects.count())
    purchases_recorded.connect(receiver)
    try:
        again = seed_demo(customers=SMALL_BASE, seed=7, today=TODAY)
    finally:
        purchases_recorded.disconnect(receiver)
    assert not again.created
    assert (Customer.objects.count(), Purchase.objects.count(), Refund.objects.count()) == counts
    assert (again.customers, again.purchases, again.refunds) == counts
    assert received == []


def test_a_second_run_lists_the_logins_whose_password_is_still_the_demo_one(demo):
    rep = get_user_model().objects.get(username="rep1")
    rep.set_password("changed-by-anna-1")
    rep.save()
    again = seed_demo(customers=SMALL_BASE, seed=7, today=TODAY)
    passwords = {login.username: login.password for login in again.logins}
    assert passwords.pop("rep1") is None
    assert set(passwords.values()) == {DEMO_PASSWORD}
    assert get_user_model().objects.get(username="rep1").check_password("changed-by-anna-1")


def test_signals_carry_exactly_the_new_purchase_and_refund_ids():
    earlier = RefundFactory()
    purchase_ids, refund_ids = [], []

    def on_purchases(sender, **kwargs):
        purchase_ids.extend(kwargs["purchase_ids"])

    def on_refunds(sender, **kwargs):
        refund_ids.extend(kwargs["refund_ids"])

    purchases_recorded.connect(on_purchases)
    refunds_recorded.connect(on_refunds)
    try:
        seed_demo(customers=SMALL_BASE, seed=7, today=TODAY)
    finally:
        purchases_recorded.disconnect(on_purchases)
        refunds_recorded.disconnect(on_refunds)
    assert len(purchase_ids) == len(set(purchase_ids))
    assert set(purchase_ids) == set(
        Purchase.objects.filter(source=Purchase.Source.DEMO).values_list("pk", flat=True)
    )
    assert earlier.purchase_id not in purchase_ids
    assert len(refund_ids) == len(set(refund_ids)) > 0
    assert set(refund_ids) == set(
        Refund.objects.exclude(pk=earlier.pk).values_list("pk", flat=True)
    )


def test_reset_replaces_demo_rows_and_keeps_other_data(demo):
    own_customer = CustomerFactory(external_id="ERP-1")
    own_purchase = PurchaseFactory(customer=own_customer, external_id="INV-1")
    demo_customer = Customer.objects.filter(external_id__startswith="CUST-").first()
    # A purchase typed in by hand on a demo customer goes with that customer.
    PurchaseFactory(customer=demo_customer, external_id="INV-2", source=Purchase.Source.UI)
    summary = seed_demo(customers=SMALL_BASE, seed=7, today=TODAY, reset=True)
    assert summary.created
    assert Customer.objects.filter(pk=own_customer.pk).exists()
    assert Purchase.objects.filter(pk=own_purchase.pk).exists()
    assert not Purchase.objects.filter(external_id="INV-2").exists()
    assert Customer.objects.filter(external_id__startswith="CUST-").count() == SMALL_BASE
    assert summary.purchases == Purchase.objects.filter(source=Purchase.Source.DEMO).count()


def test_an_existing_account_that_is_not_a_demo_account_is_left_untouched():
    UserFactory(username="admin", email="boss@company.test", password="own-secret-1")
    summary = seed_demo(customers=60, seed=1, today=TODAY)
    admin = get_user_model().objects.get(username="admin")
    assert admin.check_password("own-secret-1")
    assert not admin.is_superuser
    assert next(login for login in summary.logins if login.username == "admin").password is None


def test_a_base_smaller_than_the_minimum_is_refused():
    with pytest.raises(ValueError, match="at least"):
        seed_demo(customers=10, seed=1, today=TODAY)
    assert not Customer.objects.exists()


def test_command_prints_the_summary_the_logins_and_the_url():
    out = StringIO()
    call_command("seed_demo", customers=60, today="2026-06-15", verbosity=0, stdout=out)
    text = out.getvalue()
    assert "Demo data created" in text
    assert all(spec.username in text for spec in DEMO_USERS)
    assert DEMO_PASSWORD in text
    assert "http://127.0.0.1:8000/" in text
    assert Customer.objects.count() == 60

    again = StringIO()
    call_command("seed_demo", customers=60, today="2026-06-15", verbosity=0, stdout=again)
    assert "already exists" in again.getvalue()
    assert Customer.objects.count() == 60


def test_reset_announces_the_demo_customers_before_deleting_them(demo):
    announced = []

    def receiver(sender, customer_ids, **kwargs):
        # Still present: receivers delete their own rows while the customers exist.
        assert Customer.objects.filter(pk__in=customer_ids).count() == len(customer_ids)
        announced.extend(customer_ids)

    before = set(Customer.objects.values_list("pk", flat=True))
    CustomerFactory(external_id="ERP-7")
    demo_data_deleting.connect(receiver)
    try:
        seed_demo(customers=SMALL_BASE, seed=7, today=TODAY, reset=True)
    finally:
        demo_data_deleting.disconnect(receiver)
    assert sorted(announced) == sorted(before)


def test_progress_is_reported_up_to_the_total():
    reports = []
    seed_demo(customers=60, seed=1, today=TODAY, progress=lambda *args: reports.append(args))
    stage, done, total = reports[-1]
    assert stage == "announcing refunds"
    assert done == total == 60 + 2 * (Purchase.objects.count() + Refund.objects.count())
    assert [done for _stage, done, _total in reports[2:]] == sorted(
        done for _stage, done, _total in reports[2:]
    )


def test_a_real_customer_with_a_demo_looking_id_is_never_taken_for_demo_data():
    real = CustomerFactory(external_id="CUST-000001")
    PurchaseFactory(customer=real, external_id="INV-1")
    with pytest.raises(DemoIdsTakenError):
        seed_demo(customers=60, seed=1, today=TODAY, reset=True)
    assert list(Customer.objects.values_list("pk", flat=True)) == [real.pk]
    assert Purchase.objects.count() == 1
