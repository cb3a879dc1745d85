"""``declsync sandbox``: option parsing, seed, reset, and serving until interrupted."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner

from declsync.errors import ConfigError
from declsync.sandbox import SandboxConfig, SandboxServer, Store
from declsync.sandbox.cli import parse_clients, parse_duration, parse_rate_limit, sandbox_group
from declsync.sandbox.seed import DEMO_RESOURCES


@pytest.mark.parametrize(("text", "seconds"), [("20ms", 0.02), ("0.5s", 0.5), ("2", 2.0), (".5", 0.5), ("1m", 60.0)])
def test_parse_duration(text: str, seconds: float) -> None:
    assert parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize(("text", "per_minute"), [("600", 600), ("600/min", 600), ("10/s", 600), (" 5 / m ", 5)])
def test_parse_rate_limit(text: str, per_minute: int) -> None:
    assert parse_rate_limit(text) == per_minute


@pytest.mark.parametrize("bad", ["fast", "-1s", "20 ms ms", ""])
def test_bad_durations(bad: str) -> None:
    with pytest.raises(ConfigError):
        parse_duration(bad)


def test_bad_rate_limits_and_clients() -> None:
    for bad in ("0", "ten/min", "5/h"):
        with pytest.raises(ConfigError):
            parse_rate_limit(bad)
    assert parse_clients(("ci:s:3",)) == {"ci": "s:3"}
    with pytest.raises(ConfigError) as caught:
        parse_clients(("ci-without-secret-xyz",))
    assert "ci-without-secret-xyz" not in str(caught.value)


def test_bad_serve_options_raise_config_errors(tmp_path: Path) -> None:
    db = str(tmp_path / "s.sqlite")
    for args in (["--latency", "soon"], ["--fail-rate", "2"], ["--rate-limit", "x"], ["--client", "nosecret"]):
        result = CliRunner().invoke(sandbox_group, ["--db", db, "--port", "0", *args])
        assert isinstance(result.exception, ConfigError), (args, result.output)


def test_seed_is_idempotent_and_reset_wipes(tmp_path: Path) -> None:
    db = str(tmp_path / "nested" / "sandbox.sqlite")
    runner = CliRunner()
    first = runner.invoke(sandbox_group, ["seed", "--db", db])
    assert first.exit_code == 0, first.output
    assert f"{len(DEMO_RESOURCES)} created, 0 already present" in first.output
    second = runner.invoke(sandbox_group, ["--db", db, "seed"])
    assert second.exit_code == 0 and f"0 created, {len(DEMO_RESOURCES)} already present" in second.output
    with SandboxServer(SandboxConfig(db_path=db)) as server, httpx.Client(base_url=server.base_url + "/") as c:
        order = c.get("orders", params={"key": "DEMO-ORD-1001"}).json()
        assert order["totalRevenue"] == 1625.5 and order["customer"]["key"] == "DEMO-CUST-ACME"
        assert order["stops"][0]["requestedStart"] == "2025-01-20T14:00:00.000Z"
        location = c.get("locations/DEMO-LOC-ACME-CHI").json()
        assert location["customerId"] == c.get("customers/DEMO-CUST-ACME").json()["id"]
        shipment = c.get("shipments/DEMO-SHP-1001").json()
        # A reference answers the referenced resource's summary (id, key, friendlyId, scalars).
        assert shipment["order"]["id"] == order["id"] and shipment["order"]["key"] == "DEMO-ORD-1001"
        assert shipment["order"]["friendlyId"] == order["friendlyId"]
        keys = [r["key"] for r in c.post("customers/filter", json={}).json()["data"]]
        assert all(k.startswith("DEMO-") for k in keys) and len(keys) == 3
    reset = runner.invoke(sandbox_group, ["reset", "--db", db])
    assert reset.exit_code == 0 and f"{len(DEMO_RESOURCES)} resources deleted" in reset.output
    store = Store(db)
    assert store.count(include_deleted=True) == 0
    store.close()
    missing = runner.invoke(sandbox_group, ["reset", "--db", str(tmp_path / "none.sqlite")])
    assert missing.exit_code == 0 and "Nothing to reset" in missing.output


def test_serve_until_interrupted(tmp_path: Path) -> None:
    db = tmp_path / "served.sqlite"
    env = {**os.environ, "DECLSYNC_SANDBOX_TOKEN": "tok-cli-secret"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "declsync", "sandbox", "--port", "0", "--db", str(db), "--latency", "1ms"],
        stderr=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env, cwd=tmp_path,
    )
    try:
        assert proc.stderr is not None
        line = proc.stderr.readline()
        assert line.startswith("Sandbox API at http://127.0.0.1:") and "tok-cli-secret" not in line
        base_url = line.split()[3]
        headers = {"Authorization": "Bearer tok-cli-secret"}
        assert httpx.post(base_url + "/orders", json={"key": "O-1"}, headers=headers).status_code == 201
        assert httpx.post(base_url + "/orders", json={"key": "O-2"}).status_code == 401
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=15)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err
    assert "Traceback" not in err
    store = Store(str(db))
    assert store.count() == 1
    store.close()
