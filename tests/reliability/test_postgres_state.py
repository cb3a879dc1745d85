"""Team state end to end: applies over real HTTP sharing one PostgreSQL state.

Each apply is a ``python -m declsync apply`` child process against the sandbox, with
``DECLSYNC_STATE=postgresql://…``. Two applies of disjoint resources both succeed and
overlap in time (both report progress while both are running); a third that needs a
resource one of them holds waits ``--lock-timeout`` and fails naming the holder, before
any write; a SIGKILLed apply's locks vanish with its connection, so the next apply
proceeds without ``force-unlock`` and converges with nothing duplicated.
"""

from __future__ import annotations

import contextlib
import signal
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from declsync.sandbox import SandboxServer
from declsync.state import open_backend

from .conftest import LineWatcher, child_env, declared, inventory, spawn, write_customers

# Each apply writes EACH resources one at a time, LATENCY seconds each: long enough to overlap.
EACH, LATENCY = 40, 0.2


def _apply(server: SandboxServer, cwd: Path, url: str, manifests: Path, *extra: str) -> subprocess.Popen[str]:
    args = ["-v", "apply", "--auto-approve", "--api-url", server.base_url, "--parallelism", "1", *extra,
            str(manifests)]
    return spawn(args, cwd, env=child_env(DECLSYNC_STATE=url))


@contextlib.contextmanager
def _children() -> Iterator[list[subprocess.Popen[str]]]:
    procs: list[subprocess.Popen[str]] = []
    try:
        yield procs
    finally:
        for proc in procs:
            proc.kill()
            proc.wait(30)


def _finish(proc: subprocess.Popen[str], watcher: LineWatcher) -> tuple[int, str]:
    code = proc.wait(120)
    return code, watcher.text()


def test_disjoint_applies_overlap_and_an_overlapping_one_names_the_holder(
        sandbox: SandboxServer, workdir: Path, pg_cluster: Any, figures: dict[str, Any]) -> None:
    url = pg_cluster.dsn(workspace="e2e" + uuid.uuid4().hex[:8])
    a = write_customers(workdir / "a", EACH, prefix="TEAM-A")
    b = write_customers(workdir / "b", EACH, prefix="TEAM-B")
    sandbox.set_latency(LATENCY)
    with _children() as procs:
        started = time.monotonic()
        first, second = _apply(sandbox, workdir, url, a), _apply(sandbox, workdir, url, b)
        procs += [first, second]
        w1, w2 = LineWatcher(first), LineWatcher(second)
        assert w1.wait_progress(1) and w2.wait_progress(1), w1.text() + w2.text()
        # Both have written while both are still running: the applies overlap.
        assert first.poll() is None and second.poll() is None
        # A third apply needing A's resources waits --lock-timeout, then names the holder.
        # (It plans first, at full parallelism so that its lookups end while the first still writes.)
        third = _apply(sandbox, workdir, url, a, "--lock-timeout", "1s", "--parallelism", "64")
        procs.append(third)
        w3 = LineWatcher(third)
        code3, err3 = _finish(third, w3)
        assert first.poll() is None, "the first apply ended before the third tried its lock: nothing was tested"
        assert code3 == 1, err3
        assert "TEAM-A-" in err3 and f"by apply (pid {first.pid} on host " in err3 and "waited 1s" in err3, err3
        assert pg_cluster.password not in err3 and "Traceback" not in err3
        assert w3.progress() == 0
        (c1, e1), (c2, e2) = _finish(first, w1), _finish(second, w2)
        together = time.monotonic() - started
        assert c1 == 0 and c2 == 0, e1 + e2
    state = open_backend(url).read()
    assert len(state) == 2 * EACH
    assert {i["key"] for i in inventory(sandbox, "Customer")} == declared([a, b])["Customer"]
    # The same two applies one after the other (new workspace, fresh resources), for the figures.
    sandbox.reset()
    url2 = pg_cluster.dsn(workspace="e2e" + uuid.uuid4().hex[:8])
    started = time.monotonic()
    for manifests in (a, b):
        proc = _apply(sandbox, workdir, url2, manifests)
        code, err = _finish(proc, LineWatcher(proc))
        assert code == 0, err
    figures["postgres_disjoint_applies"] = {"resources_each": EACH, "latency_s": LATENCY, "parallelism": 1,
                                            "concurrent_wall_s": round(together, 2),
                                            "sequential_wall_s": round(time.monotonic() - started, 2)}


def test_a_killed_apply_leaves_no_lock_behind(sandbox: SandboxServer, workdir: Path, pg_cluster: Any) -> None:
    url = pg_cluster.dsn(workspace="e2e" + uuid.uuid4().hex[:8])
    manifests = write_customers(workdir / "m", 20, prefix="KILL")
    sandbox.set_latency(0.1)
    with _children() as procs:
        proc = _apply(sandbox, workdir, url, manifests)
        procs.append(proc)
        watcher = LineWatcher(proc)
        assert watcher.wait_progress(3), watcher.text()
        proc.send_signal(signal.SIGKILL)
        proc.wait(30)
    sandbox.set_latency(0)
    again = _apply(sandbox, workdir, url, manifests)
    code, err = _finish(again, LineWatcher(again))
    assert code == 0, err
    assert "force-unlock" not in err
    keys = [i["key"] for i in inventory(sandbox, "Customer")]
    assert sorted(keys) == sorted(declared([manifests])["Customer"])  # nothing duplicated, nothing lost
    assert len(open_backend(url).read()) == 20
