"""Reliability fixtures and checks (issue 7).

Everything here runs against a real sandbox over loopback HTTP. The helpers
check the promises from the server's side: every declared resource exists
exactly once (counted by paging ``POST /v1/{path}/filter``), nothing else
exists, and the state file agrees with the server. ``--soak`` (declared in
``tests/conftest.py``) also runs the long variants marked ``soak``.

Figures (faults injected, trials, duplicates, lost updates) are collected in the
session-wide ``figures`` dict, printed at the end of the run and, when
``DECLSYNC_RELIABILITY_FIGURES`` names a file, written there as JSON (they feed
``docs/reliability.md``).
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

import httpx
import pytest
from helpers import Result as Result
from helpers import clear_settings_env
from helpers import run as run

from declsync.manifests.loader import load_manifests
from declsync.profile.model import default_profile
from declsync.sandbox import SandboxServer
from declsync.state import StateStore

REPO = Path(__file__).resolve().parents[2]
PROFILE = default_profile()

_FIGURES: dict[str, Any] = {}


# --------------------------------------------------------------------------- figures


@pytest.fixture(scope="session")
def figures() -> dict[str, Any]:
    """Numbers for docs/reliability.md, by test; printed at the end of the session."""
    return _FIGURES


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if not _FIGURES:
        return
    terminalreporter.section("reliability figures")
    for name, values in sorted(_FIGURES.items()):
        terminalreporter.write_line(f"{name}: {json.dumps(values, sort_keys=True)}")
    target = os.environ.get("DECLSYNC_RELIABILITY_FIGURES")
    if target:
        Path(target).write_text(json.dumps(_FIGURES, indent=2, sort_keys=True) + "\n")


# --------------------------------------------------------------------------- the CLI


def child_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DECLSYNC_") and k != "NO_COLOR"}
    env.update(extra)
    return env


def _default_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def spawn(args: Sequence[str], cwd: Path, *, stdout: Any = subprocess.DEVNULL,
          stderr: Any = subprocess.PIPE, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    """``python -m declsync ARGS`` as a child process."""
    # A child inherits an ignored SIGINT (e.g. under `nohup` or a non-interactive shell's `&`),
    # and Python then installs no KeyboardInterrupt handler: make sure it gets the default.
    reset = _default_sigint if signal.getsignal(signal.SIGINT) == signal.SIG_IGN else None
    return subprocess.Popen([sys.executable, "-m", "declsync", *args], cwd=cwd, env=env or child_env(),
                            stdout=stdout, stderr=stderr, text=True, preexec_fn=reset)


class LineWatcher:
    """Reads a child's stderr on a thread, counting progress lines (``-v``: one per resource)."""

    def __init__(self, proc: subprocess.Popen[str]) -> None:
        self.lines: list[str] = []
        self._cond = threading.Condition()
        self._done = False
        assert proc.stderr is not None
        self._stream = proc.stderr
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        for line in self._stream:
            with self._cond:
                self.lines.append(line)
                self._cond.notify_all()
        with self._cond:
            self._done = True
            self._cond.notify_all()

    def progress(self) -> int:
        with self._cond:
            return sum(1 for line in self.lines if line.startswith(("  applied:", "  failed:")))

    def wait_progress(self, count: int, timeout: float = 60.0) -> bool:
        """Wait until ``count`` resources were reported; False if the child ended first."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                done = sum(1 for line in self.lines if line.startswith(("  applied:", "  failed:")))
                if done >= count:
                    return True
                if self._done:
                    return False
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(f"no {count} progress lines within {timeout} s: {self.text()[-2000:]}")
                self._cond.wait(min(left, 0.5))

    def text(self) -> str:
        self._thread.join(timeout=30)
        with self._cond:
            return "".join(self.lines)


# --------------------------------------------------------------------------- manifests


def bench_generator() -> ModuleType:
    """``bench/generate.py`` (realistic orders, customers and locations), imported by path."""
    spec = importlib.util.spec_from_file_location("declsync_bench_generate", REPO / "bench" / "generate.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def write_customers(out: Path, n: int, *, variant: int = 0, prefix: str = "REL-CUST") -> Path:
    """``n`` small Customer manifests (one file), ``variant`` changes their notes/credit limit."""
    out.mkdir(parents=True, exist_ok=True)
    docs = []
    for i in range(n):
        docs.append(f"kind: Customer\nkey: {prefix}-{i:05d}\nspec:\n  name: Customer {i}\n  status: ACTIVE\n"
                    f"  notes: variant {variant}\n  creditLimit: {1000 * (i + 1) + variant}\n")
    (out / "customers.yaml").write_text("---\n".join(docs))
    return out


def declared(paths: Sequence[Path | str]) -> dict[str, set[str]]:
    """Kind name → the keys the manifests under ``paths`` declare."""
    out: dict[str, set[str]] = {}
    for res in load_manifests(list(paths), PROFILE):
        out.setdefault(res.kind, set()).add(res.key)
    return out


# --------------------------------------------------------------------------- the server's side


def quiet(server: SandboxServer) -> None:
    """No faults and no latency from now on (to inspect the results)."""
    server.clear_faults()
    server.set_fault_rates(fail_rate=0.0, drop_rate=0.0)
    server.set_latency(0.0)


def inventory(server: SandboxServer, kind: str) -> list[dict[str, Any]]:
    """Every live resource of a kind, by paging ``POST /v1/{path}/filter`` (no fault handling: call ``quiet`` first)."""
    path = PROFILE.kinds[kind].path
    items: list[dict[str, Any]] = []
    cursor: str | None = None
    with httpx.Client(base_url=server.base_url + "/", timeout=30) as http:
        for _ in range(10_000):
            body: dict[str, Any] = {"filter": {}, "pageSize": 250}
            if cursor:
                body["cursor"] = cursor
            answer = http.post(f"{path}/filter", json=body)
            assert answer.status_code == 200, answer.text
            page = answer.json()
            items.extend(page["data"])
            # The envelope each resource's contract names: pagination (customers) or pageInfo.
            info = page.get("pageInfo") or page["pagination"]
            if not info["hasNextPage"]:
                return items
            cursor = info["endCursor"]
    raise AssertionError("filter paging did not end")


@dataclass
class Check:
    resources: int = 0
    duplicates: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    unexpected: list[str] = field(default_factory=list)
    state_mismatches: list[str] = field(default_factory=list)

    def assert_ok(self) -> None:
        assert not self.duplicates, f"duplicated keys: {self.duplicates[:10]}"
        assert not self.missing, f"lost resources: {self.missing[:10]}"
        assert not self.unexpected, f"unexpected resources: {self.unexpected[:10]}"
        assert not self.state_mismatches, f"state disagrees with the server: {self.state_mismatches[:10]}"


def check_server(server: SandboxServer, expected: dict[str, set[str]], state_path: Path | None = None,
                 *, state_complete: bool = True) -> Check:
    """Count every kind on the server; compare with ``expected`` and with the state file.

    With ``state_complete`` every expected resource must be in the state; without it
    (after a crash) the state may lack some, but what it holds must match the server.
    """
    check = Check()
    live_ids: dict[tuple[str, str], str] = {}
    for kind in PROFILE.kinds:
        items = inventory(server, kind)
        keys = Counter(item.get("key") for item in items)
        check.resources += len(items)
        check.duplicates += [f"{kind}/{k} x{n}" for k, n in keys.items() if n > 1]
        want = expected.get(kind, set())
        check.missing += [f"{kind}/{k}" for k in sorted(want - set(keys))]
        check.unexpected += [f"{kind}/{k}" for k in sorted(set(keys) - want)]
        live_ids.update({(kind, item["key"]): item["id"] for item in items if item.get("key")})
    if state_path is not None:
        state = StateStore(state_path).read()  # must always parse
        recorded = set()
        for entry in state.entries():
            recorded.add((entry.kind, entry.key))
            if live_ids.get((entry.kind, entry.key)) != entry.id:
                check.state_mismatches.append(f"{entry.kind}/{entry.key}: state id {entry.id}, "
                                              f"server id {live_ids.get((entry.kind, entry.key))}")
        if state_complete:
            for kind, keys in expected.items():
                check.state_mismatches += [f"{kind}/{k}: not in the state" for k in sorted(keys)
                                           if (kind, k) not in recorded]
    return check


# --------------------------------------------------------------------------- fixtures


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty project directory as cwd, without DECLSYNC_* settings from outside."""
    monkeypatch.chdir(tmp_path)
    clear_settings_env(monkeypatch, "NO_COLOR")
    return tmp_path


@pytest.fixture
def examples(workdir: Path) -> Path:
    """``workdir`` with a copy of the example manifests in ``manifests/``."""
    shutil.copytree(REPO / "manifests", workdir / "manifests")
    return workdir


@pytest.fixture(scope="module")
def server() -> Iterator[SandboxServer]:
    with SandboxServer() as srv:
        yield srv


@pytest.fixture
def sandbox(server: SandboxServer) -> Iterator[SandboxServer]:
    """The module's sandbox (``:memory:``), emptied, without faults or latency."""
    server.reset()
    quiet(server)
    server.reset_stats()
    yield server
    quiet(server)
