"""Synthetic customer bases for the benchmarks: BG/NBD purchase days, Gamma-Gamma spend.

Each customer's first purchase falls somewhere in the `span_days` before the end of the
simulation; after it, purchase *days* follow the BG/NBD process (Poisson purchases at a
Gamma-distributed rate, dropout after each repeat purchase with a Beta-distributed probability),
so a fit on the loaded base has known parameters to recover. A purchase day sometimes holds more
than one order (a second receipt the same day), which BG/NBD counts once and revenue counts in
full. Order amounts follow the Gamma-Gamma spend process: each customer has a Gamma-distributed
spend rate nu, and every order is Gamma(p, nu).

The rows go into PostgreSQL with COPY, in chunks, straight into customers_customer and
customers_purchase. Columns the generator does not set take the model field's default, so a
column added later with a default does not break the loader.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime, time
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd
from django.conf import settings
from django.db import connection
from django.utils import timezone

from customers import churn
from customers.models import Customer, Purchase


@dataclass(frozen=True)
class Process:
    """The generating parameters (BG/NBD in days, Gamma-Gamma in roubles)."""

    r: float = 0.25
    alpha: float = 28.0
    a: float = 0.8
    b: float = 2.5
    p: float = 6.0
    q: float = 3.8
    gamma: float = 1500.0
    # Probability that a purchase day holds one more order (geometric): about 2.8 orders per
    # customer for about 2.46 purchase days.
    extra_order: float = 0.12
    span_days: float = 730.0


@dataclass(frozen=True)
class Loaded:
    customers: int
    purchases: int
    purchase_days: int


# Rows per COPY chunk: bounds the text buffer (about 60 MB for purchases) on 1M customers.
COPY_CHUNK = 500_000


def _defaults(model, given: set[str]) -> dict[str, object]:
    """Database values for the columns the generator leaves to the model's defaults."""
    values = {}
    for field in model._meta.concrete_fields:
        if field.column in given or field.primary_key:
            continue
        # Django's get_default gives "" for text fields without a default, None otherwise.
        value = field.get_db_prep_save(field.get_default(), connection)
        if value is None and not field.null:
            raise ValueError(f"{model.__name__}.{field.name} is NOT NULL without a default")
        values[field.column] = value
    return values


def _copy(table: str, frame: pd.DataFrame) -> None:
    buffer = io.StringIO()
    frame.to_csv(buffer, sep="\t", header=False, index=False, na_rep="\\N", float_format="%.2f")
    with (
        connection.cursor() as cursor,
        cursor.copy(f"COPY {table} ({', '.join(frame.columns)}) FROM STDIN") as copy,
    ):
        copy.write(buffer.getvalue())


def _constant_columns(frame: pd.DataFrame, defaults: dict[str, object]) -> pd.DataFrame:
    for column, value in defaults.items():
        if isinstance(value, datetime):
            value = value.isoformat()
        elif isinstance(value, bool):
            value = "t" if value else "f"
        frame[column] = value
    return frame


def simulate(n: int, *, end: date, process: Process, seed: int) -> dict[str, np.ndarray]:
    """Purchases of n customers up to the end of `end` (local time), as numpy columns.

    Returns customer (0-based index), epoch (UTC seconds) and cents, sorted by customer and time,
    plus the number of distinct (customer, purchase day) pairs.
    """
    rng = np.random.default_rng(seed)
    ages = rng.uniform(0.0, process.span_days, size=n)
    customer, times, _ = churn.simulate_bgnbd_purchase_times(
        n, process.r, process.alpha, process.a, process.b, ages, rng
    )
    # Continuous BG/NBD times become local purchase days counted back from `end`; the hour of
    # each order is drawn within shop hours, so local days are what the scorer will find.
    last_day = (end - date(1970, 1, 1)).days
    day = last_day - np.floor(ages[customer]).astype(np.int64) + np.floor(times).astype(np.int64)
    day = np.minimum(day, last_day)
    purchase_days = np.unique(customer * 100_000 + (day - last_day)).size
    extra = rng.geometric(1.0 - process.extra_order, size=customer.size) - 1
    repeats = extra + 1
    customer = np.repeat(customer, repeats)
    day = np.repeat(day, repeats)
    offset = (day - last_day).astype("timedelta64[D]")
    zone = ZoneInfo(settings.TIME_ZONE)
    local_midnight = datetime.combine(end, time.min, tzinfo=zone)
    utc_offset = int(local_midnight.utcoffset().total_seconds())
    seconds = rng.integers(9 * 3600, 21 * 3600, size=customer.size)
    epoch = (
        (np.datetime64(end, "D") + offset).astype("datetime64[s]").astype(np.int64)
        + seconds
        - utc_offset
    )
    nu = rng.gamma(process.q, 1.0 / process.gamma, size=n)
    amounts = rng.gamma(process.p, 1.0 / nu[customer])
    cents = np.maximum(np.round(amounts * 100.0), 1).astype(np.int64)
    order = np.lexsort((epoch, customer))
    return {
        "customer": customer[order],
        "epoch": epoch[order],
        "cents": cents[order],
        "purchase_days": np.int64(purchase_days),
    }


def _chunks(total: int) -> Iterator[tuple[int, int]]:
    for start in range(0, total, COPY_CHUNK):
        yield start, min(start + COPY_CHUNK, total)


def load(n: int, *, end: date, process: Process, seed: int, progress=None) -> Loaded:
    """Generates n customers and their purchases and COPYs them into empty tables."""
    rows = simulate(n, end=end, process=process, seed=seed)
    with _without_foreign_key_checks():
        _copy_rows(n, rows, progress)
    return Loaded(
        customers=n, purchases=int(rows["customer"].size), purchase_days=int(rows["purchase_days"])
    )


@contextmanager
def _without_foreign_key_checks() -> Iterator[None]:
    """Skips the per-row foreign-key triggers while loading, where the role may do so.

    The generated rows are consistent by construction, and 2.8M deferred key checks would
    double the load time of the 1M base. Needs a superuser; otherwise the load is just slower.
    """
    with connection.cursor() as cursor:
        cursor.execute("SELECT rolsuper FROM pg_roles WHERE rolname = current_user")
        allowed = bool(cursor.fetchone()[0])
        if allowed:
            cursor.execute("SET session_replication_role = replica")
        try:
            yield
        finally:
            if allowed:
                cursor.execute("SET session_replication_role = DEFAULT")


def _copy_rows(n: int, rows: dict[str, np.ndarray], progress) -> None:
    now = timezone.now()
    customer_defaults = _defaults(
        Customer, {"name", "external_id", "created_at", "owner_id", "backup_id"}
    )
    chunks = list(_chunks(n))
    purchase_chunks = list(_chunks(rows["customer"].size))
    if progress is not None:
        progress.reset(total=len(chunks) + len(purchase_chunks))
    for start, stop in chunks:
        ids = np.arange(start + 1, stop + 1, dtype=np.int64)
        frame = pd.DataFrame(
            {
                "id": ids,
                "name": pd.Series(ids).map("Bench customer {}".format),
                "external_id": pd.Series(ids).map("BC-{}".format),
                "created_at": now.isoformat(),
                "owner_id": None,
                "backup_id": None,
            }
        )
        _copy(Customer._meta.db_table, _constant_columns(frame, customer_defaults))
        if progress is not None:
            progress.update()
    purchase_defaults = _defaults(
        Purchase, {"customer_id", "occurred_at", "amount", "external_id", "source", "created_at"}
    )
    for start, stop in purchase_chunks:
        moments = rows["epoch"][start:stop].astype("datetime64[s]")
        frame = pd.DataFrame(
            {
                "customer_id": rows["customer"][start:stop] + 1,
                "occurred_at": np.char.add(np.datetime_as_string(moments, unit="s"), "+00"),
                "amount": rows["cents"][start:stop] / 100.0,
                "external_id": pd.Series(np.arange(start, stop)).map("BP-{}".format),
                "source": Purchase.Source.DEMO.value,
                "created_at": now.isoformat(),
            }
        )
        _copy(Purchase._meta.db_table, _constant_columns(frame, purchase_defaults))
        if progress is not None:
            progress.update()
    with connection.cursor() as cursor:
        for model in (Customer, Purchase):
            table = model._meta.db_table
            cursor.execute(
                f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                f"GREATEST((SELECT max(id) FROM {table}), 1))"
            )
