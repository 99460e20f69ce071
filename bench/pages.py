"""Server time and query count of the four pages people open most, on a large PostgreSQL base.

    flock /tmp/bench.lock .venv/bin/python bench/pages.py            # build the base, then time
    flock /tmp/bench.lock .venv/bin/python bench/pages.py --reuse    # time an existing base

The base (built unless --reuse): 100k customers and about 2M purchases from bench/synthetic.py's
generator (BG/NBD purchase days, Gamma-Gamma spend, loaded with COPY), ten account reps owning
95% of the accounts (the rest unassigned), a sales manager; then the night runs as in production
(`run_nightly`: rescore, contact plan, points expiry, tiers) after loyalty has accrued the points
of the last `--loyalty-days` days of purchases (every purchase would take half an hour: loyalty
accrues about a millisecond per purchase, see README's known limits). So scores, monthly metrics,
cohorts, call lists and a points ledger all exist.

Then each page is requested `--requests` times (after two warm-up requests) through Django's test
client in this process, logged in as the user who opens it: the server time of each request
(middleware, view, template) and the number of SQL queries it ran. The figures are the median and
the 90th percentile time, and the query count (the same on every request, or the run says so).

Pages: the managers' dashboard and its lazily loaded panels (reps, activity, points liability),
also filtered to one rep; the customer list (first page, sorted by name, as it opens), for a
manager and for a rep; a customer page (the customer with the most purchases, and one with a
typical number) and its two lazily loaded panels (loyalty, contacts); and a rep's call list for
today (the rep with the longest list), as the rep and as a manager picking that rep.

Writes bench/results/pages.json and prints a Markdown table. Only runs against a PostgreSQL
database whose name contains "bench" (default postgres://postgres@127.0.0.1:5432/retention_dash_bench
or DATABASE_URL); the base is kept for --reuse.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "retention.settings")
os.environ.setdefault("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/retention_dash_bench")
# Nothing is sent while the night runs: e-mails and SMS stay in memory.
os.environ.setdefault("EMAIL_URL", "memorymail://")
os.environ["SMS_BACKEND"] = "contacts.sms.LocMemSmsBackend"

import django  # noqa: E402

django.setup()

from django.conf import settings  # noqa: E402
from django.contrib.auth import get_user_model  # noqa: E402
from django.contrib.auth.models import Group  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.db import connection, reset_queries  # noqa: E402
from django.test import Client  # noqa: E402
from django.test.utils import CaptureQueriesContext  # noqa: E402
from django.urls import reverse  # noqa: E402
from django.utils import timezone  # noqa: E402

from bench import synthetic  # noqa: E402
from bench.scoring import _admin_connection, check_database  # noqa: E402
from common.roles import ACCOUNT_REP, SALES_MANAGER, sync_roles  # noqa: E402

RESULTS = ROOT / "bench" / "results" / "pages.json"
REPS = 10
# About 20 orders per customer over two years: 100k customers give about 2M purchases.
PROCESS = synthetic.Process(r=1.4, alpha=20.0, a=0.5, b=12.0)
TARGET_MS = 300
TARGET_QUERIES = 15
PASSWORD_HASH = "!bench"  # unusable: the bench logs in with force_login


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


def recreate_database(name: str) -> None:
    connection.close()
    with _admin_connection() as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.execute(f'CREATE DATABASE "{name}"')
    call_command("migrate", verbosity=0)


def create_users() -> None:
    sync_roles()
    users = get_user_model()
    manager = users.objects.create(
        username="bench-manager", first_name="Bench", last_name="Manager", password=PASSWORD_HASH
    )
    manager.groups.add(Group.objects.get(name=SALES_MANAGER))
    rep_group = Group.objects.get(name=ACCOUNT_REP)
    for number in range(1, REPS + 1):
        rep = users.objects.create(
            username=f"bench-rep{number}",
            first_name="Rep",
            last_name=f"{number:02d}",
            password=PASSWORD_HASH,
        )
        rep.groups.add(rep_group)


def assign_and_contactable() -> None:
    """Owners (id modulo the reps; every 20th account unassigned), backups, addresses, consent."""
    rep_ids = list(
        get_user_model()
        .objects.filter(username__startswith="bench-rep")
        .order_by("pk")
        .values_list("pk", flat=True)
    )
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            UPDATE customers_customer SET
                owner_id = CASE WHEN id %% 20 = 0 THEN NULL
                    ELSE (%s::int[])[(id %% {REPS}) + 1] END,
                backup_id = CASE WHEN id %% 20 = 0 THEN NULL
                    ELSE (%s::int[])[((id + 1) %% {REPS}) + 1] END,
                email = 'customer' || id || '@example.test',
                phone = '+7900' || lpad(id::text, 7, '0'),
                consent_email = (id %% 3 = 0),
                consent_sms = (id %% 5 = 0)
            """,
            [rep_ids, rep_ids],
        )


def settle() -> None:
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE")
        cursor.execute("CHECKPOINT")


def accrue_loyalty(days: int) -> int:
    from customers.models import Purchase
    from loyalty.services.accrual import accrue_points_for_purchases

    since = timezone.now() - timedelta(days=days)
    ids = list(
        Purchase.objects.filter(occurred_at__gte=since).order_by("pk").values_list("pk", flat=True)
    )
    # One transaction per 20k purchases: bounded locks and memory, progress visible in the log.
    for start in range(0, len(ids), 20_000):
        accrue_points_for_purchases(purchase_ids=ids[start : start + 20_000])
    return len(ids)


def build(args) -> dict:
    name = check_database()
    started = time.monotonic()
    log(f"recreating {name} and migrating")
    recreate_database(name)
    create_users()
    today = timezone.localdate()
    log(f"generating and loading {args.customers:,} customers")
    loaded = synthetic.load(
        args.customers, end=today - timedelta(days=1), process=PROCESS, seed=args.seed
    )
    log(f"loaded {loaded.purchases:,} purchases")
    assign_and_contactable()
    settle()
    log(f"accruing loyalty points for the last {args.loyalty_days} days")
    accrued = accrue_loyalty(args.loyalty_days)
    log(f"accrued points for {accrued:,} purchases; running the night")
    from retention.nightly import run_nightly

    timings = {}
    for job in ("rescore", "plan_contacts", "expire_points", "review_tiers"):
        job_started = time.monotonic()
        run_nightly(today, only=[job])
        timings[job] = round(time.monotonic() - job_started, 1)
        log(f"{job}: {timings[job]} s")
    settle()
    return {
        "customers": loaded.customers,
        "purchases": loaded.purchases,
        "loyalty_purchases": accrued,
        "nightly_seconds": timings,
        "build_seconds": round(time.monotonic() - started, 1),
    }


def describe_base() -> dict:
    from contacts.models import CallListEntry
    from customers.models import Customer, CustomerScore, Purchase
    from loyalty.models import LedgerEntry

    return {
        "customers": Customer.objects.count(),
        "purchases": Purchase.objects.count(),
        "scores": CustomerScore.objects.count(),
        "open_call_list_entries": CallListEntry.objects.filter(status="open").count(),
        "ledger_entries": LedgerEntry.objects.count(),
    }


def pages() -> list[tuple[str, str, object]]:
    """(label, url, user) of each page timed."""
    from contacts.models import CallListEntry
    from customers.models import CustomerScore

    users = get_user_model()
    manager = users.objects.get(username="bench-manager")
    busiest = (
        CallListEntry.objects.filter(status="open", customer__owner__isnull=False)
        .values("customer__owner")
        .order_by()
        .annotate(n=django.db.models.Count("pk"))
        .order_by("-n")
        .first()
    )
    rep = users.objects.get(pk=busiest["customer__owner"]) if busiest else users.objects.get(
        username="bench-rep1"
    )
    scores = CustomerScore.objects.exclude(customer__owner=None).order_by("-frequency", "pk")
    heaviest = scores.values_list("customer_id", "customer__owner").first()
    count = scores.count()
    typical = scores.values_list("customer_id", "customer__owner")[count // 2]
    heavy_owner = users.objects.get(pk=heaviest[1])
    return [
        ("dashboard", reverse("dashboard"), manager),
        ("dashboard: reps panel", reverse("dashboard-reps"), manager),
        ("dashboard: activity panel", reverse("dashboard-activity"), manager),
        ("dashboard: liability panel", reverse("dashboard-liability"), manager),
        ("dashboard, one rep", f"{reverse('dashboard')}?rep={rep.pk}&period=12", manager),
        ("dashboard: liability panel, one rep", f"{reverse('dashboard-liability')}?rep={rep.pk}",
         manager),
        ("customer list", reverse("customers:list"), manager),
        ("customer list (rep)", reverse("customers:list"), rep),
        ("customer page (most purchases)", reverse("customers:detail", args=[heaviest[0]]), manager),
        ("customer page (typical)", reverse("customers:detail", args=[typical[0]]), manager),
        (
            "customer page (most purchases, its rep)",
            reverse("customers:detail", args=[heaviest[0]]),
            heavy_owner,
        ),
        (
            "customer page: loyalty panel",
            reverse("customer-loyalty-panel", args=[heaviest[0]]),
            manager,
        ),
        (
            "customer page: contacts panel",
            reverse("customer-contacts-panel", args=[heaviest[0]]),
            manager,
        ),
        ("call list", reverse("contacts:call-list"), rep),
        ("call list (manager picks the rep)", f"{reverse('contacts:call-list')}?rep={rep.pk}",
         manager),
    ]


def time_page(client: Client, url: str, requests: int) -> dict:
    first = None
    for _ in range(2):
        started = time.perf_counter()
        response = client.get(url)
        first = first or (time.perf_counter() - started) * 1000
        if response.status_code != 200:
            raise SystemExit(f"{url} answered {response.status_code}")
    times, counts = [], []
    for _ in range(requests):
        with CaptureQueriesContext(connection) as queries:
            started = time.perf_counter()
            response = client.get(url)
            elapsed = time.perf_counter() - started
        if response.status_code != 200:
            raise SystemExit(f"{url} answered {response.status_code}")
        times.append(elapsed * 1000)
        counts.append(len(queries.captured_queries))
        reset_queries()
    times.sort()
    return {
        "median_ms": round(statistics.median(times), 1),
        "p90_ms": round(times[int(0.9 * (len(times) - 1))], 1),
        "min_ms": round(times[0], 1),
        # The first request of this process: nothing cached yet (the dashboard's per-run figures,
        # the rep table), templates not yet compiled.
        "first_ms": round(first, 1),
        "queries": max(counts),
        "queries_vary": min(counts) != max(counts),
        "bytes": len(response.content),
    }


def markdown(rows: list[dict]) -> str:
    lines = [
        "| page | median ms | p90 ms | first request ms | queries | within 300 ms / 15 queries |",
        "|:---|---:|---:|---:|---:|:---|",
    ]
    for row in rows:
        ok = row["median_ms"] <= TARGET_MS and row["queries"] <= TARGET_QUERIES
        lines.append(
            f"| {row['page']} | {row['median_ms']:.0f} | {row['p90_ms']:.0f} "
            f"| {row['first_ms']:.0f} | {row['queries']}"
            f"{' (varies)' if row['queries_vary'] else ''} | {'yes' if ok else '**no**'} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--reuse", action="store_true", help="time the existing bench base")
    parser.add_argument("--customers", type=int, default=100_000)
    parser.add_argument("--loyalty-days", type=int, default=60)
    parser.add_argument("--requests", type=int, default=20)
    parser.add_argument("--seed", type=int, default=20261123)
    parser.add_argument("--only", nargs="*", help="page labels to time (default: all)")
    parser.add_argument("--output", type=Path, default=RESULTS)
    args = parser.parse_args()

    check_database()
    built = None if args.reuse else build(args)
    base = describe_base()
    log(f"base: {base}")
    settings.ALLOWED_HOSTS = [*settings.ALLOWED_HOSTS, "testserver"]
    load_before = os.getloadavg()
    rows = []
    for label, url, user in pages():
        if args.only and label not in args.only:
            continue
        client = Client()
        client.force_login(user)
        result = {"page": label, "url": url, "user": user.username, **time_page(
            client, url, args.requests
        )}
        log(f"{label}: {result['median_ms']} ms, {result['queries']} queries")
        rows.append(result)
    load_after = os.getloadavg()
    table = markdown(rows)
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
                "measured_at": timezone.now().isoformat(timespec="seconds"),
                "load_average": {
                    "before": [round(value, 2) for value in load_before],
                    "after": [round(value, 2) for value in load_after],
                },
                "debug": settings.DEBUG,
                "requests_per_page": args.requests,
                "base": base,
                "build": built,
                "pages": rows,
                "markdown": table,
            },
            indent=2,
        )
        + "\n"
    )
    log(f"written to {args.output}")


if __name__ == "__main__":
    main()
