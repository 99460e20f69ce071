"""Times the distributed nightly rescore with 1 and with 2 Celery worker processes.

    .venv/bin/python bench/nightly_workers.py [--size 100000] [--trials 3]

The nightly rescore is a chord: one task reads the features and fits the model for the whole
base (serial), one task per SCORING_CHUNK customers applies it and writes the scores, and a
callback records the summary and refreshes the dashboard's monthly metrics (serial). Adding
worker processes shortens the middle part only. This bench shows by how much on a synthetic base
(bench/synthetic.py, the same as bench/scoring.py's) in PostgreSQL with real Celery workers on
Redis, exactly as production runs it (retention.rescore, fired by beat's retention.run_job).

Steps: a fresh bench database with every migration, a base of --size customers loaded with COPY,
a first rescore (inserts every score row; not timed), then --trials timed rescores for each worker
count, alternating 1, 2, 1, 2, ... so a change in the machine's load hits both alike. Each trial
deletes the day's JobRun (a re-run of the same night, which the claim would otherwise skip),
sends retention.rescore to the broker and polls the database until the JobRun has finished.

Reported per worker count: the median wall time from sending the task to the finished JobRun, the
median time of the chunk phase (from the ScoringRun's creation to its last chunk) and of the
serial parts around it, and the speed-up. Writes bench/results/nightly_workers.json.

Only runs against PostgreSQL databases whose name contains "bench" (default
postgres://postgres@127.0.0.1:5432/retention_bench_nightly, or DATABASE_URL) and a Redis database
of its own (default redis://127.0.0.1:6379/15, or BENCH_REDIS_URL), which it empties.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "retention.settings")
os.environ.setdefault("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/retention_bench_nightly")
BROKER = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/15")
os.environ["CELERY_BROKER_URL"] = BROKER
os.environ["CELERY_RESULT_BACKEND"] = BROKER

import django  # noqa: E402

django.setup()

import redis  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.db import connection  # noqa: E402
from tqdm import tqdm  # noqa: E402

from bench import synthetic  # noqa: E402
from bench.scoring import _admin_connection, check_database, drop_database, settle  # noqa: E402
from common.models import JobRun  # noqa: E402
from customers.models import ScoringRun  # noqa: E402
from retention import nightly, tasks  # noqa: E402
from tests.integration.workers import Worker, reset_producer_pools  # noqa: E402

RESULTS = ROOT / "bench" / "results" / "nightly_workers.json"
AS_OF = date(2026, 6, 30)
# The night after AS_OF; a Wednesday, so the weekly backtest (Mondays) stays out of the timing.
RUN_DATE = AS_OF + timedelta(days=1)


def recreate_database(name: str) -> None:
    connection.close()
    with _admin_connection() as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.execute(f'CREATE DATABASE "{name}"')
    call_command("migrate", verbosity=0)


def rescore_once(timeout: float) -> dict:
    """Sends the night's rescore to the workers and waits for its JobRun; returns the timings."""
    assert nightly.scoring_date(RUN_DATE) == AS_OF
    JobRun.objects.filter(job="rescore", run_date=RUN_DATE).delete()
    before = ScoringRun.objects.order_by("-pk").values_list("pk", flat=True).first() or 0
    sent = time.time()
    tasks.rescore_task.delay(run_date=RUN_DATE.isoformat())
    chunks_done_at = None
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        run = JobRun.objects.filter(job="rescore", run_date=RUN_DATE).first()
        scoring_run = ScoringRun.objects.filter(pk__gt=before).first()
        if (
            scoring_run
            and chunks_done_at is None
            and 0 < scoring_run.chunks_total <= scoring_run.chunks_done
        ):
            chunks_done_at = time.time()
        if run and run.status in (JobRun.Status.SUCCEEDED, JobRun.Status.FAILED):
            break
        time.sleep(0.05)
    else:
        raise TimeoutError(f"the rescore did not finish in {timeout:.0f} s")
    finished = time.time()
    if run.status != JobRun.Status.SUCCEEDED:
        raise RuntimeError(f"the rescore failed: {run.error}")
    chunks_started = scoring_run.started_at.timestamp()
    chunks_done_at = chunks_done_at or finished
    return {
        "seconds": round(finished - sent, 2),
        "fit_seconds": round(chunks_started - sent, 2),
        "chunk_seconds": round(chunks_done_at - chunks_started, 2),
        "tail_seconds": round(finished - chunks_done_at, 2),
        "chunks": scoring_run.chunks_total,
        "customers": scoring_run.customers,
    }


def start_worker(index: int, log_dir: Path) -> Worker:
    """One worker process (concurrency 1): adding workers is how the night scales out."""
    return Worker(broker_url=BROKER, log_dir=log_dir, name=f"bench{index}", concurrency=1,
                  visibility_timeout=3600)


def median_of(trials: list[dict], key: str) -> float:
    return round(statistics.median(trial[key] for trial in trials), 2)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", type=int, default=100_000, help="customers in the base")
    parser.add_argument("--trials", type=int, default=3, help="timed rescores per worker count")
    parser.add_argument("--seed", type=int, default=20260630)
    parser.add_argument("--timeout", type=float, default=900.0, help="seconds allowed per rescore")
    parser.add_argument("--keep-db", action="store_true", help="do not drop the bench database")
    parser.add_argument("--output", type=Path, default=RESULTS)
    args = parser.parse_args()

    name = check_database()
    started = time.monotonic()
    load_before = os.getloadavg()
    redis.Redis.from_url(BROKER).flushdb()
    reset_producer_pools()
    recreate_database(name)
    timings: dict[int, list[dict]] = {1: [], 2: []}
    try:
        with tqdm(desc="loading", unit="chunk", leave=False) as chunks:
            loaded = synthetic.load(args.size, end=AS_OF, process=synthetic.Process(),
                                    seed=args.seed, progress=chunks)
        settle()
        order = [1, 2] * args.trials
        with tempfile.TemporaryDirectory() as logs, tqdm(total=1 + len(order), unit="run") as bar:
            log_dir = Path(logs)
            workers = [start_worker(1, log_dir)]
            try:
                bar.set_postfix_str("first rescore (not timed)")
                rescore_once(args.timeout)
                bar.update()
                for count in order:
                    while len(workers) < count:
                        workers.append(start_worker(len(workers) + 1, log_dir))
                    while len(workers) > count:
                        workers.pop().stop()
                    settle()
                    bar.set_postfix_str(f"{count} worker(s)")
                    timings[count].append(rescore_once(args.timeout))
                    bar.update()
            finally:
                for worker in workers:
                    worker.stop()
    finally:
        if not args.keep_db:
            drop_database(name)

    summary = {
        str(count): {
            "seconds": median_of(trials, "seconds"),
            "fit_seconds": median_of(trials, "fit_seconds"),
            "chunk_seconds": median_of(trials, "chunk_seconds"),
            "tail_seconds": median_of(trials, "tail_seconds"),
            "trials": trials,
        }
        for count, trials in timings.items()
    }
    one, two = summary["1"], summary["2"]
    table = "\n".join(
        [
            "| worker processes | rescore s (median) | fit s | chunks s | summary + metrics s |",
            "|---:|---:|---:|---:|---:|",
            *(
                f"| {count} | {row['seconds']:.1f} | {row['fit_seconds']:.1f} "
                f"| {row['chunk_seconds']:.1f} | {row['tail_seconds']:.1f} |"
                for count, row in summary.items()
            ),
            "",
            f"{loaded.customers:,} customers, {loaded.purchases:,} purchases, "
            f"{timings[1][0]['chunks']} chunks of {tasks.SCORING_CHUNK:,}; "
            f"speed-up of the whole rescore {one['seconds'] / two['seconds']:.2f}x, "
            f"of the chunk phase {one['chunk_seconds'] / two['chunk_seconds']:.2f}x; "
            f"load average before {load_before[0]:.2f}.",
        ]
    )
    print(table)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(
        json.dumps(
            {
                "machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                            "platform": platform.platform()},
                "customers": loaded.customers,
                "purchases": loaded.purchases,
                "chunk_size": tasks.SCORING_CHUNK,
                "load_average_before": [round(value, 2) for value in load_before],
                "load_average_after": [round(value, 2) for value in os.getloadavg()],
                "results": summary,
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
