from datetime import timedelta
from decimal import Decimal

import pytest
import time_machine
from django.utils import timezone

from loyalty import services
from loyalty.models import LoyaltyAccount, Tier, TierChange
from tests.factories import CustomerFactory
from tests.loyalty.conftest import buy

pytestmark = pytest.mark.django_db


def _account(customer) -> LoyaltyAccount:
    return LoyaltyAccount.objects.select_related("tier").get(customer=customer)


def test_new_accounts_start_in_the_entry_tier(customer, programme):
    buy(customer, "100")
    account = _account(customer)
    assert account.tier.name == "Silver"
    assert not TierChange.objects.exists()


def test_upgrades_apply_at_once_and_can_skip_a_tier(customer, programme):
    buy(customer, "600000")
    assert _account(customer).tier.name == "Platinum"
    assert TierChange.objects.get().to_name == "Platinum"


def test_a_tier_is_kept_through_its_period_and_the_grace_period(customer, programme):
    buy(customer, "100000")
    valid_until = _account(customer).tier_valid_until
    for moment in (valid_until - timedelta(days=1), valid_until + timedelta(days=29)):
        services.reevaluate_tiers(as_of=moment)
        assert _account(customer).tier.name == "Gold"
    review = services.reevaluate_tiers(as_of=valid_until + timedelta(days=31))
    assert review.downgraded == 1
    account = _account(customer)
    assert (account.tier.name, account.qualifying_spend) == ("Silver", Decimal("0"))
    change = TierChange.objects.get(direction="down")
    assert (change.from_name, change.to_name) == ("Gold", "Silver")


def test_a_downgrade_goes_to_the_tier_the_spend_still_reaches(customer, programme):
    start = timezone.now()
    buy(customer, "500000", at=start)
    assert _account(customer).tier.name == "Platinum"
    valid_until = _account(customer).tier_valid_until
    buy(customer, "150000", at=valid_until - timedelta(days=10))
    services.reevaluate_tiers(as_of=valid_until + timedelta(days=31))
    assert _account(customer).tier.name == "Gold"


def test_a_customer_who_still_qualifies_at_the_period_end_is_renewed(customer, programme):
    buy(customer, "100000")
    valid_until = _account(customer).tier_valid_until
    buy(customer, "100000", at=valid_until - timedelta(days=30))
    review = services.reevaluate_tiers(as_of=valid_until + timedelta(days=1))
    account = _account(customer)
    assert (review.renewed, account.tier.name) == (1, "Gold")
    assert account.tier_valid_until > valid_until + timedelta(days=360)
    assert TierChange.objects.filter(direction="down").count() == 0


def test_requalifying_during_the_grace_period_keeps_the_tier(customer, programme):
    buy(customer, "100000")
    valid_until = _account(customer).tier_valid_until
    services.reevaluate_tiers(as_of=valid_until + timedelta(days=5))  # short, but in grace
    with time_machine.travel(valid_until + timedelta(days=10), tick=False):
        buy(customer, "100000")
        services.reevaluate_tiers(as_of=timezone.now())
    services.reevaluate_tiers(as_of=valid_until + timedelta(days=40))
    assert _account(customer).tier.name == "Gold"


def test_customers_are_placed_in_a_tier_programme_the_admin_replaced(programme):
    small, middle, large = CustomerFactory(), CustomerFactory(), CustomerFactory()
    for customer, amount in ((small, "10000"), (middle, "50000"), (large, "150000")):
        buy(customer, amount)
    Tier.objects.all().delete()
    Tier.objects.create(name="Bronze", order=1, qualifying_spend=0, earn_multiplier=1)
    Tier.objects.create(
        name="Silver", order=2, qualifying_spend=40000, earn_multiplier=Decimal("1.1")
    )
    Tier.objects.create(
        name="Gold", order=3, qualifying_spend=140000, earn_multiplier=Decimal("1.2")
    )
    review = services.reevaluate_tiers(as_of=timezone.now())
    assert review.upgraded == 3
    assert [_account(c).tier.name for c in (small, middle, large)] == ["Bronze", "Silver", "Gold"]


def test_tiers_are_reviewed_set_based(programme, django_assert_max_num_queries):
    for customer in CustomerFactory.create_batch(30):
        buy(customer, "1000")
    with django_assert_max_num_queries(10):
        services.reevaluate_tiers(as_of=timezone.now())
