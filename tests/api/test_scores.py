from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from customers.models import ScoringSettings
from tests.api.builders import finished_run, score_for
from tests.factories import CustomerFactory

pytestmark = pytest.mark.django_db

URL = "/api/v1/scores/"
SUMMARY_URL = "/api/v1/scores/summary/"
RUNS_URL = "/api/v1/scoring-runs/"


def test_a_rep_lists_the_scores_of_covered_customers_riskiest_revenue_first(
    rep_api, rep, other_rep
):
    low = score_for(CustomerFactory(owner=rep), revenue_at_risk=Decimal("5.00"))
    high = score_for(CustomerFactory(owner=rep), revenue_at_risk=Decimal("500.00"))
    score_for(CustomerFactory(owner=other_rep), revenue_at_risk=Decimal("9000.00"))

    body = rep_api.get(URL).json()

    assert [row["customer"] for row in body["results"]] == [high.pk, low.pk]
    assert body["results"][0]["revenue_at_risk"] == "500.00"


def test_scores_filter_by_segment(rep_api, rep):
    wanted = score_for(CustomerFactory(owner=rep), value_class="A", risk_level="high")
    score_for(CustomerFactory(owner=rep), value_class="B", risk_level="high")

    rows = rep_api.get(URL, {"value_class": "A", "risk_level": "high"}).json()["results"]

    assert [row["customer"] for row in rows] == [wanted.pk]


def test_a_score_is_read_by_customer_id_and_another_reps_is_a_404(rep_api, rep, other_rep):
    mine = score_for(CustomerFactory(owner=rep))
    theirs = score_for(CustomerFactory(owner=other_rep))

    assert rep_api.get(f"{URL}{mine.pk}/").json()["customer"] == mine.pk
    assert rep_api.get(f"{URL}{theirs.pk}/").status_code == 404


def test_the_score_list_runs_a_bounded_number_of_queries(
    manager_api, django_assert_max_num_queries
):
    for _index in range(30):
        score_for(CustomerFactory())

    with django_assert_max_num_queries(5):
        response = manager_api.get(URL)

    assert len(response.json()["results"]) == 30


def test_the_segment_summary_counts_what_the_user_sees(rep_api, rep, other_rep):
    score_for(
        CustomerFactory(owner=rep),
        value_class="A",
        risk_level="high",
        dormant=True,
        revenue_12m=Decimal("1000.00"),
        revenue_at_risk=Decimal("700.00"),
    )
    score_for(
        CustomerFactory(owner=rep),
        value_class="A",
        risk_level="high",
        revenue_12m=Decimal("500.50"),
        revenue_at_risk=Decimal("100.00"),
    )
    score_for(CustomerFactory(owner=rep), value_class="C", risk_level="low")
    score_for(CustomerFactory(owner=other_rep), value_class="A", risk_level="high", dormant=True)
    finished_run()
    config = ScoringSettings.load()
    config.rule_in_force, config.rule_reason = "fixed", "The fixed rule won the backtest."
    config.save()

    response = rep_api.get(SUMMARY_URL)

    assert response.status_code == 200
    body = response.json()
    assert (body["customers"], body["dormant"]) == (3, 1)
    assert (body["revenue_12m"], body["revenue_at_risk"]) == ("1500.50", "800.00")
    cells = {(cell["value_class"], cell["risk_level"]): cell for cell in body["cells"]}
    assert len(cells) == 12
    assert cells["A", "high"] == {
        "value_class": "A",
        "risk_level": "high",
        "customers": 2,
        "revenue_12m": "1500.50",
        "revenue_at_risk": "800.00",
    }
    assert cells["C", "low"]["customers"] == 1
    assert cells["B", "medium"]["customers"] == 0
    assert body["latest_run"]["concentration"]["top1_share"] == 0.25
    assert body["dormant_rule"]["in_force"] == "fixed"
    assert body["dormant_rule"]["reason"] == "The fixed rule won the backtest."


def test_the_segment_summary_takes_the_latest_finished_run(manager_api):
    older = finished_run()
    finished_run(
        started_at=timezone.now() + timedelta(minutes=1),
        finished_at=None,
        summary={},
    )
    newer = finished_run(started_at=older.started_at + timedelta(seconds=30))

    body = manager_api.get(SUMMARY_URL).json()

    assert body["latest_run"]["id"] == newer.pk


def test_the_segment_summary_works_before_any_scoring(manager_api):
    body = manager_api.get(SUMMARY_URL).json()

    assert body["customers"] == 0
    assert body["latest_run"] is None
    assert all(cell["customers"] == 0 for cell in body["cells"])


def test_a_manager_can_summarise_one_reps_customers(manager_api, rep, other_rep):
    score_for(CustomerFactory(owner=rep))
    score_for(CustomerFactory(owner=other_rep))

    assert manager_api.get(SUMMARY_URL).json()["customers"] == 2
    assert manager_api.get(SUMMARY_URL, {"owner": rep.pk}).json()["customers"] == 1


def test_scoring_runs_are_for_managers_only(manager_api, rep_api):
    run = finished_run()

    listed = manager_api.get(RUNS_URL)
    detail = manager_api.get(f"{RUNS_URL}{run.pk}/")

    assert listed.status_code == 200
    assert [row["id"] for row in listed.json()["results"]] == [run.pk]
    assert detail.json()["summary"]["concentration"]["top1_share"] == 0.25
    assert rep_api.get(RUNS_URL).status_code == 403
    assert rep_api.get(f"{RUNS_URL}{run.pk}/").status_code == 403


def test_scores_cannot_be_written(manager_api, rep):
    score = score_for(CustomerFactory(owner=rep))

    assert manager_api.post(URL, {}, format="json").status_code == 405
    assert (
        manager_api.patch(f"{URL}{score.pk}/", {"dormant": True}, format="json").status_code == 405
    )
