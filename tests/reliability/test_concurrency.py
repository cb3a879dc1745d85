"""Promise 3: two applies never interleave.

Two ``declsync apply`` processes started at the same moment: one runs, the other
fails fast on the state lock, naming the holder, and writes nothing. A lock left
by a killed process is reported as stale with its id, and ``declsync force-unlock
ID`` removes it.
"""

from __future__ import annotations

import json
import re
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from declsync.errors import StateLockError
from declsync.sandbox import SandboxServer
from declsync.state import StateStore

from .conftest import LineWatcher, check_server, declared, quiet, run, spawn, write_customers

LOCKED = re.compile(r"state is locked by apply \(pid (\d+) on host \S+ since \S+\); another declsync is running")


def _race(sandbox: SandboxServer, cwd: Path, variant: int) -> dict[str, float]:
    write_customers(cwd / "manifests", 120, variant=variant)
    sandbox.set_latency(0.03)  # the winner's apply lasts seconds: the loser cannot start after it
    args = ["apply", "--auto-approve", "--api-url", sandbox.base_url, "--parallelism", "2"]
    started = time.monotonic()
    procs = [spawn(args, cwd) for _ in range(2)]
    watchers = [LineWatcher(p) for p in procs]
    ended: dict[int, float] = {}

    def reap(i: int) -> None:
        procs[i].wait(timeout=120)
        ended[i] = time.monotonic() - started

    reapers = [threading.Thread(target=reap, args=(i,)) for i in range(2)]
    for t in reapers:
        t.start()
    for t in reapers:
        t.join(timeout=150)
    codes = sorted((p.returncode, i) for i, p in enumerate(procs))
    assert [c for c, _ in codes] == [0, 1], [(c, w.text()) for c, w in zip(codes, watchers, strict=True)]
    winner, loser = codes[0][1], codes[1][1]
    message = watchers[loser].text()
    assert "Traceback" not in message
    match = LOCKED.search(message)
    assert match, message
    assert int(match.group(1)) == procs[winner].pid
    assert "force-unlock" in message
    # Fails fast: long before the winner is done.
    assert ended[loser] < ended[winner] - 0.5, ended
    return {"loser_seconds": ended[loser], "winner_seconds": ended[winner]}


def _races(sandbox: SandboxServer, workdir: Path, rounds: int) -> dict[str, Any]:
    slowest_loser = 0.0
    for n in range(rounds):
        times = _race(sandbox, workdir, variant=n)
        slowest_loser = max(slowest_loser, times["loser_seconds"])
        assert run(["plan", "--detailed-exitcode", "--api-url", sandbox.base_url]).code == 0
    quiet(sandbox)
    check = check_server(sandbox, declared([workdir / "manifests"]), workdir / ".declsync" / "state.json")
    check.assert_ok()
    return {"rounds": rounds, "slowest_loser_seconds": round(slowest_loser, 2), "duplicates": len(check.duplicates)}


def test_two_applies_at_once_the_second_fails_fast_on_the_lock(sandbox: SandboxServer, workdir: Path,
                                                              figures: dict[str, Any]) -> None:
    figures["concurrent_applies"] = _races(sandbox, workdir, 2)


@pytest.mark.soak
def test_soak_concurrent_applies(sandbox: SandboxServer, workdir: Path, figures: dict[str, Any]) -> None:
    figures["concurrent_applies_soak"] = _races(sandbox, workdir, 10)


def test_lock_of_a_killed_process_is_stale_and_force_unlock_clears_it(sandbox: SandboxServer, workdir: Path) -> None:
    write_customers(workdir / "manifests", 200)
    sandbox.set_latency(0.02)
    url = ["--api-url", sandbox.base_url]
    proc = spawn(["-v", "apply", "--auto-approve", *url, "--parallelism", "2"], workdir)
    watcher = LineWatcher(proc)
    assert watcher.wait_progress(20), watcher.text()
    # While the holder lives, the lock is not called stale.
    busy = run(["apply", "--auto-approve", *url])
    assert busy.code == 1 and "another declsync is running" in busy.err and "stale" not in busy.err
    lock_id = json.loads((workdir / ".declsync" / "state.json.lock").read_text())["id"]
    proc.kill()
    proc.wait(timeout=30)
    blocked = run(["apply", "--auto-approve", *url])
    assert blocked.code == 1 and "Traceback" not in blocked.all
    assert "no longer exists: the lock is stale" in blocked.err and f"declsync force-unlock {lock_id}" in blocked.err
    wrong = run(["force-unlock", "--force", "00000000-0000-0000-0000-000000000000"])
    assert wrong.code == 1 and "does not match" in wrong.err
    assert (workdir / ".declsync" / "state.json.lock").exists()
    unlock = run(["force-unlock", "--force", lock_id])
    assert unlock.code == 0, unlock.all
    assert not (workdir / ".declsync" / "state.json.lock").exists()
    quiet(sandbox)
    done = run(["apply", "--auto-approve", *url])
    assert done.code == 0, done.all
    assert run(["plan", "--detailed-exitcode", *url]).code == 0
    check_server(sandbox, declared([workdir / "manifests"]), workdir / ".declsync" / "state.json").assert_ok()


def test_a_lock_still_being_written_is_not_called_damaged(tmp_path: Path) -> None:
    """The moment between creating the lock file and writing its holder: the second apply waits for it."""
    store = StateStore(tmp_path / "state.json")
    store.lock_path.write_text("")
    holder = {"id": "7c1f0000-0000-4000-8000-000000000001", "pid": 1, "host": "elsewhere",
              "operation": "apply", "created_at": "2026-01-01T00:00:00Z"}
    writer = threading.Timer(0.2, lambda: store.lock_path.write_text(json.dumps(holder)))
    writer.start()
    try:
        with pytest.raises(StateLockError, match=re.escape("state is locked by apply (pid 1 on host elsewhere")), \
                store.locked():
            pass
    finally:
        writer.join()


def test_concurrent_in_process_lockers_exactly_one_wins(tmp_path: Path) -> None:
    """Many threads try to lock at once: one holds it, every other fails fast."""
    store = StateStore(tmp_path / "state.json")
    barrier = threading.Barrier(8)
    outcomes: list[str] = []
    release = threading.Event()

    def attempt() -> None:
        barrier.wait()
        try:
            with StateStore(store.path).locked():
                outcomes.append("won")
                release.wait(5)
        except Exception as exc:
            outcomes.append(type(exc).__name__)

    threads = [threading.Thread(target=attempt) for _ in range(8)]
    for t in threads:
        t.start()
    deadline = time.monotonic() + 10
    while len(outcomes) < 8 and time.monotonic() < deadline:
        if outcomes.count("StateLockError") == 7:
            break
        time.sleep(0.01)
    release.set()
    for t in threads:
        t.join()
    assert sorted(outcomes) == ["StateLockError"] * 7 + ["won"]
    assert not store.lock_path.exists()

