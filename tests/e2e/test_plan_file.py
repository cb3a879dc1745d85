"""Saved plan files through the CLI: wrong shapes are refused in words, plans written by
earlier releases still apply (or are refused with a precise reason), ``show`` needs no API."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from .conftest import run

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "plan_v1"
HANDWRITTEN = Path(__file__).resolve().parents[1] / "fixtures" / "handwritten-mvmnt.yaml"


@pytest.mark.parametrize("content", ['"just a string"', "[]", "42", "null", '{"format_version": 1, "changes": "x"}',
                                     '{"format_version": 1, "changes": [{"action": "destroy"}]}'])
def test_a_plan_file_of_the_wrong_shape_is_refused_in_words(sandbox, workdir: Path, content: str) -> None:
    Path("plan.json").write_text(content, encoding="utf-8")
    result = run(["apply", "plan.json", "--auto-approve", "--api-url", sandbox.base_url])
    assert result.code == 1
    assert "internal error" not in result.all
    assert "Traceback" not in result.all
    assert "plan.json" in result.err
    assert "declsync plan --out" in result.err
    assert sandbox.stats()["total"] == 0


def _project(tmp: Path, with_state: bool) -> None:
    """The working directory a fixture plan was made in: its manifests, and (``with_state``)
    the embedded sandbox and state it was made against."""
    shutil.copytree(FIXTURES / "manifests", tmp / "manifests", dirs_exist_ok=True)
    if with_state:
        (tmp / ".declsync").mkdir(exist_ok=True)
        for name in ("sandbox.sqlite", "state.json"):
            shutil.copy(FIXTURES / name, tmp / ".declsync" / name)


def test_a_plan_saved_by_format_version_1_still_applies(workdir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Written by 0.1.0 (tests/fixtures/plan_v1), against the embedded sandbox it was made for,
    with the hand-written profile of that time (the bundled one now follows the MVMNT contract)."""
    monkeypatch.setenv("DECLSYNC_PROFILE", str(HANDWRITTEN))
    shutil.copy(FIXTURES / "plan-create.json", "plan.json")
    created = run(["apply", "plan.json", "--auto-approve"])
    assert created.code == 0, created.all
    assert "Apply complete: 9 created, 0 updated." in created.out


def test_a_version_1_plan_with_updates_and_a_prune_applies_against_its_own_state(
        workdir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DECLSYNC_PROFILE", str(HANDWRITTEN))
    shutil.rmtree("manifests")
    _project(workdir, with_state=True)
    shutil.copy(FIXTURES / "plan-update.json", "plan.json")
    result = run(["apply", "plan.json", "--auto-approve"])
    assert result.code == 0, result.all
    assert "Apply complete: 0 created, 2 updated, 1 deleted." in result.out
    assert run(["plan", "--detailed-exitcode"]).code == 0  # nothing left to do


def test_a_version_1_plan_for_another_state_is_refused_with_the_reason(workdir: Path) -> None:
    shutil.copy(FIXTURES / "plan-update.json", "plan.json")
    result = run(["apply", "plan.json", "--auto-approve"])
    assert result.code == 1
    assert "stale plan" in result.err
    assert "Traceback" not in result.all and "internal error" not in result.all


@pytest.mark.parametrize("fmt", ["text", "json", "markdown"])
def test_show_renders_a_saved_plan_as_plan_printed_it_without_the_api(sandbox, workdir: Path, fmt: str) -> None:
    printed = run(["plan", "--format", fmt, "--out", "plan.json", "--api-url", sandbox.base_url])
    assert printed.code == 0, printed.all
    before = sandbox.stats()["total"]
    shown = run(["show", "plan.json", "--format", fmt], env={"DECLSYNC_API_URL": "http://127.0.0.1:9"})
    assert shown.code == 0, shown.all
    if fmt == "json":
        # The JSON view keeps its own created_at etc.; the same view of the same plan.
        assert json.loads(shown.out) == json.loads(printed.out)
    elif fmt == "markdown":
        assert shown.out == printed.out  # the context line went to stderr
    else:
        # The first line names what the plan touches: plan names the state, show the plan file.
        assert shown.out.split("\n", 1)[0].endswith(", saved plan plan.json)")
        assert shown.out.split("\n", 1)[1] == printed.out.split("\n", 1)[1]
    assert sandbox.stats()["total"] == before
    assert not Path(".declsync/sandbox.sqlite").exists()  # no embedded sandbox started either


def test_show_refuses_a_file_that_is_no_plan(workdir: Path) -> None:
    Path("plan.json").write_text('{"format_version": 1, "changes": [{"action": "destroy"}]}', encoding="utf-8")
    result = run(["show", "plan.json"])
    assert result.code == 1
    assert "plan.json is not a saved declsync plan (" in result.err
    assert "Traceback" not in result.all
