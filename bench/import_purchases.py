"""Times `manage.py import_purchases` end to end on a 1C-style file.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/retention_bench_import \\
        .venv/bin/python bench/import_purchases.py --rows 100000 --customers 20000

Loyalty accrues points on `purchases_recorded` inside each batch's transaction, so its time is part
of an import; the output says how much, and --no-receivers times the import alone.

Runs in a throw-away database made with Django's test-database utilities (`test_<name>`,
migrated from scratch and dropped afterwards unless --keepdb), so it never touches real data:
1. imports the customers from a generated CSV (timed as well, for reference);
2. writes a purchases file as 1C exports it: Windows-1251, `;`, CRLF, decimal commas, non-breaking
   spaces between thousands, dates as dd.mm.yyyy (some with a time), a customer name column;
3. times `import_purchases FILE` (parsing, validation, inserts, the purchases_recorded signal);
4. times the same file again, which must add nothing.
"""

import argparse
import io
import os
import random
import sys
import tempfile
import time
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "retention.settings")

import django  # noqa: E402

django.setup()

from django.core.management import call_command  # noqa: E402
from django.db import connection  # noqa: E402

from customers.models import Customer, Purchase  # noqa: E402
from customers.signals import purchases_recorded  # noqa: E402

NBSP = "\u00a0"
NAMES = ("ООО Ромашка", "ИП Петров", "АО Вектор", "ООО Север", "ЗАО Берёза", "ИП Сидорова")


def one_c_amount(amount: Decimal) -> str:
    """1C's number format: non-breaking spaces between thousands and a decimal comma."""
    whole, cents = f"{amount:.2f}".split(".")
    groups = []
    while whole:
        groups.insert(0, whole[-3:])
        whole = whole[:-3]
    return NBSP.join(groups) + "," + cents


def write_customers(path: Path, count: int) -> None:
    lines = ["Код;Наименование;Вид;Эл. почта;Телефон"]
    lines.extend(
        f"К-{n:06d};{NAMES[n % len(NAMES)]} {n};{'Юр. лицо' if n % 3 else 'Физ. лицо'};"
        f"client{n}@example.com;+7 900 {n:07d}"
        for n in range(count)
    )
    path.write_bytes("\r\n".join(lines).encode("cp1251") + b"\r\n")


def write_purchases(path: Path, rows: int, customers: int, seed: int) -> None:
    rng = random.Random(seed)
    start = date(2023, 1, 1)
    lines = ["Номер документа;Дата;Код контрагента;Контрагент;Сумма;Валюта"]
    for n in range(rows):
        customer = rng.randrange(customers)
        day = start + timedelta(days=rng.randrange(700))
        moment = day.strftime("%d.%m.%Y")
        if n % 4 == 0:
            moment += f" {rng.randrange(9, 21):02d}:{rng.randrange(60):02d}:00"
        amount = Decimal(rng.randrange(100, 25_000_000)) / 100
        lines.append(
            f"РТ-{n:08d};{moment};К-{customer:06d};"
            f'"{NAMES[customer % len(NAMES)]} {customer}";{one_c_amount(amount)};руб.'
        )
    path.write_bytes("\r\n".join(lines).encode("cp1251") + b"\r\n")


class SignalClock:
    """Time spent in purchases_recorded receivers (loyalty's accrual), part of every import."""

    def __init__(self) -> None:
        self.seconds = 0.0
        self.send = purchases_recorded.send
        purchases_recorded.send = self.timed_send

    def timed_send(self, *args, **kwargs):
        started = time.perf_counter()
        try:
            return self.send(*args, **kwargs)
        finally:
            self.seconds += time.perf_counter() - started


def timed(command: str, path: Path, clock: SignalClock) -> tuple[float, float, float, str]:
    """(wall seconds, this process's CPU seconds, seconds in signal receivers, summary)."""
    out = io.StringIO()
    clock.seconds = 0.0
    started, cpu = time.perf_counter(), time.process_time()
    call_command(command, str(path), stdout=out, stderr=io.StringIO(), verbosity=0)
    return (
        time.perf_counter() - started,
        time.process_time() - cpu,
        clock.seconds,
        out.getvalue().strip(),
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--customers", type=int, default=20_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--keepdb", action="store_true", help="keep the benchmark database")
    parser.add_argument(
        "--no-receivers",
        action="store_true",
        help="disconnect the other apps' purchases_recorded receivers (loyalty's accrual), to time "
        "the import alone",
    )
    args = parser.parse_args()
    if args.no_receivers:
        purchases_recorded.receivers.clear()
        purchases_recorded.sender_receivers_cache.clear()

    announced: list[int] = []

    def count_ids(sender, purchase_ids, **kwargs) -> None:
        announced.extend(purchase_ids)

    purchases_recorded.connect(count_ids, dispatch_uid="bench.count_ids")
    receivers = "only the benchmark's counter" if args.no_receivers else "all connected"
    print(f"database: {connection.vendor}; purchases_recorded receivers: {receivers}")
    old_name = connection.creation.create_test_db(
        verbosity=0, autoclobber=True, serialize=False, keepdb=False
    )
    try:
        with tempfile.TemporaryDirectory() as folder:
            customers_file = Path(folder) / "customers.csv"
            purchases_file = Path(folder) / "purchases.csv"
            write_customers(customers_file, args.customers)
            write_purchases(purchases_file, args.rows, args.customers, args.seed)
            size = purchases_file.stat().st_size / 1024 / 1024
            print(f"purchases file: {args.rows:,} rows, {size:.1f} MiB, cp1251, ';', decimal comma")

            clock = SignalClock()
            seconds, cpu, _signal, summary = timed("import_customers", customers_file, clock)
            print(
                f"import_customers: {args.customers:,} rows in {seconds:.2f} s "
                f"({args.customers / seconds:,.0f} rows/s; CPU {cpu:.2f} s) | {summary}"
            )

            seconds, cpu, signal, summary = timed("import_purchases", purchases_file, clock)
            print(
                f"import_purchases: {args.rows:,} rows in {seconds:.2f} s "
                f"({args.rows / seconds:,.0f} rows/s; CPU {cpu:.2f} s; "
                f"of which {signal:.2f} s in purchases_recorded receivers) | {summary}"
            )

            seconds, cpu, _signal, summary = timed("import_purchases", purchases_file, clock)
            print(f"import_purchases again (no-op): {seconds:.2f} s (CPU {cpu:.2f} s) | {summary}")

            stored = Purchase.objects.count()
            ok = (
                stored == args.rows
                and Customer.objects.count() == args.customers
                and sorted(announced) == sorted(Purchase.objects.values_list("pk", flat=True))
            )
            print(
                f"check: {stored:,} purchases stored, {len(announced):,} ids announced: "
                f"{'OK' if ok else 'MISMATCH'}"
            )
            return 0 if ok else 1
    finally:
        if not args.keepdb:
            connection.creation.destroy_test_db(old_name, verbosity=0)


if __name__ == "__main__":
    sys.exit(main())
