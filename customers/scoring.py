"""Segmentation: every customer scored by value (share of revenue) and risk (of leaving).

The pipeline, as of a date D (purchases after D are ignored, so a past date reproduces a past view):

1. **Read** one row per purchase (customer, local day, amount in cents) and per refund; features
   per customer come from numpy over those rows sorted by customer and day, never a query per
   customer. Money is summed in integer cents, so totals are exact. On PostgreSQL the server
   computes the local day and sends each column as one array (see _read_arrays).
2. **Fit** (global): BG/NBD on the distinct (x, t_x, T) patterns with weights, Gamma-Gamma on
   repeat customers' mean spend per repeat purchase day (first purchase day excluded), and the
   base-wide cut-offs: ABC revenue thresholds and RFM score maps. Stored on a ScoringRun.
3. **Apply** (per customer-id range, so Celery can spread it over workers): P(alive), expected
   purchases and the probability of buying within H days, expected spend, 12-month CLV, revenue
   at risk, risk level, dormant flag, RFM segment, suggested stage and the explanation's facts.
4. **Write** through a staging table (binary COPY of numbers on PostgreSQL; text columns travel
   as codes and are spelled out in SQL): transitions first (customers whose value class, risk,
   RFM segment or dormant flag changed), then one upsert of the scores, then the suggested
   stages (partners, set by hand, are never overwritten). In-process runs on PostgreSQL write
   PARALLEL_WRITERS chunks at once, each in its own session and transaction.

bench/scoring.py times the whole run on synthetic bases of 10k to 1M customers.

When the base is too small or degenerate for a fit, risk falls back to a days-since-last-purchase
rule, and every score says so (method "rule").
"""

from __future__ import annotations

import dataclasses
import io
import itertools
import logging
import time
from concurrent.futures import ThreadPoolExecutor
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

from . import churn, signals
from .models import (
    Customer,
    CustomerScore,
    RfmSegment,
    RiskLevel,
    ScoringRun,
    ScoringSettings,
    ValueClass,
)

logger = logging.getLogger(__name__)

DAYS_12M = 365
# A regular customer bought on at least this many days in the last 12 months (DOMAIN.md stages).
REGULAR_MIN_DAYS_12M = 3
# Revenue at risk leaves out customers the model already counts as gone: that revenue is lost,
# not at risk.
GONE_P_ALIVE = 1e-6
# Rows per COPY or insert batch into the staging table: keeps client memory flat on 1M customers.
STAGE_BATCH = 100_000
# Sessions that write a run's chunks at once (score_customers on PostgreSQL). Writing is most of a
# run and nearly all of it is the database's CPU (storing 1M scores: ~25 s of one backend); two
# backends use both cores of the 2-core reference machine (measured: 27 s -> 14 s when it is
# otherwise idle), more would only queue for them.
PARALLEL_WRITERS = 2
# Smaller bases are written by one session: a second one's set-up costs more than it saves.
PARALLEL_MIN_CUSTOMERS = 50_000
EPOCH = date(1970, 1, 1)

# date_part gives a double, three times cheaper than extract's numeric on PostgreSQL, and exact
# after floor(): microsecond timestamps are further from the next second than its rounding error
# (about 4e-7 s for today's epochs). Money has two decimals, so amount * 100 is a whole number
# and the cast to bigint does not round.
_EPOCH_SQL = {
    "postgresql": "floor(date_part('epoch', {col}))::bigint",
    "sqlite": "CAST(strftime('%%s', {col}) AS INTEGER)",
}
_CENTS_SQL = {
    "postgresql": "({col} * 100)::bigint",
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


# Per-transaction memory for the hash joins of bulk reads and writes (PostgreSQL's default, 4 MB,
# makes joins of 1M-row tables spill to disk); about two of them at a time per session.
_WORK_MEM_SQL = "SET LOCAL work_mem = '64MB'"
# Element type oids of the integer arrays _read_frame decodes, with their binary layout.
_PG_INTEGER_TYPES = {20: ">i8", 21: ">i2", 23: ">i4"}


def _empty_frame(columns: list[str]) -> pd.DataFrame:
    return pd.DataFrame({name: pd.Series(dtype="int64") for name in columns})


def _integer_array(data: bytes | None) -> np.ndarray | None:
    """The values of an array_send() of an integer array; None if not a NULL-free one."""
    if data is None:  # array_agg over no rows
        return np.zeros(0, dtype=np.int64)
    dimensions, has_nulls, element = np.frombuffer(data, dtype=">i4", count=3)
    if dimensions == 0:
        return np.zeros(0, dtype=np.int64)
    if dimensions != 1 or has_nulls or element not in _PG_INTEGER_TYPES:
        return None
    size = int(np.frombuffer(data, dtype=">i4", count=1, offset=12)[0])
    # After the 20-byte header every element is its length (int32) and its value.
    items = np.dtype([("length", ">i4"), ("value", _PG_INTEGER_TYPES[int(element)])])
    return np.frombuffer(data, dtype=items, count=size, offset=20)["value"].astype(np.int64)


def _read_arrays(query: str, width: int) -> list[np.ndarray] | None:
    """The columns of `query` as numpy arrays, through one array per column; None if unfit."""
    from psycopg import Cursor, errors  # PostgreSQL only

    # Rows cost the server and the client a message each (2.8M purchases: ~6 s of CPU by
    # COPY); array_agg sends each column as one value that numpy reads in place (~3 s).
    names = ", ".join(f"c{number}" for number in range(width))
    arrays = ", ".join(f"array_send(array_agg(q.c{number}))" for number in range(width))
    try:
        with transaction.atomic(), Cursor(connection.connection) as cursor:
            # Bulk reads join large tables (refunds to purchases; the dashboard metrics join
            # purchases to customers): 64 MB keeps those hash joins in memory instead of
            # spilling batches to disk. LOCAL: the default is back when the transaction ends.
            cursor.execute(_WORK_MEM_SQL)
            cursor.execute(
                f"SELECT {arrays} FROM ({query}) AS q({names})",  # noqa: S608
                binary=True,
            )
            values = cursor.fetchone()
    except errors.ProgramLimitExceeded:  # an array over 1 GB: about 80M rows
        return None
    columns = [_integer_array(value) for value in values]
    return None if any(column is None for column in columns) else columns


def _read_frame(sql: str, params: list, columns: list[str]) -> pd.DataFrame:
    """Runs a SELECT of integer columns and returns a DataFrame (in bulk on PostgreSQL)."""
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            query = cursor.mogrify(sql, params)
            query = query.decode() if isinstance(query, bytes) else query
            parsed = _read_arrays(query, len(columns))
            if parsed is not None:
                return pd.DataFrame(dict(zip(columns, parsed, strict=True)))
            buffer = io.BytesIO()
            with cursor.copy(f"COPY ({query}) TO STDOUT") as copy:
                for block in copy:
                    buffer.write(block)
            if not buffer.tell():
                return _empty_frame(columns)
            buffer.seek(0)
            return pd.read_csv(buffer, sep="\t", header=None, names=columns, dtype="int64")
        cursor.execute(sql, params)
        rows = cursor.fetchall()
    if not rows:
        return _empty_frame(columns)
    return pd.DataFrame.from_records(rows, columns=columns).astype("int64")


def _local_days(epoch_seconds: pd.Series) -> np.ndarray:
    """Local calendar day numbers (days since 1970-01-01 in TIME_ZONE) of UTC epoch seconds."""
    if epoch_seconds.empty:
        return np.zeros(0, dtype=np.int64)
    moments = pd.to_datetime(epoch_seconds.to_numpy(), unit="s", utc=True)
    local = moments.tz_convert(settings.TIME_ZONE).tz_localize(None)
    return local.to_numpy().astype("datetime64[D]").astype(np.int64)


def _read_day_rows(select: str, params: list, *, moment: str, amount: str | None) -> pd.DataFrame:
    """Rows of (customer_id, day[, cents]) where day is the local day number of `moment`.

    `select` is "SELECT <customer id>, {columns} FROM ..." with `{columns}` left to fill in.
    PostgreSQL computes the local day itself (AT TIME ZONE, the same tz database rules); other
    databases return epoch seconds that pandas converts.
    """
    cents = f", {_vendor_sql(_CENTS_SQL, amount)}" if amount else ""
    names = ["customer_id", "day", "cents"] if amount else ["customer_id", "day"]
    if connection.vendor == "postgresql":
        day = f"(({moment}) AT TIME ZONE %s)::date - DATE '1970-01-01'"
        return _read_frame(select.format(columns=day + cents), [settings.TIME_ZONE, *params], names)
    epoch = _vendor_sql(_EPOCH_SQL, moment)
    frame = _read_frame(
        select.format(columns=epoch + cents), params, ["customer_id", "epoch", *names[2:]]
    )
    frame["epoch"] = _local_days(frame["epoch"])
    return frame.rename(columns={"epoch": "day"})


def _id_range_sql(column: str, id_from: int | None, id_to: int | None) -> tuple[str, list]:
    clauses, params = [], []
    if id_from is not None:
        clauses.append(f"{column} >= %s")
        params.append(id_from)
    if id_to is not None:
        clauses.append(f"{column} < %s")
        params.append(id_to)
    return "".join(f" AND {clause}" for clause in clauses), params


def read_purchase_days(
    *, as_of: date, id_from: int | None = None, id_to: int | None = None
) -> pd.DataFrame:
    """Every purchase up to `as_of` (customers with ids in [id_from, id_to)) as rows of
    (customer_id, day, cents), day being the local day number."""
    id_sql, id_params = _id_range_sql("customer_id", id_from, id_to)
    return _read_day_rows(
        "SELECT customer_id, {columns} FROM customers_purchase "  # noqa: S608
        f"WHERE occurred_at < %s{id_sql}",
        [_end_of_day(as_of), *id_params],
        moment="occurred_at",
        amount="amount",
    )


def read_features(
    *,
    as_of: date,
    id_from: int | None = None,
    id_to: int | None = None,
    purchases: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """One row per customer (ids in [id_from, id_to)) with the purchase features as of `as_of`.

    Columns: customer_id, purchase_days, x, t_x, T, first_day, last_day, days_since_last,
    gross_cents, refunds_cents, revenue_cents, revenue_12m_cents, orders, days_12m,
    repeat_mean_cents, first_day_cents, median_gap. `purchases`, when the caller has already
    read them (read_purchase_days with the same arguments), saves reading them again.
    """
    end = _end_of_day(as_of)
    id_sql, id_params = _id_range_sql("id", id_from, id_to)
    customers = _read_frame(
        f"SELECT id FROM customers_customer WHERE 1=1{id_sql}",  # noqa: S608
        id_params,
        ["customer_id"],
    )
    if purchases is None:
        purchases = read_purchase_days(as_of=as_of, id_from=id_from, id_to=id_to)
    id_sql, id_params = _id_range_sql("p.customer_id", id_from, id_to)
    refunds = _read_day_rows(
        "SELECT p.customer_id, {columns} FROM customers_refund r "  # noqa: S608
        "JOIN customers_purchase p ON p.id = r.purchase_id "
        f"WHERE r.occurred_at < %s AND p.occurred_at < %s{id_sql}",
        [end, end, *id_params],
        moment="r.occurred_at",
        amount="r.amount",
    )
    return _features(
        np.sort(customers["customer_id"].to_numpy()), purchases, refunds,
        as_of_day=_day_number(as_of),
    )


def features_from_rows(
    customer_ids: pd.Series, purchases: pd.DataFrame, refunds: pd.DataFrame, *, as_of_day: int
) -> pd.DataFrame:
    """Per-customer features from purchase and refund rows (customer_id, epoch, cents)."""
    purchases = pd.DataFrame(
        {"customer_id": purchases["customer_id"], "day": _local_days(purchases["epoch"]),
         "cents": purchases["cents"]}
    )
    refunds = pd.DataFrame(
        {"customer_id": refunds["customer_id"], "day": _local_days(refunds["epoch"]),
         "cents": refunds["cents"]}
    )
    return _features(np.asarray(customer_ids), purchases, refunds, as_of_day=as_of_day)


def _positions(ids: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Index in `ids` (distinct) of each value, -1 where a value is not among them."""
    order = None if np.all(ids[1:] > ids[:-1]) else np.argsort(ids, kind="stable")
    ordered = ids if order is None else ids[order]
    if not ordered.size:
        return np.full(values.size, -1, dtype=np.int64)
    index = np.minimum(np.searchsorted(ordered, values), ordered.size - 1)
    found = ordered[index] == values
    if order is not None:
        index = order[index]
    return np.where(found, index, -1)


def _median_per_group(owner: np.ndarray, values: np.ndarray, groups: int) -> np.ndarray:
    """Median of the non-negative integer `values` of each group (NaN for empty groups)."""
    medians = np.full(groups, np.nan)
    if not values.size:
        return medians
    # One sort of owner * span + value orders every group's values; the middle ones are then at
    # fixed offsets from each group's start. No Python loop, no groupby.
    span = int(values.max()) + 1
    ordered = np.sort(owner * span + values) % span
    counts = np.bincount(owner, minlength=groups)
    starts = np.cumsum(counts) - counts
    present = counts > 0
    low = ordered[starts[present] + (counts[present] - 1) // 2]
    high = ordered[starts[present] + counts[present] // 2]
    medians[present] = (low + high) / 2.0
    return medians


def _features(
    customer_ids: np.ndarray, purchases: pd.DataFrame, refunds: pd.DataFrame, *, as_of_day: int
) -> pd.DataFrame:
    """Per-customer features from purchase and refund rows (customer_id, local day, cents).

    numpy over rows sorted by (customer, day): purchase days are runs of equal keys and
    customers runs of equal positions, so every feature is a reduceat or an index.
    """
    customer_ids = np.asarray(customer_ids, dtype=np.int64)
    n = customer_ids.size
    window_start = as_of_day - DAYS_12M  # the trailing 12 months are days (start, as_of]

    position = _positions(customer_ids, purchases["customer_id"].to_numpy(dtype=np.int64))
    known = position >= 0
    position = position[known]
    day = purchases["day"].to_numpy(dtype=np.int64)[known]
    cents = purchases["cents"].to_numpy(dtype=np.int64)[known]

    first_day = np.full(n, np.nan)
    last_day = np.full(n, np.nan)
    purchase_days = np.zeros(n, dtype=np.int64)
    gross = np.zeros(n, dtype=np.int64)
    orders = np.zeros(n, dtype=np.int64)
    first_day_cents = np.zeros(n, dtype=np.int64)
    gross_12m = np.zeros(n, dtype=np.int64)
    days_12m = np.zeros(n, dtype=np.int64)
    median_gap = np.full(n, np.nan)
    if day.size:
        low_day = int(day.min())
        span = int(day.max()) - low_day + 1
        key = position * span + (day - low_day)
        if np.any(key[1:] < key[:-1]):
            order = np.argsort(key)
            key, cents = key[order], cents[order]
        # Purchase days: runs of equal (customer, day) keys.
        day_starts = np.flatnonzero(np.concatenate(([True], key[1:] != key[:-1])))
        day_key = key[day_starts]
        day_owner = day_key // span
        day_number = day_key % span + low_day
        day_cents = np.add.reduceat(cents, day_starts)
        day_orders = np.diff(np.append(day_starts, key.size))
        # Customers: runs of equal positions among the purchase days.
        new_customer = np.concatenate(([True], day_owner[1:] != day_owner[:-1]))
        starts = np.flatnonzero(new_customer)
        ends = np.append(starts[1:], day_owner.size) - 1
        owner = day_owner[starts]
        first_day[owner] = day_number[starts]
        last_day[owner] = day_number[ends]
        purchase_days[owner] = ends - starts + 1
        gross[owner] = np.add.reduceat(day_cents, starts)
        orders[owner] = np.add.reduceat(day_orders, starts)
        first_day_cents[owner] = day_cents[starts]
        recent = day_number > window_start
        gross_12m[owner] = np.add.reduceat(np.where(recent, day_cents, 0), starts)
        days_12m[owner] = np.add.reduceat(recent.astype(np.int64), starts)
        same = ~new_customer[1:]
        median_gap = _median_per_group(
            day_owner[1:][same], np.diff(day_number)[same], n
        )

    refund_position = _positions(customer_ids, refunds["customer_id"].to_numpy(dtype=np.int64))
    known = refund_position >= 0
    refund_cents = refunds["cents"].to_numpy(dtype=np.int64)[known]
    refund_position = refund_position[known]
    refund_recent = refunds["day"].to_numpy(dtype=np.int64)[known] > window_start
    refunds_cents = _integer_sums(refund_position, refund_cents, n)
    refunds_12m = _integer_sums(refund_position[refund_recent], refund_cents[refund_recent], n)

    has = purchase_days > 0
    x = np.where(has, purchase_days - 1, 0)
    repeat_cents = gross - first_day_cents
    return pd.DataFrame(
        {
            "customer_id": customer_ids,
            "first_day": first_day,
            "last_day": last_day,
            "purchase_days": purchase_days,
            "gross_cents": gross,
            "orders": orders,
            "first_day_cents": first_day_cents,
            "gross_12m_cents": gross_12m,
            "days_12m": days_12m,
            "median_gap": median_gap,
            "refunds_cents": refunds_cents,
            "refunds_12m_cents": refunds_12m,
            "x": x,
            "t_x": np.where(has, np.nan_to_num(last_day - first_day), 0).astype(np.int64),
            "T": np.where(has, as_of_day - np.nan_to_num(first_day), 0).astype(np.int64),
            "days_since_last": np.where(has, as_of_day - np.nan_to_num(last_day), -1).astype(
                np.int64
            ),
            "revenue_cents": gross - refunds_cents,
            "revenue_12m_cents": gross_12m - refunds_12m,
            "repeat_mean_cents": np.where(x > 0, repeat_cents / np.maximum(x, 1), 0.0),
        }
    )


def _integer_sums(position: np.ndarray, values: np.ndarray, n: int) -> np.ndarray:
    """Exact integer sums of `values` per position 0..n-1."""
    sums = np.zeros(n, dtype=np.int64)
    np.add.at(sums, position, values)
    return sums


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


def _distinct_patterns(
    x: np.ndarray, t_x: np.ndarray, age: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Distinct (x, t_x, T) rows of whole numbers, in churn.compress_patterns' order.

    Returns the index of one row per pattern, each row's pattern, and each pattern's count.
    """
    x, t_x, age = (np.asarray(v, dtype=np.int64) for v in (x, t_x, age))
    base = int(max(x.max(initial=0), t_x.max(initial=0), age.max(initial=0))) + 1
    smallest = min(x.min(initial=0), t_x.min(initial=0), age.min(initial=0))
    if base > 2_000_000 or smallest < 0:  # a key would overflow: the generic (slower) way
        _rows, first, inverse, counts = np.unique(
            np.column_stack((x, t_x, age)), axis=0, return_index=True, return_inverse=True,
            return_counts=True,
        )
        return first, inverse.reshape(-1), counts
    # One int64 key per row sorts like (x, t_x, T) lexicographically; one sort of it is several
    # times faster than a three-column lexsort on 1M customers.
    _keys, first, inverse, counts = np.unique(
        (x * base + t_x) * base + age, return_index=True, return_inverse=True, return_counts=True
    )
    return first, inverse.reshape(-1), counts


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
        columns = [buyers[name].to_numpy() for name in ("x", "t_x", "T")]
        first, _inverse, counts = _distinct_patterns(*columns)
        model.bgnbd = churn.fit_bgnbd(*(column[first] for column in columns), weights=counts)
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


def _rfm_segment_codes(r: np.ndarray, f: np.ndarray, has: np.ndarray) -> np.ndarray:
    """Each customer's RFM segment as its position in _LABELS["rfm_segment"]."""
    codes = {name: number for number, name in enumerate(_LABELS["rfm_segment"])}
    segment = np.full(len(r), codes[RfmSegment.NO_PURCHASES.value], dtype=np.int16)
    unassigned = has.copy()
    for name, rule in _SEGMENT_GRID:
        match = unassigned & rule(r, f)
        segment[match] = codes[name]
        unassigned &= ~match
    segment[unassigned] = codes["need_attention"]
    return segment


def _rfm_segments(r: np.ndarray, f: np.ndarray, has: np.ndarray) -> np.ndarray:
    labels = np.asarray(_LABELS["rfm_segment"], dtype=object)
    return labels[_rfm_segment_codes(r, f, has)]


def _labelled(codes: np.ndarray, column: str) -> pd.Categorical:
    """Codes as a categorical column: compares like text, and the writer stages the codes."""
    return pd.Categorical.from_codes(codes, categories=_LABELS[column])


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
    has = features["purchase_days"].to_numpy() > 0
    x = features["x"].to_numpy(dtype=np.float64)
    t_x = features["t_x"].to_numpy(dtype=np.float64)
    age = features["T"].to_numpy(dtype=np.float64)
    days_since = features["days_since_last"].to_numpy()
    horizon = float(model.horizon_days)
    n = len(features)

    p_alive = np.full(n, np.nan)
    expected = np.full(n, np.nan)
    p_purchase = np.full(n, np.nan)
    expected_12m = np.zeros(n)
    if model.method == CustomerScore.Method.MODEL and model.bgnbd is not None and has.any():
        params = model.bgnbd
        # Customers share (x, t_x, T) patterns (1M customers have a few hundred thousand), so
        # each pattern is evaluated once and the values are spread back to its customers.
        first, inverse, _counts = _distinct_patterns(
            features["x"].to_numpy()[has], features["t_x"].to_numpy()[has],
            features["T"].to_numpy()[has],
        )
        xs, ts, ages = x[has][first], t_x[has][first], age[has][first]
        p_alive[has] = churn.bgnbd_p_alive(params, xs, ts, ages)[inverse]
        expected[has] = churn.bgnbd_expected_purchases(params, xs, ts, ages, horizon)[inverse]
        p_purchase[has] = churn.bgnbd_prob_purchase_within(params, xs, ts, ages, horizon)[
            inverse
        ]
        expected_12m[has] = churn.bgnbd_expected_purchases(
            params, xs, ts, ages, float(DAYS_12M)
        )[inverse]

    # Expected spend per purchase day, in cents: Gamma-Gamma where fitted, else own average.
    if model.gamma_gamma is not None:
        spend = churn.gamma_gamma_expected_spend(
            model.gamma_gamma, x, features["repeat_mean_cents"].to_numpy()
        )
    else:
        purchase_days = features["purchase_days"].to_numpy()
        own = features["gross_cents"].to_numpy() / np.maximum(purchase_days, 1)
        spend = np.where(has, own, model.population_mean_cents)
    spend = np.where(has, spend, np.nan)
    clv = expected_12m * np.nan_to_num(spend)
    # Revenue at risk: what the customer would bring in 12 months if still active, times the
    # probability they are not: (1 - P(alive)) * E[12m purchases | alive] * spend, where
    # E[X | alive] = E[X] / P(alive) because a customer who left buys nothing.
    with np.errstate(divide="ignore", invalid="ignore"):
        safe_alive = np.where(p_alive > GONE_P_ALIVE, p_alive, np.nan)
        at_risk = (1.0 - safe_alive) * (expected_12m / safe_alive) * np.nan_to_num(spend)
    at_risk = np.nan_to_num(at_risk, nan=0.0, posinf=0.0)

    low, medium, high = 0, 1, 2  # positions in _LABELS["risk_level"]
    revenue_12m = features["revenue_12m_cents"].to_numpy()
    if model.method == CustomerScore.Method.MODEL:
        risk = np.where(
            p_purchase < float(config.high_risk_below),
            high,
            np.where(p_purchase < float(config.medium_risk_below), medium, low),
        )
    else:
        fallback = config.fallback_days
        risk = np.where(
            days_since > fallback, high, np.where(days_since > fallback / 2, medium, low)
        )
        # Without a model, the revenue at risk of a high-risk customer is their last 12 months.
        at_risk = np.where(risk == high, np.clip(revenue_12m, 0, None), 0.0)
    risk = np.where(has, risk, low)

    regular_enough = features["purchase_days"].to_numpy() >= rule.min_purchase_days
    if rule.kind == "model" and model.method == CustomerScore.Method.MODEL:
        dormant = regular_enough & (np.nan_to_num(p_purchase, nan=1.0) < rule.threshold)
    else:
        dormant = regular_enough & (days_since > rule.days)

    value_class = np.where(  # positions in _LABELS["value_class"]: -, A, B, C
        revenue_12m <= 0,
        0,
        np.where(
            revenue_12m >= max(model.abc_a_min_cents, 1),
            1,
            np.where(revenue_12m >= max(model.abc_b_min_cents, 1), 2, 3),
        ),
    )
    r = np.where(has, model.recency_map.apply(days_since), 0)
    f = np.where(has, model.frequency_map.apply(features["purchase_days"].to_numpy()), 0)
    m = np.where(
        has, model.monetary_map.apply(features["revenue_cents"].to_numpy().astype(float)), 0
    )
    stage = np.where(  # positions in _LABELS["suggested_stage"]: "", one_off, regular
        features["days_12m"].to_numpy() >= REGULAR_MIN_DAYS_12M, 2, np.where(has, 1, 0)
    )
    total = model.total_12m_cents
    method = _LABELS["method"].index(model.method)
    # A shallow copy: the new columns are added without copying the features (copy-on-write).
    out = features.copy(deep=False)
    for name, values in {
        "p_alive": p_alive,
        "expected_purchases": expected,
        "p_purchase": p_purchase,
        "expected_spend_cents": spend,
        "clv_cents": np.where(has & (model.method == CustomerScore.Method.MODEL), clv, np.nan),
        "at_risk_cents": at_risk,
        "risk_level": _labelled(risk, "risk_level"),
        "dormant": dormant,
        "value_class": _labelled(value_class, "value_class"),
        "value_share": np.clip(revenue_12m, 0, None) / total if total else np.zeros(n),
        "rfm_r": r,
        "rfm_f": f,
        "rfm_m": m,
        "rfm_segment": _labelled(_rfm_segment_codes(r, f, has), "rfm_segment"),
        "suggested_stage": _labelled(stage, "suggested_stage"),
        "method": _labelled(np.full(n, method), "method"),
        "horizon_days": np.full(n, model.horizon_days),
    }.items():
        out[name] = values
    return out


# -------------------------------------------------------------------------------------------
# Writing
# -------------------------------------------------------------------------------------------

# Text columns of a score travel as small codes (their position here) and are spelled out in
# SQL: the staging rows are then all fixed-width numbers, which PostgreSQL loads by binary COPY
# straight from numpy, with no text to format here or to parse there.
_LABELS = {
    "value_class": [ValueClass.NONE.value, ValueClass.A.value, ValueClass.B.value,
                    ValueClass.C.value],
    "method": [CustomerScore.Method.MODEL.value, CustomerScore.Method.RULE.value],
    "risk_level": [RiskLevel.LOW.value, RiskLevel.MEDIUM.value, RiskLevel.HIGH.value],
    "rfm_segment": [segment.value for segment in RfmSegment],
    "suggested_stage": ["", Customer.Stage.ONE_OFF.value, Customer.Stage.REGULAR.value],
}

# (staging column, SQL type, numpy type of its binary COPY field). Money is in whole cents,
# _NO_CENTS where undefined: PostgreSQL turns bigint cents into numeric exactly and cheaply,
# whereas a float goes through its text form.
_STAGE_COLUMNS = [
    ("customer_id", "bigint", ">i8"),
    ("first_day", "integer", ">i4"),
    ("last_day", "integer", ">i4"),
    ("purchase_days", "integer", ">i4"),
    ("frequency", "integer", ">i4"),
    ("recency_days", "integer", ">i4"),
    ("age_days", "integer", ">i4"),
    ("days_since_last", "integer", ">i4"),
    ("median_gap_days", "double precision", ">f8"),
    ("revenue_total", "bigint", ">i8"),
    ("revenue_12m", "bigint", ">i8"),
    ("average_order_value", "bigint", ">i8"),
    ("value_share", "double precision", ">f8"),
    ("value_class", "smallint", ">i2"),
    ("method", "smallint", ">i2"),
    ("p_alive", "double precision", ">f8"),
    ("expected_purchases", "double precision", ">f8"),
    ("p_purchase", "double precision", ">f8"),
    ("expected_spend", "bigint", ">i8"),
    ("clv_12m", "bigint", ">i8"),
    ("revenue_at_risk", "bigint", ">i8"),
    ("risk_level", "smallint", ">i2"),
    ("dormant", "boolean", "?"),
    ("rfm_r", "smallint", ">i2"),
    ("rfm_f", "smallint", ">i2"),
    ("rfm_m", "smallint", ">i2"),
    ("rfm_segment", "smallint", ">i2"),
    ("suggested_stage", "smallint", ">i2"),
    ("horizon_days", "smallint", ">i2"),
    ("stored", "boolean", "?"),  # the customer already has a score row
]
_STAGE_NAMES = [name for name, _sql, _numpy in _STAGE_COLUMNS]
_STAGE_TABLE = "customers_score_stage"
_PGCOPY_SIGNATURE = b"PGCOPY\n\xff\r\n\x00"
_PGCOPY_TRAILER = b"\xff\xff"
# Score columns in the order of the upsert; as_of and scored_at are the same for every row.
_SCORE_COLUMNS = [
    "customer_id", "as_of", "first_purchase_at", "last_purchase_at", "purchase_days",
    "frequency", "recency_days", "age_days", "days_since_last", "median_gap_days",
    "revenue_total", "revenue_12m", "average_order_value", "value_share", "value_class",
    "method", "p_alive", "expected_purchases", "p_purchase", "expected_spend", "clv_12m",
    "revenue_at_risk", "risk_level", "dormant", "rfm_r", "rfm_f", "rfm_m", "rfm_segment",
    "suggested_stage", "horizon_days", "scored_at",
]
# Whole cents beyond this are clipped (numeric(14, 2) holds less than 10**12 roubles anyway).
_MAX_CENTS = 10**13
# Staged for money that is undefined (no model, no purchases); stored as NULL.
_NO_CENTS = -(10**15)


def _label_codes(values, labels: list[str]) -> np.ndarray:
    codes = pd.Categorical(values, categories=labels).codes.astype(np.int16)
    if np.any(codes < 0):
        unknown = sorted(set(pd.Series(values)[codes < 0].astype(str)))
        raise ValueError(f"unexpected score labels: {unknown}")
    return codes


def _whole_cents(values) -> np.ndarray:
    """Cents rounded to whole cents, as the stored two-place decimals hold; NaN as _NO_CENTS."""
    cents = np.clip(np.round(np.asarray(values, dtype=np.float64)), -_MAX_CENTS, _MAX_CENTS)
    return np.where(np.isnan(cents), _NO_CENTS, cents).astype(np.int64)


def _stage_columns(scored: pd.DataFrame) -> dict[str, np.ndarray]:
    """The staging row of each scored customer, as numpy columns of the staging types."""
    has = scored["purchase_days"].to_numpy() > 0
    orders = scored["orders"].to_numpy()
    aov = np.where(has, scored["gross_cents"].to_numpy() / np.maximum(orders, 1), 0.0)
    value_share = np.asarray(scored["value_share"], dtype=np.float64)
    values = {
        "customer_id": scored["customer_id"].to_numpy(dtype=np.int64),
        "first_day": np.nan_to_num(scored["first_day"].to_numpy(dtype=np.float64)),
        "last_day": np.nan_to_num(scored["last_day"].to_numpy(dtype=np.float64)),
        "purchase_days": scored["purchase_days"].to_numpy(),
        "frequency": scored["x"].to_numpy(),
        "recency_days": scored["t_x"].to_numpy(),
        "age_days": scored["T"].to_numpy(),
        "days_since_last": np.where(has, scored["days_since_last"].to_numpy(), 0),
        "median_gap_days": scored["median_gap"].to_numpy(dtype=np.float64),
        "revenue_total": _whole_cents(scored["revenue_cents"]),
        "revenue_12m": _whole_cents(scored["revenue_12m_cents"]),
        "average_order_value": _whole_cents(aov),
        "value_share": np.where(np.isfinite(value_share), value_share, 0.0),
        "value_class": _label_codes(scored["value_class"], _LABELS["value_class"]),
        "method": _label_codes(scored["method"], _LABELS["method"]),
        "p_alive": scored["p_alive"].to_numpy(dtype=np.float64),
        "expected_purchases": scored["expected_purchases"].to_numpy(dtype=np.float64),
        "p_purchase": scored["p_purchase"].to_numpy(dtype=np.float64),
        "expected_spend": _whole_cents(scored["expected_spend_cents"]),
        "clv_12m": _whole_cents(scored["clv_cents"]),
        "revenue_at_risk": _whole_cents(np.nan_to_num(scored["at_risk_cents"].to_numpy())),
        "risk_level": _label_codes(scored["risk_level"], _LABELS["risk_level"]),
        "dormant": scored["dormant"].to_numpy(dtype=bool),
        "rfm_r": scored["rfm_r"].to_numpy(),
        "rfm_f": scored["rfm_f"].to_numpy(),
        "rfm_m": scored["rfm_m"].to_numpy(),
        "rfm_segment": _label_codes(scored["rfm_segment"], _LABELS["rfm_segment"]),
        "suggested_stage": _label_codes(scored["suggested_stage"], _LABELS["suggested_stage"]),
        "horizon_days": scored["horizon_days"].to_numpy(),
        "stored": np.zeros(len(scored), dtype=bool),
    }
    return {
        name: np.asarray(values[name]).astype(np.dtype(kind).newbyteorder("="))
        for name, _sql, kind in _STAGE_COLUMNS
    }


def _create_stage(cursor) -> None:
    cursor.execute(f"DROP TABLE IF EXISTS {_STAGE_TABLE}")
    columns = ", ".join(f"{name} {kind}" for name, kind, _numpy in _STAGE_COLUMNS)
    temporary = "TEMPORARY" if connection.vendor == "postgresql" else "TEMP"
    cursor.execute(f"CREATE {temporary} TABLE {_STAGE_TABLE} ({columns})")


def _binary_copy_rows(columns: dict[str, np.ndarray], start: int, stop: int) -> bytes:
    """Rows start..stop of the staging columns in PostgreSQL's binary COPY format."""
    fields = [("count", ">i2")]
    for name, _sql, kind in _STAGE_COLUMNS:
        fields += [(f"{name}_length", ">i4"), (name, kind)]
    rows = np.empty(stop - start, dtype=np.dtype(fields))
    rows["count"] = len(_STAGE_COLUMNS)
    for name, _sql, kind in _STAGE_COLUMNS:
        rows[f"{name}_length"] = np.dtype(kind).itemsize
        rows[name] = columns[name][start:stop]
    return rows.tobytes()


def _load_stage(cursor, columns: dict[str, np.ndarray]) -> None:
    total = len(columns["customer_id"])
    names = ", ".join(_STAGE_NAMES)
    if connection.vendor == "postgresql":
        with cursor.copy(f"COPY {_STAGE_TABLE} ({names}) FROM STDIN (FORMAT binary)") as copy:
            copy.write(_PGCOPY_SIGNATURE + bytes(8))  # no flags, no header extension
            for start in range(0, total, STAGE_BATCH):
                copy.write(_binary_copy_rows(columns, start, min(start + STAGE_BATCH, total)))
            copy.write(_PGCOPY_TRAILER)
        # The temporary table has no statistics until analysed; the joins below are planned
        # for its real size only then.
        cursor.execute(f"ANALYZE {_STAGE_TABLE}")
        return
    placeholders = ", ".join(["%s"] * len(_STAGE_COLUMNS))
    for start in range(0, total, STAGE_BATCH):
        # tolist() gives plain Python values; SQLite stores NaN as NULL.
        values = [columns[name][start : start + STAGE_BATCH].tolist() for name in _STAGE_NAMES]
        cursor.executemany(
            f"INSERT INTO {_STAGE_TABLE} ({names}) VALUES ({placeholders})",  # noqa: S608
            list(zip(*values, strict=True)),
        )


def _label_sql(column: str) -> str:
    cases = " ".join(f"WHEN {code} THEN '{label}'" for code, label in enumerate(_LABELS[column]))
    return f"CASE s.{column} {cases} END"


def _score_sql() -> dict[str, str]:
    """The SQL of each score column from a staging row `s` (as_of and scored_at are params)."""
    postgres = connection.vendor == "postgresql"

    def day(column: str) -> str:
        value = (
            f"DATE '1970-01-01' + s.{column}"
            if postgres
            else f"date(s.{column} * 86400, 'unixepoch')"
        )
        return f"CASE WHEN s.purchase_days > 0 THEN {value} END"

    def maybe(column: str) -> str:  # NaN means undefined: NULL
        return f"NULLIF(s.{column}, 'NaN'::float8)" if postgres else f"s.{column}"

    def money(column: str) -> str:  # whole cents to an exact two-place decimal
        return f"s.{column} * 0.01" if postgres else f"s.{column} / 100.0"

    def maybe_money(column: str) -> str:
        cents = f"NULLIF(s.{column}, {_NO_CENTS})"
        return f"{cents} * 0.01" if postgres else f"{cents} / 100.0"

    sql = {name: f"s.{name}" for name in _SCORE_COLUMNS}
    sql.update(
        as_of="%(as_of)s",
        scored_at="%(scored_at)s",
        first_purchase_at=day("first_day"),
        last_purchase_at=day("last_day"),
        days_since_last="CASE WHEN s.purchase_days > 0 THEN s.days_since_last END",
        median_gap_days=maybe("median_gap_days"),
        p_alive=maybe("p_alive"),
        expected_purchases=maybe("expected_purchases"),
        p_purchase=maybe("p_purchase"),
        revenue_total=money("revenue_total"),
        revenue_12m=money("revenue_12m"),
        average_order_value=money("average_order_value"),
        revenue_at_risk=money("revenue_at_risk"),
        expected_spend=maybe_money("expected_spend"),
        clv_12m=maybe_money("clv_12m"),
        **{column: _label_sql(column) for column in _LABELS},
    )
    return sql


def _dormant_sql(alias: str) -> str:
    return f"CASE WHEN {alias}.dormant THEN 'yes' ELSE 'no' END"


def _write_transitions(cursor, params: dict) -> int:
    """Records the moves of customers already scored; returns how many."""
    # (dimension, stored value, new value): a first score is not a move, and a re-run for the
    # same date updates the move instead of adding one.
    moves = [
        ("value", "c.value_class", _label_sql("value_class")),
        ("risk", "c.risk_level", _label_sql("risk_level")),
        ("segment", "c.rfm_segment", _label_sql("rfm_segment")),
        ("dormant", _dormant_sql("c"), _dormant_sql("s")),
    ]
    insert = (
        "INSERT INTO customers_scoretransition "
        "(customer_id, as_of, dimension, from_value, to_value) "
    )
    upsert = (
        " ON CONFLICT (customer_id, as_of, dimension) DO UPDATE SET to_value = excluded.to_value"
    )
    join = (
        f"FROM {_STAGE_TABLE} s JOIN customers_customerscore c ON c.customer_id = s.customer_id "
        f"AND c.customer_id BETWEEN %(low)s AND %(high)s"
    )
    if connection.vendor == "postgresql":
        # One pass over the join yields all four comparisons (a lateral VALUES list).
        values = ", ".join(f"('{name}', {old}, {new})" for name, old, new in moves)
        cursor.execute(
            f"{insert}SELECT s.customer_id, %(as_of)s, m.dimension, m.from_value, m.to_value "
            f"{join} CROSS JOIN LATERAL (VALUES {values}) AS m(dimension, from_value, to_value) "
            f"WHERE m.from_value <> m.to_value{upsert}",
            params,
        )
        return max(cursor.rowcount, 0)
    made = 0
    for name, old, new in moves:
        cursor.execute(
            f"{insert}SELECT s.customer_id, %(as_of)s, '{name}', {old}, {new} "
            f"{join} WHERE {old} <> {new}{upsert}",
            params,
        )
        made += max(cursor.rowcount, 0)
    return made


def _write_stage(cursor, *, as_of: date, scored_at: datetime, low: int, high: int) -> int:
    """Transitions, then the scores, then the suggested stages; returns transitions made.

    `low` and `high` bound the staged customer ids, so the joins read only the chunk's part of
    the scores and customers tables when a run is written in chunks.
    """
    params = {
        "as_of": connection.ops.adapt_datefield_value(as_of),
        "scored_at": connection.ops.adapt_datetimefield_value(scored_at),
        "low": low,
        "high": high,
    }
    made = _write_transitions(cursor, params)
    sql = _score_sql()
    # Scores already stored (s.stored) by one joined UPDATE, the others by an INSERT: cheaper
    # than one upsert, which probes the key index row by row before each update (~10% less
    # database CPU and WAL on 1M rows). The insert still resolves conflicts, for a chunk
    # scored twice at once. s.stored comes from a read, not a NOT EXISTS here: on a first run
    # the planner sees an empty table and would rescan it, growing, for every inserted row.
    sets = ", ".join(f"{name} = {sql[name]}" for name in _SCORE_COLUMNS[1:])
    cursor.execute(
        f"UPDATE customers_customerscore SET {sets} FROM {_STAGE_TABLE} s "  # noqa: S608
        f"WHERE customers_customerscore.customer_id = s.customer_id AND s.stored "
        f"AND customers_customerscore.customer_id BETWEEN %(low)s AND %(high)s",
        params,
    )
    columns = ", ".join(_SCORE_COLUMNS)
    selected = ", ".join(sql[name] for name in _SCORE_COLUMNS)
    updates = ", ".join(f"{name} = excluded.{name}" for name in _SCORE_COLUMNS[1:])
    cursor.execute(
        f"INSERT INTO customers_customerscore ({columns}) "  # noqa: S608
        f"SELECT {selected} FROM {_STAGE_TABLE} s WHERE NOT s.stored "
        f"ON CONFLICT (customer_id) DO UPDATE SET {updates}",
        params,
    )
    # Partners are set by hand and never overwritten; customers without purchases keep theirs.
    suggested = sql["suggested_stage"]
    cursor.execute(
        f"UPDATE customers_customer SET stage = {suggested} "  # noqa: S608
        f"FROM {_STAGE_TABLE} s WHERE customers_customer.id = s.customer_id "
        f"AND customers_customer.id BETWEEN %(low)s AND %(high)s "
        f"AND s.suggested_stage <> 0 AND customers_customer.stage <> %(partner)s "
        f"AND customers_customer.stage <> {suggested}",
        {**params, "partner": Customer.Stage.PARTNER.value},
    )
    cursor.execute(f"DROP TABLE IF EXISTS {_STAGE_TABLE}")
    return made


def _stored_score_ids(low: int, high: int) -> np.ndarray:
    """Ids of the customers in [low, high] that already have a score row, sorted."""
    ids = _read_frame(
        "SELECT customer_id FROM customers_customerscore WHERE customer_id BETWEEN %s AND %s",
        [low, high],
        ["customer_id"],
    )
    return np.sort(ids["customer_id"].to_numpy())


def write_scores(scored: pd.DataFrame, *, as_of: date) -> int:
    """Stores a chunk's scores and transitions in one transaction; returns transitions made."""
    if scored.empty:
        return 0
    columns = _stage_columns(scored)
    ids = columns["customer_id"]
    low, high = int(ids.min()), int(ids.max())
    with transaction.atomic(), connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            # The staging rows are joined with the scores and with the customers.
            cursor.execute(_WORK_MEM_SQL)
        stored = _stored_score_ids(low, high)
        columns["stored"] = _positions(stored, ids) >= 0
        _create_stage(cursor)
        _load_stage(cursor, columns)
        return _write_stage(
            cursor, as_of=as_of, scored_at=timezone.now(), low=low, high=high
        )


# -------------------------------------------------------------------------------------------
# Runs: fit once, apply per id range, finish
# -------------------------------------------------------------------------------------------


def _summary_counts() -> dict:
    """Counts by value class x risk level and dormant customers, from the stored scores."""
    # One pass over the scores (1M rows: a second pass for the totals cost another second).
    rows = CustomerScore.objects.values("value_class", "risk_level").annotate(
        n=Count("pk"),
        dormant=Count("pk", filter=Q(dormant=True)),
        at_risk=Sum("revenue_at_risk", filter=Q(risk_level="high")),
    )
    matrix: dict[str, dict[str, int]] = {}
    dormant, at_risk = 0, Decimal(0)
    for row in rows:
        matrix.setdefault(row["value_class"], {})[row["risk_level"]] = row["n"]
        dormant += row["dormant"]
        at_risk += row["at_risk"] or 0
    return {"matrix": matrix, "dormant": dormant, "revenue_at_risk_high": str(at_risk)}


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
    return _start_run(as_of=as_of, chunk_size=chunk_size, parts=1)


def _start_run(*, as_of: date, chunk_size: int | None, parts: int) -> tuple[ScoringRun, list]:
    """start_scoring_run, cutting a large base into `parts` ranges when chunk_size is None."""
    started = time.monotonic()
    config = ScoringSettings.load()
    purchases = read_purchase_days(as_of=as_of)
    features = read_features(as_of=as_of, purchases=purchases)
    model = fit_model(features, as_of=as_of, config=config)
    rule = dormant_rule_from(config, model)
    ranges = customer_id_ranges(chunk_size) if chunk_size else []
    if len(features) < PARALLEL_MIN_CUSTOMERS:
        parts = 1
    if not chunk_size and len(features):
        ids = features["customer_id"].to_numpy()  # sorted
        starts = ids[:: -(-ids.size // parts)]
        ranges = list(itertools.pairwise([*starts.tolist(), int(ids[-1]) + 1]))
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
    # In-process callers reuse the reads instead of reading again: the chunks the features, the
    # dashboard's monthly metrics (analytics.refresh_base_metrics) the purchase rows.
    run._features = features
    run._purchases = purchases
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
        if ids.is_monotonic_increasing:  # as read_features returns them: slice without a copy
            first, stop = np.searchsorted(ids.to_numpy(), [id_from, id_to])
            features = features.iloc[first:stop]
        else:
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
    signals.scoring_run_finished.send(sender=ScoringRun, run_id=run.pk, as_of=run.as_of)
    return run


def _writers() -> int:
    """How many sessions may score chunks at once in this process."""
    # Other sessions cannot see an open transaction's rows (a caller's, or a test's), and
    # SQLite has one writer.
    if connection.vendor != "postgresql" or connection.in_atomic_block:
        return 1
    return PARALLEL_WRITERS


def _score_chunks_in_parallel(run_id: int, ranges: list, features: pd.DataFrame) -> None:
    """Scores the ranges on PARALLEL_WRITERS threads, each in its own database session."""

    def score(bounds: tuple[int, int]) -> int:
        try:
            return score_chunk(run_id=run_id, id_from=bounds[0], id_to=bounds[1], features=features)
        finally:
            connection.close()  # the thread's own connection

    with ThreadPoolExecutor(max_workers=PARALLEL_WRITERS) as pool:
        list(pool.map(score, ranges))  # re-raises the first failed chunk's exception


def score_customers(*, as_of: date | None = None, chunk_size: int | None = None) -> ScoringRun:
    """Scores the whole base in this process: fit once, then each chunk, then the summary.

    On PostgreSQL, outside a transaction, PARALLEL_WRITERS sessions write the chunks at once
    (a large base is cut into that many ranges when no chunk size is given); each chunk is its
    own transaction either way.
    """
    started = time.monotonic()
    as_of = as_of or timezone.localdate()
    writers = _writers()
    run, ranges = _start_run(as_of=as_of, chunk_size=chunk_size, parts=writers)
    features = run._features
    if writers > 1 and len(ranges) > 1 and len(features) >= PARALLEL_MIN_CUSTOMERS:
        _score_chunks_in_parallel(run.pk, ranges, features)
    else:
        for id_from, id_to in ranges:
            score_chunk(run_id=run.pk, id_from=id_from, id_to=id_to, features=features)
    finished = finish_scoring_run(run_id=run.pk, started_monotonic=started)
    finished._purchases = run._purchases  # for the metrics refresh that follows a rescore
    return finished


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
    frame = _read_day_rows(
        "SELECT customer_id, {columns} FROM customers_purchase "
        "WHERE occurred_at >= %s AND occurred_at < %s",
        [_end_of_day(start), _end_of_day(until)],
        moment="occurred_at",
        amount=None,
    )
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
    purchases = read_purchase_days(as_of=as_of)
    features = read_features(as_of=as_of, purchases=purchases)
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
