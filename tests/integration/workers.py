"""A real Celery worker process against Redis and the test database, for integration tests."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import quote

from django.db import connection

from tests.integration.compose import ROOT, wait_for


def test_database_url() -> str:
    """The URL of the database this test process uses (the worker must use the same one)."""
    params = connection.settings_dict
    user = quote(params.get("USER") or "postgres")
    password = f":{quote(params['PASSWORD'])}" if params.get("PASSWORD") else ""
    host = params.get("HOST") or "127.0.0.1"
    port = params.get("PORT") or 5432
    return f"postgres://{user}{password}@{host}:{port}/{params['NAME']}"


class Worker:
    def __init__(self, *, broker_url: str, log_dir: Path, name: str = "w1", concurrency: int = 1,
                 visibility_timeout: int = 10, extra_env: dict | None = None) -> None:
        self.log_path = log_dir / f"worker-{name}.log"
        env = {
            **os.environ,
            "DATABASE_URL": test_database_url(),
            "CELERY_BROKER_URL": broker_url,
            "CELERY_RESULT_BACKEND": broker_url,
            # A killed worker's unacknowledged tasks come back after this many seconds.
            "CELERY_VISIBILITY_TIMEOUT": str(visibility_timeout),
            "PYTHONUNBUFFERED": "1",
            **(extra_env or {}),
        }
        env.pop("TEST_REDIS_URL", None)
        self._log = self.log_path.open("w")
        self.process = subprocess.Popen(
            [str(Path(sys.executable).parent / "celery"), "-A", "retention", "worker",
             "--loglevel", "INFO", "--concurrency", str(concurrency), "--pool", "prefork",
             "-n", f"{name}@%h", "--without-gossip", "--without-mingle", "--without-heartbeat"],
            cwd=ROOT, env=env, stdout=self._log, stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        wait_for(lambda: "ready" in self.log(), timeout=60, what=f"celery worker {name}")

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def kill(self) -> None:
        """SIGKILL the whole process group: the worker and its pool children die mid-task."""
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.kill()
        self._log.close()


def wait_until(predicate, *, timeout: float, what: str, every: float = 0.5):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(every)
    raise TimeoutError(f"timed out waiting for {what}")


def reset_producer_pools() -> None:
    """Forgets this process's broker connections, so the next send uses the current broker URL.

    kombu keeps producer pools per connection URL in a process-wide registry; a test that points
    the app at another broker, or stops one, must drop them all.
    """
    from kombu import pools

    from retention.celery import app

    pools.reset()
    app._pool = None
    app.amqp._producer_pool = None
