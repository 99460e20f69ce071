"""Times `manage.py score` end to end on synthetic bases of 10k, 100k and 1M customers.

    .venv/bin/python bench/scoring.py --sizes 10000 100000 1000000

What it does, per size:
1. empties the bench database (created fresh with migrations at the start) and loads a synthetic
   base with COPY (bench/synthetic.py): first purchases spread over two years, purchase days
   drawn from the BG/NBD process (r=0.25, alpha=28 days, a=0.8, b=2.5), about 2.8 orders per
   customer, order amounts from the Gamma-Gamma spend process; then VACUUM ANALYZE and a
   CHECKPOINT, as a base that has been in use for a while would be;
2. runs `score --as-of D` in a fresh process (first scores: every score row is inserted);
3. runs `score --as-of D+7` in another fresh process (a week on, with that week's purchases:
   every score row is updated and the moves between segments are written as transitions).

For each run it reports the wall time of the `score` command, the share of each phase (read =
read_features, fit = fit_model, apply = apply_model, write = write_scores: scores, transitions
and suggested stages; metrics = the dashboard's monthly metrics and cohorts that `score` also
refreshes; other = run bookkeeping and the summary counts), the time of scoring alone (the
command without the metrics refresh),
the peak resident memory of the scoring process (ru_maxrss, which includes Python, Django,
numpy, pandas and scipy themselves; PostgreSQL's own memory is not counted), customers per
second, and the BG/NBD parameters the fit recovered.

Prints a Markdown table and writes the figures to bench/results/scoring.json.

It only runs against PostgreSQL databases whose name contains "bench" (default
postgres://postgres@127.0.0.1:5432/retention_bench, or DATABASE_URL); the database is dropped and
created again at the start and dropped at the end (keep it with --keep-db).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import threading
import time
from datetime import date, timedelta
from io import StringIO
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "retention.settings")
os.environ.setdefault("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/retention_bench")

import django  # noqa: E402

django.setup()

import psycopg  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.db import connection  # noqa: E402
from django.db.backends.signals import connection_created  # noqa: E402
from tqdm import tqdm  # noqa: E402

from bench import synthetic  # noqa: E402
from customers import scoring  # noqa: E402

try:  # the dashboard's monthly metrics, which `score` refreshes after scoring
    from customers import analytics
except ImportError:  # pragma: no cover - older trees score without them
    analytics = None
from customers.models import CustomerScore, ScoreTransition  # noqa: E402

RESULTS = ROOT / "bench" / "results" / "scoring.json"
AS_OF = date(2026, 6, 30)
WEEK = 7
PHASES = ("read", "fit", "apply", "write", "metrics")
RESULT_MARK = "BENCH-RESULT "


def check_database() -> str:
    """The bench database's name; refuses anything but PostgreSQL with "bench" in the name."""
    name = str(connection.settings_dict["NAME"])
    if connection.vendor != "postgresql":
        raise SystemExit(f"refusing to run: {connection.vendor} is not PostgreSQL")
    if "bench" not in name:
        raise SystemExit(f"refusing to run against database {name!r}: its name lacks 'bench'")
    return name


# -------------------------------------------------------------------------------------------
# The scoring process (a fresh interpreter per run, so peak memory is the run's own)
# -------------------------------------------------------------------------------------------


def _process_cpu(pid: int) -> float | None:
    """CPU seconds (user + system) of a process on this machine, None if gone or unreadable."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _union(intervals: list[tuple[float, float]]) -> float:
    """Length of the union of (start, end) intervals: overlapping chunks count once."""
    total, reach = 0.0, float("-inf")
    for start, end in sorted(intervals):
        if end > reach:
            total += end - max(start, reach)
            reach = end
    return total


class Meter:
    """Phase intervals, and the CPU of this process and of every PostgreSQL session it opens.

    The machine is shared, so wall times depend on what else runs; CPU seconds do not, and say
    what a run costs on an idle machine (I/O waits aside). PostgreSQL runs on this machine, so
    each session's backend is read in /proc; a sampler thread keeps the last reading of
    sessions that close before the end (the parallel writers' threads close theirs).
    """

    def __init__(self) -> None:
        self.intervals: dict[str, list[tuple[float, float]]] = {name: [] for name in PHASES}
        self.backends: dict[int, list[float]] = {}
        self.done = threading.Event()
        connection_created.connect(self.register)
        connection.ensure_connection()
        self.register(connection=connection)
        self.sampler = threading.Thread(target=self.sample, daemon=True)
        self.sampler.start()

    def register(self, sender=None, connection=None, **kwargs) -> None:
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_backend_pid()")
            pid = cursor.fetchone()[0]
        cpu = _process_cpu(pid)
        if cpu is not None:
            self.backends.setdefault(pid, [cpu, cpu])

    def sample(self) -> None:
        while not self.done.wait(0.1):
            self.read_backends()

    def read_backends(self) -> None:
        for pid, readings in list(self.backends.items()):
            cpu = _process_cpu(pid)
            if cpu is not None:
                readings[1] = cpu

    def postgres_cpu(self) -> float:
        self.done.set()
        self.sampler.join()
        self.read_backends()
        return sum(last - first for first, last in self.backends.values())

    def timed(self, name: str, function):
        """`function`, recording the interval of every call under phases[name]."""

        def wrapper(*args, **kwargs):
            started = time.perf_counter()
            try:
                return function(*args, **kwargs)
            finally:
                self.intervals[name].append((started, time.perf_counter()))

        return wrapper


def score_once(as_of: date) -> dict:
    """Runs `score --as-of` in this process and returns its timings and peak memory."""
    check_database()
    meter = Meter()
    # The phase functions are looked up as module globals at call time, so wrapping them here
    # times the real pipeline that `score` runs.
    for phase, attribute in zip(
        PHASES[:4], ("read_features", "fit_model", "apply_model", "write_scores"), strict=True
    ):
        setattr(scoring, attribute, meter.timed(phase, getattr(scoring, attribute)))
    # The run reads the purchases once, before the features, and hands them to the metrics.
    scoring.read_purchase_days = meter.timed("read", scoring.read_purchase_days)
    if analytics is not None:
        analytics.refresh_base_metrics = meter.timed("metrics", analytics.refresh_base_metrics)
    out = StringIO()
    load = os.getloadavg()[0]
    cpu_started = time.process_time()
    started = time.perf_counter()
    call_command("score", "--as-of", as_of.isoformat(), "--json", stdout=out)
    wall = time.perf_counter() - started
    python_cpu = time.process_time() - cpu_started
    postgres_cpu = meter.postgres_cpu()
    report = json.loads(out.getvalue())
    phases = {name: _union(intervals) for name, intervals in meter.intervals.items()}
    every_phase = _union([interval for spans in meter.intervals.values() for interval in spans])
    return {
        "as_of": as_of.isoformat(),
        "seconds": round(wall, 3),
        "phases": {name: round(value, 3) for name, value in phases.items()},
        "other": round(wall - every_phase, 3),
        "scoring_seconds": round(wall - phases["metrics"], 3),
        "cpu_seconds": {"python": round(python_cpu, 3), "postgres": round(postgres_cpu, 3)},
        "postgres_sessions": len(meter.backends),
        "load_average": round(load, 2),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "customers": report["customers"],
        "scores": CustomerScore.objects.count(),
        "transitions": ScoreTransition.objects.filter(as_of=as_of).count(),
        "method": report["method"],
        "bgnbd": {k: report["bgnbd"][k] for k in ("r", "alpha", "a", "b")}
        if report["bgnbd"]
        else None,
        "gamma_gamma": {k: report["gamma_gamma"][k] for k in ("p", "q", "gamma")}
        if report["gamma_gamma"]
        else None,
    }


def run_child(as_of: date, timeout: float) -> dict:
    """score_once in a fresh interpreter, bounded by `timeout` seconds."""
    completed = subprocess.run(
        [sys.executable, str(Path(__file__).resolve()), "--child-run", as_of.isoformat()],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=os.environ.copy(),
        check=False,
    )
    for line in completed.stdout.splitlines():
        if line.startswith(RESULT_MARK):
            return json.loads(line[len(RESULT_MARK) :])
    raise SystemExit(
        f"scoring run as of {as_of} failed (exit {completed.returncode}):\n{completed.stderr}"
    )


# -------------------------------------------------------------------------------------------
# The driver
# -------------------------------------------------------------------------------------------


def _admin_connection() -> psycopg.Connection:
    params = connection.get_connection_params()
    params.pop("cursor_factory", None)
    params.pop("context", None)
    params["dbname"] = "postgres"
    return psycopg.connect(**params, autocommit=True)


def set_fillfactor(percent: int) -> None:
    """Leaves room in each score page for updated rows (a storage setting; off by default).

    Updates whose indexed columns do not change can then stay on their page (HOT) and skip the
    four index insertions; a measure of what a migration setting it would buy.
    """
    with connection.cursor() as cursor:
        cursor.execute(f"ALTER TABLE customers_customerscore SET (fillfactor = {int(percent)})")


def recreate_database(name: str) -> None:
    connection.close()
    with _admin_connection() as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.execute(f'CREATE DATABASE "{name}"')
    # Every app: others answer the scoring run's signals (webhooks announce new dormant customers).
    call_command("migrate", verbosity=0)


def drop_database(name: str) -> None:
    connection.close()
    with _admin_connection() as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def empty_tables() -> None:
    with connection.cursor() as cursor:
        cursor.execute("TRUNCATE customers_customer, customers_scoringrun RESTART IDENTITY CASCADE")


def settle() -> None:
    """Statistics and visibility maps up to date, dirty pages flushed: a base in steady use."""
    with connection.cursor() as cursor:
        cursor.execute(
            "VACUUM ANALYZE customers_customer, customers_purchase, customers_refund, "
            "customers_customerscore, customers_scoretransition"
        )
        cursor.execute("CHECKPOINT")


def bench_size(size: int, *, seed: int, timeout: float, bar: tqdm) -> dict:
    empty_tables()
    bar.set_postfix_str(f"{size:,} customers: generating")
    with tqdm(desc="loading", unit="chunk", leave=False) as chunks:
        loaded = synthetic.load(
            size,
            end=AS_OF + timedelta(days=WEEK),
            process=synthetic.Process(),
            seed=seed,
            progress=chunks,
        )
    settle()
    bar.update()
    runs = []
    for label, as_of in (("first", AS_OF), ("second", AS_OF + timedelta(days=WEEK))):
        bar.set_postfix_str(f"{size:,} customers: {label} run")
        result = run_child(as_of, timeout)
        settle()  # maintenance between nightly runs (autovacuum's job; off on some servers)
        result["run"] = label
        result["customers_per_second"] = round(result["customers"] / result["seconds"])
        runs.append(result)
        bar.update()
    return {
        "size": size,
        "purchases": loaded.purchases,
        "purchase_days": loaded.purchase_days,
        "runs": runs,
    }


def markdown(results: list[dict]) -> str:
    lines = [
        "| customers | purchases | run | total s | scoring s | read | fit | apply | write "
        "| metrics | other | CPU s (Python + PostgreSQL) | peak RSS | customers/s "
        "| transitions | load avg |",
        "|---:|---:|:---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for entry in results:
        for run in entry["runs"]:
            total = run["seconds"]
            shares = [f"{100 * run['phases'][name] / total:.0f}%" for name in PHASES]
            cpu = run["cpu_seconds"]
            lines.append(
                f"| {entry['size']:,} | {entry['purchases']:,} | {run['run']} | {total:.2f} "
                f"| {run['scoring_seconds']:.2f} | {' | '.join(shares)} "
                f"| {100 * run['other'] / total:.0f}% "
                f"| {cpu['python']:.1f} + {cpu['postgres']:.1f} "
                f"| {run['peak_rss_mb']:.0f} MB | {run['customers_per_second']:,} "
                f"| {run['transitions']:,} | {run['load_average']:.1f} |"
            )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--sizes",
        type=int,
        nargs="+",
        default=[10_000, 100_000, 1_000_000],
        help="base sizes in customers",
    )
    parser.add_argument("--seed", type=int, default=20260630)
    parser.add_argument(
        "--timeout", type=float, default=900.0, help="seconds allowed per scoring run"
    )
    parser.add_argument("--keep-db", action="store_true", help="do not drop the bench database")
    parser.add_argument(
        "--fillfactor",
        type=int,
        help="set this fillfactor on customers_customerscore first (what-if; not in the schema)",
    )
    parser.add_argument("--output", type=Path, default=RESULTS)
    parser.add_argument("--child-run", type=date.fromisoformat, help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.child_run:
        print(RESULT_MARK + json.dumps(score_once(args.child_run)), flush=True)
        return

    name = check_database()
    started = time.monotonic()
    recreate_database(name)
    if args.fillfactor:
        set_fillfactor(args.fillfactor)
    results: list[dict] = []
    try:
        with tqdm(total=3 * len(args.sizes), unit="step") as bar:
            results.extend(
                bench_size(size, seed=args.seed, timeout=args.timeout, bar=bar)
                for size in args.sizes
            )
    finally:
        if not args.keep_db:
            drop_database(name)
    table = markdown(results)
    print(table)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(
        json.dumps(
            {
                "machine": {
                    "cpus": os.cpu_count(),
                    "python": platform.python_version(),
                    "platform": platform.platform(),
                },
                "as_of": AS_OF.isoformat(),
                "fillfactor": args.fillfactor,
                "process": synthetic.Process().__dict__,
                "results": results,
                "markdown": table,
                "bench_seconds": round(time.monotonic() - started, 1),
            },
            indent=2,
        )
        + "\n"
    )
    print(f"written to {args.output}")


if __name__ == "__main__":
    main()
