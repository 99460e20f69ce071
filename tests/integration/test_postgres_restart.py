"""PostgreSQL crashes and comes back in the middle of a CSV purchase import.

On a throwaway cluster (its own port and folder, so the suite's server is never touched): the
import, run as a command in its own process, stops with a clear message instead of a traceback;
every batch it recorded before the crash is whole (each purchase with its points), and running the
same command again finishes the file with no purchase and no ledger entry recorded twice.
"""

import os
import subprocess
import sys
import time

import psycopg
import pytest

from customers.imports import BATCH_SIZE
from tests.conftest import IN_CI
from tests.integration.compose import ROOT
from tests.integration.postgres_server import ThrowawayPostgres, server_binaries

pytestmark = [pytest.mark.postgres, pytest.mark.timeout(420)]

CUSTOMERS = 500
PURCHASES = 5 * BATCH_SIZE  # five batches: the crash lands after the first and before the last


@pytest.fixture
def cluster():
    if server_binaries() is None:
        message = "needs the PostgreSQL server binaries (initdb, pg_ctl)"
        if IN_CI:
            pytest.fail(f"CI=true and {message}", pytrace=False)
        pytest.skip(message)
    server = ThrowawayPostgres()
    try:
        server.init()
        server.start()
        with psycopg.connect(server.url(), autocommit=True) as connection:
            connection.execute("CREATE DATABASE retention")
        yield server
    finally:
        server.destroy()


def _environment(database_url: str) -> dict[str, str]:
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in {"REDIS_URL", "CELERY_BROKER_URL", "TEST_REDIS_URL", "DJANGO_SETTINGS_MODULE"}
    }
    env.update(DATABASE_URL=database_url, PYTHONUNBUFFERED="1", LANGUAGE_CODE="en")
    return env


def _manage(env: dict[str, str], *args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout, check=False,
    )


def _counts(url: str) -> dict[str, int]:
    with psycopg.connect(url, connect_timeout=5) as connection:
        row = connection.execute(
            """
            SELECT
                (SELECT count(*) FROM customers_purchase),
                (SELECT count(DISTINCT external_id) FROM customers_purchase),
                (SELECT count(*) FROM loyalty_ledgerentry WHERE purchase_id IS NOT NULL),
                (SELECT count(DISTINCT purchase_id) FROM loyalty_ledgerentry
                 WHERE purchase_id IS NOT NULL),
                (SELECT count(*) FROM customers_purchase p WHERE NOT EXISTS (
                    SELECT 1 FROM loyalty_ledgerentry e WHERE e.purchase_id = p.id))
            """
        ).fetchone()
    return dict(
        zip(("purchases", "external_ids", "entries", "purchases_with_entries", "without_points"),
            row, strict=True)
    )


def _write_files(folder) -> tuple:
    customers = folder / "customers.csv"
    customers.write_text(
        "code;name\n" + "".join(f"C-{n};Customer {n}\n" for n in range(CUSTOMERS)),
        encoding="utf-8",
    )
    purchases = folder / "purchases.csv"
    # A 1C-style export: semicolons, decimal commas, dd.mm.yyyy, Windows-1251.
    lines = ["Номер документа;Код контрагента;Дата;Сумма\n"]
    lines += [
        f"D-{n:06d};C-{n % CUSTOMERS};{1 + n % 28:02d}.{1 + n % 12:02d}.2025;{100 + n % 9000},{n % 100:02d}\n"
        for n in range(PURCHASES)
    ]
    purchases.write_bytes("".join(lines).encode("cp1251"))
    return customers, purchases


def test_an_import_cut_by_a_database_crash_is_reported_and_a_rerun_completes_it_once(
    cluster, tmp_path
):
    url = cluster.url("retention")
    env = _environment(url)
    migrated = _manage(env, "migrate", "--noinput", "-v", "0")
    assert migrated.returncode == 0, migrated.stderr[-3000:]
    customers_csv, purchases_csv = _write_files(tmp_path)
    imported = _manage(env, "import_customers", str(customers_csv), "-v", "0")
    assert imported.returncode == 0, imported.stderr[-3000:]

    importing = subprocess.Popen(
        [sys.executable, "manage.py", "import_purchases", str(purchases_csv), "-v", "0"],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline and importing.poll() is None:
            if _counts(url)["purchases"] >= BATCH_SIZE:
                break
            time.sleep(0.05)
        assert importing.poll() is None, "the import ended before the crash could hit it"
        assert _counts(url)["purchases"] < PURCHASES
        cluster.stop(mode="immediate")  # a crash: no shutdown checkpoint, recovery on start
        time.sleep(1)
        cluster.start()
        stdout, stderr = importing.communicate(timeout=120)
    finally:
        if importing.poll() is None:
            importing.kill()
            importing.wait(timeout=10)

    assert importing.returncode != 0, stdout
    assert "Traceback" not in stderr, stderr[-3000:]
    assert "The database failed during the import" in stderr, stderr[-3000:]
    assert "Run the same command again" in stderr

    after_crash = _counts(url)
    # Whole batches only, each purchase with its points: the batch in flight was rolled back.
    assert 0 < after_crash["purchases"] < PURCHASES
    assert after_crash["purchases"] % BATCH_SIZE == 0, after_crash
    assert after_crash["without_points"] == 0, after_crash
    assert after_crash["entries"] == after_crash["purchases_with_entries"] == after_crash["purchases"]

    rerun = _manage(env, "import_purchases", str(purchases_csv), "-v", "0")
    assert rerun.returncode == 0, rerun.stderr[-3000:]
    created = PURCHASES - after_crash["purchases"]
    assert f"Created: {created}." in rerun.stdout, rerun.stdout
    assert f"Already present: {after_crash['purchases']}." in rerun.stdout, rerun.stdout

    final = _counts(url)
    assert final == {
        "purchases": PURCHASES,
        "external_ids": PURCHASES,
        "entries": PURCHASES,
        "purchases_with_entries": PURCHASES,
        "without_points": 0,
    }
    again = _manage(env, "import_purchases", str(purchases_csv), "-v", "0")
    assert again.returncode == 0
    assert "Created: 0." in again.stdout
    assert _counts(url) == final
    ledger = _manage(env, "check_ledger")
    assert ledger.returncode == 0, ledger.stdout + ledger.stderr
