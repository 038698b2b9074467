"""A real PostgreSQL server for the tests, from Debian's ``postgresql`` package (the
Makefile's DEBIAN_PACKAGES): ``initdb`` into a temporary directory, ``postgres`` listening
on a Unix socket in that directory only (``listen_addresses = ''``), stopped by pid.

PostgreSQL refuses to run as root, and the tests run as root here and in CI: as root the
server runs as a dedicated unprivileged user (``sreconsole-pgtest``, created with
``useradd --system`` when missing) through ``runuser``; as anyone else it runs as that user.

Authentication is **peer** on the socket, as a team set-up would use: ``pg_ident.conf`` maps
the OS user running the tests to the roles the tests log in as (the administrator and the
operators they name), and nothing else — a role that is not mapped is refused, whatever the
environment (``PGUSER``, ``USER``) says.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path
from urllib.parse import quote

SERVER_USER = "sreconsole-pgtest"
ADMIN = "sreconsole_admin"


def bin_dir() -> Path | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/postgres"), key=lambda p: int(Path(p).parent.parent.name))
    return Path(found[-1]).parent if found else None


def _server_user() -> str | None:
    """The OS user the server runs as; None when the tests do not run as root."""
    if os.geteuid() != 0:
        return None
    try:
        pwd.getpwnam(SERVER_USER)
    except KeyError:
        subprocess.run(["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", SERVER_USER],
                       check=True, capture_output=True)
    return SERVER_USER


class Postgres:
    """One server for a test session. :meth:`dsn` names a role and a database on its socket."""

    def __init__(self, roles: tuple[str, ...], *, fsync: bool = False) -> None:
        self.bin = bin_dir()
        if self.bin is None:
            raise RuntimeError("PostgreSQL is not installed (apt-get install postgresql)")
        self.roles = (ADMIN, *roles)
        self.fsync = fsync
        self.dir = Path(tempfile.mkdtemp(prefix="sreconsole-pg-"))
        self.data = self.dir / "data"
        self.socket_dir = self.dir / "run"
        self.proc: subprocess.Popen | None = None
        self.user = _server_user()
        self.client = pwd.getpwuid(os.geteuid()).pw_name
        self._databases = 0

    def _as_server(self, argv: list[str]) -> list[str]:
        return ["runuser", "-u", self.user, "--", *argv] if self.user else argv

    def start(self) -> Postgres:
        self.socket_dir.mkdir(parents=True)
        if self.user:
            info = pwd.getpwnam(self.user)
            for p in (self.dir, self.socket_dir):
                os.chown(p, info.pw_uid, info.pw_gid)
        os.chmod(self.dir, 0o755)
        subprocess.run(self._as_server([str(self.bin / "initdb"), "-D", str(self.data), "-U", ADMIN, "-A", "peer",
                                        "--no-instructions", "-E", "UTF8", "--locale", "C"]),
                       check=True, capture_output=True, text=True)
        # Only the socket, only peer authentication, only the mapped roles.
        (self.data / "pg_hba.conf").write_text("local all all peer map=tests\n")
        (self.data / "pg_ident.conf").write_text("".join(f"tests {self.client} {role}\n" for role in self.roles))
        log = open(self.dir / "postgres.log", "wb")
        self.proc = subprocess.Popen(
            self._as_server([str(self.bin / "postgres"), "-D", str(self.data), "-k", str(self.socket_dir), "-c", "listen_addresses=",
                             "-c", f"fsync={'on' if self.fsync else 'off'}", "-c", "max_connections=60",
                             "-c", "shared_buffers=32MB"]),
            stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"postgres exited: {(self.dir / 'postgres.log').read_text()[-2000:]}")
            ready = subprocess.run([str(self.bin / "pg_isready"), "-h", str(self.socket_dir), "-U", ADMIN, "-d", "postgres"],
                                   capture_output=True)
            if ready.returncode == 0:
                return self
            time.sleep(0.1)
        raise RuntimeError("postgres did not start within 60 s")

    def dsn(self, role: str = ADMIN, database: str = "postgres") -> str:
        return f"postgresql://{quote(role)}@/{quote(database)}?host={quote(str(self.socket_dir), safe='')}"

    def admin(self, database: str = "postgres"):
        import psycopg

        return psycopg.connect(self.dsn(ADMIN, database), autocommit=True)

    def new_database(self) -> str:
        """A fresh, empty database (one per test)."""
        self._databases += 1
        name = f"t{os.getpid()}_{self._databases}"
        with self.admin() as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return name

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            try:  # the postmaster's own pid (runuser stands between it and us)
                os.kill(int((self.data / "postmaster.pid").read_text().split()[0]), signal.SIGINT)  # fast shutdown
            except (OSError, ValueError, IndexError):
                self.proc.terminate()
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        shutil.rmtree(self.dir, ignore_errors=True)
