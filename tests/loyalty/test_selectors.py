from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from loyalty import selectors, services
from loyalty.models import Reward, Tier
from tests.factories import CustomerFactory
from tests.loyalty.conftest import buy, refund

pytestmark = pytest.mark.django_db


def test_the_summary_shows_balance_tier_and_progress_to_the_next(customer, programme):
    buy(customer, "58760")
    summary = selectors.loyalty_summary_for(customer.pk)
    assert (summary.balance, summary.pending, summary.tier.name, summary.next_tier.name) == (
        587,
        0,
        "Silver",
        "Gold",
    )
    assert summary.spend_to_next_tier == Decimal("41240")
    assert summary.progress_percent == 58
    assert summary.balance_value == Decimal("587.00")
    assert summary.currency == "RUB"


def test_the_summary_of_the_top_tier_has_nothing_left_to_reach(customer, programme):
    buy(customer, "600000")
    summary = selectors.loyalty_summary_for(customer.pk)
    assert (
        summary.tier.name,
        summary.next_tier,
        summary.spend_to_next_tier,
        summary.progress_percent,
    ) == (
        "Platinum",
        None,
        None,
        100,
    )


def test_the_summary_of_a_customer_without_points(programme):
    summary = selectors.loyalty_summary_for(CustomerFactory().pk)
    assert (summary.balance, summary.tier, summary.next_tier.name, summary.has_account) == (
        0,
        None,
        "Silver",
        False,
    )


def test_the_summary_warns_of_points_expiring_within_a_month(customer, programme):
    programme.expiry_months = 12
    programme.save()
    buy(customer, "10000", at=timezone.now() - timedelta(days=350))
    summary = selectors.loyalty_summary_for(customer.pk)
    assert summary.expiring_points == 100
    assert summary.expiring_at < timezone.now() + timedelta(days=30)


def test_the_customer_panel_is_built_in_a_bounded_number_of_queries(
    customer, programme, reward, rep, django_assert_max_num_queries
):
    for _ in range(8):
        buy(customer, "3000")
    services.redeem_reward(customer_id=customer.pk, reward_id=reward.pk, by=rep, key="k-1")
    with django_assert_max_num_queries(14):
        panel = selectors.customer_panel_for(customer=customer, user=rep)
    assert len(panel.entries) == 5
    assert panel.entries[0].kind == "redeem"
    assert [r.reward for r in panel.redemptions] == [reward]
    assert panel.rewards == [reward]
    assert len(panel.redeem_key) == 32


def test_the_liability_counts_spendable_and_pending_points_in_money(programme):
    programme.point_value = Decimal("0.50")
    programme.save()
    buy(CustomerFactory(), "100000")  # 1,000 points
    buy(CustomerFactory(), "20000")  # 200 points
    programme.return_window_days = 14
    programme.save()
    pending = buy(CustomerFactory(), "10000")
    refund(pending, "5000")
    liability = selectors.points_liability()
    assert (liability.points, liability.holders, liability.value) == (1200, 2, Decimal("600.00"))
    assert (liability.pending_points, liability.pending_value) == (50, Decimal("25.00"))


def test_the_monthly_flow_separates_earned_reversed_redeemed_expired_and_adjusted(
    customer, programme, reward
):
    purchase = buy(customer, "30000")
    refund(purchase, "10000")
    redemption = services.redeem_reward(
        customer_id=customer.pk, reward_id=reward.pk, by=None, key="k-1"
    )
    services.cancel_redemption(redemption_id=redemption.pk, by=None)
    services.redeem_reward(customer_id=customer.pk, reward_id=reward.pk, by=None, key="k-2")
    services.adjust_points(customer_id=customer.pk, points=-5, by=None, reason="Fix", key="a-1")
    flow = selectors.monthly_points_flow(months=3)
    assert [month.month for month in flow] == sorted(month.month for month in flow)
    this_month = flow[-1]
    assert (
        this_month.earned,
        this_month.reversed,
        this_month.redeemed,
        this_month.expired,
        this_month.adjusted,
    ) == (
        300,
        100,
        100,
        0,
        -5,
    )
    assert this_month.net == 95
    assert flow[0].earned == 0


def test_customers_per_tier_and_tier_movements(programme):
    for amount in ("1000", "2000", "150000"):
        buy(CustomerFactory(), amount)
    per_tier = {row.tier.name: row.accounts for row in selectors.customers_per_tier()}
    assert per_tier == {"Silver": 2, "Gold": 1, "Platinum": 0}
    movements = selectors.tier_movements(months=2)
    assert (movements[-1].upgrades, movements[-1].downgrades) == (1, 0)
    assert [change.to_name for change in selectors.recent_tier_changes()] == ["Gold"]


def test_accounts_left_without_a_tier_are_counted_apart(customer, programme):
    buy(customer, "1000")
    Tier.objects.filter(name="Silver").delete()
    rows = selectors.customers_per_tier()
    assert rows[-1].tier is None
    assert rows[-1].accounts == 1


def test_the_ledger_of_a_customer_is_newest_first(customer, programme):
    buy(customer, "1000")
    services.adjust_points(customer_id=customer.pk, points=5, by=None, reason="x", key="a-1")
    assert [entry.kind for entry in selectors.ledger_for(customer.pk)] == ["adjust", "earn"]


def test_rewards_queryset_lists_only_active_rewards(db):
    Reward.objects.create(name="On", kind=Reward.Kind.GIFT, cost=1)
    Reward.objects.create(name="Off", kind=Reward.Kind.GIFT, cost=1, active=False)
    assert [reward.name for reward in Reward.objects.active()] == ["On"]
