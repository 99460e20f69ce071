import json
import math
from datetime import date, datetime, timedelta
from decimal import Decimal
from io import StringIO
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd
import pytest
from django.core.management import call_command
from django.db import transaction

from customers import churn, scoring
from customers.models import (
    Customer,
    CustomerScore,
    Purchase,
    Refund,
    ScoreTransition,
    ScoringRun,
    ScoringSettings,
)
from tests.factories import CustomerFactory, RepFactory

pytestmark = pytest.mark.django_db

AS_OF = date(2026, 6, 30)
ZONE = ZoneInfo("Europe/Moscow")


def at(day: date, hour: int = 12) -> datetime:
    return datetime(day.year, day.month, day.day, hour, tzinfo=ZONE)


def buy(customer: Customer, day: date, amount: str = "100.00", hour: int = 12) -> Purchase:
    return Purchase.objects.create(
        customer=customer,
        occurred_at=at(day, hour),
        amount=Decimal(amount),
        external_id=f"P-{customer.pk}-{day}-{hour}-{amount}",
        source=Purchase.Source.UI,
    )


def simulated_base(n: int = 400, seed: int = 7, as_of: date = AS_OF) -> list[Customer]:
    """A base whose purchases follow the BG/NBD process, first purchases spread over 2 years."""
    rng = np.random.default_rng(seed)
    rep = RepFactory()
    ages = rng.uniform(60, 700, size=n).round()
    index, times, _ = churn.simulate_bgnbd_purchase_times(n, 0.5, 20.0, 0.7, 3.0, ages, rng)
    customers = Customer.objects.bulk_create(
        [Customer(name=f"Sim {i}", owner=rep, external_id=f"SIM-{seed}-{i}") for i in range(n)]
    )
    purchases = []
    for number, (i, t) in enumerate(zip(index, times, strict=True)):
        day = as_of - timedelta(days=int(ages[i] - math.floor(t)))
        amount = Decimal(str(round(float(rng.gamma(4, 250)), 2))) + Decimal("1.00")
        purchases.append(
            Purchase(customer=customers[i], occurred_at=at(day), amount=amount,
                     external_id=f"SIM-P-{seed}-{number}", source=Purchase.Source.DEMO)
        )
    Purchase.objects.bulk_create(purchases)
    return customers


def test_features_count_purchase_days_recency_age_and_net_revenue():
    customer = CustomerFactory()
    buy(customer, date(2025, 1, 10), "100.00")
    buy(customer, date(2025, 1, 10), "50.00", hour=15)  # same day: one purchase day
    buy(customer, date(2026, 1, 1), "200.00")
    third = buy(customer, date(2026, 6, 1), "300.00")
    buy(customer, date(2026, 7, 5), "999.00")  # after as_of: ignored
    Refund.objects.create(purchase=third, amount=Decimal("30.00"), external_id="R1",
                          occurred_at=at(date(2026, 6, 2)))
    row = scoring.read_features(as_of=AS_OF).set_index("customer_id").loc[customer.pk]
    assert row["purchase_days"] == 3
    assert row["x"] == 2
    assert row["t_x"] == (date(2026, 6, 1) - date(2025, 1, 10)).days
    assert row["T"] == (AS_OF - date(2025, 1, 10)).days
    assert row["days_since_last"] == 29
    assert row["gross_cents"] == 65000
    assert row["revenue_cents"] == 62000
    assert row["revenue_12m_cents"] == 47000  # 200 + 300 - 30; the 2025 purchases are older
    assert row["orders"] == 4
    assert row["repeat_mean_cents"] == pytest.approx(25000)  # (200 + 300) / 2, first day excluded
    assert row["median_gap"] == pytest.approx(
        np.median([(date(2026, 1, 1) - date(2025, 1, 10)).days, 151])
    )


def test_purchase_day_is_the_local_day_in_the_configured_time_zone():
    customer = CustomerFactory()
    # 23:30 in Moscow on 1 March is 20:30 UTC: still 1 March locally.
    buy(customer, date(2026, 3, 1), hour=23)
    row = scoring.read_features(as_of=date(2026, 3, 1)).set_index("customer_id").loc[customer.pk]
    assert row["purchase_days"] == 1
    assert row["days_since_last"] == 0


def test_abc_classes_on_crafted_revenues():
    revenue = np.array([5000, 3000, 1000, 500, 300, 200, 0]) * 100
    a_min, b_min = scoring._abc_thresholds(revenue, 0.8, 0.95)
    classes = np.where(revenue <= 0, "-", np.where(revenue >= a_min, "A",
                       np.where(revenue >= b_min, "B", "C")))
    assert classes.tolist() == ["A", "A", "B", "B", "C", "C", "-"]


def test_concentration_figures():
    figures = scoring._concentration(np.array([50, 30, 20]))
    assert figures["top1_share"] == pytest.approx(0.5)
    assert figures["top10_share"] == pytest.approx(1.0)
    assert figures["herfindahl"] == pytest.approx(0.25 + 0.09 + 0.04)


def test_rfm_scores_give_equal_values_equal_scores_and_order_them():
    score_map = scoring._midrank_score_map(np.array([1, 1, 1, 1, 2, 3, 5, 8]), higher_is_better=True)
    scores = score_map.apply(np.array([1, 1, 2, 8]))
    assert scores[0] == scores[1]
    assert scores[0] <= scores[2] <= scores[3]
    assert scores[3] == 5
    recency = scoring._midrank_score_map(np.array([5, 10, 100, 400]), higher_is_better=False)
    assert recency.apply(np.array([5]))[0] > recency.apply(np.array([400]))[0]


def test_rfm_segments_on_crafted_scores():
    r = np.array([5, 1, 1, 3, 5, 2, 4])
    f = np.array([5, 5, 1, 3, 1, 3, 2])
    segments = scoring._rfm_segments(r, f, np.ones(7, dtype=bool))
    assert segments.tolist() == [
        "champions", "cant_lose", "lost", "need_attention", "new", "at_risk",
        "potential_loyalist",
    ]


def test_whole_base_is_scored_with_the_model_and_p_alive_matches_the_closed_form():
    simulated_base()
    run = scoring.score_customers(as_of=AS_OF)
    assert run.method == "model"
    assert CustomerScore.objects.count() == Customer.objects.count()
    params = churn.BGNBDParams(**{k: run.bgnbd[k] for k in ("r", "alpha", "a", "b")})
    score = CustomerScore.objects.filter(frequency__gt=0).first()
    x, t_x, age = score.frequency, score.recency_days, score.age_days
    expected = 1.0 / (
        1.0 + (params.a / (params.b + x - 1)) * ((params.alpha + age) / (params.alpha + t_x))
        ** (params.r + x)
    )
    assert score.p_alive == pytest.approx(expected, rel=1e-9)
    for stored in CustomerScore.objects.all():
        for value in (stored.p_alive, stored.p_purchase, stored.expected_purchases, stored.value_share):
            assert value is None or math.isfinite(value)
    assert run.summary["matrix"]
    assert run.customers == 400


def test_scores_in_chunks_equal_scores_in_one_go():
    customers = simulated_base(n=200)
    scoring.score_customers(as_of=AS_OF)
    one_go = dict(CustomerScore.objects.values_list("customer_id", "p_purchase"))
    CustomerScore.objects.all().delete()
    run = scoring.score_customers(as_of=AS_OF, chunk_size=37)
    chunked = dict(CustomerScore.objects.values_list("customer_id", "p_purchase"))
    assert run.chunks_total == math.ceil(len(customers) / 37)
    assert run.chunks_done == run.chunks_total
    assert chunked.keys() == one_go.keys()
    for customer_id, value in one_go.items():
        assert chunked[customer_id] == pytest.approx(value)


def test_odd_customers_get_defined_scores_without_nan():
    simulated_base(n=120)
    CustomerFactory(name="No purchases")
    once = CustomerFactory(name="Once")
    buy(once, AS_OF - timedelta(days=10))
    free = CustomerFactory(name="Zero amounts")
    buy(free, AS_OF - timedelta(days=100), "0.00")
    buy(free, AS_OF - timedelta(days=50), "0.00")
    refunded = CustomerFactory(name="Refunded")
    purchase = buy(refunded, AS_OF - timedelta(days=400), "100.00")
    buy(refunded, AS_OF - timedelta(days=20), "10.00")
    # An older refund larger than this year's purchases: net 12-month revenue is negative.
    Refund.objects.create(purchase=purchase, amount=Decimal("100.00"), external_id="R-big",
                          occurred_at=at(AS_OF - timedelta(days=5)))
    future = CustomerFactory(name="Future only")
    buy(future, AS_OF + timedelta(days=3))
    scoring.score_customers(as_of=AS_OF)
    scores = {s.customer.name: s for s in CustomerScore.objects.select_related("customer")}
    assert scores["No purchases"].purchase_days == 0
    assert scores["No purchases"].value_class == "-"
    assert scores["No purchases"].explanation == "No purchases yet."
    assert scores["Future only"].purchase_days == 0
    assert scores["Once"].frequency == 0
    assert 0 <= scores["Once"].p_alive <= 1
    assert scores["Zero amounts"].revenue_total == Decimal("0.00")
    assert scores["Refunded"].revenue_12m == Decimal("-90.00")
    assert scores["Refunded"].value_class == "-"
    for score in scores.values():
        assert score.revenue_at_risk >= 0
        for value in (score.p_alive, score.p_purchase, score.expected_purchases, score.median_gap_days):
            assert value is None or math.isfinite(value)


def test_empty_base_gives_an_empty_run():
    run = scoring.score_customers(as_of=AS_OF)
    assert run.customers == 0
    assert run.method == "rule"
    assert CustomerScore.objects.count() == 0


def test_too_small_base_falls_back_to_the_days_rule_and_says_so():
    customer = CustomerFactory()
    buy(customer, AS_OF - timedelta(days=200))
    buy(customer, AS_OF - timedelta(days=150))
    buy(customer, AS_OF - timedelta(days=120))
    run = scoring.score_customers(as_of=AS_OF)
    assert run.method == "rule"
    assert "could not be fitted" in run.fallback_reason
    score = CustomerScore.objects.get(customer=customer)
    assert score.method == "rule"
    assert score.p_alive is None
    assert score.risk_level == "high"  # 120 days > the 90-day rule
    assert score.dormant  # bought on 3 days, then silent for longer than the rule
    assert "days-since-last-purchase rule" in score.explanation


def test_rerun_for_the_same_day_records_no_new_transitions_and_a_change_is_recorded():
    customers = simulated_base(n=150)
    scoring.score_customers(as_of=AS_OF - timedelta(days=60))
    assert ScoreTransition.objects.count() == 0  # a first score is not a move
    scoring.score_customers(as_of=AS_OF)
    moves = ScoreTransition.objects.count()
    assert moves > 0
    scoring.score_customers(as_of=AS_OF)
    assert ScoreTransition.objects.count() == moves
    moved = ScoreTransition.objects.filter(dimension="risk").first()
    assert moved.from_value != moved.to_value
    assert CustomerScore.objects.get(customer_id=moved.customer_id).risk_level == moved.to_value
    assert len(customers) == CustomerScore.objects.count()


def test_stage_is_suggested_from_behaviour_but_partners_are_never_overwritten():
    regular = CustomerFactory(stage=Customer.Stage.ONE_OFF)
    partner = CustomerFactory(stage=Customer.Stage.PARTNER)
    occasional = CustomerFactory(stage=Customer.Stage.REGULAR)
    for days in (10, 40, 80):
        buy(regular, AS_OF - timedelta(days=days))
    buy(partner, AS_OF - timedelta(days=400))
    buy(occasional, AS_OF - timedelta(days=30))
    scoring.score_customers(as_of=AS_OF)
    regular.refresh_from_db()
    partner.refresh_from_db()
    occasional.refresh_from_db()
    assert regular.stage == Customer.Stage.REGULAR
    assert occasional.stage == Customer.Stage.ONE_OFF
    assert partner.stage == Customer.Stage.PARTNER


def test_backtest_reports_both_rules_and_adopting_it_puts_a_rule_in_force():
    simulated_base(n=400, as_of=AS_OF)
    result = scoring.backtest(as_of=AS_OF - timedelta(days=120), until=AS_OF)
    assert result["method"] == "model"
    assert 0.0 <= result["roc_auc"] <= 1.0
    assert 30 <= result["fixed_rule"]["days"] <= 365
    for key in ("precision", "recall", "f1"):
        assert 0.0 <= result["dormant_flag"][key] <= 1.0
    assert result["predicted_purchase_days"] > 0
    assert result["actual_purchase_days"] >= 0
    config = scoring.adopt_backtest(result=result)
    if result["model_wins"]:
        assert config.rule_in_force == "model"
        assert float(config.dormant_threshold) == result["best_threshold"]["threshold"]
    else:
        assert config.rule_in_force == "fixed"
        assert config.fallback_days == result["fixed_rule"]["days"]
    assert config.rule_reason


def test_fixed_rule_in_force_flags_dormant_customers_by_days():
    simulated_base(n=200)
    config = ScoringSettings.load()
    config.rule_in_force = "fixed"
    config.fallback_days = 60
    config.save()
    run = scoring.score_customers(as_of=AS_OF)
    assert run.dormant_rule == "fixed 60 days"
    flagged = CustomerScore.objects.filter(dormant=True)
    assert flagged.exists()
    assert all(s.days_since_last > 60 and s.purchase_days >= 3 for s in flagged)


def test_roc_auc_of_a_perfect_and_a_useless_score():
    positive = np.array([True, True, False, False])
    assert scoring.roc_auc(np.array([0.9, 0.8, 0.2, 0.1]), positive) == 1.0
    assert scoring.roc_auc(np.array([0.5, 0.5, 0.5, 0.5]), positive) == 0.5
    assert scoring.roc_auc(np.array([0.5, 0.5]), np.array([True, True])) is None


def test_score_command_prints_the_json_contract():
    simulated_base(n=150)
    out = StringIO()
    call_command("score", "--as-of", AS_OF.isoformat(), "--json",
                 "--backtest-until", (AS_OF + timedelta(days=30)).isoformat(), stdout=out)
    payload = json.loads(out.getvalue())
    assert payload["as_of"] == AS_OF.isoformat()
    assert payload["customers"] == 150
    assert set(payload["bgnbd"]) >= {"r", "alpha", "a", "b", "log_likelihood", "time_unit"}
    assert payload["bgnbd"]["time_unit"] == "days"
    assert set(payload["gamma_gamma"]) >= {"p", "q", "gamma"}
    assert payload["dormant_rule"] in {"model"} or payload["dormant_rule"].startswith("fixed")
    assert isinstance(payload["dormant"], int)
    assert payload["seconds"] > 0
    assert "fixed_rule" in payload["backtest"]
    assert ScoringRun.objects.get().backtest_until == AS_OF + timedelta(days=30)


def test_a_past_as_of_ignores_later_purchases():
    customer = CustomerFactory()
    buy(customer, date(2026, 1, 1))
    buy(customer, date(2026, 6, 1))
    scoring.score_customers(as_of=date(2026, 3, 1))
    score = CustomerScore.objects.get(customer=customer)
    assert score.purchase_days == 1
    assert score.last_purchase_at == date(2026, 1, 1)


def test_features_match_a_per_customer_reference_on_random_rows():
    rng = np.random.default_rng(3)
    as_of_day = 20_000
    ids = np.array([5, 9, 12, 40, 41, 77])  # 77 never buys
    buyers = rng.choice(ids[:-1], size=60)
    purchases = {
        "customer_id": buyers,
        "epoch": (as_of_day - rng.integers(0, 700, size=60)) * 86_400 + 9 * 3600,
        "cents": rng.integers(0, 50_000, size=60),
    }
    refunds = {
        "customer_id": np.array([5, 9, 999]),  # 999 is not among the customers: ignored
        "epoch": np.array([as_of_day - 10, as_of_day - 400, as_of_day - 1]) * 86_400 + 9 * 3600,
        "cents": np.array([100, 250, 7]),
    }
    frame = scoring.features_from_rows(
        pd.Series(ids), pd.DataFrame(purchases), pd.DataFrame(refunds), as_of_day=as_of_day
    ).set_index("customer_id")
    days = scoring._local_days(pd.Series(purchases["epoch"]))
    for customer in ids:
        mine = buyers == customer
        row = frame.loc[customer]
        refunded = refunds["cents"][refunds["customer_id"] == customer].sum()
        if not mine.any():
            assert row["purchase_days"] == 0
            assert row["revenue_cents"] == 0
            assert math.isnan(row["median_gap"])
            continue
        per_day = pd.Series(purchases["cents"][mine]).groupby(days[mine]).sum().sort_index()
        recent = per_day[per_day.index > as_of_day - 365]
        recent_refunds = sum(
            cents for who, epoch, cents in zip(*refunds.values(), strict=True)
            if who == customer and epoch // 86_400 > as_of_day - 365
        )
        assert row["purchase_days"] == len(per_day)
        assert row["orders"] == mine.sum()
        assert row["first_day"] == per_day.index[0]
        assert row["days_since_last"] == as_of_day - per_day.index[-1]
        assert row["revenue_cents"] == per_day.sum() - refunded
        assert row["revenue_12m_cents"] == recent.sum() - recent_refunds
        assert row["days_12m"] == len(recent)
        assert row["first_day_cents"] == per_day.iloc[0]
        gaps = np.diff(per_day.index.to_numpy())
        if gaps.size:
            assert row["median_gap"] == np.median(gaps)
        else:
            assert math.isnan(row["median_gap"])


def test_a_customer_new_since_the_last_run_is_scored_alongside_the_updates():
    customers = simulated_base(n=120)
    scoring.score_customers(as_of=AS_OF - timedelta(days=30))
    newcomer = CustomerFactory(name="Newcomer")
    buy(newcomer, AS_OF - timedelta(days=3))
    scoring.score_customers(as_of=AS_OF)
    assert CustomerScore.objects.count() == len(customers) + 1
    assert set(CustomerScore.objects.values_list("as_of", flat=True)) == {AS_OF}
    assert CustomerScore.objects.get(customer=newcomer).purchase_days == 1
    assert not ScoreTransition.objects.filter(customer=newcomer).exists()


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_parallel_writers_store_the_same_scores_as_one_session(monkeypatch):
    simulated_base(n=300)
    monkeypatch.setattr(scoring, "PARALLEL_MIN_CUSTOMERS", 100)
    run = scoring.score_customers(as_of=AS_OF)
    assert run.chunks_total == scoring.PARALLEL_WRITERS
    assert run.chunks_done == run.chunks_total
    fields = ("customer_id", "p_purchase", "value_class", "rfm_segment", "revenue_at_risk")
    parallel = sorted(CustomerScore.objects.values_list(*fields))
    CustomerScore.objects.all().delete()
    with transaction.atomic():  # inside a transaction the same run is written by one session
        single = scoring.score_customers(as_of=AS_OF)
    assert single.chunks_total == 1
    assert sorted(CustomerScore.objects.values_list(*fields)) == parallel
    assert len(parallel) == 300
