"""A throwaway PostgreSQL cluster for tests: initdb + pg_ctl on a free loopback port.

``DECLSYNC_TEST_POSTGRES=postgresql://…`` uses an existing server instead (it must let
that user create databases). Otherwise the binaries are found on PATH or under
Debian's ``/usr/lib/postgresql/*/bin``. PostgreSQL refuses to run as root, so as root
the cluster runs as the ``postgres`` user (``runuser``). Host connections need a
password (scram), so that tests can check it never leaks.

Without PostgreSQL a test that needs it is skipped with the reason, except in CI
(``CI=true``), where it fails: CI must never pass by not running them.
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

PASSWORD = "pg-Secret-" + uuid.uuid4().hex[:12]
USER = "declsync_test"


@dataclass
class Cluster:
    host: str
    port: int
    user: str
    password: str

    def dsn(self, database: str = "postgres", workspace: str | None = None, password: bool = True) -> str:
        secret = f":{self.password}" if password else ""
        query = f"?workspace={workspace}" if workspace else ""
        return f"postgresql://{self.user}{secret}@{self.host}:{self.port}/{database}{query}"

    def admin(self, sql: str, database: str = "postgres") -> None:
        import psycopg

        with psycopg.connect(self.dsn(database), autocommit=True) as conn:
            conn.execute(sql)  # type: ignore[arg-type]

    def new_database(self) -> str:
        name = "t_" + uuid.uuid4().hex[:16]
        self.admin(f'CREATE DATABASE "{name}"')
        return name


def _bindir() -> Path | None:
    found = shutil.which("initdb")
    if found:
        return Path(found).resolve().parent
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    return Path(candidates[-1]).parent if candidates else None


def unavailable(reason: str) -> None:
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"PostgreSQL is required in CI: {reason}")
    pytest.skip(f"PostgreSQL not available ({reason}); install it (apt-get install postgresql) "
                "or set DECLSYNC_TEST_POSTGRES")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def cluster() -> Iterator[Cluster]:
    try:
        import psycopg  # noqa: F401
    except ImportError:
        unavailable("psycopg is not installed")
    external = os.environ.get("DECLSYNC_TEST_POSTGRES")
    if external:
        from urllib.parse import urlsplit

        parts = urlsplit(external)
        yield Cluster(parts.hostname or "127.0.0.1", parts.port or 5432, parts.username or "postgres",
                      parts.password or "")
        return
    bindir = _bindir()
    if bindir is None:
        unavailable("initdb not found on PATH or under /usr/lib/postgresql/*/bin")
    assert bindir is not None
    run_as: list[str] = []
    base = Path(tempfile.mkdtemp(prefix="declsync-pg-"))
    if os.geteuid() == 0:
        try:
            owner = pwd.getpwnam("postgres")
        except KeyError:
            unavailable("running as root and there is no 'postgres' user to run the server as")
        run_as = ["runuser", "-u", "postgres", "--"]
        os.chmod(base, 0o755)
        os.chown(base, owner.pw_uid, owner.pw_gid)
    data, pwfile = base / "data", base / "pw"
    pwfile.write_text(PASSWORD + "\n")
    if run_as:
        os.chown(pwfile, pwd.getpwnam("postgres").pw_uid, -1)
    port = _free_port()
    subprocess.run([*run_as, str(bindir / "initdb"), "-D", str(data), "-U", USER, "--pwfile", str(pwfile),
                    "--auth-local=trust", "--auth-host=scram-sha-256", "-E", "UTF8", "--no-sync"],
                   check=True, capture_output=True)
    log = base / "log"
    opts = f"-p {port} -k {base} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200"
    subprocess.run([*run_as, str(bindir / "pg_ctl"), "-D", str(data), "-l", str(log), "-o", opts, "-w",
                    "-t", "60", "start"], check=True, capture_output=True)
    try:
        found = Cluster("127.0.0.1", port, USER, PASSWORD)
        _wait(found)
        yield found
    finally:
        subprocess.run([*run_as, str(bindir / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"],
                       capture_output=True)
        shutil.rmtree(base, ignore_errors=True)


def _wait(found: Cluster) -> None:
    import psycopg

    deadline = time.monotonic() + 30
    while True:
        try:
            psycopg.connect(found.dsn(), connect_timeout=2).close()
            return
        except psycopg.OperationalError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)
