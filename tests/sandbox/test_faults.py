"""Fault injection and the knobs tests and benchmarks use: fail_next, drop_after_commit, latency, stats."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest

from declsync.sandbox import SandboxServer, sandbox_server

from .conftest import order


def test_fail_next_fails_without_running(client: httpx.Client, sandbox: SandboxServer) -> None:
    sandbox.fail_next(2, 503)
    for _ in range(2):
        r = client.post("orders", json={"key": "O-1"})
        assert r.status_code == 503 and r.json()["error"] == "internal_server_error"
    assert client.get("orders", params={"key": "O-1"}).status_code == 404
    assert client.post("orders", json={"key": "O-1"}).status_code == 201
    assert sandbox.stats() == {"total": 4, "by_method": {"GET": 1, "POST": 3, "PATCH": 0, "DELETE": 0}, "writes": 1}


def test_admin_endpoints(client: httpx.Client, sandbox: SandboxServer) -> None:
    admin = sandbox.url + "/_admin"
    r = httpx.post(admin + "/faults", json={"count": 1, "status": 500})
    assert r.status_code == 200 and r.json() == {"failNext": 1, "dropAfterCommit": 0}
    assert client.post("orders/filter", json={}).status_code == 500
    assert httpx.post(admin + "/faults", json={"count": 1, "mode": "drop_after_commit"}).json()["dropAfterCommit"] == 1
    with pytest.raises(httpx.TransportError):
        client.post("orders", json={"key": "O-1"})
    stats = httpx.get(admin + "/stats").json()
    assert stats["total"] == 2 and stats["writes"] == 1 and stats["by_method"]["POST"] == 2
    assert httpx.post(admin + "/reset-stats").json()["total"] == 0
    assert sandbox.stats()["total"] == 0
    for bad in ({"count": -1}, {"count": "3"}, {"count": 1, "status": 200}, {"count": 1, "mode": "explode"}):
        r = httpx.post(admin + "/faults", json=bad)
        assert r.status_code == 400, bad


def test_drop_after_commit_loses_the_answer_but_keeps_the_write(client: httpx.Client, sandbox: SandboxServer) -> None:
    sandbox.drop_after_commit(1)
    headers = {"Idempotency-Key": "create-O-1"}
    with pytest.raises((httpx.RemoteProtocolError, httpx.ReadError)):
        client.post("orders", json={"key": "O-1"}, headers=headers)
    stored = client.get("orders", params={"key": "O-1"})
    assert stored.status_code == 200
    retry = client.post("orders", json={"key": "O-1"}, headers=headers)
    assert retry.status_code == 201 and retry.json() == stored.json()
    assert retry.headers["idempotent-replayed"] == "true"
    assert sandbox.stats()["writes"] == 1


def test_drop_after_commit_on_patch_and_delete(client: httpx.Client, sandbox: SandboxServer) -> None:
    order(client, "O-1")
    sandbox.drop_after_commit(2)
    # Reads and failed writes do not use up a drop.
    assert client.get("orders/O-1").status_code == 200
    assert client.patch("orders/O-1", json={"status": "bogus"}).status_code == 400
    with pytest.raises(httpx.TransportError):
        client.patch("orders/O-1", json={"status": "booked"})
    with pytest.raises(httpx.TransportError):
        client.delete("orders/O-1")
    assert client.get("orders/O-1").status_code == 404
    assert sandbox.stats()["writes"] == 3


class ServerWindows:
    """Server-side times of each ``/v1`` request's added latency: it enters when the app counts
    it (before the latency) and leaves at the fault check (right after). ``peak`` is the most
    requests inside their latency at once. Both hooks run on the server's event loop thread.

    No speed bound (a loaded machine must not fail these tests; speed is bench/'s business):
    overlap is proven by a request entering while another is still inside its latency."""

    def __init__(self, sandbox: SandboxServer, monkeypatch: pytest.MonkeyPatch) -> None:
        app = sandbox._app
        assert app is not None
        self.entered: list[float] = []
        self.left: list[float] = []
        self.peak = self._inside = 0
        count, take_failure = app.stats.request, app.faults.take_failure

        def enter(method: str) -> None:
            self.entered.append(time.monotonic())
            self._inside += 1
            self.peak = max(self.peak, self._inside)
            count(method)

        def leave() -> Any:
            self.left.append(time.monotonic())
            self._inside -= 1
            return take_failure()

        monkeypatch.setattr(app.stats, "request", enter)
        monkeypatch.setattr(app.faults, "take_failure", leave)

    def shortest(self) -> float:
        """A lower bound of the shortest stay: the i-th leave minus the i-th entry (sorted)."""
        return min(b - a for a, b in zip(sorted(self.entered), sorted(self.left), strict=True))


def test_latency_is_added_and_concurrent_requests_overlap(
    sandbox: SandboxServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    windows = ServerWindows(sandbox, monkeypatch)
    sandbox.set_latency(0.2)
    start = threading.Barrier(8)

    def call(_: int) -> float:
        with httpx.Client(base_url=sandbox.base_url + "/", timeout=30) as c:
            start.wait(timeout=30)
            started = time.perf_counter()
            assert c.post("orders/filter", json={}).status_code == 200
            return time.perf_counter() - started

    with ThreadPoolExecutor(8) as pool:
        durations = list(pool.map(call, range(8)))
    # The latency is added: every request took at least that long, as seen by both sides.
    assert min(durations) >= 0.2
    assert len(windows.left) == 8 and windows.shortest() >= 0.2 - 0.01  # asyncio's timer granularity
    # Concurrent requests overlap: one entered while another was still waiting out its latency.
    assert windows.peak >= 2


def test_concurrent_patches_overlap_their_latency(sandbox: SandboxServer, monkeypatch: pytest.MonkeyPatch) -> None:
    """Latency is per request and overlaps across connections (shown by the server's own
    times, not by a rate: throughput itself is measured by bench/run.py)."""
    workers, each = 32, 8
    clients = [httpx.Client(base_url=sandbox.base_url + "/", timeout=30) for _ in range(workers)]
    for i, c in enumerate(clients):
        order(c, f"O-{i}")
    windows = ServerWindows(sandbox, monkeypatch)
    sandbox.set_latency(0.02)

    def work(worker: int) -> None:
        for n in range(each):
            assert clients[worker].patch(f"orders/O-{worker}", json={"internalNotes": str(n)}).status_code == 200

    try:
        with ThreadPoolExecutor(workers) as pool:
            list(pool.map(work, range(workers)))
    finally:
        for c in clients:
            c.close()
    assert sandbox.stats()["by_method"]["PATCH"] == workers * each
    assert windows.shortest() >= 0.02 - 0.01
    assert windows.peak >= 2, "requests did not overlap"


def test_fail_rate_is_reproducible_with_a_seed() -> None:
    def outcomes() -> list[int]:
        with sandbox_server(fail_rate=0.5, seed=7) as server, httpx.Client() as c:
            return [c.post(server.base_url + "/orders/filter", json={}).status_code for _ in range(30)]

    first = outcomes()
    assert first == outcomes()
    assert {200, 500, 503} == set(first)


def test_a_handler_bug_is_a_json_500_and_logged(
    client: httpx.Client, sandbox: SandboxServer, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def broken(*_: object, **__: object) -> None:
        raise KeyError("bug")

    monkeypatch.setattr(sandbox.app.service, "get", broken)
    r = client.get("orders/x")
    assert r.status_code == 500 and r.json()["error"] == "internal_server_error"
    assert "sandbox handler failed on GET /v1/orders/x" in caplog.text
