"""Issue 15 §2: YAML syntax errors point at the character (line, column, caret) with a hint
for the usual causes; other manifest messages a new user trips on."""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers import run

from declsync.errors import ManifestError, Problem
from declsync.manifests.loader import load_manifests
from declsync.profile.model import load_profile, suggest

CASES = {
    "tab": ("kind: Carrier\nkey: C-1\nspec:\n\tname: x\n", 4, 1, "YAML does not allow tabs; indent with spaces"),
    "colon in value": ("kind: Carrier\nkey: C-1\nspec:\n  name: a: b\n", 4, 10,
                       "a value containing ': ' must be quoted, e.g. name: \"a: b\""),
    "at sign": ("kind: Carrier\nkey: C-1\nspec:\n  name: @x\n", 4, 9, "a plain value cannot start with '@'"),
    "backtick": ("kind: Carrier\nkey: C-1\nspec:\n  name: `x`\n", 4, 9, "cannot start with a backtick"),
    "percent": ("kind: Carrier\nkey: C-1\nspec:\n  name: %x\n", 4, 9, "cannot start with '%'"),
    "no space after colon": ("kind: Carrier\nkey:C-1\nspec:\n  name: x\n", 3, 1,
                             "put a space after the colon on line 2: 'key: C-1'"),
    "indentation": ("kind: Carrier\nkey: C-1\nspec:\n  name: x\n   type: y\n", 5, 8, "check the indentation"),
}


def _problem(tmp_path: Path, text: str) -> Problem:
    path = tmp_path / "m.yaml"
    path.write_text(text)
    with pytest.raises(ManifestError) as caught:
        load_manifests([path], load_profile(None))
    [problem] = caught.value.problems
    return problem


@pytest.mark.parametrize("name", list(CASES))
def test_syntax_errors_name_line_column_and_the_cause(tmp_path: Path, name: str) -> None:
    text, line, column, hint = CASES[name]
    problem = _problem(tmp_path, text)
    assert (problem.line, problem.column) == (line, column)
    assert hint in problem.message
    source, caret = problem.detail
    shown = text.splitlines()[line - 1].replace("\t", "\\t")
    assert source == f"  {shown}"
    # The caret sits under the column (a tab is shown as the two characters \t).
    before = text.splitlines()[line - 1][: column - 1].replace("\t", "\\t")
    assert caret == "  " + " " * len(before) + "^"


def test_the_cli_prints_file_line_column_the_line_and_a_caret(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    Path("m.yaml").write_text(CASES["tab"][0])
    result = run(["validate", "m.yaml"])
    assert result.code == 1
    assert result.err.splitlines()[:3] == [
        "Error: m.yaml:4:1: invalid YAML: found character that cannot start any token "
        "(YAML does not allow tabs; indent with spaces)",
        "  \\tname: x",
        "  ^",
    ]


def test_a_missing_path_says_no_such_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    result = run(["validate", "manifests"])
    assert result.code == 1 and result.err.startswith("Error: manifests: no such file or directory\n")


def test_enum_suggestions_ignore_case(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert suggest("ftl", ["FTL", "LTL"]) == " (did you mean 'FTL'?)"
    monkeypatch.chdir(tmp_path)
    Path("m.yaml").write_text("kind: Carrier\nkey: C-1\nspec:\n  name: x\n  type: truckload\n")
    assert "(did you mean 'TRUCKLOAD'?)" in run(["validate", "m.yaml"]).err
