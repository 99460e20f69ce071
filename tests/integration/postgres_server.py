"""A throwaway PostgreSQL cluster on a free port, for fault tests that stop and restart it.

Built with the server binaries of the machine (initdb, pg_ctl under /usr/lib/postgresql/*/bin or
on PATH), in a temporary folder, with trust authentication on 127.0.0.1 only and its socket in
that folder, so it shares nothing with the PostgreSQL the rest of the suite uses. PostgreSQL
refuses to run as root: when the tests run as root (CI on our machines), the cluster is owned
and run by the `postgres` OS user through runuser.
"""

import glob
import os
import pwd
import shutil
import subprocess
import tempfile
from pathlib import Path

from tests.integration.compose import free_port

# fsync off: commits still reach the operating system before they return, so they survive a
# crash of the server processes (what these tests do), just not of the machine. Commits stay
# synchronous: an asynchronous commit is lost by an immediate stop, which is not what is tested.
SERVER_OPTIONS = "-c fsync=off"


def server_binaries() -> Path | None:
    """The folder holding initdb and pg_ctl, newest version first; None if not installed."""
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=_version, reverse=True)
    for folder in candidates:
        if Path(folder, "initdb").exists() and Path(folder, "pg_ctl").exists():
            return Path(folder)
    found = shutil.which("initdb")
    return Path(found).parent if found and shutil.which("pg_ctl") else None


def _version(folder: str) -> int:
    name = Path(folder).parent.name
    return int(name) if name.isdigit() else 0


class ThrowawayPostgres:
    def __init__(self) -> None:
        binaries = server_binaries()
        if binaries is None:
            raise FileNotFoundError("PostgreSQL server binaries (initdb, pg_ctl) not found")
        self.binaries = binaries
        self.port = free_port()
        self.as_user = "postgres" if os.geteuid() == 0 else None
        self.directory = Path(tempfile.mkdtemp(prefix="retention-throwaway-pg-"))
        if self.as_user:
            account = pwd.getpwnam(self.as_user)
            os.chown(self.directory, account.pw_uid, account.pw_gid)
        self.data = self.directory / "data"
        self.log = self.directory / "server.log"
        self.superuser = "postgres"

    def url(self, database: str = "postgres") -> str:
        return f"postgres://{self.superuser}@127.0.0.1:{self.port}/{database}"

    def _run(self, *argv: str, timeout: float = 60) -> subprocess.CompletedProcess:
        command = [str(self.binaries / argv[0]), *argv[1:]]
        if self.as_user:
            command = ["runuser", "-u", self.as_user, "--", *command]
        return subprocess.run(
            command, cwd=self.directory, capture_output=True, text=True, timeout=timeout,
            check=True,
        )

    def init(self) -> None:
        self._run(
            "initdb", "-D", str(self.data), "-U", self.superuser, "--auth=trust",
            "--encoding=UTF8", "--locale=C.UTF-8", "--no-sync", timeout=120,
        )

    def start(self) -> None:
        options = (
            f"-p {self.port} -c listen_addresses=127.0.0.1 -k {self.directory} {SERVER_OPTIONS}"
        )
        self._run(
            "pg_ctl", "-D", str(self.data), "-l", str(self.log), "-o", options, "-w", "-t", "60",
            "start", timeout=90,
        )

    def stop(self, mode: str = "fast") -> None:
        """Stops the server; mode "immediate" is a crash (no shutdown checkpoint, recovery next)."""
        if (self.data / "postmaster.pid").exists():
            self._run("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "-t", "60", "stop")

    def server_log(self) -> str:
        try:
            return self.log.read_text(errors="replace")
        except OSError:
            return ""

    def destroy(self) -> None:
        try:
            self.stop(mode="immediate")
        finally:
            shutil.rmtree(self.directory, ignore_errors=True)
