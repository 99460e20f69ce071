from datetime import date

import pytest

from common.models import JobRun
from loyalty.models import LedgerEntry, Redemption, Reward, Tier
from tests.factories import CustomerFactory
from tests.loyalty.conftest import balance_of, buy

pytestmark = pytest.mark.django_db

REDEEM = "/api/v1/loyalty/redemptions/"


@pytest.fixture
def reward(db) -> Reward:
    return Reward.objects.create(name="Coffee voucher", kind=Reward.Kind.VOUCHER, cost=100)


@pytest.fixture
def funded(customer):
    buy(customer, "25000")  # 250 points
    return customer


def test_the_balance_shows_points_tier_and_value(rep_api, funded):
    response = rep_api.get(f"/api/v1/loyalty/accounts/{funded.pk}/")

    assert response.status_code == 200
    body = response.json()
    assert body["customer"] == funded.pk
    assert body["balance"] == balance_of(funded) == 250
    assert body["currency"]


def test_a_customer_without_points_has_a_zero_balance(rep_api, customer):
    body = rep_api.get(f"/api/v1/loyalty/accounts/{customer.pk}/").json()

    assert body["balance"] == 0
    assert body["tier"] is None


def test_another_reps_balance_and_ledger_are_hidden(rep_api, other_rep):
    theirs = CustomerFactory(owner=other_rep)
    buy(theirs, "10000")

    assert rep_api.get(f"/api/v1/loyalty/accounts/{theirs.pk}/").status_code == 404
    assert rep_api.get("/api/v1/loyalty/ledger/", {"customer": theirs.pk}).json()["count"] == 0
    assert rep_api.get("/api/v1/loyalty/accounts/").json()["count"] == 0


def test_the_ledger_lists_a_customers_entries(rep_api, funded):
    rows = rep_api.get("/api/v1/loyalty/ledger/", {"customer": funded.pk}).json()["results"]

    assert [(row["kind"], row["points"]) for row in rows] == [("earn", 250)]


def test_tiers_and_rewards_are_listed(rep_api, reward):
    Tier.objects.create(name="Platinum test", order=99, qualifying_spend="9000000")

    tiers = rep_api.get("/api/v1/loyalty/tiers/").json()["results"]
    rewards = rep_api.get("/api/v1/loyalty/rewards/", {"active": "true"}).json()["results"]

    assert tiers[-1]["name"] == "Platinum test"
    assert [row["id"] for row in rewards] == [reward.pk]


def test_redeeming_takes_the_points_once_per_key(rep_api, funded, reward):
    payload = {"customer": funded.pk, "reward": reward.pk, "key": "till-7-0001"}

    first = rep_api.post(REDEEM, payload, format="json")
    again = rep_api.post(REDEEM, payload, format="json")

    assert first.status_code == 201, first.json()
    assert again.status_code == 200
    assert again.json() == first.json()
    assert first.json()["code"]
    assert balance_of(funded) == 150
    assert Redemption.objects.count() == 1


def test_redeeming_more_than_the_balance_is_a_409_and_changes_nothing(rep_api, funded):
    big = Reward.objects.create(name="TV", kind=Reward.Kind.GIFT, cost=251)

    response = rep_api.post(
        REDEEM, {"customer": funded.pk, "reward": big.pk, "key": "till-7-0002"}, format="json"
    )

    assert response.status_code == 409
    assert "reward" in response.json()["fields"]
    assert balance_of(funded) == 250


def test_an_inactive_reward_is_a_400_and_another_reps_customer_a_404(rep_api, other_rep, funded):
    retired = Reward.objects.create(name="Old", cost=10, active=False)
    theirs = CustomerFactory(owner=other_rep)

    inactive = rep_api.post(
        REDEEM, {"customer": funded.pk, "reward": retired.pk, "key": "till-7-0003"}, format="json"
    )
    hidden = rep_api.post(
        REDEEM, {"customer": theirs.pk, "reward": retired.pk, "key": "till-7-0004"}, format="json"
    )

    assert inactive.status_code == 400
    assert "reward" in inactive.json()["fields"]
    assert hidden.status_code == 404


def test_a_manager_cancels_a_redemption_once_and_the_points_come_back(
    rep_api, manager_api, funded, reward
):
    issued = rep_api.post(
        REDEEM, {"customer": funded.pk, "reward": reward.pk, "key": "till-7-0005"}, format="json"
    ).json()

    cancelled = manager_api.post(f"{REDEEM}{issued['id']}/cancel/")
    again = manager_api.post(f"{REDEEM}{issued['id']}/cancel/")

    assert cancelled.status_code == 200
    assert cancelled.json()["status"] == "cancelled"
    assert again.status_code == 409
    assert balance_of(funded) == 250
    assert LedgerEntry.objects.filter(kind="reverse").count() == 1


def test_a_rep_may_not_cancel_redemptions(rep_api, funded, reward):
    issued = rep_api.post(
        REDEEM, {"customer": funded.pk, "reward": reward.pk, "key": "till-7-0006"}, format="json"
    ).json()

    assert rep_api.post(f"{REDEEM}{issued['id']}/cancel/").status_code == 403


def test_job_runs_are_for_managers(manager_api, rep_api):
    JobRun.objects.create(job="rescore", run_date=date(2026, 3, 10), status="succeeded")

    rows = manager_api.get("/api/v1/job-runs/", {"job": "rescore"}).json()["results"]

    assert [(row["job"], row["status"]) for row in rows] == [("rescore", "succeeded")]
    assert rep_api.get("/api/v1/job-runs/").status_code == 403
