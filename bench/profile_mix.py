"""Where the load test's CPU goes: each request of bench/load.py's mix, served in-process.

    .venv/bin/python bench/profile_mix.py --requests 40               # CPU ms and queries per endpoint
    .venv/bin/python bench/profile_mix.py --requests 40 --profile customer_page --top 30
    .venv/bin/python bench/profile_mix.py --requests 5 --sql purchase   # one request's SQL
    .venv/bin/python bench/profile_mix.py --profile all --save /tmp/mix.prof   # for pstats/snakeviz

Uses the base bench/load.py built (`bench/load.py --prepare-only`) and the production settings the
load test gives gunicorn (DEBUG off, PostgreSQL, Redis cache and broker), but calls Django's WSGI
handler directly, so the figures are the application's own: no HTTP server, no test client
instrumentation. Endpoints take turns (round robin), so whatever else the machine does falls on
all of them alike. For each endpoint of the mix it reports the median wall and CPU milliseconds
of the process (PostgreSQL's own CPU is not in it) and the number of SQL queries; --sql prints
one request's queries; --profile names an endpoint (or all) to run under cProfile and prints its
most expensive functions. A virtual machine's CPU figures vary from run to run with what the
host does: compare runs taken one after the other, and confirm with bench/load.py.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import os
import pstats
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/retention_bench_load")
os.environ.setdefault("REDIS_URL", os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/13"))
os.environ.setdefault("CELERY_BROKER_URL", os.environ["REDIS_URL"])
os.environ.update(DJANGO_SETTINGS_MODULE="retention.settings", DEBUG="false")
os.environ.setdefault("ALLOWED_HOSTS", "127.0.0.1")
os.environ.setdefault("SECRET_KEY", "profile-mix-" + "x" * 40)
# Production serves hashed static names from collectstatic's manifest: collected once, kept.
os.environ.setdefault("STATIC_ROOT", str(Path(tempfile.gettempdir()) / "retention-profile-static"))

import django  # noqa: E402

django.setup()

from django.core.handlers.wsgi import WSGIHandler  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.db import connection, reset_queries  # noqa: E402
from django.test.utils import CaptureQueriesContext  # noqa: E402

from bench import load  # noqa: E402


def environ_for(method: str, path: str, body: bytes | None, headers: dict) -> dict:
    path, _, query = path.partition("?")
    environ = {
        "REQUEST_METHOD": method,
        "PATH_INFO": path,
        "QUERY_STRING": query,
        "SERVER_NAME": "127.0.0.1",
        "SERVER_PORT": "443",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "wsgi.url_scheme": "http",
        "wsgi.input": io.BytesIO(body or b""),
        "wsgi.errors": sys.stderr,
        "wsgi.multithread": False,
        "wsgi.multiprocess": True,
        "wsgi.run_once": False,
        "wsgi.version": (1, 0),
        "REMOTE_ADDR": "127.0.0.1",
    }
    for name, value in headers.items():
        key = name.upper().replace("-", "_")
        if key == "CONTENT_TYPE":
            environ["CONTENT_TYPE"] = value
        else:
            environ[f"HTTP_{key}"] = value
    if body:
        environ["CONTENT_LENGTH"] = str(len(body))
    return environ


def serve(handler: WSGIHandler, request) -> tuple[int, bytes]:
    _name, method, path, body, headers = request
    statuses = []

    def start_response(status, response_headers, exc_info=None):
        statuses.append(int(status.split()[0]))

    chunks = handler(environ_for(method, path, body, headers), start_response)
    payload = b"".join(chunks)
    if hasattr(chunks, "close"):
        chunks.close()
    return statuses[0], payload


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=40, help="requests per endpoint")
    parser.add_argument("--profile", default="", help="an endpoint to profile, or all")
    parser.add_argument("--top", type=int, default=25)
    parser.add_argument("--save", default="", help="with --profile: also write the stats here")
    parser.add_argument("--sql", default="", help="an endpoint whose queries to print (one request)")
    parser.add_argument("--seed", type=int, default=7)
    options = parser.parse_args()

    if not (Path(os.environ["STATIC_ROOT"]) / "staticfiles.json").exists():
        call_command("collectstatic", "--noinput", verbosity=0)
    who = load.identities()
    mix = load.Mix(who, run_id=f"prof{random.randrange(10**6)}")
    handler = WSGIHandler()
    rng = random.Random(options.seed)
    by_name: dict[str, list] = {name: [] for name in load.MIX}
    # Three to warm each code path, --requests to time, one to print the SQL of, and as many to
    # profile: all different, so no purchase is a replay of one sent before.
    wanted = 3 + options.requests * 2 + 1
    while any(len(each) < wanted for each in by_name.values()):
        request = mix.build(rng)
        if len(by_name[request[0]]) < wanted:
            by_name[request[0]].append(request)
    for requests in by_name.values():
        for request in requests[:3]:
            serve(handler, request)

    # Round robin over the endpoints, so that whatever else the machine does (other processes,
    # a hypervisor's stolen time) falls on all of them alike.
    walls, cpus, queries = ({name: [] for name in by_name} for _ in range(3))
    statuses: dict[str, dict[int, int]] = {name: {} for name in by_name}
    for index in range(3, 3 + options.requests):
        for name, all_requests in by_name.items():
            reset_queries()
            with CaptureQueriesContext(connection) as captured:
                wall, cpu = time.perf_counter(), time.process_time()
                status, _payload = serve(handler, all_requests[index])
                cpus[name].append(time.process_time() - cpu)
                walls[name].append(time.perf_counter() - wall)
            queries[name].append(len(captured.captured_queries))
            statuses[name][status] = statuses[name].get(status, 0) + 1
    print(f"{'endpoint':16} {'wall ms':>8} {'cpu ms':>8} {'queries':>8}  statuses  (medians)")
    weighted = 0.0
    for name in by_name:
        cpu_ms = statistics.median(cpus[name]) * 1000
        weighted += cpu_ms * load.MIX[name] / sum(load.MIX.values())
        print(
            f"{name:16} {statistics.median(walls[name]) * 1000:8.1f} {cpu_ms:8.1f} "
            f"{statistics.median(queries[name]):8.0f}  {statuses[name]}"
        )
    print(f"mix-weighted CPU per request: {weighted:.1f} ms (medians; this process only)")

    if options.sql:
        with CaptureQueriesContext(connection) as captured:
            serve(handler, by_name[options.sql][-1])
        for number, query in enumerate(captured.captured_queries, 1):
            print(f"{number:3} {query['time']:>6} {query['sql'][:400]}")

    if options.profile:
        names = list(by_name) if options.profile == "all" else [options.profile]
        profiler = cProfile.Profile()
        profiler.enable()
        for name in names:
            for request in by_name[name][3 + options.requests : -1]:
                serve(handler, request)
        profiler.disable()
        if options.save:
            profiler.dump_stats(options.save)
        stats = pstats.Stats(profiler)
        stats.sort_stats("cumulative").print_stats(options.top)
        stats.sort_stats("tottime").print_stats(options.top)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
