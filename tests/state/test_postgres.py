"""PostgreSQL backend specifics: URLs, schema versions, clear errors, rows written, holders."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import textwrap
import uuid
from pathlib import Path
from typing import Any

import pytest
from helpers import run

from declsync.errors import ConfigError, StateError, StateLockError
from declsync.state import State, StateEntry, open_backend, parse_lock_timeout, public_dsn
from declsync.state.pg_migrations import SCHEMA_VERSION
from declsync.state.postgres import PostgresBackend

CUSTOMER = "kind: Customer\nkey: C-1\nspec:\n  name: One\n  status: ACTIVE\n"


def ws() -> str:
    return "w" + uuid.uuid4().hex[:10]


def entry(key: str, **spec: Any) -> StateEntry:
    return StateEntry(kind="Customer", key=key, id=f"id-{key}", spec=spec or {"name": key})


# --------------------------------------------------------------------------- without a server


@pytest.mark.parametrize(("text", "seconds"), [("0", 0.0), ("", 0.0), ("30", 30.0), ("30s", 30.0), ("2m", 120.0),
                                               ("1.5s", 1.5), ("500ms", 0.5), ("1h", 3600.0)])
def test_lock_timeout_durations(text: str, seconds: float) -> None:
    assert parse_lock_timeout(text) == seconds


@pytest.mark.parametrize("text", ["soon", "-1", "2 weeks", "1d"])
def test_bad_lock_timeout_is_a_config_error(text: str) -> None:
    with pytest.raises(ConfigError, match="--lock-timeout"):
        parse_lock_timeout(text)


def test_public_dsn_never_shows_the_password() -> None:
    shown = public_dsn("postgresql://ci:s3cr%40t@db.example:5433/declsync?workspace=prod&sslmode=require")
    assert shown == "postgresql://ci@db.example:5433/declsync?workspace=prod"
    backend = open_backend("postgresql://ci:s3cret@db.example/declsync")
    assert isinstance(backend, PostgresBackend) and backend.workspace == "default"
    assert "s3cret" not in backend.description


@pytest.mark.parametrize("value", ["mysql://u:pw-XYZ@h/db", "redis://h/0", "s3://bucket/state.json"])
def test_unknown_state_url_schemes_are_an_error_and_create_nothing(value: str, tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "manifests").mkdir()
    (tmp_path / "manifests" / "c.yaml").write_text(CUSTOMER)
    for command in ("plan", "apply"):
        result = run([command, "--state", value])
        assert result.code == 1 and "unknown state backend" in result.err, result.all
        assert "pw-XYZ" not in result.all and "Traceback" not in result.all
    # Before: a directory named after the scheme ("mysql:") held a private state file.
    assert [p.name for p in tmp_path.iterdir()] == ["manifests"]


def test_an_unreachable_database_is_one_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "manifests").mkdir()
    (tmp_path / "manifests" / "c.yaml").write_text(CUSTOMER)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # nothing listens here once closed
    url = f"postgresql://ci:TopSecret-1@127.0.0.1:{port}/db?workspace=x"
    for args in (["state", "list"], ["plan"], ["apply", "--auto-approve"]):
        result = run([*args, "--state", url])
        assert result.code == 1, result.all
        assert "cannot connect to the state database postgresql://ci@127.0.0.1" in result.err, result.all
        assert "TopSecret-1" not in result.all and "Traceback" not in result.all
    assert not (tmp_path / ".declsync" / "sandbox.sqlite").exists()  # stopped before starting any target


# --------------------------------------------------------------------------- with a server


def test_schema_is_created_once_and_versioned(pg_cluster: Any) -> None:
    db = pg_cluster.new_database()
    url = pg_cluster.dsn(db, workspace=ws())
    open_backend(url).read()
    open_backend(url).read()
    import psycopg

    with psycopg.connect(pg_cluster.dsn(db), autocommit=True) as conn:
        rows = conn.execute("SELECT version FROM declsync_schema ORDER BY version").fetchall()
        assert [r[0] for r in rows] == list(range(1, SCHEMA_VERSION + 1))
        conn.execute("INSERT INTO declsync_schema VALUES (99)")
    with pytest.raises(StateError, match="schema version 99, newer than this declsync"):
        open_backend(url).read()


def test_wrong_password_and_missing_permissions_are_clear(pg_cluster: Any) -> None:
    bad = pg_cluster.dsn(workspace="x").replace(pg_cluster.password, "Wrong-Pass-42")
    with pytest.raises(StateError, match="cannot connect") as info:
        open_backend(bad).read()
    assert "Wrong-Pass-42" not in str(info.value)
    db = pg_cluster.new_database()
    role = "r" + uuid.uuid4().hex[:8]
    pg_cluster.admin(f"CREATE ROLE {role} LOGIN PASSWORD 'Role-Pass-7'")
    pg_cluster.admin(f"REVOKE CREATE ON SCHEMA public FROM PUBLIC, {role}", db)
    url = f"postgresql://{role}:Role-Pass-7@{pg_cluster.host}:{pg_cluster.port}/{db}"
    with pytest.raises(StateError, match="grant the user CREATE") as info:
        open_backend(url).read()
    assert "Role-Pass-7" not in str(info.value)


def test_workspaces_share_a_database_without_seeing_each_other(pg_cluster: Any) -> None:
    a, b = open_backend(pg_cluster.dsn(workspace=ws())), open_backend(pg_cluster.dsn(workspace=ws()))
    with a.locked() as session:
        session.state.put(entry("A"))
        session.save()
    assert len(b.read()) == 0 and b.lineage() == ""
    with b.locked() as session:
        session.lock({("Customer", "A")})  # same key, other workspace: not held
        session.state.put(entry("B"))
        session.save()
    assert [e.key for e in a.list()] == ["A"] and [e.key for e in b.list()] == ["B"]


def test_a_save_writes_only_the_rows_it_changed(pg_cluster: Any) -> None:
    url = pg_cluster.dsn(workspace=ws())
    backend = open_backend(url)
    base = State(serial=1, lineage=str(uuid.uuid4()))
    for i in range(5000):
        base.put(entry(f"C{i:05d}"))
    backend.import_state(base)
    with backend.locked() as session:
        keys = {("Customer", f"C{i:05d}") for i in range(0, 5000, 50)}
        session.lock(keys)
        for kind, key in keys:
            session.state.put(StateEntry(kind=kind, key=key, id=f"id-{key}", spec={"name": "changed"}))
        session.state.remove("Customer", "C00001")
        session.save()
        serial = session.state.serial
    import psycopg

    with psycopg.connect(pg_cluster.dsn(), autocommit=True) as conn:
        written = conn.execute("SELECT count(*) FROM declsync_entries WHERE workspace = %s AND serial = %s",
                               (backend.workspace, serial)).fetchone()  # type: ignore[attr-defined]
        total = conn.execute("SELECT count(*) FROM declsync_entries WHERE workspace = %s",
                             (backend.workspace,)).fetchone()  # type: ignore[attr-defined]
    assert written[0] == 100 and total[0] == 4999 and serial == 2


_HOLDER = textwrap.dedent("""
    import sys, time
    from declsync.state import open_backend
    with open_backend(sys.argv[1]).locked(operation="apply") as session:
        session.lock({("Customer", "held")})
        print("locked", flush=True)
        time.sleep(600)
""")


def test_a_lock_names_its_holder_process_and_dies_with_it(pg_cluster: Any) -> None:
    url = pg_cluster.dsn(workspace=ws())
    proc = subprocess.Popen([sys.executable, "-c", _HOLDER, url], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "locked"
        with pytest.raises(StateLockError) as info, open_backend(url).locked() as session:
            session.lock({("Customer", "held"), ("Customer", "free")})
        message = str(info.value)
        assert f"Customer/held is locked in state {public_dsn(url)} by apply (pid {proc.pid} on host " \
               f"{socket.gethostname()} since " in message
        assert pg_cluster.password not in message
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(30)
        # No force-unlock: the server ends the dead client's session and its locks.
        with open_backend(url).locked(lock_timeout=30) as session:
            session.lock({("Customer", "held")})
    finally:
        proc.kill()
        proc.wait(30)


def test_force_unlock_explains_there_is_nothing_to_force(pg_cluster: Any) -> None:
    result = run(["force-unlock", "--force", "some-id", "--state", pg_cluster.dsn(workspace=ws())])
    assert result.code == 1 and "releases a command's locks" in result.err
    assert pg_cluster.password not in result.all


def test_a_key_postgresql_cannot_store_is_refused_when_locked(pg_cluster: Any) -> None:
    with pytest.raises(StateError, match="NUL"), open_backend(pg_cluster.dsn(workspace=ws())).locked() as session:
        session.lock({("Customer", "a\0b")})


def _customers(directory: Path, prefix: str, notes: str = "v1") -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "c.yaml").write_text("---\n".join(
        f"kind: Customer\nkey: {prefix}-{i}\nspec:\n  name: {prefix} {i}\n  status: ACTIVE\n  notes: {notes}\n"
        for i in range(3)))
    return directory


@pytest.mark.parametrize("backend", ["file", "postgres"])
def test_saved_plans_of_disjoint_resources_do_not_stale_each_other(
        backend: str, pg_cluster: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from declsync.sandbox import SandboxServer

    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("DECLSYNC_STATE", raising=False)
    url = pg_cluster.dsn(workspace=ws()) if backend == "postgres" else str(tmp_path / "state.json")
    a, b = _customers(tmp_path / "a", "PA"), _customers(tmp_path / "b", "PB")
    with SandboxServer() as server:
        common = ["--api-url", server.base_url, "--state", url]
        assert run(["apply", "--auto-approve", *common, str(a), str(b)]).code == 0
        _customers(a, "PA", "v2")
        _customers(b, "PB", "v2")
        assert run(["plan", *common, "--out", "a.json", str(a)]).code == 0
        assert run(["plan", *common, "--out", "b.json", str(b)]).code == 0
        first = run(["apply", "--auto-approve", *common, "a.json"])
        assert first.code == 0, first.all
        second = run(["apply", "--auto-approve", *common, "b.json"])
        if backend == "postgres":
            assert second.code == 0, second.all  # per resource: A's save does not touch B's entries
        else:
            assert second.code == 1 and "state changed since the plan" in second.err  # one serial for the file
        # A plan whose own entries were saved since is still refused.
        _customers(a, "PA", "v3")
        assert run(["plan", *common, "--out", "a3.json", str(a)]).code == 0
        assert run(["apply", "--auto-approve", *common, str(a)]).code == 0
        stale = run(["apply", "--auto-approve", *common, "a3.json"])
        assert stale.code == 1 and "stale plan" in stale.err, stale.all
