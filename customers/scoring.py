"""Segmentation: every customer scored by value (share of revenue) and risk (of leaving).

The pipeline, as of a date D (purchases after D are ignored, so a past date reproduces a past view):

1. **Read** one row per purchase (customer, local day, amount in cents) and per refund; features
   per customer come from pandas over those rows, never a query per customer. Money is summed in
   integer cents, so totals are exact.
2. **Fit** (global): BG/NBD on the distinct (x, t_x, T) patterns with weights, Gamma-Gamma on
   repeat customers' mean spend per repeat purchase day (first purchase day excluded), and the
   base-wide cut-offs: ABC revenue thresholds and RFM score maps. Stored on a ScoringRun.
3. **Apply** (per customer-id range, so Celery can spread it over workers): P(alive), expected
   purchases and the probability of buying within H days, expected spend, 12-month CLV, revenue
   at risk, risk level, dormant flag, RFM segment, suggested stage and the explanation's facts.
4. **Write** through a staging table (COPY on PostgreSQL): transitions first (customers whose value
   class, risk, RFM segment or dormant flag changed), then one upsert of the scores, then the
   suggested stages (partners, set by hand, are never overwritten).

When the base is too small or degenerate for a fit, risk falls back to a days-since-last-purchase
rule, and every score says so (method "rule").
"""

from __future__ import annotations

import dataclasses
import io
import itertools
import logging
import math
import time
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd
from django.conf import settings
from django.db import connection, transaction
from django.db.models import Count, F, Q, Sum
from django.utils import timezone
from django.utils.translation import gettext as _

from . import churn
from .models import Customer, CustomerScore, RfmSegment, ScoringRun, ScoringSettings

logger = logging.getLogger(__name__)

DAYS_12M = 365
# A regular customer bought on at least this many days in the last 12 months (DOMAIN.md stages).
REGULAR_MIN_DAYS_12M = 3
# Revenue at risk leaves out customers the model already counts as gone: that revenue is lost,
# not at risk.
GONE_P_ALIVE = 1e-6
# Rows per COPY or insert batch into the staging table: keeps client memory flat on 1M customers.
STAGE_BATCH = 100_000
EPOCH = date(1970, 1, 1)

_EPOCH_SQL = {
    "postgresql": "floor(extract(epoch from {col}))::bigint",
    "sqlite": "CAST(strftime('%%s', {col}) AS INTEGER)",
}
_CENTS_SQL = {
    "postgresql": "round({col} * 100)::bigint",
    "sqlite": "CAST(ROUND({col} * 100) AS INTEGER)",
}


def _vendor_sql(template: dict[str, str], column: str) -> str:
    return template.get(connection.vendor, template["postgresql"]).format(col=column)


def _day_number(day: date) -> int:
    return (day - EPOCH).days


def _end_of_day(as_of: date) -> datetime:
    """The first instant after `as_of` in the configured time zone."""
    zone = ZoneInfo(settings.TIME_ZONE)
    return datetime.combine(as_of + timedelta(days=1), datetime.min.time(), tzinfo=zone)


def _read_frame(sql: str, params: list, columns: list[str]) -> pd.DataFrame:
    """Runs a SELECT of integer columns and returns a DataFrame (COPY on PostgreSQL)."""
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            query = cursor.mogrify(sql, params)
            query = query.decode() if isinstance(query, bytes) else query
            buffer = io.BytesIO()
            with cursor.copy(f"COPY ({query}) TO STDOUT") as copy:
                for block in copy:
                    buffer.write(block)
            if not buffer.tell():
                return pd.DataFrame({name: pd.Series(dtype="int64") for name in columns})
            buffer.seek(0)
            return pd.read_csv(buffer, sep="\t", header=None, names=columns, dtype="int64")
        cursor.execute(sql, params)
        rows = cursor.fetchall()
    if not rows:
        return pd.DataFrame({name: pd.Series(dtype="int64") for name in columns})
    return pd.DataFrame.from_records(rows, columns=columns).astype("int64")


def _local_days(epoch_seconds: pd.Series) -> np.ndarray:
    """Local calendar day numbers (days since 1970-01-01 in TIME_ZONE) of UTC epoch seconds."""
    if epoch_seconds.empty:
        return np.zeros(0, dtype=np.int64)
    moments = pd.to_datetime(epoch_seconds.to_numpy(), unit="s", utc=True)
    local = moments.tz_convert(settings.TIME_ZONE).tz_localize(None)
    return local.to_numpy().astype("datetime64[D]").astype(np.int64)


def _id_range_sql(column: str, id_from: int | None, id_to: int | None) -> tuple[str, list]:
    clauses, params = [], []
    if id_from is not None:
        clauses.append(f"{column} >= %s")
        params.append(id_from)
    if id_to is not None:
        clauses.append(f"{column} < %s")
        params.append(id_to)
    return "".join(f" AND {clause}" for clause in clauses), params


def read_features(*, as_of: date, id_from: int | None = None, id_to: int | None = None) -> pd.DataFrame:
    """One row per customer (ids in [id_from, id_to)) with the purchase features as of `as_of`.

    Columns: customer_id, purchase_days, x, t_x, T, first_day, last_day, days_since_last,
    gross_cents, refunds_cents, revenue_cents, revenue_12m_cents, orders, days_12m,
    repeat_mean_cents, first_day_cents, median_gap.
    """
    end = _end_of_day(as_of)
    as_of_day = _day_number(as_of)
    id_sql, id_params = _id_range_sql("id", id_from, id_to)
    customers = _read_frame(
        f"SELECT id FROM customers_customer WHERE 1=1{id_sql} ORDER BY id",  # noqa: S608
        id_params,
        ["customer_id"],
    )
    id_sql, id_params = _id_range_sql("customer_id", id_from, id_to)
    purchases = _read_frame(
        f"SELECT customer_id, {_vendor_sql(_EPOCH_SQL, 'occurred_at')}, "  # noqa: S608
        f"{_vendor_sql(_CENTS_SQL, 'amount')} FROM customers_purchase "
        f"WHERE occurred_at < %s{id_sql}",
        [end, *id_params],
        ["customer_id", "epoch", "cents"],
    )
    id_sql, id_params = _id_range_sql("p.customer_id", id_from, id_to)
    refunds = _read_frame(
        f"SELECT p.customer_id, {_vendor_sql(_EPOCH_SQL, 'r.occurred_at')}, "  # noqa: S608
        f"{_vendor_sql(_CENTS_SQL, 'r.amount')} FROM customers_refund r "
        f"JOIN customers_purchase p ON p.id = r.purchase_id "
        f"WHERE r.occurred_at < %s AND p.occurred_at < %s{id_sql}",
        [end, end, *id_params],
        ["customer_id", "epoch", "cents"],
    )
    return features_from_rows(customers["customer_id"], purchases, refunds, as_of_day=as_of_day)


def features_from_rows(
    customer_ids: pd.Series, purchases: pd.DataFrame, refunds: pd.DataFrame, *, as_of_day: int
) -> pd.DataFrame:
    """Per-customer features from purchase and refund rows (customer_id, epoch, cents)."""
    purchases = purchases.assign(day=_local_days(purchases["epoch"]))
    refunds = refunds.assign(day=_local_days(refunds["epoch"]))
    window_start = as_of_day - DAYS_12M  # the trailing 12 months are days (start, as_of]

    daily = (
        purchases.groupby(["customer_id", "day"], sort=True)
        .agg(cents=("cents", "sum"), orders=("cents", "size"))
        .reset_index()
    )
    grouped = daily.groupby("customer_id", sort=True)
    per = grouped.agg(
        first_day=("day", "min"),
        last_day=("day", "max"),
        purchase_days=("day", "size"),
        gross_cents=("cents", "sum"),
        orders=("orders", "sum"),
    )
    first_rows = daily.drop_duplicates("customer_id", keep="first").set_index("customer_id")
    per["first_day_cents"] = first_rows["cents"]
    recent = daily[daily["day"] > window_start]
    per["gross_12m_cents"] = recent.groupby("customer_id")["cents"].sum()
    per["days_12m"] = recent.groupby("customer_id")["day"].size()
    gaps = daily["day"].diff()
    same_customer = daily["customer_id"].eq(daily["customer_id"].shift())
    per["median_gap"] = (
        pd.DataFrame({"customer_id": daily["customer_id"], "gap": gaps})[same_customer]
        .groupby("customer_id")["gap"]
        .median()
    )
    per["refunds_cents"] = refunds.groupby("customer_id")["cents"].sum()
    per["refunds_12m_cents"] = refunds[refunds["day"] > window_start].groupby("customer_id")[
        "cents"
    ].sum()

    frame = pd.DataFrame(index=pd.Index(customer_ids.to_numpy(), name="customer_id")).join(per)
    int_columns = [
        "purchase_days", "gross_cents", "orders", "first_day_cents", "gross_12m_cents",
        "days_12m", "refunds_cents", "refunds_12m_cents",
    ]
    frame[int_columns] = frame[int_columns].fillna(0).astype(np.int64)
    has = frame["purchase_days"] > 0
    frame["x"] = np.where(has, frame["purchase_days"] - 1, 0).astype(np.int64)
    frame["t_x"] = np.where(has, frame["last_day"] - frame["first_day"], 0).astype(np.int64)
    frame["T"] = np.where(has, as_of_day - frame["first_day"], 0).astype(np.int64)
    frame["days_since_last"] = np.where(has, as_of_day - frame["last_day"], -1).astype(np.int64)
    frame["revenue_cents"] = frame["gross_cents"] - frame["refunds_cents"]
    frame["revenue_12m_cents"] = frame["gross_12m_cents"] - frame["refunds_12m_cents"]
    repeat_cents = frame["gross_cents"] - frame["first_day_cents"]
    frame["repeat_mean_cents"] = np.where(
        frame["x"] > 0, repeat_cents / frame["x"].where(frame["x"] > 0, 1), 0.0
    )
    return frame.reset_index()


# -------------------------------------------------------------------------------------------
# Fitting and the global cut-offs
# -------------------------------------------------------------------------------------------


@dataclass
class ScoreMap:
    """A monotone map from a feature value to a 1..5 score, fitted on the whole base."""

    keys: list[float]
    scores: list[int]

    def apply(self, values: np.ndarray) -> np.ndarray:
        if not self.keys:
            return np.ones(len(values), dtype=np.int64)
        keys = np.asarray(self.keys, dtype=np.float64)
        index = np.searchsorted(keys, np.asarray(values, dtype=np.float64), side="right") - 1
        return np.asarray(self.scores, dtype=np.int64)[np.clip(index, 0, len(keys) - 1)]


def _midrank_score_map(values: np.ndarray, *, higher_is_better: bool) -> ScoreMap:
    """Quintile scores by mid-rank percentile: equal values always get equal scores."""
    if values.size == 0:
        return ScoreMap(keys=[], scores=[])
    distinct, counts = np.unique(values, return_counts=True)
    below = np.cumsum(counts) - counts
    percentile = (below + counts / 2.0) / values.size
    if not higher_is_better:
        percentile = 1.0 - percentile
    scores = np.clip(np.ceil(percentile * 5), 1, 5).astype(int)
    return ScoreMap(keys=[float(v) for v in distinct], scores=[int(s) for s in scores])


def _quantile_score_map(values: np.ndarray) -> ScoreMap:
    """Quintile scores by value edges, for continuous money values."""
    if values.size == 0:
        return ScoreMap(keys=[], scores=[])
    edges = np.quantile(values, [0.2, 0.4, 0.6, 0.8])
    keys = [float(values.min()) - 1.0, *(float(edge) + 1e-9 for edge in edges)]
    return ScoreMap(keys=keys, scores=[1, 2, 3, 4, 5])


@dataclass
class FittedModel:
    """What the global phase decides and every chunk applies."""

    as_of: date
    horizon_days: int
    method: str
    fallback_reason: str = ""
    bgnbd: churn.BGNBDParams | None = None
    gamma_gamma: churn.GammaGammaParams | None = None
    population_mean_cents: float = 0.0
    abc_a_min_cents: int = 0
    abc_b_min_cents: int = 0
    recency_map: ScoreMap = field(default_factory=lambda: ScoreMap([], []))
    frequency_map: ScoreMap = field(default_factory=lambda: ScoreMap([], []))
    monetary_map: ScoreMap = field(default_factory=lambda: ScoreMap([], []))
    total_12m_cents: int = 0
    concentration: dict = field(default_factory=dict)

    def to_json(self) -> dict:
        return {
            "as_of": self.as_of.isoformat(),
            "horizon_days": self.horizon_days,
            "method": self.method,
            "fallback_reason": self.fallback_reason,
            "bgnbd": _params_json(self.bgnbd),
            "gamma_gamma": _params_json(self.gamma_gamma),
            "population_mean_cents": self.population_mean_cents,
            "abc_a_min_cents": self.abc_a_min_cents,
            "abc_b_min_cents": self.abc_b_min_cents,
            "recency_map": [self.recency_map.keys, self.recency_map.scores],
            "frequency_map": [self.frequency_map.keys, self.frequency_map.scores],
            "monetary_map": [self.monetary_map.keys, self.monetary_map.scores],
            "total_12m_cents": self.total_12m_cents,
            "concentration": self.concentration,
        }

    @classmethod
    def from_json(cls, data: dict) -> FittedModel:
        bgnbd = data.get("bgnbd")
        gamma_gamma = data.get("gamma_gamma")
        return cls(
            as_of=date.fromisoformat(data["as_of"]),
            horizon_days=data["horizon_days"],
            method=data["method"],
            fallback_reason=data.get("fallback_reason", ""),
            bgnbd=churn.BGNBDParams(**_param_fields(bgnbd, "r alpha a b")) if bgnbd else None,
            gamma_gamma=(
                churn.GammaGammaParams(**_param_fields(gamma_gamma, "p q gamma"))
                if gamma_gamma
                else None
            ),
            population_mean_cents=data["population_mean_cents"],
            abc_a_min_cents=data["abc_a_min_cents"],
            abc_b_min_cents=data["abc_b_min_cents"],
            recency_map=ScoreMap(*data["recency_map"]),
            frequency_map=ScoreMap(*data["frequency_map"]),
            monetary_map=ScoreMap(*data["monetary_map"]),
            total_12m_cents=data["total_12m_cents"],
            concentration=data.get("concentration", {}),
        )


def _params_json(params) -> dict | None:
    if params is None:
        return None
    data = {k: v for k, v in params.__dict__.items() if k not in {"n_customers", "converged"}}
    data.update(n_customers=params.n_customers, converged=params.converged)
    return data


def _param_fields(data: dict, names: str) -> dict:
    return {name: data[name] for name in names.split()}


def _abc_thresholds(revenue_12m_cents: np.ndarray, a_share: float, b_share: float) -> tuple[int, int]:
    """The smallest 12-month revenue still in class A and in class B (customers with revenue > 0).

    A holds the customers who together make the top `a_share` of revenue: a customer is in A when
    the revenue of everyone ranked above them is still below that share.
    """
    positive = np.sort(revenue_12m_cents[revenue_12m_cents > 0])[::-1]
    if positive.size == 0:
        return 0, 0
    total = positive.sum()
    before = (np.cumsum(positive) - positive) / total
    in_a = before < a_share
    in_b = before < b_share
    a_min = int(positive[in_a].min())
    b_min = int(positive[in_b].min()) if in_b.any() else a_min
    return a_min, b_min


def _concentration(revenue_12m_cents: np.ndarray) -> dict:
    positive = np.sort(np.clip(revenue_12m_cents, 0, None))[::-1]
    total = positive.sum()
    if total <= 0:
        return {"top1_share": 0.0, "top10_share": 0.0, "herfindahl": 0.0}
    shares = positive / total
    return {
        "top1_share": float(shares[:1].sum()),
        "top10_share": float(shares[:10].sum()),
        "herfindahl": float(np.square(shares).sum()),
    }


def fit_model(features: pd.DataFrame, *, as_of: date, config: ScoringSettings) -> FittedModel:
    """Fits the churn and spend models and the base-wide cut-offs on the whole base."""
    buyers = features[features["purchase_days"] > 0]
    revenue_12m = features["revenue_12m_cents"].to_numpy()
    a_min, b_min = _abc_thresholds(
        revenue_12m, float(config.abc_a_share), float(config.abc_b_share)
    )
    model = FittedModel(
        as_of=as_of,
        horizon_days=config.horizon_days,
        method=CustomerScore.Method.MODEL,
        abc_a_min_cents=a_min,
        abc_b_min_cents=b_min,
        recency_map=_midrank_score_map(
            buyers["days_since_last"].to_numpy(), higher_is_better=False
        ),
        frequency_map=_midrank_score_map(
            buyers["purchase_days"].to_numpy(), higher_is_better=True
        ),
        monetary_map=_quantile_score_map(buyers["revenue_cents"].to_numpy().astype(float)),
        total_12m_cents=int(np.clip(revenue_12m, 0, None).sum()),
        concentration=_concentration(revenue_12m),
    )
    try:
        x_u, t_u, age_u, counts, _inverse = churn.compress_patterns(
            buyers["x"].to_numpy(), buyers["t_x"].to_numpy(), buyers["T"].to_numpy()
        )
        model.bgnbd = churn.fit_bgnbd(x_u, t_u, age_u, weights=counts)
    except churn.ModelFitError as error:
        model.method = CustomerScore.Method.RULE
        model.fallback_reason = _(
            "The churn model could not be fitted (%(error)s); risk uses the days since the last "
            "purchase instead."
        ) % {"error": error}
        logger.info("scoring.fallback as_of=%s reason=%s", as_of, error)
    repeat = buyers[(buyers["x"] > 0) & (buyers["repeat_mean_cents"] > 0)]
    try:
        # Spend in cents runs to millions; the fit works on spend divided by its median and the
        # scale parameter gamma is scaled back (p and q do not depend on the money unit).
        scale = float(np.median(repeat["repeat_mean_cents"])) if len(repeat) else 1.0
        unit = churn.fit_gamma_gamma(
            repeat["x"].to_numpy(), repeat["repeat_mean_cents"].to_numpy() / scale
        )
        model.gamma_gamma = dataclasses.replace(unit, gamma=unit.gamma * scale)
        model.population_mean_cents = model.gamma_gamma.population_mean_spend
    except churn.ModelFitError as error:
        logger.info("scoring.spend_fallback as_of=%s reason=%s", as_of, error)
        orders = buyers["orders"].sum()
        model.population_mean_cents = float(buyers["gross_cents"].sum() / orders) if orders else 0.0
    return model


# -------------------------------------------------------------------------------------------
# Applying
# -------------------------------------------------------------------------------------------

# (R, F) score patterns to named segments, the usual RFM grid; "lost" is the coldest corner.
_SEGMENT_GRID = [
    ("champions", lambda r, f: (r >= 4) & (f >= 4) & (r == 5)),
    ("loyal", lambda r, f: (r >= 3) & (f >= 4)),
    ("cant_lose", lambda r, f: (r <= 2) & (f == 5)),
    ("at_risk", lambda r, f: (r <= 2) & (f >= 3)),
    ("lost", lambda r, f: (r == 1) & (f == 1)),
    ("hibernating", lambda r, f: (r <= 2) & (f <= 2)),
    ("need_attention", lambda r, f: (r == 3) & (f == 3)),
    ("about_to_sleep", lambda r, f: (r == 3) & (f <= 2)),
    ("new", lambda r, f: (r == 5) & (f == 1)),
    ("promising", lambda r, f: (r == 4) & (f == 1)),
    ("potential_loyalist", lambda r, f: (r >= 4) & (f <= 3)),
]


def _rfm_segments(r: np.ndarray, f: np.ndarray, has: np.ndarray) -> np.ndarray:
    segment = np.full(len(r), RfmSegment.NO_PURCHASES.value, dtype=object)
    unassigned = has.copy()
    for name, rule in _SEGMENT_GRID:
        match = unassigned & rule(r, f)
        segment[match] = name
        unassigned &= ~match
    segment[unassigned] = "need_attention"
    return segment


@dataclass
class DormantRule:
    """Which dormant rule is in force: the model's threshold or a fixed days rule."""

    kind: str  # "model" or "fixed"
    threshold: float
    days: int
    min_purchase_days: int

    @property
    def label(self) -> str:
        return "model" if self.kind == "model" else f"fixed {self.days} days"


def dormant_rule_from(config: ScoringSettings, model: FittedModel) -> DormantRule:
    kind = config.rule_in_force if model.method == CustomerScore.Method.MODEL else "fixed"
    return DormantRule(
        kind="fixed" if kind == "fixed" else "model",
        threshold=float(config.dormant_threshold),
        days=config.fallback_days,
        min_purchase_days=config.dormant_min_purchase_days,
    )


def apply_model(
    features: pd.DataFrame, *, model: FittedModel, config: ScoringSettings, rule: DormantRule
) -> pd.DataFrame:
    """Scores a chunk of customers with a fitted model; returns one row per customer."""
    out = features.copy()
    has = out["purchase_days"].to_numpy() > 0
    x = out["x"].to_numpy(dtype=np.float64)
    t_x = out["t_x"].to_numpy(dtype=np.float64)
    age = out["T"].to_numpy(dtype=np.float64)
    days_since = out["days_since_last"].to_numpy()
    horizon = float(model.horizon_days)
    n = len(out)

    p_alive = np.full(n, np.nan)
    expected = np.full(n, np.nan)
    p_purchase = np.full(n, np.nan)
    expected_12m = np.zeros(n)
    if model.method == CustomerScore.Method.MODEL and model.bgnbd is not None and has.any():
        params = model.bgnbd
        p_alive[has] = churn.bgnbd_p_alive(params, x[has], t_x[has], age[has])
        expected[has] = churn.bgnbd_expected_purchases(params, x[has], t_x[has], age[has], horizon)
        p_purchase[has] = churn.bgnbd_prob_purchase_within(
            params, x[has], t_x[has], age[has], horizon
        )
        expected_12m[has] = churn.bgnbd_expected_purchases(
            params, x[has], t_x[has], age[has], float(DAYS_12M)
        )

    # Expected spend per purchase day, in cents: Gamma-Gamma where fitted, else own average.
    if model.gamma_gamma is not None:
        spend = churn.gamma_gamma_expected_spend(
            model.gamma_gamma, x, out["repeat_mean_cents"].to_numpy()
        )
    else:
        own = out["gross_cents"] / out["purchase_days"].where(out["purchase_days"] > 0, 1)
        spend = np.where(has, own.to_numpy(), model.population_mean_cents)
    spend = np.where(has, spend, np.nan)
    clv = expected_12m * np.nan_to_num(spend)
    # Revenue at risk: what the customer would bring in 12 months if still active, times the
    # probability they are not: (1 - P(alive)) * E[12m purchases | alive] * spend, where
    # E[X | alive] = E[X] / P(alive) because a customer who left buys nothing.
    safe_alive = np.where(p_alive > GONE_P_ALIVE, p_alive, np.nan)
    at_risk = (1.0 - safe_alive) * (expected_12m / safe_alive) * np.nan_to_num(spend)
    at_risk = np.nan_to_num(at_risk, nan=0.0, posinf=0.0)

    high, medium = float(config.high_risk_below), float(config.medium_risk_below)
    if model.method == CustomerScore.Method.MODEL:
        risk = np.where(p_purchase < high, "high", np.where(p_purchase < medium, "medium", "low"))
    else:
        fallback = config.fallback_days
        risk = np.where(
            days_since > fallback, "high", np.where(days_since > fallback / 2, "medium", "low")
        )
        # Without a model, the revenue at risk of a high-risk customer is their last 12 months.
        at_risk = np.where(risk == "high", np.clip(out["revenue_12m_cents"], 0, None), 0.0)
    risk = np.where(has, risk, "low")

    regular_enough = out["purchase_days"].to_numpy() >= rule.min_purchase_days
    if rule.kind == "model" and model.method == CustomerScore.Method.MODEL:
        dormant = regular_enough & (np.nan_to_num(p_purchase, nan=1.0) < rule.threshold)
    else:
        dormant = regular_enough & (days_since > rule.days)

    revenue_12m = out["revenue_12m_cents"].to_numpy()
    value_class = np.where(
        revenue_12m <= 0,
        "-",
        np.where(
            revenue_12m >= max(model.abc_a_min_cents, 1),
            "A",
            np.where(revenue_12m >= max(model.abc_b_min_cents, 1), "B", "C"),
        ),
    )
    r = np.where(has, model.recency_map.apply(days_since), 0)
    f = np.where(has, model.frequency_map.apply(out["purchase_days"].to_numpy()), 0)
    m = np.where(has, model.monetary_map.apply(out["revenue_cents"].to_numpy().astype(float)), 0)

    out["p_alive"] = p_alive
    out["expected_purchases"] = expected
    out["p_purchase"] = p_purchase
    out["expected_spend_cents"] = spend
    out["clv_cents"] = np.where(has & (model.method == CustomerScore.Method.MODEL), clv, np.nan)
    out["at_risk_cents"] = at_risk
    out["risk_level"] = risk
    out["dormant"] = dormant
    out["value_class"] = value_class
    total = model.total_12m_cents
    out["value_share"] = np.clip(revenue_12m, 0, None) / total if total else 0.0
    out["rfm_r"], out["rfm_f"], out["rfm_m"] = r, f, m
    out["rfm_segment"] = _rfm_segments(r, f, has)
    out["suggested_stage"] = np.where(
        out["days_12m"].to_numpy() >= REGULAR_MIN_DAYS_12M,
        "regular",
        np.where(has, "one_off", ""),
    )
    out["method"] = model.method
    out["horizon_days"] = model.horizon_days
    return out


# -------------------------------------------------------------------------------------------
# Writing
# -------------------------------------------------------------------------------------------

_STAGE_COLUMNS = [
    ("customer_id", "bigint"),
    ("as_of", "date"),
    ("first_purchase_at", "date"),
    ("last_purchase_at", "date"),
    ("purchase_days", "integer"),
    ("frequency", "integer"),
    ("recency_days", "integer"),
    ("age_days", "integer"),
    ("days_since_last", "integer"),
    ("median_gap_days", "double precision"),
    ("revenue_total", "numeric(14,2)"),
    ("revenue_12m", "numeric(14,2)"),
    ("average_order_value", "numeric(14,2)"),
    ("value_share", "double precision"),
    ("value_class", "varchar(1)"),
    ("method", "varchar(5)"),
    ("p_alive", "double precision"),
    ("expected_purchases", "double precision"),
    ("p_purchase", "double precision"),
    ("expected_spend", "numeric(14,2)"),
    ("clv_12m", "numeric(14,2)"),
    ("revenue_at_risk", "numeric(14,2)"),
    ("risk_level", "varchar(6)"),
    ("dormant", "boolean"),
    ("rfm_r", "smallint"),
    ("rfm_f", "smallint"),
    ("rfm_m", "smallint"),
    ("rfm_segment", "varchar(20)"),
    ("suggested_stage", "varchar(10)"),
    ("horizon_days", "smallint"),
    ("scored_at", "timestamp with time zone"),
]
_COLUMN_NAMES = [name for name, _type in _STAGE_COLUMNS]
_STAGE_TABLE = "customers_score_stage"


def _money(cents) -> np.ndarray:
    """Cents as two-place decimal strings, None where undefined.

    Exact: for whole cents below 2**53, the double nearest to cents / 100 prints back as the
    same two-place decimal, so no money value is changed by the float on its way to the text.
    """
    values = np.asarray(pd.to_numeric(pd.Series(cents), errors="coerce"), dtype=np.float64)
    values = np.clip(np.round(values), -(10**13), 10**13) / 100.0
    text = np.char.mod("%.2f", np.nan_to_num(values)).astype(object)
    text[~np.isfinite(values)] = None
    return text


def _stage_frame(scored: pd.DataFrame, *, as_of: date, scored_at: datetime) -> pd.DataFrame:
    def day(values: pd.Series) -> pd.Series:
        days = pd.to_datetime(values.to_numpy(dtype="float64"), unit="D", origin="unix")
        return pd.Series(days.strftime("%Y-%m-%d"), index=values.index).where(values.notna())

    def floats(values) -> pd.Series:
        series = pd.Series(values, index=scored.index, dtype="float64")
        return series.where(np.isfinite(series))

    has = scored["purchase_days"] > 0
    aov = scored["gross_cents"] / scored["orders"].where(scored["orders"] > 0, 1)
    frame = pd.DataFrame(
        {
            "customer_id": scored["customer_id"].astype(np.int64),
            "as_of": as_of.isoformat(),
            "first_purchase_at": day(scored["first_day"].where(has)),
            "last_purchase_at": day(scored["last_day"].where(has)),
            "purchase_days": scored["purchase_days"],
            "frequency": scored["x"],
            "recency_days": scored["t_x"],
            "age_days": scored["T"],
            "days_since_last": scored["days_since_last"].where(has).astype("Int64"),
            "median_gap_days": floats(scored["median_gap"]),
            "revenue_total": _money(scored["revenue_cents"]),
            "revenue_12m": _money(scored["revenue_12m_cents"]),
            "average_order_value": _money(aov.where(has, 0)),
            "value_share": floats(scored["value_share"]).fillna(0.0),
            "value_class": scored["value_class"],
            "method": scored["method"],
            "p_alive": floats(scored["p_alive"]),
            "expected_purchases": floats(scored["expected_purchases"]),
            "p_purchase": floats(scored["p_purchase"]),
            "expected_spend": _money(scored["expected_spend_cents"]),
            "clv_12m": _money(scored["clv_cents"]),
            "revenue_at_risk": _money(np.nan_to_num(scored["at_risk_cents"].to_numpy())),
            "risk_level": scored["risk_level"],
            "dormant": scored["dormant"].astype(bool),
            "rfm_r": scored["rfm_r"].astype(np.int64),
            "rfm_f": scored["rfm_f"].astype(np.int64),
            "rfm_m": scored["rfm_m"].astype(np.int64),
            "rfm_segment": scored["rfm_segment"],
            "suggested_stage": scored["suggested_stage"],
            "horizon_days": scored["horizon_days"].astype(np.int64),
            "scored_at": scored_at.isoformat(),
        }
    )
    return frame[_COLUMN_NAMES]


def _create_stage(cursor) -> None:
    cursor.execute(f"DROP TABLE IF EXISTS {_STAGE_TABLE}")
    columns = ", ".join(f"{name} {kind}" for name, kind in _STAGE_COLUMNS)
    temporary = "TEMPORARY" if connection.vendor == "postgresql" else "TEMP"
    cursor.execute(f"CREATE {temporary} TABLE {_STAGE_TABLE} ({columns})")


def _plain(value):
    """A Python value for the DB-API (numpy scalars and pandas' missing values converted)."""
    if value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value)):
        return None
    if isinstance(value, np.generic):
        value = value.item()
        return None if isinstance(value, float) and math.isnan(value) else value
    return value


def _load_stage(cursor, frame: pd.DataFrame) -> None:
    for start in range(0, len(frame), STAGE_BATCH):
        part = frame.iloc[start : start + STAGE_BATCH]
        if connection.vendor == "postgresql":
            buffer = io.StringIO()
            part.to_csv(buffer, sep="\t", header=False, index=False, na_rep="\\N")
            with cursor.copy(
                f"COPY {_STAGE_TABLE} ({', '.join(_COLUMN_NAMES)}) FROM STDIN"
            ) as copy:
                copy.write(buffer.getvalue())
        else:
            rows = [tuple(map(_plain, row)) for row in part.itertuples(index=False, name=None)]
            placeholders = ", ".join(["%s"] * len(_COLUMN_NAMES))
            cursor.executemany(
                f"INSERT INTO {_STAGE_TABLE} ({', '.join(_COLUMN_NAMES)}) "  # noqa: S608
                f"VALUES ({placeholders})",
                rows,
            )


_TRANSITION_DIMENSIONS = [
    ("value", "value_class", "value_class"),
    ("risk", "risk_level", "risk_level"),
    ("segment", "rfm_segment", "rfm_segment"),
    (
        "dormant",
        "CASE WHEN c.dormant THEN 'yes' ELSE 'no' END",
        "CASE WHEN s.dormant THEN 'yes' ELSE 'no' END",
    ),
]


def _write_stage(cursor) -> int:
    """Transitions, then the score upsert, then the suggested stages; returns transitions made."""
    made = 0
    for dimension, old, new in _TRANSITION_DIMENSIONS:
        old_sql = old if old.startswith("CASE") else f"c.{old}"
        new_sql = new if new.startswith("CASE") else f"s.{new}"
        # A customer's first score is not a move; a re-run for the same date updates the move.
        cursor.execute(
            f"INSERT INTO customers_scoretransition "  # noqa: S608
            f"(customer_id, as_of, dimension, from_value, to_value) "
            f"SELECT s.customer_id, s.as_of, %s, {old_sql}, {new_sql} "
            f"FROM {_STAGE_TABLE} s JOIN customers_customerscore c "
            f"ON c.customer_id = s.customer_id WHERE {old_sql} <> {new_sql} "
            f"ON CONFLICT (customer_id, as_of, dimension) DO UPDATE SET to_value = excluded.to_value",
            [dimension],
        )
        made += max(cursor.rowcount, 0)
    columns = ", ".join(_COLUMN_NAMES)
    selected = ", ".join(f"s.{name}" for name in _COLUMN_NAMES)
    updates = ", ".join(f"{name} = excluded.{name}" for name in _COLUMN_NAMES[1:])
    cursor.execute(
        f"INSERT INTO customers_customerscore ({columns}) "  # noqa: S608
        f"SELECT {selected} FROM {_STAGE_TABLE} s WHERE true "
        f"ON CONFLICT (customer_id) DO UPDATE SET {updates}"
    )
    # Partners are set by hand and never overwritten; customers without purchases keep theirs.
    cursor.execute(
        f"UPDATE customers_customer SET stage = s.suggested_stage "  # noqa: S608
        f"FROM {_STAGE_TABLE} s WHERE customers_customer.id = s.customer_id "
        f"AND s.suggested_stage <> '' AND customers_customer.stage <> %s "
        f"AND customers_customer.stage <> s.suggested_stage",
        [Customer.Stage.PARTNER],
    )
    cursor.execute(f"DROP TABLE IF EXISTS {_STAGE_TABLE}")
    return made


def write_scores(scored: pd.DataFrame, *, as_of: date) -> int:
    """Stores a chunk's scores and transitions in one transaction; returns transitions made."""
    frame = _stage_frame(scored, as_of=as_of, scored_at=timezone.now())
    with transaction.atomic(), connection.cursor() as cursor:
        _create_stage(cursor)
        _load_stage(cursor, frame)
        return _write_stage(cursor)


# -------------------------------------------------------------------------------------------
# Runs: fit once, apply per id range, finish
# -------------------------------------------------------------------------------------------


def _summary_counts() -> dict:
    """Counts by value class x risk level and dormant customers, from the stored scores."""
    rows = CustomerScore.objects.values("value_class", "risk_level").annotate(n=Count("pk"))
    matrix: dict[str, dict[str, int]] = {}
    for row in rows:
        matrix.setdefault(row["value_class"], {})[row["risk_level"]] = row["n"]
    totals = CustomerScore.objects.aggregate(
        dormant=Count("pk", filter=Q(dormant=True)),
        at_risk=Sum("revenue_at_risk", filter=Q(risk_level="high")),
    )
    return {
        "matrix": matrix,
        "dormant": totals["dormant"],
        "revenue_at_risk_high": str(totals["at_risk"] or 0),
    }


def customer_id_ranges(chunk_size: int) -> list[tuple[int, int]]:
    """Half-open customer-id ranges of about `chunk_size` customers each, covering every id."""
    ids = np.asarray(Customer.objects.order_by("id").values_list("id", flat=True), dtype=np.int64)
    if ids.size == 0:
        return []
    starts = ids[::chunk_size]
    bounds = [*starts.tolist(), int(ids[-1]) + 1]
    return list(itertools.pairwise(bounds))


def start_scoring_run(*, as_of: date, chunk_size: int | None = None) -> tuple[ScoringRun, list]:
    """Reads the whole base, fits the model and cut-offs, and records them on a new run.

    Returns the run and the id ranges its chunks cover (one range when `chunk_size` is None).
    """
    started = time.monotonic()
    config = ScoringSettings.load()
    features = read_features(as_of=as_of)
    model = fit_model(features, as_of=as_of, config=config)
    rule = dormant_rule_from(config, model)
    ranges = customer_id_ranges(chunk_size) if chunk_size else []
    if not chunk_size and len(features):
        ranges = [(int(features["customer_id"].min()), int(features["customer_id"].max()) + 1)]
    run = ScoringRun.objects.create(
        as_of=as_of,
        customers=len(features),
        method=model.method,
        fallback_reason=model.fallback_reason,
        bgnbd=_params_json(model.bgnbd),
        gamma_gamma=_params_json(model.gamma_gamma),
        dormant_rule=rule.label,
        fitted={**model.to_json(), "rule": rule.__dict__},
        chunks_total=len(ranges),
        summary={"fit_seconds": round(time.monotonic() - started, 3)},
    )
    run._features = features  # in-process callers reuse the read instead of reading again
    return run, ranges


def score_chunk(*, run_id: int, id_from: int, id_to: int, features: pd.DataFrame | None = None) -> int:
    """Scores the customers with ids in [id_from, id_to) with the run's model; returns how many.

    Safe to run twice: scores are upserted and a day's transitions are unique.
    """
    run = ScoringRun.objects.get(pk=run_id)
    model = FittedModel.from_json(run.fitted)
    rule = DormantRule(**run.fitted["rule"])
    if features is None:
        features = read_features(as_of=run.as_of, id_from=id_from, id_to=id_to)
    else:
        ids = features["customer_id"]
        features = features[(ids >= id_from) & (ids < id_to)]
    scored = apply_model(features, model=model, config=ScoringSettings.load(), rule=rule)
    transitions = write_scores(scored, as_of=run.as_of)
    ScoringRun.objects.filter(pk=run_id).update(chunks_done=F("chunks_done") + 1)
    logger.info(
        "scoring.chunk run=%s ids=%s..%s customers=%s transitions=%s",
        run_id, id_from, id_to, len(scored), transitions,
    )
    return len(scored)


def finish_scoring_run(*, run_id: int, started_monotonic: float | None = None) -> ScoringRun:
    """Records the run's summary (counts by class and risk, concentration) and end time."""
    run = ScoringRun.objects.get(pk=run_id)
    summary = {**run.summary, **_summary_counts()}
    summary["concentration"] = (run.fitted or {}).get("concentration", {})
    run.summary = summary
    run.finished_at = timezone.now()
    run.seconds = (
        round(time.monotonic() - started_monotonic, 3)
        if started_monotonic is not None
        else (run.finished_at - run.started_at).total_seconds()
    )
    run.save(update_fields=["summary", "finished_at", "seconds"])
    return run


def score_customers(*, as_of: date | None = None, chunk_size: int | None = None) -> ScoringRun:
    """Scores the whole base in this process: fit once, then each chunk, then the summary."""
    started = time.monotonic()
    as_of = as_of or timezone.localdate()
    run, ranges = start_scoring_run(as_of=as_of, chunk_size=chunk_size)
    features = run._features
    for id_from, id_to in ranges:
        score_chunk(run_id=run.pk, id_from=id_from, id_to=id_to, features=features)
    return finish_scoring_run(run_id=run.pk, started_monotonic=started)


# -------------------------------------------------------------------------------------------
# Backtest: were the flags right on the base's own history?
# -------------------------------------------------------------------------------------------


def _classification(predicted: np.ndarray, actual: np.ndarray) -> dict:
    true_positive = int(np.sum(predicted & actual))
    predicted_positive = int(np.sum(predicted))
    actual_positive = int(np.sum(actual))
    precision = true_positive / predicted_positive if predicted_positive else 0.0
    recall = true_positive / actual_positive if actual_positive else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {
        "precision": round(precision, 4),
        "recall": round(recall, 4),
        "f1": round(f1, 4),
        "flagged": predicted_positive,
        "correct": true_positive,
    }


def roc_auc(score: np.ndarray, positive: np.ndarray) -> float | None:
    """Area under the ROC curve via the rank-sum (Mann-Whitney) identity; ties count half."""
    n_pos = int(positive.sum())
    n_neg = int(positive.size - n_pos)
    if n_pos == 0 or n_neg == 0:
        return None
    ranks = pd.Series(score).rank(method="average").to_numpy()
    return float((ranks[positive].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def _rounded(value: float | None) -> float | None:
    return None if value is None else round(value, 4)


def _purchase_days_between(start: date, until: date) -> pd.Series:
    """Distinct local purchase days per customer in the window (start, until]."""
    frame = _read_frame(
        f"SELECT customer_id, {_vendor_sql(_EPOCH_SQL, 'occurred_at')} "  # noqa: S608
        f"FROM customers_purchase WHERE occurred_at >= %s AND occurred_at < %s",
        [_end_of_day(start), _end_of_day(until)],
        ["customer_id", "epoch"],
    )
    frame = frame.assign(day=_local_days(frame["epoch"]))
    return frame.drop_duplicates(["customer_id", "day"]).groupby("customer_id").size()


def backtest(*, as_of: date, until: date) -> dict:
    """Scores as of `as_of`, then compares with what happened in (as_of, until].

    "Inactive" means no purchase in the window. Reports the dormant flag and the best fixed
    "no purchase in N days" rule (N in 30..365) on the customers the flag applies to (bought on at
    least the minimum number of days), the ROC AUC of the risk score (1 - P(buy within H)) over
    all buyers, the F1-best dormant threshold, and predicted vs actual purchases in the window.
    """
    if until <= as_of:
        raise ValueError("the backtest window must end after as_of")
    config = ScoringSettings.load()
    features = read_features(as_of=as_of)
    model = fit_model(features, as_of=as_of, config=config)
    rule = DormantRule(
        kind="model",
        threshold=float(config.dormant_threshold),
        days=config.fallback_days,
        min_purchase_days=config.dormant_min_purchase_days,
    )
    scored = apply_model(features, model=model, config=config, rule=rule)
    buyers = scored[scored["purchase_days"] > 0].reset_index(drop=True)
    actual_days = (
        _purchase_days_between(as_of, until).reindex(buyers["customer_id"]).fillna(0).to_numpy()
    )
    inactive = actual_days == 0
    eligible = buyers["purchase_days"].to_numpy() >= config.dormant_min_purchase_days
    days_since = buyers["days_since_last"].to_numpy()
    window = (until - as_of).days
    result: dict = {
        "as_of": as_of.isoformat(),
        "until": until.isoformat(),
        "window_days": window,
        "customers": len(buyers),
        "eligible": int(eligible.sum()),
        "inactive_in_window": int(inactive[eligible].sum()),
        "method": model.method,
    }
    best_rule = {"days": None, "f1": -1.0}
    for days in range(30, 366):
        metrics = _classification(days_since[eligible] > days, inactive[eligible])
        if metrics["f1"] > best_rule["f1"]:
            best_rule = {"days": days, **metrics}
    result["fixed_rule"] = best_rule
    if model.method == CustomerScore.Method.MODEL:
        p_purchase = buyers["p_purchase"].to_numpy()
        result["dormant_flag"] = _classification(
            buyers["dormant"].to_numpy()[eligible], inactive[eligible]
        )
        result["dormant_flag"]["threshold"] = rule.threshold
        result["roc_auc"] = _rounded(roc_auc(1.0 - p_purchase, inactive))
        result["roc_auc_fixed_rule"] = _rounded(roc_auc(days_since.astype(float), inactive))
        best_threshold = {"threshold": rule.threshold, "f1": -1.0}
        for threshold in np.round(np.arange(0.01, 1.0, 0.01), 2):
            metrics = _classification(p_purchase[eligible] < threshold, inactive[eligible])
            if metrics["f1"] > best_threshold["f1"]:
                best_threshold = {"threshold": float(threshold), **metrics}
        result["best_threshold"] = best_threshold
        predicted = churn.bgnbd_expected_purchases(
            model.bgnbd,
            buyers["x"].to_numpy(dtype=float),
            buyers["t_x"].to_numpy(dtype=float),
            buyers["T"].to_numpy(dtype=float),
            float(window),
        )
        result["predicted_purchase_days"] = round(float(predicted.sum()), 1)
        result["model_wins"] = best_threshold["f1"] >= best_rule["f1"]
    else:
        result["model_wins"] = False
        result["fallback_reason"] = model.fallback_reason
    result["actual_purchase_days"] = int(actual_days.sum())
    return result


@transaction.atomic
def adopt_backtest(*, result: dict) -> ScoringSettings:
    """Puts the backtest's verdict in force: the F1-best threshold, or the fixed rule if it won."""
    config = ScoringSettings.objects.select_for_update().get(pk=ScoringSettings.load().pk)
    rule = result["fixed_rule"]
    if result.get("model_wins"):
        best = result["best_threshold"]
        if config.auto_tune_dormant:
            config.dormant_threshold = Decimal(str(best["threshold"]))
        config.rule_in_force = "model"
        config.rule_reason = _(
            "The model's dormant flag (F1 %(model)s at threshold %(threshold)s) beat the best "
            "fixed rule (no purchase in %(days)s days, F1 %(rule)s) in the backtest of "
            "%(as_of)s to %(until)s."
        ) % {
            "model": best["f1"], "threshold": best["threshold"], "days": rule["days"],
            "rule": rule["f1"], "as_of": result["as_of"], "until": result["until"],
        }
    else:
        config.rule_in_force = "fixed"
        if rule["days"]:
            config.fallback_days = rule["days"]
        config.rule_reason = _(
            "The fixed rule (no purchase in %(days)s days, F1 %(rule)s) did at least as well as "
            "the model in the backtest of %(as_of)s to %(until)s, so it flags dormant customers."
        ) % {
            "days": rule["days"], "rule": rule["f1"], "as_of": result["as_of"],
            "until": result["until"],
        }
    config.save()
    return config


def run_report(run: ScoringRun, *, backtest: dict | None = None, seconds: float | None = None) -> dict:
    """The JSON shape of a run, as `score --json` prints it."""
    return {
        "as_of": run.as_of.isoformat(),
        "customers": run.customers,
        "method": run.method,
        "fallback_reason": run.fallback_reason,
        "bgnbd": run.bgnbd and {**run.bgnbd, "time_unit": "days"},
        "gamma_gamma": run.gamma_gamma,
        "counts": run.summary.get("matrix", {}),
        "dormant": run.summary.get("dormant", 0),
        "dormant_rule": run.dormant_rule,
        "concentration": run.summary.get("concentration", {}),
        "revenue_at_risk_high": run.summary.get("revenue_at_risk_high", "0"),
        "seconds": seconds if seconds is not None else run.seconds,
        "backtest": backtest,
    }
