"""Load test: the production web process under a mix of managers, reps and a shop's API calls.

    flock /tmp/bench.lock .venv/bin/python bench/load.py                 # build the base, run
    flock /tmp/bench.lock .venv/bin/python bench/load.py --reuse         # keep the base of last time
    flock /tmp/bench.lock .venv/bin/python bench/load.py --reuse --rate 0 --users 16  # saturation

What it does:
1. the base (skipped with --reuse when the database already holds it): a PostgreSQL database of
   its own (its name must contain "bench"; default retention_bench_load, or DATABASE_URL),
   migrated, with a synthetic base of 100k customers and about 280k purchases over two years
   (bench/synthetic.py), a sales manager, ten account reps owning a tenth of the base each, a
   shop system user with an API token, one scoring run (scores, segments and the dashboard's
   monthly metrics), then VACUUM ANALYZE;
2. gunicorn started with the very command and environment of docker-compose.yml's `web` service
   (read from the file, as the production smoke test does): DEBUG off, PostgreSQL, Redis as cache
   and broker (BENCH_REDIS_URL, default redis://127.0.0.1:6379/13: a database of its own, emptied
   before and after the run, never number 0), static files collected for
   whitenoise, bound to a free port on 127.0.0.1. Requests carry `X-Forwarded-Proto: https` as
   the TLS proxy in front of it would send, so secure cookies, HSTS and the SSL redirect stay on;
   --workers/--threads override the compose settings to compare others;
3. the load: client threads, each with its own keep-alive connection, send a weighted mix of
       dashboard       GET  /dashboard/                       the manager
       dashboard_panel GET  /dashboard/reps/ or /activity/    its lazily loaded panels (htmx)
       customer_list   GET  /customers/?page=N[&filters]       the manager or a rep
       customer_page   GET  /customers/<id>/                   a rep (own customer) or the manager
       log_outcome     POST /contacts/call-list/<id>/log/      a rep logs a call (htmx, CSRF)
       purchase        POST /api/v1/purchases/                 the shop, token auth (201 expected)
   Open loop by default: requests are scheduled at --rate per second whatever the answers, and
   each latency runs from the request's scheduled time, so a server that falls behind shows it in
   the latencies rather than hiding it by slowing the client down (coordinated omission).
   --rate 0 is a closed loop instead: --users threads send back to back (the saturation rate).
   A warm-up (--warmup seconds) is not counted; then --duration seconds are measured;
4. reports sustained requests per second, p50/p95/p99 latency per endpoint and overall, the error
   count (any answer other than the expected status, or no answer), the CPU used by gunicorn,
   by the load generator itself and by everything else (PostgreSQL, Redis) over the measured
   window (gunicorn's processes, the PostgreSQL sessions of the bench database, the load
   generator itself, the time the hypervisor stole from this virtual machine, and everything
   else on the machine), CPU seconds per request, the load
   average before and during the window, and checks that every purchase answered 201 is in the
   database exactly once. Adds the run to bench/results/load.json ({"runs": [...]}: every
   run is kept, with its label; --replace starts the file anew) and exits 1 on any error.

Sessions are created directly in the database (what a login stores), so the run measures pages
rather than deliberately slow password hashing. Everything binds 127.0.0.1; the run stops at
--time-limit whatever happens, and gunicorn is stopped at the end.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import platform
import random
import resource
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/retention_bench_load"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/13"
RESULTS = ROOT / "bench" / "results" / "load.json"
# The sessions made here are signed with this key, so gunicorn must use the same one.
SECRET_KEY = secrets.token_urlsafe(50)
REDIS_URL = os.environ.get("BENCH_REDIS_URL") or DEFAULT_REDIS_URL
os.environ.pop("REDIS_URL", None)  # this process's own cache stays in memory
os.environ.pop("CELERY_BROKER_URL", None)  # this process runs its set-up tasks in-process
os.environ.setdefault("DATABASE_URL", DEFAULT_DATABASE_URL)
os.environ.update(
    DJANGO_SETTINGS_MODULE="retention.settings", SECRET_KEY=SECRET_KEY, DEBUG="false"
)

import django  # noqa: E402

django.setup()

import psycopg  # noqa: E402
import redis  # noqa: E402
from django.conf import settings  # noqa: E402
from django.contrib.auth import (  # noqa: E402
    BACKEND_SESSION_KEY,
    HASH_SESSION_KEY,
    SESSION_KEY,
    get_user_model,
)
from django.contrib.auth.models import Group  # noqa: E402
from django.contrib.sessions.backends.db import SessionStore  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.db import DatabaseError, connection  # noqa: E402
from django.utils import timezone  # noqa: E402

from bench import synthetic  # noqa: E402
from common.roles import ACCOUNT_REP, SALES_MANAGER  # noqa: E402
from customers.models import Customer, Purchase  # noqa: E402
from tests.integration.compose import free_port, load_services, process_env  # noqa: E402

REPS = 10
MANAGER = "bench-manager"
SHOP = "bench-shop"
SOCKET_TIMEOUT = 30
# Weights of the mix: reading customers dominates a CRM's day; the dashboard is opened less often
# but is the heaviest page; purchases arrive from the shop all the time.
# A visit to the dashboard is its page and then its two lazily loaded (htmx) panels.
MIX = {
    "dashboard": 4,
    "dashboard_panel": 8,
    "customer_list": 20,
    "customer_page": 33,
    "log_outcome": 15,
    "purchase": 20,
}
EXPECTED_STATUS = {
    "dashboard": 200,
    "dashboard_panel": 200,
    "customer_list": 200,
    "customer_page": 200,
    "log_outcome": 200,
    "purchase": 201,
}


# --- the base -----------------------------------------------------------------------------------


def database_name() -> str:
    name = str(connection.settings_dict["NAME"])
    if connection.vendor != "postgresql" or "bench" not in name:
        raise SystemExit(f"refusing to run against {name!r}: a PostgreSQL database named *bench*")
    return name


def _admin() -> psycopg.Connection:
    params = connection.get_connection_params()
    for key in ("cursor_factory", "context"):
        params.pop(key, None)
    params["dbname"] = "postgres"
    return psycopg.connect(**params, autocommit=True)


def base_ready(customers: int) -> bool:
    """Whether the database holds a base built by this script with at least `customers`."""
    connection.close()
    with _admin() as admin:
        exists = admin.execute(
            "SELECT 1 FROM pg_database WHERE datname = %s", [database_name()]
        ).fetchone()
    if not exists:
        return False
    try:
        users = get_user_model().objects.filter(username__startswith="bench-").count()
        return users >= REPS + 2 and Customer.objects.count() >= customers
    except DatabaseError:  # a base whose build was interrupted
        return False


def build_base(customers: int, seed: int) -> None:
    name = database_name()
    connection.close()
    with _admin() as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.execute(f'CREATE DATABASE "{name}"')
    started = time.monotonic()
    call_command("migrate", verbosity=0, interactive=False)
    today = timezone.localdate()
    loaded = synthetic.load(
        customers, end=today - timedelta(days=1), process=synthetic.Process(), seed=seed
    )
    users = get_user_model().objects
    manager = users.create_user(MANAGER, password=None)
    manager.groups.add(Group.objects.get(name=SALES_MANAGER))
    shop = users.create_user(SHOP, password=None)
    shop.groups.add(Group.objects.get(name=SALES_MANAGER))
    rep_group = Group.objects.get(name=ACCOUNT_REP)
    rep_ids = []
    for number in range(REPS):
        rep = users.create_user(f"bench-rep-{number}", password=None)
        rep.groups.add(rep_group)
        rep_ids.append(rep.pk)
    with connection.cursor() as cursor:
        # Rep k owns the customers whose id is k modulo REPS: a tenth of the base each.
        cursor.execute(
            "UPDATE customers_customer SET owner_id = (%s::bigint[])[1 + id %% %s]",
            [rep_ids, REPS],
        )
    call_command("score", as_of=today, verbosity=0)
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE")
    print(
        f"base: {loaded.customers:,} customers, {loaded.purchases:,} purchases, scored, in "
        f"{time.monotonic() - started:.0f} s",
        flush=True,
    )


@dataclass
class Identities:
    manager_session: str
    rep_sessions: list[str]
    token: str
    customers: int


def identities() -> Identities:
    users = get_user_model().objects

    def session_for(user) -> str:
        store = SessionStore()
        store[SESSION_KEY] = str(user.pk)
        store[BACKEND_SESSION_KEY] = settings.AUTHENTICATION_BACKENDS[-1]
        store[HASH_SESSION_KEY] = user.get_session_auth_hash()
        store.create()
        return store.session_key

    from io import StringIO

    out = StringIO()
    call_command("issue_api_token", SHOP, "--rotate", stdout=out)
    return Identities(
        manager_session=session_for(users.get(username=MANAGER)),
        rep_sessions=[
            session_for(users.get(username=f"bench-rep-{number}")) for number in range(REPS)
        ],
        token=out.getvalue().strip().splitlines()[-1],
        customers=Customer.objects.count(),
    )


# --- gunicorn, as docker-compose.yml runs it ------------------------------------------------------


def web_command(port: int, *, workers: int | None, threads: int | None) -> tuple[list, dict]:
    services = load_services(
        variables={"SECRET_KEY": SECRET_KEY, "ALLOWED_HOSTS": "127.0.0.1"},
        database_url=os.environ["DATABASE_URL"],
        redis_url=REDIS_URL,
    )
    web = services["web"]
    argv = [
        f"127.0.0.1:{port}" if argument.startswith("0.0.0.0:") else argument
        for argument in web.argv
    ]
    argv[0] = str(Path(sys.executable).with_name(argv[0]))
    if workers is not None:
        argv[argv.index("--workers") + 1] = str(workers)
    if threads is not None:
        if "--threads" in argv:
            argv[argv.index("--threads") + 1] = str(threads)
        else:
            argv += ["--threads", str(threads)]
    return argv, web.env


def collect_static(env: dict[str, str]) -> None:
    subprocess.run(
        [sys.executable, "manage.py", "collectstatic", "--noinput", "-v", "0"],
        cwd=ROOT, env=env, check=True, timeout=300,
    )


def start_gunicorn(argv: list[str], env: dict[str, str], log: Path) -> subprocess.Popen:
    with log.open("w") as out:
        return subprocess.Popen(
            argv, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )


def wait_healthy(port: int, process: subprocess.Popen, log: Path, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"gunicorn exited during start-up:\n{log.read_text()[-3000:]}")
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            conn.request("GET", "/healthz")
            if conn.getresponse().status == 200:
                return
        except OSError:
            pass
        time.sleep(0.2)
    raise SystemExit(f"gunicorn did not answer /healthz:\n{log.read_text()[-3000:]}")


def stop_gunicorn(process: subprocess.Popen) -> None:
    if process.poll() is not None:
        return
    os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)


# --- CPU accounting ----------------------------------------------------------------------------


def _tree_cpu(pid: int) -> float:
    """CPU seconds (user + system) of a process and its live children."""
    total = 0.0
    pids = [pid]
    try:
        for task in Path(f"/proc/{pid}/task").iterdir():
            pids += [int(child) for child in (task / "children").read_text().split()]
    except OSError:
        pass
    for each in pids:
        try:
            fields = Path(f"/proc/{each}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return total


def _machine_cpu() -> tuple[float, float, float]:
    """(busy, total, stolen) CPU seconds of the whole machine since boot; stolen is the time the
    hypervisor gave this virtual machine's CPUs to others (counted in busy, used by nobody here)."""
    values = [int(value) for value in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    ticks = os.sysconf("SC_CLK_TCK")
    idle = values[3] + values[4]
    stolen = values[7] if len(values) > 7 else 0
    return (sum(values) - idle) / ticks, sum(values) / ticks, stolen / ticks


def _self_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


class PostgresMeter:
    """CPU of the PostgreSQL sessions (and parallel workers) serving the bench database.

    The server is shared with other work, so only the processes whose pg_stat_activity row names
    this database count. Sampled twice a second: a session that ends keeps its last reading, and
    one that starts inside the window counts from zero (it was born in it).
    """

    def __init__(self, database: str) -> None:
        self.database = database
        self.first: dict[int, float] = {}
        self.last: dict[int, float] = {}
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)

    def sample(self, admin: psycopg.Connection, *, initial: bool = False) -> None:
        pids = [
            row[0]
            for row in admin.execute(
                "SELECT pid FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()",
                [self.database],
            )
        ]
        for pid in pids:
            cpu = _tree_cpu(pid)
            if not cpu and pid not in self.last:
                continue
            self.first.setdefault(pid, cpu if initial else 0.0)
            self.last[pid] = max(cpu, self.last.get(pid, 0.0))

    def run(self) -> None:
        with _admin() as admin:
            self.sample(admin, initial=True)
            while not self.stopping.wait(0.5):
                self.sample(admin)
            self.sample(admin)

    def start(self) -> None:
        self.thread.start()

    def stop(self) -> float:
        self.stopping.set()
        self.thread.join(timeout=10)
        return sum(self.last[pid] - self.first.get(pid, 0.0) for pid in self.last)


# --- the load ----------------------------------------------------------------------------------


@dataclass
class Stats:
    latencies: list[float] = field(default_factory=list)
    statuses: dict[str, int] = field(default_factory=dict)
    errors: int = 0
    error_samples: list[str] = field(default_factory=list)

    def summary(self, seconds: float) -> dict:
        ordered = sorted(self.latencies)

        def pick(share: float) -> float | None:
            if not ordered:
                return None
            return round(ordered[min(len(ordered) - 1, int(share * len(ordered)))] * 1000, 1)

        return {
            "requests": len(ordered),
            "requests_per_s": round(len(ordered) / seconds, 1) if seconds else 0,
            "p50_ms": pick(0.50),
            "p95_ms": pick(0.95),
            "p99_ms": pick(0.99),
            "max_ms": round(ordered[-1] * 1000, 1) if ordered else None,
            "errors": self.errors,
            "statuses": dict(sorted(self.statuses.items())),
        }


class Client:
    """One keep-alive connection, re-opened whenever the server closes it."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.conn: http.client.HTTPConnection | None = None

    def send(self, method: str, path: str, body: bytes | None, headers: dict) -> tuple[int, bytes]:
        for attempt in (1, 2):
            if self.conn is None:
                self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=SOCKET_TIMEOUT)
            try:
                self.conn.request(method, path, body=body, headers=headers)
                response = self.conn.getresponse()
                payload = response.read()
            except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError):
                # A kept-alive connection the server had closed meanwhile: retry once, fresh.
                self.conn.close()
                self.conn = None
                if attempt == 2:
                    raise
                continue
            if response.will_close:
                self.conn.close()
                self.conn = None
            return response.status, payload
        raise AssertionError("unreachable")


class Mix:
    """Builds the requests of the mix; every choice comes from the caller's random generator."""

    CSRF = secrets.token_hex(16)  # a 32-character CSRF secret, sent as cookie and header

    def __init__(self, who: Identities, run_id: str) -> None:
        self.who = who
        self.run_id = run_id
        self.names = list(MIX)
        self.weights = list(MIX.values())
        self.counter = 0
        self.lock = threading.Lock()
        self.base = {"Host": "127.0.0.1", "X-Forwarded-Proto": "https", "Connection": "keep-alive"}

    def _browser(self, session: str) -> dict:
        return {**self.base, "Cookie": f"sessionid={session}; csrftoken={self.CSRF}"}

    def _own_customer(self, rng: random.Random, rep: int) -> int:
        # Rep k owns the ids equal to k modulo REPS (ids start at 1).
        top = (self.who.customers - rep) // REPS
        return rep + REPS * rng.randrange(1 if rep == 0 else 0, max(top, 1) + 1)

    def build(self, rng: random.Random) -> tuple[str, str, str, bytes | None, dict]:
        name = rng.choices(self.names, weights=self.weights)[0]
        rep = rng.randrange(REPS)
        rep_session = self.who.rep_sessions[rep]
        if name == "dashboard":
            return name, "GET", "/dashboard/", None, self._browser(self.who.manager_session)
        if name == "dashboard_panel":
            path = rng.choice(["/dashboard/reps/", "/dashboard/activity/"])
            headers = {**self._browser(self.who.manager_session), "HX-Request": "true"}
            return name, "GET", path, None, headers
        if name == "customer_list":
            session = self.who.manager_session if rng.random() < 0.5 else rep_session
            # Mostly browsing the first pages; filtered lists are shorter, so fewer pages there.
            query = {"page": rng.randint(1, 20)}
            draw = rng.random()
            if draw < 0.15:
                query = {"dormant": "true", "page": rng.randint(1, 3)}
            elif draw < 0.25:
                query = {"risk": "high", "page": rng.randint(1, 3)}
            elif draw < 0.30:
                query = {"q": f"BC-{rng.randint(1, self.who.customers)}"}
            path = "/customers/?" + urllib.parse.urlencode(query)
            return name, "GET", path, None, self._browser(session)
        if name == "customer_page":
            if rng.random() < 0.8:
                customer, session = self._own_customer(rng, rep), rep_session
            else:
                customer = rng.randint(1, self.who.customers)
                session = self.who.manager_session
            return name, "GET", f"/customers/{customer}/", None, self._browser(session)
        if name == "log_outcome":
            customer = self._own_customer(rng, rep)
            if rng.random() < 0.6:
                form = {"outcome": "no_answer", "channel": "phone"}
            else:
                form = {"outcome": "reached", "channel": "phone", "leave_reason": "price",
                        "notes": "Load test call"}
            headers = {
                **self._browser(rep_session),
                "Content-Type": "application/x-www-form-urlencoded",
                "X-CSRFToken": self.CSRF,
                "Referer": "https://127.0.0.1/contacts/call-list/",
                "HX-Request": "true",
            }
            path = f"/contacts/call-list/{customer}/log/"
            return name, "POST", path, urllib.parse.urlencode(form).encode(), headers
        with self.lock:
            self.counter += 1
            number = self.counter
        body = {
            "external_id": f"LOAD-{self.run_id}-{number:07d}",
            "customer_external_id": f"BC-{rng.randint(1, self.who.customers)}",
            "occurred_at": timezone.now().isoformat(),
            "amount": f"{rng.randint(100, 90_000)}.{rng.randint(0, 99):02d}",
            "currency": "RUB",
        }
        headers = {
            **self.base,
            "Authorization": f"Token {self.who.token}",
            "Content-Type": "application/json",
            "Accept": "application/json",
        }
        return name, "POST", "/api/v1/purchases/", json.dumps(body).encode(), headers


@dataclass
class Window:
    started: float
    stopped: float
    stats: dict[str, Stats]
    created_purchases: list[str]
    late_starts: int = 0
    scheduled: int = 0


def drive(
    *, port: int, mix: Mix, seconds: float, rate: float, users: int, seed: int
) -> Window:
    """Sends the mix for `seconds`: at `rate` requests/s (open loop) or back to back (rate 0)."""
    stats = {name: Stats() for name in MIX}
    created: list[str] = []
    lock = threading.Lock()
    sequence = iter(range(10**9))
    started = time.perf_counter()
    stop_at = started + seconds
    late = [0]

    def worker(index: int) -> None:
        rng = random.Random(seed * 1000 + index)
        client = Client(port)
        while True:
            if rate:
                with lock:
                    number = next(sequence)
                scheduled = started + number / rate
                # A request still unsent when the window ends is not sent at all (counted as
                # unsent): a server that cannot keep up must not stretch the run without bound.
                if scheduled >= stop_at or time.perf_counter() >= stop_at:
                    return
                delay = scheduled - time.perf_counter()
                if delay > 0:
                    time.sleep(delay)
                elif delay < -0.05:
                    with lock:
                        late[0] += 1
            else:
                scheduled = time.perf_counter()
                if scheduled >= stop_at:
                    return
            name, method, path, body, headers = mix.build(rng)
            try:
                status, payload = client.send(method, path, body, headers)
            except (OSError, http.client.HTTPException) as error:
                status, payload = 0, repr(error).encode()
            latency = time.perf_counter() - scheduled
            with lock:
                entry = stats[name]
                entry.latencies.append(latency)
                entry.statuses[str(status)] = entry.statuses.get(str(status), 0) + 1
                if status != EXPECTED_STATUS[name]:
                    entry.errors += 1
                    if len(entry.error_samples) < 3:
                        entry.error_samples.append(f"{status} {path}: {payload[:300]!r}")
                elif name == "purchase":
                    created.append(json.loads(body)["external_id"])

    threads = [threading.Thread(target=worker, args=(i,), daemon=True) for i in range(users)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=seconds + SOCKET_TIMEOUT * 3)
    return Window(
        started=started, stopped=time.perf_counter(), stats=stats, created_purchases=created,
        late_starts=late[0], scheduled=int(rate * seconds),
    )


# --- the run -----------------------------------------------------------------------------------


def _out_of_time(signum, frame) -> None:
    # Raised in the main thread, so the finally clauses still stop gunicorn.
    raise TimeoutError("bench/load.py: --time-limit reached")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--reuse", action="store_true", help="keep a base built by an earlier run")
    parser.add_argument("--rate", type=float, default=150, help="requests/s (0: closed loop)")
    parser.add_argument("--users", type=int, default=48, help="client threads (connections)")
    parser.add_argument("--duration", type=float, default=60, help="measured seconds")
    parser.add_argument("--warmup", type=float, default=10, help="seconds sent but not counted")
    parser.add_argument("--workers", type=int, help="gunicorn workers (default: compose's)")
    parser.add_argument("--threads", type=int, help="gunicorn threads per worker (gthread)")
    parser.add_argument("--time-limit", type=float, default=1800, help="seconds for everything")
    parser.add_argument("--output", type=Path, default=RESULTS)
    parser.add_argument(
        "--replace", action="store_true", help="drop the runs already in --output (kept by default)"
    )
    # Kept for old command lines: runs are added to the file by default now.
    parser.add_argument("--append", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--label", default="", help="a note stored with the run's figures")
    parser.add_argument("--keep-log", type=Path, help="copy gunicorn's log here")
    parser.add_argument("--prepare-only", action="store_true", help="build the base and stop")
    args = parser.parse_args()
    signal.signal(signal.SIGALRM, _out_of_time)
    signal.alarm(int(args.time_limit))

    name = database_name()
    load_before = os.getloadavg()
    if args.reuse and base_ready(args.customers):
        print(f"database {name}: reusing the base", flush=True)
    else:
        print(f"database {name}: building a base of {args.customers:,} customers ...", flush=True)
        build_base(args.customers, args.seed)
    if args.prepare_only:
        return 0
    who = identities()
    connection.close()
    bench_redis = redis.Redis.from_url(REDIS_URL)
    if bench_redis.connection_pool.connection_kwargs.get("db", 0) == 0:
        raise SystemExit("BENCH_REDIS_URL must name a Redis database other than 0: it is emptied")
    bench_redis.flushdb()  # queued tasks and cached figures of earlier runs

    port = free_port()
    argv, service_env = web_command(port, workers=args.workers, threads=args.threads)
    process = None
    with tempfile.TemporaryDirectory(prefix="retention-load-") as folder:
        env = process_env(
            service_env,
            STATIC_ROOT=str(Path(folder) / "static"),
            MEDIA_ROOT=str(Path(folder) / "media"),
        )
        log = Path(folder) / "gunicorn.log"
        try:
            collect_static(env)
            process = start_gunicorn(argv, env, log)
            wait_healthy(port, process, log)
            print(f"gunicorn on 127.0.0.1:{port}: {' '.join(argv[1:])}", flush=True)
            mix = Mix(who, run_id=secrets.token_hex(3))
            if args.warmup:
                drive(port=port, mix=mix, seconds=args.warmup, rate=args.rate, users=args.users,
                      seed=args.seed + 1)
            load_start = os.getloadavg()
            postgres = PostgresMeter(name)
            postgres.start()
            busy0, total0, stolen0 = _machine_cpu()
            client0, server0 = _self_cpu(), _tree_cpu(process.pid)
            window = drive(port=port, mix=mix, seconds=args.duration, rate=args.rate,
                           users=args.users, seed=args.seed)
            busy1, total1, stolen1 = _machine_cpu()
            client1, server1 = _self_cpu(), _tree_cpu(process.pid)
            database_cpu = postgres.stop()
            load_end = os.getloadavg()
        finally:
            if process is not None:
                stop_gunicorn(process)
            if args.keep_log and log.exists():
                shutil.copy(log, args.keep_log)
        errors_in_log = log.read_text(errors="replace").count("Traceback")

    seconds = window.stopped - window.started
    overall = Stats()
    for entry in window.stats.values():
        overall.latencies += entry.latencies
        overall.errors += entry.errors
        for status, count in entry.statuses.items():
            overall.statuses[status] = overall.statuses.get(status, 0) + count
    stored = Purchase.objects.filter(external_id__in=window.created_purchases).count()
    machine = (total1 - total0) or 1.0
    cpu = {
        "cores": os.cpu_count(),
        "machine_busy_share": round((busy1 - busy0) / machine, 3),
        "gunicorn_share": round((server1 - server0) / machine, 3),
        "load_generator_share": round((client1 - client0) / machine, 3),
        "postgresql_bench_sessions_share": round(database_cpu / machine, 3),
        "stolen_by_hypervisor_share": round((stolen1 - stolen0) / machine, 3),
        "other_share": round(
            (
                (busy1 - busy0) - (stolen1 - stolen0) - (server1 - server0)
                - (client1 - client0) - database_cpu
            ) / machine,
            3,
        ),
        "cpu_seconds_per_request": {
            "gunicorn": round((server1 - server0) / max(len(overall.latencies), 1), 4),
            "postgresql": round(database_cpu / max(len(overall.latencies), 1), 4),
            "load_generator": round((client1 - client0) / max(len(overall.latencies), 1), 4),
        },
    }
    summary = overall.summary(seconds)
    result = {
        "label": args.label,
        "command": "flock /tmp/bench.lock .venv/bin/python " + " ".join(sys.argv),
        "git_commit": _git_commit(),
        "when": timezone.now().isoformat(timespec="seconds"),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
        "load_average": {
            "before": [round(v, 2) for v in load_before],
            "at_start_of_window": [round(v, 2) for v in load_start],
            "at_end_of_window": [round(v, 2) for v in load_end],
        },
        "base": {"customers": who.customers, "reps": REPS},
        "gunicorn": " ".join(argv[1:]),
        "mode": f"open loop at {args.rate:g} requests/s" if args.rate else "closed loop",
        "client_threads": args.users,
        "measured_seconds": round(seconds, 1),
        "mix_weights": MIX,
        "overall": summary,
        "endpoints": {name: entry.summary(seconds) for name, entry in window.stats.items()},
        "error_samples": [s for entry in window.stats.values() for s in entry.error_samples],
        "late_starts": window.late_starts,
        "scheduled": window.scheduled or None,
        "unsent": max(window.scheduled - len(overall.latencies), 0) if window.scheduled else 0,
        "cpu": cpu,
        "purchases": {"answered_201": len(window.created_purchases), "stored": stored},
        "tracebacks_in_gunicorn_log": errors_in_log,
        "target": "150 requests/s at p95 < 300 ms, zero errors",
    }
    result["target_met"] = bool(
        summary["requests_per_s"] >= 150 and (summary["p95_ms"] or 1e9) < 300
        and summary["errors"] == 0 and result["unsent"] == 0
    )
    runs = []
    if not args.replace and args.output.exists():
        runs = json.loads(args.output.read_text()).get("runs", [])
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps({"runs": [*runs, result]}, indent=2) + "\n")
    print(table(result))
    bench_redis.flushdb()
    ok = summary["errors"] == 0 and stored == len(window.created_purchases)
    return 0 if ok else 1


def _git_commit() -> str:
    """The code that served the run (with "+changes" when the tree differs from it)."""
    try:
        head = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True,
            check=True, timeout=10,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"], cwd=ROOT,
            capture_output=True, text=True, check=True, timeout=10,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return head + ("+changes" if dirty else "")


def table(result: dict) -> str:
    lines = [
        f"{result['mode']}, {result['client_threads']} client threads, "
        f"{result['measured_seconds']} s measured; gunicorn {result['gunicorn']}",
        "| endpoint | requests | req/s | p50 ms | p95 ms | p99 ms | max ms | errors |",
        "|---|---|---|---|---|---|---|---|",
    ]
    rows = [*result["endpoints"].items(), ("overall", result["overall"])]
    for name, row in rows:
        lines.append(
            f"| {name} | {row['requests']} | {row['requests_per_s']} | {row['p50_ms']} | "
            f"{row['p95_ms']} | {row['p99_ms']} | {row['max_ms']} | {row['errors']} |"
        )
    cpu = result["cpu"]
    lines.append(
        f"CPU over the window ({cpu['cores']} cores): machine {cpu['machine_busy_share']:.0%} busy;"
        f" gunicorn {cpu['gunicorn_share']:.0%}, PostgreSQL (bench sessions)"
        f" {cpu['postgresql_bench_sessions_share']:.0%}, load generator"
        f" {cpu['load_generator_share']:.1%}, stolen by the hypervisor"
        f" {cpu.get('stolen_by_hypervisor_share', 0):.0%}, everything else on the machine"
        f" {cpu['other_share']:.0%};"
        f" CPU s per request {cpu['cpu_seconds_per_request']}"
    )
    lines.append(f"load average: {result['load_average']}")
    lines.append(
        f"purchases: {result['purchases']}; late starts {result['late_starts']}; "
        f"scheduled {result['scheduled']}, unsent {result['unsent']}; "
        f"tracebacks in gunicorn's log {result['tracebacks_in_gunicorn_log']}; "
        f"target met: {result['target_met']}"
    )
    lines.extend(f"  error: {sample}" for sample in result["error_samples"])
    return "\n".join(lines)


if __name__ == "__main__":
    raise SystemExit(main())
