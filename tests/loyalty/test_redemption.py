import re

import pytest

from loyalty import services
from loyalty.errors import (
    IdempotencyConflictError,
    InsufficientPointsError,
    RedemptionNotCancellableError,
    RewardUnavailableError,
)
from loyalty.models import LedgerEntry, LoyaltyAccount, Redemption, Reward
from tests.factories import CustomerFactory
from tests.loyalty.conftest import balance_of, buy, ledger_sum

pytestmark = pytest.mark.django_db


@pytest.fixture
def funded(customer, programme):
    buy(customer, "25000")  # 250 points
    return customer


def test_redeeming_deducts_the_cost_and_issues_a_voucher_code(funded, reward, rep):
    redemption = services.redeem_reward(
        customer_id=funded.pk, reward_id=reward.pk, by=rep, key="k-1"
    )
    assert balance_of(funded) == ledger_sum(funded) == 150
    assert (redemption.status, redemption.points, redemption.created_by) == ("issued", 100, rep)
    assert re.fullmatch(r"[A-Z2-9]{4}-[A-Z2-9]{4}-[A-Z2-9]{4}", redemption.code)
    entry = LedgerEntry.objects.get(kind="redeem")
    assert (entry.points, entry.redemption, entry.created_by) == (-100, redemption, rep)


def test_gifts_and_rebates_have_no_voucher_code(funded, gift):
    assert (
        services.redeem_reward(customer_id=funded.pk, reward_id=gift.pk, by=None, key="k-1").code
        is None
    )


def test_a_reward_costing_more_than_the_balance_is_refused_and_nothing_changes(funded, rep):
    big = Reward.objects.create(name="TV", kind=Reward.Kind.GIFT, cost=251)
    with pytest.raises(InsufficientPointsError):
        services.redeem_reward(customer_id=funded.pk, reward_id=big.pk, by=rep, key="k-1")
    assert balance_of(funded) == 250
    assert not Redemption.objects.exists()
    assert not LedgerEntry.objects.filter(kind="redeem").exists()


def test_a_customer_without_an_account_cannot_redeem(reward, programme):
    with pytest.raises(InsufficientPointsError):
        services.redeem_reward(
            customer_id=CustomerFactory().pk, reward_id=reward.pk, by=None, key="k-1"
        )


def test_the_whole_balance_can_be_redeemed(funded):
    exact = Reward.objects.create(name="All", kind=Reward.Kind.REBATE, cost=250)
    services.redeem_reward(customer_id=funded.pk, reward_id=exact.pk, by=None, key="k-1")
    assert balance_of(funded) == 0


def test_inactive_rewards_cannot_be_redeemed(funded, reward):
    reward.active = False
    reward.save()
    with pytest.raises(RewardUnavailableError):
        services.redeem_reward(customer_id=funded.pk, reward_id=reward.pk, by=None, key="k-1")


def test_the_same_key_redeems_once(funded, reward, gift):
    first = services.redeem_reward(customer_id=funded.pk, reward_id=reward.pk, by=None, key="k-1")
    again = services.redeem_reward(customer_id=funded.pk, reward_id=reward.pk, by=None, key="k-1")
    assert again.pk == first.pk
    assert balance_of(funded) == 150
    with pytest.raises(IdempotencyConflictError):
        services.redeem_reward(customer_id=funded.pk, reward_id=gift.pk, by=None, key="k-1")


def test_cancelling_restores_the_points_once(funded, reward, manager):
    redemption = services.redeem_reward(
        customer_id=funded.pk, reward_id=reward.pk, by=None, key="k-1"
    )
    cancelled = services.cancel_redemption(redemption_id=redemption.pk, by=manager)
    assert (cancelled.status, cancelled.cancelled_by) == ("cancelled", manager)
    assert balance_of(funded) == ledger_sum(funded) == 250
    with pytest.raises(RedemptionNotCancellableError):
        services.cancel_redemption(redemption_id=redemption.pk, by=manager)
    assert balance_of(funded) == 250
    restore = LedgerEntry.objects.get(kind="reverse")
    assert (restore.points, restore.redemption_id) == (100, redemption.pk)


def test_redeeming_never_changes_the_tier_or_its_spend(customer, programme):
    buy(customer, "120000")  # Gold, 1,200 points
    everything = Reward.objects.create(name="Trip", kind=Reward.Kind.GIFT, cost=1200)
    services.redeem_reward(customer_id=customer.pk, reward_id=everything.pk, by=None, key="k-1")
    services.reevaluate_tiers(as_of=LoyaltyAccount.objects.get(customer=customer).tier_valid_until)
    account = LoyaltyAccount.objects.select_related("tier").get(customer=customer)
    assert (account.balance, account.tier.name) == (0, "Gold")
