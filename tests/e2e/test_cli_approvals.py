"""Issue 15 §1: a saved plan is the approval, the context every plan and prompt names,
Ctrl-D at the prompt, force-unlock's confirmation. Terminal behaviour under a pseudo-terminal."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from .conftest import run
from .ptyrun import run_pty


def url(sandbox) -> list[str]:
    return ["--api-url", sandbox.base_url]


def _writes(sandbox) -> int:
    return int(sandbox.stats()["writes"])


def test_a_saved_plan_applies_without_a_prompt_off_a_terminal(sandbox, workdir: Path) -> None:
    assert run(["plan", "--out", "p.json", *url(sandbox)]).code == 0
    applied = run(["apply", "p.json", *url(sandbox)])  # no --auto-approve, no terminal
    assert applied.code == 0, applied.all
    assert "Apply complete: 11 created" in applied.out
    assert "saved plan p.json" in applied.err and "no prompt" in applied.err


def test_a_saved_plan_applies_without_a_prompt_on_a_terminal(sandbox, workdir: Path) -> None:
    assert run(["plan", "--out", "p.json", *url(sandbox)]).code == 0
    result = run_pty(["apply", "p.json", *url(sandbox)])
    assert result.code == 0, result.out
    assert "Enter a value" not in result.out and "Apply complete: 11 created" in result.out


@pytest.mark.parametrize("extra", [["--prune"], ["--no-prune"], ["--target", "Order/*"], ["--exclude", "Order/*"],
                                   ["--kind", "Order"], ["manifests"], ["--allow-mass-delete"],
                                   ["--max-delete-fraction", "0.9"]])
def test_options_that_would_change_a_saved_plan_are_refused_alike(sandbox, workdir: Path, extra: list[str]) -> None:
    assert run(["plan", "--out", "p.json", *url(sandbox)]).code == 0
    sandbox.reset_stats()
    refused = run(["apply", "p.json", *extra, "--auto-approve", *url(sandbox)])
    assert refused.code == 1
    assert "would change the saved plan p.json" in refused.err and "Nothing was applied." in refused.err
    assert sandbox.stats()["total"] == 0


def test_every_plan_names_the_api_profile_and_state(sandbox, workdir: Path) -> None:
    token = "tok-abcdefgh-123"
    planned = run(["plan", *url(sandbox)], env={"DECLSYNC_TOKEN": token})
    first = planned.out.splitlines()[0]
    assert first == f"Target: {sandbox.base_url} (profile mvmnt, state .declsync/state.json)"
    assert token not in planned.all
    as_json = run(["plan", "--format", "json", *url(sandbox)])
    json.loads(as_json.out)  # stdout stays one JSON document; the context goes to stderr
    assert f"Target: {sandbox.base_url}" in as_json.err


def test_the_prompt_names_the_target_and_ctrl_d_cancels(sandbox, workdir: Path) -> None:
    result = run_pty(["apply", *url(sandbox)], answers=[("Enter a value", b"\x04")])
    assert result.code == 1, result.out
    assert f"Apply to {sandbox.base_url} (profile mvmnt, state .declsync/state.json)?" in result.out
    assert "Apply cancelled. Nothing was applied." in result.out and "Aborted" not in result.out
    assert _writes(sandbox) == 0 and not Path(".declsync/state.json").exists()


def test_yes_at_the_prompt_applies(sandbox, workdir: Path) -> None:
    result = run_pty(["apply", *url(sandbox)], answers=[("Enter a value", b"yes\n")])
    assert result.code == 0, result.out
    assert "Apply complete: 11 created" in result.out


def _stale_lock() -> Path:
    lock = Path(".declsync/state.json.lock")
    lock.parent.mkdir(parents=True, exist_ok=True)
    lock.write_text(json.dumps({"pid": 999999, "host": os.uname().nodename, "operation": "apply",
                                "created_at": "2026-01-01T00:00:00Z", "id": "dead-beef"}))
    return lock


def test_force_unlock_asks_or_needs_force(workdir: Path) -> None:
    lock = _stale_lock()
    refused = run(["force-unlock", "dead-beef"])
    assert refused.code == 1 and "--force" in refused.err and lock.exists()
    declined = run_pty(["force-unlock", "dead-beef"], answers=[("Enter a value", b"no\n")])
    assert declined.code == 1 and "The lock was kept." in declined.out and lock.exists()
    eof = run_pty(["force-unlock", "dead-beef"], answers=[("Enter a value", b"\x04")])
    assert eof.code == 1 and "The lock was kept." in eof.out and lock.exists()
    confirmed = run_pty(["force-unlock", "dead-beef"], answers=[("Enter a value", b"yes\n")])
    assert confirmed.code == 0, confirmed.out
    assert "Remove lock dead-beef from .declsync/state.json?" in confirmed.out and not lock.exists()
    _stale_lock()
    assert run(["force-unlock", "--force", "dead-beef"]).code == 0 and not lock.exists()
