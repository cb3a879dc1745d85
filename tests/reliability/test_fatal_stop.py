"""Issue 10, section 4: apply stops safely on a signal or a fatal error.

Each test runs ``python -m declsync apply`` as a child process against the sandbox
over loopback HTTP and checks, from the server's side, that apply stopped starting
writes, finished and recorded the ones in flight (or wrote a recovery file that the
next run merges), printed its summary, released the lock and exited 1:

* SIGTERM and SIGHUP (what CI sends on cancel or timeout) mid-apply, like Ctrl-C, and
  each acknowledged on stderr ("Interrupt received: finishing N in-flight writes");
* SIGTERM while planning: exit 130, nothing written, lock released;
* the stderr pipe closing under ``-v``;
* the state file becoming unwritable ("disk full", simulated with RLIMIT_FSIZE in the
  child: writing past the limit fails with EFBIG).
"""

from __future__ import annotations

import json
import re
import resource
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from declsync.sandbox import SandboxServer
from declsync.state import StateStore

from .conftest import LineWatcher, check_server, child_env, declared, quiet, run, spawn, write_customers

N = 400
STOPPED = re.compile(r"Apply (?:interrupted|stopped by an error): (\d+) created, (\d+) updated, (\d+) failed, "
                     r"(\d+) not applied\.")
ACK = re.compile(r"Interrupt received: finishing (\d+) in-flight writes?")


def _state(cwd: Path) -> Path:
    return cwd / ".declsync" / "state.json"


def _assert_recorded_exactly(sandbox: SandboxServer, cwd: Path, created: int) -> None:
    """The state holds exactly what the server has (the summary's count), nothing duplicated."""
    quiet(sandbox)
    live = check_server(sandbox, declared([cwd / "manifests"]), _state(cwd), state_complete=False)
    assert not live.duplicates and not live.state_mismatches, live
    assert live.resources == created == len(StateStore(_state(cwd)).read())


def _converges(sandbox: SandboxServer, cwd: Path) -> None:
    url = ["--api-url", sandbox.base_url]
    result = run(["apply", "--auto-approve", *url])
    assert result.code == 0, result.all[-2000:]
    plan = run(["plan", "--detailed-exitcode", *url])
    assert plan.code == 0 and "No changes." in plan.out, plan.all[-2000:]
    check_server(sandbox, declared([cwd / "manifests"]), _state(cwd)).assert_ok()


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGHUP, signal.SIGINT], ids=lambda s: s.name)
def test_signal_mid_apply_finishes_in_flight_writes_records_summarises_and_unlocks(
        sandbox: SandboxServer, workdir: Path, signum: signal.Signals, figures: dict[str, Any]) -> None:
    write_customers(workdir / "manifests", N)
    sandbox.set_latency(0.02)
    out = workdir / "out.txt"
    proc = spawn(["-v", "apply", "--auto-approve", "--api-url", sandbox.base_url, "--parallelism", "4"],
                 workdir, stdout=out.open("w"))
    watcher = LineWatcher(proc)
    assert watcher.wait_progress(20), watcher.text()
    proc.send_signal(signum)
    sent = time.monotonic()
    code = proc.wait(timeout=60)
    seconds = time.monotonic() - sent
    err, stdout = watcher.text(), out.read_text()
    assert code == 1, (code, err[-2000:], stdout[-500:])
    assert "Traceback" not in err + stdout
    ack = ACK.search(err)
    assert ack, err[-2000:]
    match = STOPPED.search(err)  # the interrupt summary: stderr (issue 15)
    assert match, (stdout[-1000:], err[-1000:])
    created, _, failed, not_applied = map(int, match.groups())
    figures[f"stop_{signum.name}"] = {"resources": N, "created": created, "not_applied": not_applied,
                                      "in_flight_acknowledged": int(ack.group(1)),
                                      "signal_to_exit_s": round(seconds, 2)}
    assert failed == 0 and not_applied > 0 and created + not_applied == N
    assert not (workdir / ".declsync" / "state.json.lock").exists()
    _assert_recorded_exactly(sandbox, workdir, created)
    _converges(sandbox, workdir)


def test_sigterm_while_planning_exits_130_without_writing_and_unlocks(sandbox: SandboxServer,
                                                                      workdir: Path) -> None:
    write_customers(workdir / "manifests", 800)
    sandbox.set_latency(1.0)
    proc = spawn(["apply", "--auto-approve", "--api-url", sandbox.base_url, "--parallelism", "4"], workdir)
    watcher = LineWatcher(proc)
    deadline = time.monotonic() + 30
    while sandbox.stats()["by_method"]["POST"] < 2 and time.monotonic() < deadline:
        time.sleep(0.02)  # the first lookups are in flight, under the lock
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=60) == 130, watcher.text()
    assert "Interrupted." in watcher.text() and "Traceback" not in watcher.text()
    assert sandbox.stats()["writes"] == 0
    assert not (workdir / ".declsync" / "state.json.lock").exists()


def test_stderr_pipe_closing_under_verbose_stops_apply_with_a_summary(sandbox: SandboxServer, workdir: Path,
                                                                      figures: dict[str, Any]) -> None:
    write_customers(workdir / "manifests", N)
    sandbox.set_latency(0.02)
    out = workdir / "out.txt"
    proc = spawn(["-v", "apply", "--auto-approve", "--api-url", sandbox.base_url, "--parallelism", "4"],
                 workdir, stdout=out.open("w"))
    assert proc.stderr is not None
    seen = 0
    for line in proc.stderr:
        seen += line.startswith("  applied:")
        if seen >= 20:
            break
    proc.stderr.close()  # whoever read apply's stderr went away
    code = proc.wait(timeout=60)
    stdout = out.read_text()
    assert code == 1, (code, stdout[-1000:])
    assert "Traceback" not in stdout
    match = STOPPED.search(stdout)
    assert match, stdout[-1000:]
    created = int(match.group(1))
    assert created < N
    figures["stop_stderr_closed"] = {"resources": N, "created": created}
    assert not (workdir / ".declsync" / "state.json.lock").exists()
    _assert_recorded_exactly(sandbox, workdir, created)
    _converges(sandbox, workdir)


class _Reader(threading.Thread):
    def __init__(self, stream: Any) -> None:
        super().__init__(daemon=True)
        self.stream, self.chunks = stream, []
        self.start()

    def run(self) -> None:
        for line in self.stream:
            self.chunks.append(line)

    def text(self) -> str:
        self.join(timeout=30)
        return "".join(self.chunks)


def test_state_save_failing_stops_apply_and_writes_a_recovery_file_the_next_apply_merges(
        sandbox: SandboxServer, workdir: Path, figures: dict[str, Any]) -> None:
    """'Disk full' while saving the state: the state file can no longer grow (RLIMIT_FSIZE)."""
    manifests = workdir / "manifests"
    write_customers(manifests, 300, prefix="OLD")
    first = run(["apply", "--auto-approve", "--api-url", sandbox.base_url])
    assert first.code == 0, first.all[-2000:]
    size = _state(workdir).stat().st_size
    # New resources next to the old ones: the state cannot be saved any more, but a recovery
    # file of what this apply recorded (a small part of the state) still fits.
    (manifests / "new").mkdir()
    write_customers(manifests / "new", N, prefix="NEW")
    limit = size + 2048

    def limited() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    sandbox.set_latency(0.05)
    proc = subprocess.Popen(
        [sys.executable, "-m", "declsync", "apply", "--auto-approve", "--api-url", sandbox.base_url,
         "--parallelism", "4"], cwd=workdir, env=child_env(), text=True,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, preexec_fn=limited)
    stdout_reader, stderr_reader = _Reader(proc.stdout), _Reader(proc.stderr)
    code = proc.wait(timeout=120)
    stdout, err = stdout_reader.text(), stderr_reader.text()
    assert code == 1, (code, stdout[-1000:], err[-2000:])
    assert "Traceback" not in stdout + err
    match = STOPPED.search(err)  # the interrupt summary: stderr (issue 15)
    assert match, (stdout[-1000:], err[-1000:])
    created = int(match.group(1))
    quiet(sandbox)
    # Stopped at the first failed save: far from all queued writes were sent.
    assert 0 < created < N, created
    figures["stop_state_save_failed"] = {"resources": N, "created": created, "not_applied": N - created}
    assert not (workdir / ".declsync" / "state.json.lock").exists()
    recovery = sorted((workdir / ".declsync").glob("state.json.recovery-*.json"))
    assert len(recovery) == 1, (err[-2000:], list((workdir / ".declsync").iterdir()))
    assert str(recovery[0].relative_to(workdir)) in err and "merge-recovery" in err, err[-2000:]
    # What completed is recorded: the old state plus the recovery file is exactly the server.
    data = json.loads(recovery[0].read_text())
    ids = {(e.kind, e.key): e.id for e in StateStore(_state(workdir)).read().entries()}
    ids.update({(e["kind"], e["key"]): e["id"] for e in data["put"]})
    live = check_server(sandbox, declared([manifests]), None, state_complete=False)
    assert len(ids) == live.resources == 300 + created and not live.duplicates
    # A plan warns that the state misses what the recovery file holds (and leaves it alone).
    plan = run(["plan", "--api-url", sandbox.base_url])
    assert plan.code == 0 and "holds state changes an earlier apply could not save" in plan.err, plan.err
    assert recovery[0].exists()
    # The next apply merges it first (and says so), then converges.
    result = run(["apply", "--auto-approve", "--api-url", sandbox.base_url])
    assert result.code == 0, result.all[-2000:]
    assert "Merged the recovery file" in result.err, result.err[-2000:]
    assert not recovery[0].exists()
    check_server(sandbox, declared([manifests]), _state(workdir)).assert_ok()
    assert {(e.kind, e.key): e.id for e in StateStore(_state(workdir)).read().entries()}.items() >= ids.items()


def test_merge_recovery_command_merges_a_recovery_file_from_elsewhere(sandbox: SandboxServer,
                                                                      workdir: Path) -> None:
    """A recovery file written away from the state (its directory was full) is merged by command."""
    write_customers(workdir / "manifests", 5)
    assert run(["apply", "--auto-approve", "--api-url", sandbox.base_url]).code == 0
    store = StateStore(_state(workdir))
    before = store.read()
    entries = [e.to_json() for e in before.entries()]
    # As if the apply that recorded CUST 3 and 4 and removed nothing had failed to save.
    with store.locked() as locked:
        for e in list(locked.state.entries())[3:]:
            locked.state.remove(e.kind, e.key)
        locked.save()
    elsewhere = workdir / "declsync-recovery.json"
    elsewhere.write_text(json.dumps({"format": "declsync-state-recovery", "format_version": 1,
                                     "state": str(_state(workdir)), "put": entries[3:], "removed": []}))
    result = run(["merge-recovery", str(elsewhere)])
    assert result.code == 0, result.all
    assert {(e.kind, e.key, e.id) for e in store.read().entries()} == {(e.kind, e.key, e.id) for e in before.entries()}
    assert not elsewhere.exists()
    assert run(["merge-recovery", str(elsewhere)]).code == 1
