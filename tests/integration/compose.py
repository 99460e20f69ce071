"""Runs the production processes of docker-compose.yml on this machine, with no Docker engine.

Each service's command and environment are read from docker-compose.yml itself, so the smoke test
exercises exactly what production runs. Only the addresses change: the compose host names `db` and
`redis` point at the local PostgreSQL and Redis, and gunicorn binds a free port on 127.0.0.1.
"""

import os
import re
import shlex
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import yaml

ROOT = Path(__file__).resolve().parents[2]
_VARIABLE = re.compile(r"\$\{(?P<name>\w+)(?::(?P<op>[-?])(?P<arg>[^}]*))?\}")


def interpolate(value: str, variables: dict[str, str]) -> str:
    """Expands ${NAME}, ${NAME:-default} and ${NAME:?error} as docker compose does."""

    def expand(match: re.Match) -> str:
        name, op, arg = match["name"], match["op"], match["arg"]
        current = variables.get(name, "")
        if current:
            return current
        if op == "-":
            return arg
        if op == "?":
            raise KeyError(f"{name}: {arg}")
        return ""

    return _VARIABLE.sub(expand, value)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _rehost(url: str, target: str) -> str:
    """Points a compose URL (db:5432, redis:6379/0) at the matching local target URL."""
    parts, local = urlsplit(url), urlsplit(target)
    netloc = local.netloc or parts.netloc
    path = local.path if local.path not in {"", "/"} else parts.path
    return urlunsplit((parts.scheme, netloc, path, parts.query, parts.fragment))


@dataclass
class ComposeService:
    name: str
    argv: list[str]
    env: dict[str, str]


@dataclass
class RunningProcess:
    name: str
    process: subprocess.Popen
    log_path: Path
    extra: dict = field(default_factory=dict)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def stop(self, timeout: float = 15) -> None:
        if self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=5)


def load_services(*, variables: dict[str, str], database_url: str, redis_url: str) -> dict:
    """The compose services with their argv and environment, pointed at the local servers."""
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    services = {}
    for name, spec in compose["services"].items():
        if "command" not in spec or "build" not in spec:
            continue
        env = {}
        for key, value in (spec.get("environment") or {}).items():
            env[key] = interpolate(str(value), variables)
        if "DATABASE_URL" in env:
            env["DATABASE_URL"] = _rehost(env["DATABASE_URL"], database_url)
        for key in ("REDIS_URL", "CELERY_BROKER_URL"):
            if key in env:
                env[key] = _rehost(env[key], redis_url)
        command = spec["command"]
        argv = shlex.split(command) if isinstance(command, str) else list(command)
        services[name] = ComposeService(name=name, argv=argv, env=env)
    return services


def process_env(service_env: dict[str, str], **overrides: str) -> dict[str, str]:
    """The environment a container would see, plus PATH to this virtualenv's executables."""
    bin_dir = str(Path(sys.executable).parent)
    base = {
        "PATH": f"{bin_dir}:{os.environ.get('PATH', '/usr/bin:/bin')}",
        "HOME": os.environ.get("HOME", "/tmp"),
        "LANG": "C.UTF-8",
        "PYTHONUNBUFFERED": "1",
    }
    return {**base, **service_env, **overrides}


def run_once(service: ComposeService, *, env: dict[str, str], timeout: float = 300) -> str:
    """Runs a one-off service (migrate) to completion; raises with its output when it fails."""
    result = subprocess.run(
        service.argv, cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout, check=False
    )
    if result.returncode != 0:
        raise RuntimeError(f"{service.name} failed:\n{result.stdout}\n{result.stderr}")
    return result.stdout


def start(service: ComposeService, *, env: dict[str, str], log_dir: Path, argv=None) -> RunningProcess:
    log_path = log_dir / f"{service.name}.log"
    log_file = log_path.open("w")
    process = subprocess.Popen(
        argv or service.argv,
        cwd=ROOT,
        env=env,
        stdout=log_file,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    return RunningProcess(name=service.name, process=process, log_path=log_path)


def wait_for(predicate, *, timeout: float, interval: float = 0.25, what: str = "condition"):
    """Polls `predicate` until it returns a truthy value; raises TimeoutError after `timeout` s."""
    deadline = time.monotonic() + timeout
    last_error: Exception | None = None
    while time.monotonic() < deadline:
        try:
            value = predicate()
        except Exception as error:  # noqa: BLE001 - retried until the deadline
            last_error = error
        else:
            if value:
                return value
        time.sleep(interval)
    raise TimeoutError(f"timed out waiting for {what}: {last_error!r}")
