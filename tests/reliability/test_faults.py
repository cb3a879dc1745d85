"""Promise 1: faults during apply never lose or duplicate data.

The sandbox fails 10 % of requests with 500/503 before running them, loses the
answer of 5 % of committed writes (the connection drops mid-answer), and a chaos
thread adds latency spikes and bursts of 429s. Apply of 500 resources converges:
after at most a second apply the plan is empty, every resource exists exactly
once, and the state file holds the server's ids.
"""

from __future__ import annotations

import random
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from declsync.sandbox import SandboxConfig, SandboxServer

from .conftest import bench_generator, check_server, declared, quiet, run


class Chaos:
    """Latency spikes and 429 bursts at seeded random moments, until stopped.

    A 429 burst is a real rate limit for a moment: a one-second window allowing only
    a few requests, answered with ``Retry-After`` and ``X-RateLimit-*`` like a server
    under load, then lifted.
    """

    def __init__(self, server: SandboxServer, seed: int) -> None:
        self.server = server
        self.rng = random.Random(seed)
        self.stop = threading.Event()
        self.spikes = 0
        self.bursts = 0
        self.refused = 0
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        burst = False  # alternate, starting with a burst, so that every run sees both
        while not self.stop.wait(self.rng.uniform(0.3, 0.8)):
            burst = not burst
            if not burst:
                self.spikes += 1
                self.server.set_latency(self.rng.choice((0.1, 0.25, 0.5)))
                self.stop.wait(self.rng.uniform(0.1, 0.4))
                self.server.set_latency(0.002)
            else:
                self.bursts += 1
                self.server.set_rate_limit(self.rng.randint(3, 12), window=1)
                self.stop.wait(self.rng.uniform(0.5, 1.5))
                limiter = self.server.app.limiter
                self.server.set_rate_limit(None)
                self.refused += limiter.refused if limiter is not None else 0

    def __enter__(self) -> Chaos:
        self.thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.stop.set()
        self.thread.join(timeout=5)


@pytest.fixture
def faulty() -> Iterator[SandboxServer]:
    config = SandboxConfig(fail_rate=0.10, drop_rate=0.05, seed=20261123, latency=0.002)
    with SandboxServer(config) as server:
        yield server


def _converge(faulty: SandboxServer, workdir: Path, orders: int, figures: dict[str, Any], name: str) -> None:
    manifests = bench_generator().write_manifests(orders, workdir / "manifests")
    expected = declared([manifests])
    total = sum(len(keys) for keys in expected.values())
    url = ["--api-url", faulty.base_url]
    applies = 0
    with Chaos(faulty, seed=orders) as chaos:
        for _ in range(2):
            applies += 1
            result = run(["apply", "--auto-approve", *url])
            assert "Traceback" not in result.all
            if result.code == 0:
                break
        assert result.code == 0, result.all[-3000:]
        plan = run(["plan", "--detailed-exitcode", *url])
        assert plan.code == 0 and "No changes." in plan.out, plan.all[-3000:]
    injected = faulty.faults_injected()
    quiet(faulty)
    check = check_server(faulty, expected, workdir / ".declsync" / "state.json")
    check.assert_ok()
    assert check.resources == total
    stats = faulty.stats()
    figures[name] = {
        "resources": total, "applies": applies, "requests": stats["total"], "writes_committed": stats["writes"],
        "faults_injected": injected, "latency_spikes": chaos.spikes, "429_bursts": chaos.bursts, "429_refused": chaos.refused,
        "duplicates": len(check.duplicates), "lost": len(check.missing), "state_mismatches": len(check.state_mismatches),
    }
    assert injected.get("drop", 0) > 0 and injected.get("500", 0) + injected.get("503", 0) > 0
    assert chaos.refused > 0 and chaos.spikes > 0


def test_apply_of_500_resources_under_faults_converges(faulty: SandboxServer, workdir: Path,
                                                       figures: dict[str, Any]) -> None:
    _converge(faulty, workdir, 250, figures, "faults_apply_500")


@pytest.mark.soak
def test_soak_apply_of_5000_resources_under_faults_converges(faulty: SandboxServer, workdir: Path,
                                                             figures: dict[str, Any]) -> None:
    _converge(faulty, workdir, 4750, figures, "faults_apply_5000_soak")
