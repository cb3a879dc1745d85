"""State locking, the module entry point, and the quickstart as a user runs it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from declsync.state import StateStore

from .conftest import REPO, run


def test_second_apply_fails_fast_on_the_state_lock(sandbox, workdir: Path) -> None:
    store = StateStore(".declsync/state.json")
    with store.locked(operation="apply"):
        result = run(["apply", "--auto-approve", "--api-url", sandbox.base_url])
    assert result.code == 1
    assert "state is locked by apply" in result.err and "force-unlock" in result.err
    assert sandbox.stats()["total"] == 0
    assert run(["apply", "--auto-approve", "--api-url", sandbox.base_url]).code == 0


def test_force_unlock_a_stale_lock(sandbox, workdir: Path) -> None:
    lock = Path(".declsync/state.json.lock")
    lock.parent.mkdir(parents=True, exist_ok=True)
    lock.write_text(json.dumps({"pid": 999999, "host": os.uname().nodename, "operation": "apply",
                                "created_at": "2026-01-01T00:00:00Z", "id": "dead-beef"}))
    blocked = run(["apply", "--auto-approve", "--api-url", sandbox.base_url])
    assert blocked.code == 1 and "stale" in blocked.err and "dead-beef" in blocked.err
    assert run(["force-unlock", "--force", "dead-beef"]).code == 0
    assert run(["apply", "--auto-approve", "--api-url", sandbox.base_url]).code == 0


def test_quickstart_as_a_subprocess(tmp_path: Path) -> None:
    """`declsync apply --auto-approve` from a fresh directory, then `plan` says No changes."""
    (tmp_path / "manifests").symlink_to(REPO / "manifests", target_is_directory=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith("DECLSYNC_")}
    first = subprocess.run([sys.executable, "-m", "declsync", "apply", "--auto-approve"], cwd=tmp_path, env=env,
                           capture_output=True, text=True, timeout=120)
    assert first.returncode == 0, first.stderr
    assert "Apply complete: 11 created, 0 updated." in first.stdout
    second = subprocess.run([sys.executable, "-m", "declsync", "plan", "--detailed-exitcode"], cwd=tmp_path, env=env,
                            capture_output=True, text=True, timeout=120)
    assert second.returncode == 0 and "No changes." in second.stdout, second.stdout + second.stderr
