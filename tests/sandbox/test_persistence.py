"""A file database survives restarts: resources, friendlyId sequence, key uniqueness, idempotency."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import httpx
import pytest

from declsync.errors import ConfigError
from declsync.sandbox import SandboxConfig, SandboxServer, Store


def test_data_survives_a_restart(tmp_path: Path) -> None:
    db = str(tmp_path / "sandbox.sqlite")
    with SandboxServer(SandboxConfig(db_path=db)) as server, httpx.Client(base_url=server.base_url + "/") as c:
        first = c.post("orders", json={"key": "O-1", "internalNotes": "kept"}, headers={"Idempotency-Key": "i-1"})
        assert first.status_code == 201
        assert c.post("orders", json={"key": "GONE"}).status_code == 201
        assert c.delete("orders/GONE").status_code == 204
    assert sqlite3.connect(db).execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    with SandboxServer(SandboxConfig(db_path=db)) as server, httpx.Client(base_url=server.base_url + "/") as c:
        assert c.get("orders/O-1").json() == first.json()
        assert c.post("orders", json={"key": "O-1"}).status_code == 409
        replay = c.post("orders", json={"key": "O-1", "internalNotes": "kept"}, headers={"Idempotency-Key": "i-1"})
        assert replay.status_code == 201 and replay.json() == first.json()
        assert c.post("orders", json={"key": "O-3"}).json()["friendlyId"] == "ORD-10003"
        assert c.get("orders/GONE").status_code == 404


def test_unusable_database_files_are_a_config_error(tmp_path: Path) -> None:
    junk = tmp_path / "junk.sqlite"
    junk.write_bytes(b"this is not a database" * 100)
    with pytest.raises(ConfigError, match="cannot open the sandbox database"):
        Store(str(junk))
    with pytest.raises(ConfigError):
        SandboxServer(SandboxConfig(db_path=str(tmp_path / "missing-dir" / "x.sqlite"))).start()


def test_a_busy_port_is_a_config_error() -> None:
    with SandboxServer() as server, pytest.raises(ConfigError, match="cannot listen"):
        SandboxServer(port=server.port).start()


def test_server_lifecycle() -> None:
    server = SandboxServer()
    with pytest.raises(RuntimeError):
        server.stats()
    server.start()
    try:
        assert server.running and server.base_url == server.url + "/v1"
        with pytest.raises(RuntimeError):
            server.start()
    finally:
        server.stop()
    assert not server.running
    server.stop()  # idempotent


@pytest.mark.parametrize(
    "settings",
    [{"fail_rate": 1.5}, {"latency": -1}, {"rate_limit": 0}, {"token_ttl": -5}, {"clients": {"id": ""}}],
)
def test_invalid_settings(settings: dict[str, object]) -> None:
    with pytest.raises(ConfigError):
        SandboxConfig(**settings)  # type: ignore[arg-type]
