"""Saved plan files through the CLI: wrong shapes are refused in words, plans written by
earlier releases still apply (or are refused with a precise reason), ``show`` needs no API."""

from __future__ import annotations

from pathlib import Path

import pytest

from .conftest import run

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "plan_v1"


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
