"""Measures how fast the purchases API ingests: single POSTs and bulk POSTs, against gunicorn.

    .venv/bin/python bench/api_ingest.py
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/retention_bench_api \\
        .venv/bin/python bench/api_ingest.py --single 2000 --threads 8 --bulk 100 --bulk-size 1000

What it does, in a database of its own (created at the start, dropped at the end; its name must
contain "bench"):
1. migrates it, creates a "Sales manager" user with an API token (`issue_api_token`) and
   customers with external ids;
2. starts gunicorn on 127.0.0.1 on a free port with production settings (DEBUG off, a random
   SECRET_KEY, SECURE_SSL_REDIRECT off because there is no TLS proxy in front, access log on,
   the per-user throttle raised so that it does not cap the measurement);
3. single: N POST /api/v1/purchases/ from T client threads, each with its own keep-alive
   http.client connection (gunicorn's sync workers close it after each answer; gthread
   workers keep it);
4. bulk: M POST /api/v1/purchases/bulk/ of S purchases each, from B client threads;
5. replay: the first bulk requests again (every item already recorded: the idempotent path);
6. checks that the database holds exactly the purchases sent, stops gunicorn, drops the database.

Every purchase goes through the whole path: token auth, validation, the scoped customer lookup,
the insert and loyalty's accrual on the purchases_recorded signal. The client threads run on the
same machine as the server and take CPU from it. The run stops issuing requests when the time
limit is reached and reports what it measured until then.
"""

import argparse
import http.client
import json
import os
import secrets
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
from dataclasses import dataclass, field
from pathlib import Path

import psycopg
from psycopg import sql

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/retention_bench_api"
SOCKET_TIMEOUT = 120


# --- the database -----------------------------------------------------------------------------


def _maintenance_dsn(url: urllib.parse.SplitResult) -> str:
    return urllib.parse.urlunsplit(url._replace(path="/postgres"))


def recreate_database(database_url: str) -> str:
    url = urllib.parse.urlsplit(database_url)
    name = url.path.lstrip("/")
    if url.scheme not in {"postgres", "postgresql"} or "bench" not in name:
        raise SystemExit(f"refusing to use {database_url!r}: a PostgreSQL database named *bench*")
    with psycopg.connect(_maintenance_dsn(url), autocommit=True) as conn:
        conn.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    return name


def drop_database(database_url: str) -> None:
    url = urllib.parse.urlsplit(database_url)
    name = url.path.lstrip("/")
    with psycopg.connect(_maintenance_dsn(url), autocommit=True) as conn:
        conn.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )


def server_environment(database_url: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        DATABASE_URL=database_url,
        DEBUG="false",
        SECRET_KEY=secrets.token_urlsafe(50),
        SECURE_SSL_REDIRECT="false",
        ALLOWED_HOSTS="127.0.0.1,localhost",
        # The benchmark measures capacity; the production default (6000/minute per user)
        # would cap a single token at 100 requests a second.
        API_THROTTLE_USER="100000000/minute",
        PYTHONUNBUFFERED="1",
    )
    # In-process tasks, as in the embedded default; a broker would move loyalty work elsewhere.
    env.pop("CELERY_BROKER_URL", None)
    env.pop("REDIS_URL", None)
    return env


def manage(env: dict[str, str], *args: str) -> str:
    result = subprocess.run(
        [sys.executable, str(ROOT / "manage.py"), *args],
        cwd=ROOT,
        env=env,
        check=True,
        capture_output=True,
        text=True,
    )
    return result.stdout


SEED = """
from django.contrib.auth.models import Group
from django.contrib.auth import get_user_model
from customers.models import Customer
from common.roles import SALES_MANAGER
user = get_user_model().objects.create_user("bench-shop", password=None)
user.groups.add(Group.objects.get(name=SALES_MANAGER))
Customer.objects.bulk_create(
    [Customer(name=f"Bench customer {n}", external_id=f"BC-{n:06d}") for n in range({count})],
    batch_size=5000,
)
"""


# --- gunicorn -----------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def start_gunicorn(env, *, port: int, workers: int, worker_class: str, threads: int, log: Path):
    command = [
        str(Path(sys.executable).with_name("gunicorn")),
        "retention.wsgi:application",
        "--bind",
        f"127.0.0.1:{port}",
        "--workers",
        str(workers),
        "--worker-class",
        worker_class,
        "--timeout",
        "60",
        "--access-logfile",
        str(log.with_suffix(".access.log")),
        "--error-logfile",
        str(log),
    ]
    if worker_class == "gthread":
        command += ["--threads", str(threads)]
    # Its own session, so that stopping it stops its workers and nothing else.
    return subprocess.Popen(
        command,
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )


def wait_until_healthy(port: int, process, deadline: float, log: Path) -> None:
    while time.monotonic() < deadline:
        if process.poll() is not None:
            tail = log.read_text()[-3000:] if log.exists() else ""
            raise SystemExit(f"gunicorn exited during start-up:\n{tail}")
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            conn.request("GET", "/healthz")
            if conn.getresponse().status == 200:
                return
        except OSError:
            pass
        time.sleep(0.2)
    raise SystemExit("gunicorn did not answer /healthz in time")


def stop_gunicorn(process) -> None:
    if process.poll() is not None:
        return
    os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()


# --- load ---------------------------------------------------------------------------------------


@dataclass
class Phase:
    name: str
    purchases_per_request: int
    latencies: list[float] = field(default_factory=list)
    statuses: dict[int, int] = field(default_factory=dict)
    items: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0
    stopped_early: bool = False
    lock: threading.Lock = field(default_factory=threading.Lock)

    def record(self, latency: float, status: int, body: dict | None) -> None:
        with self.lock:
            self.latencies.append(latency)
            self.statuses[status] = self.statuses.get(status, 0) + 1
            if body and "results" in body:
                for key in ("created", "exists", "errors"):
                    self.items[key] = self.items.get(key, 0) + body[key]

    def report(self) -> str:
        requests = len(self.latencies)
        if not requests:
            return f"{self.name}: no requests completed"
        ordered = sorted(self.latencies)
        p95 = ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))]
        p99 = ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))]
        purchases = requests * self.purchases_per_request
        line = (
            f"{self.name}: {requests:,} requests, {purchases:,} purchases in {self.seconds:.2f} s"
            f" -> {purchases / self.seconds:,.0f} purchases/s, {requests / self.seconds:,.1f}"
            f" requests/s; latency p50 {statistics.median(ordered) * 1000:.1f} ms,"
            f" p95 {p95 * 1000:.1f} ms, p99 {p99 * 1000:.1f} ms, max {ordered[-1] * 1000:.1f} ms;"
            f" statuses {dict(sorted(self.statuses.items()))}"
        )
        if self.items:
            line += f"; items {self.items}"
        if self.stopped_early:
            line += " (STOPPED EARLY: time limit)"
        return line


def run_phase(
    phase: Phase,
    *,
    port: int,
    token: str,
    bodies: list[tuple[str, bytes]],
    threads: int,
    deadline: float,
) -> None:
    """Sends the bodies from `threads` threads, each with one keep-alive connection."""
    headers = {
        "Authorization": f"Token {token}",
        "Content-Type": "application/json",
        "Accept": "application/json",
        "Connection": "keep-alive",
    }
    cursor = iter(range(len(bodies)))
    cursor_lock = threading.Lock()

    def worker() -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=SOCKET_TIMEOUT)
        try:
            while True:
                if time.monotonic() > deadline:
                    phase.stopped_early = True
                    return
                with cursor_lock:
                    index = next(cursor, None)
                if index is None:
                    return
                path, body = bodies[index]
                started = time.perf_counter()
                try:
                    conn.request("POST", path, body=body, headers=headers)
                    response = conn.getresponse()
                    payload = response.read()
                except (OSError, http.client.HTTPException):
                    conn.close()
                    phase.record(time.perf_counter() - started, 0, None)
                    continue
                latency = time.perf_counter() - started
                parsed = json.loads(payload) if response.status < 500 else None
                phase.record(latency, response.status, parsed)
                if response.will_close:
                    conn.close()
        finally:
            conn.close()

    started = time.perf_counter()
    pool = [threading.Thread(target=worker) for _index in range(threads)]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join()
    phase.seconds = time.perf_counter() - started


def purchase(n: int, customers: int) -> dict:
    return {
        "external_id": f"BENCH-{n:09d}",
        "customer_external_id": f"BC-{n % customers:06d}",
        "occurred_at": f"2025-{1 + n % 12:02d}-{1 + n % 28:02d}T{9 + n % 10:02d}:15:00+03:00",
        "amount": f"{100 + (n * 7919) % 250_000}.{n % 100:02d}",
        "currency": "RUB",
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--single", type=int, default=2000, help="single POSTs")
    parser.add_argument("--threads", type=int, default=8, help="client threads for single POSTs")
    parser.add_argument("--bulk", type=int, default=100, help="bulk requests")
    parser.add_argument("--bulk-size", type=int, default=1000, help="purchases per bulk request")
    parser.add_argument("--bulk-threads", type=int, default=4, help="client threads for bulk")
    parser.add_argument("--replay", type=int, default=10, help="bulk requests sent again")
    parser.add_argument("--customers", type=int, default=5000)
    parser.add_argument("--workers", type=int, default=3, help="gunicorn workers (compose: 3)")
    parser.add_argument("--worker-class", default="sync", choices=["sync", "gthread"])
    parser.add_argument("--worker-threads", type=int, default=4, help="threads per gthread worker")
    parser.add_argument("--time-limit", type=float, default=900, help="seconds for the whole run")
    args = parser.parse_args()

    deadline = time.monotonic() + args.time_limit
    database_url = os.environ.get("DATABASE_URL", DEFAULT_DATABASE_URL)
    name = recreate_database(database_url)
    env = server_environment(database_url)
    process = None
    try:
        with tempfile.TemporaryDirectory() as folder:
            log = Path(folder) / "gunicorn.log"
            print(f"database {name}: migrating and seeding {args.customers:,} customers ...")
            manage(env, "migrate", "--no-input", "-v", "0")
            manage(env, "shell", "--no-imports", "-c", SEED.replace("{count}", str(args.customers)))
            token = manage(env, "issue_api_token", "bench-shop").strip()

            port = free_port()
            process = start_gunicorn(
                env,
                port=port,
                workers=args.workers,
                worker_class=args.worker_class,
                threads=args.worker_threads,
                log=log,
            )
            wait_until_healthy(port, process, time.monotonic() + 60, log)
            print(
                f"gunicorn on 127.0.0.1:{port}: {args.workers} {args.worker_class} workers"
                + (f" x {args.worker_threads} threads" if args.worker_class == "gthread" else "")
                + f"; {os.cpu_count()} CPUs shared with the client"
            )

            warm = Phase("warm-up", 1)
            warm_bodies = [
                (
                    "/api/v1/purchases/",
                    json.dumps(purchase(900_000_000 + n, args.customers)).encode(),
                )
                for n in range(50)
            ]
            run_phase(
                warm,
                port=port,
                token=token,
                bodies=warm_bodies,
                threads=args.threads,
                deadline=deadline,
            )

            single = Phase(f"single POST x {args.threads} threads", 1)
            single_bodies = [
                ("/api/v1/purchases/", json.dumps(purchase(n, args.customers)).encode())
                for n in range(args.single)
            ]
            run_phase(
                single,
                port=port,
                token=token,
                bodies=single_bodies,
                threads=args.threads,
                deadline=deadline,
            )
            print(single.report())

            bulk = Phase(
                f"bulk POST of {args.bulk_size:,} x {args.bulk_threads} threads", args.bulk_size
            )
            offset = args.single
            bulk_bodies = [
                (
                    "/api/v1/purchases/bulk/",
                    json.dumps(
                        {
                            "items": [
                                purchase(offset + r * args.bulk_size + i, args.customers)
                                for i in range(args.bulk_size)
                            ]
                        }
                    ).encode(),
                )
                for r in range(args.bulk)
            ]
            run_phase(
                bulk,
                port=port,
                token=token,
                bodies=bulk_bodies,
                threads=args.bulk_threads,
                deadline=deadline,
            )
            print(bulk.report())

            replay = Phase(f"bulk replay (all exist) x {args.bulk_threads} threads", args.bulk_size)
            replay_count = min(args.replay, len(bulk.latencies))
            run_phase(
                replay,
                port=port,
                token=token,
                bodies=bulk_bodies[:replay_count],
                threads=args.bulk_threads,
                deadline=deadline,
            )
            print(replay.report())

            stop_gunicorn(process)
            expected = (
                single.statuses.get(201, 0)
                + warm.statuses.get(201, 0)
                + bulk.items.get("created", 0)
            )
            stored = manage(
                env,
                "shell",
                "--no-imports",
                "-c",
                "from customers.models import Purchase; print(Purchase.objects.count())",
            ).strip()
            print(f"check: {stored} purchases stored, {expected} reported created")
            failures = sum(
                count
                for phase in (single, bulk, replay)
                for status, count in phase.statuses.items()
                if status not in (200, 201)
            )
            if int(stored) != expected or failures or replay.items.get("created"):
                print(f"FAILED: {failures} failed requests; see the numbers above")
                return 1
    finally:
        if process is not None:
            stop_gunicorn(process)
        drop_database(database_url)
        print(f"database {name} dropped")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
