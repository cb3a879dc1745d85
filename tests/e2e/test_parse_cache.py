"""The parse cache through the CLI: cold and warm plans are identical (text and JSON),
a corrupted entry changes nothing (a note under -v says it was ignored), --no-cache
neither reads nor writes it, and it lives under .declsync/cache/ with its own .gitignore."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from .conftest import run


def url(sandbox) -> list[str]:  # type: ignore[no-untyped-def]
    return ["--api-url", sandbox.base_url]


def without_times(plan_json: str) -> dict:  # type: ignore[type-arg]
    doc = json.loads(plan_json)
    doc.pop("created_at", None)
    doc.pop("createdAt", None)
    return doc  # type: ignore[no-any-return]


def test_cold_and_warm_plans_are_identical_and_a_corrupt_entry_changes_nothing(sandbox, workdir: Path) -> None:
    assert run(["apply", "--auto-approve", *url(sandbox)]).code == 0
    order = workdir / "manifests" / "orders.yaml"
    if order.exists():
        order.write_text(order.read_text().replace("1625.5", "1700", 1))
    cache = workdir / ".declsync" / "cache"
    shutil.rmtree(cache, ignore_errors=True)
    uncached = run(["--no-cache", "plan", "--format", "json", *url(sandbox)])
    assert not cache.exists(), "--no-cache writes no cache"
    cold = run(["plan", "--format", "json", *url(sandbox)])
    assert (cache / ".gitignore").read_text() == "*\n"
    entries = sorted(cache.rglob("*.json"))
    assert entries
    warm = run(["plan", "--format", "json", *url(sandbox)])
    for entry in entries:
        entry.write_text(entry.read_text().replace('"line":', '"line":9', 1))
    damaged = run(["-v", "plan", "--format", "json", *url(sandbox)])
    assert uncached.code == cold.code == warm.code == damaged.code == 0, damaged.all
    plans = [without_times(r.out) for r in (uncached, cold, warm, damaged)]
    assert plans[0] == plans[1] == plans[2] == plans[3]
    assert "parse cache: ignored corrupt or foreign entry" in damaged.err
    text_cold = run(["--no-cache", "plan", *url(sandbox)])
    text_warm = run(["plan", *url(sandbox)])
    assert text_cold.out == text_warm.out


def test_errors_are_reported_the_same_with_a_warm_cache(sandbox, workdir: Path) -> None:
    """A duplicate key across two files, both valid alone (so both cached), is still found."""
    first = sorted((workdir / "manifests").glob("*.yaml"))[0]
    (workdir / "manifests" / "zz-copy.yaml").write_text(first.read_text())
    one = run(["validate"])
    two = run(["validate"])
    assert one.code == two.code == 1
    assert "declared twice" in two.all
    assert one.all == two.all


def test_a_failing_command_writes_no_cache_a_plan_with_changes_does(sandbox, workdir: Path) -> None:
    cache = workdir / ".declsync" / "cache"
    failed = run(["plan", "--state", "mysql://h/db", *url(sandbox)])
    assert failed.code == 1 and not cache.exists()
    changes = run(["plan", "--detailed-exitcode", *url(sandbox)])
    assert changes.code == 2, changes.all
    assert sorted(cache.rglob("*.json"))
