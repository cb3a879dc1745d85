"""The parse cache (declsync.manifests.cache) never changes a result: cold and warm loads
are identical field for field, corrupt or foreign entries are ignored, files with
problems are never cached, cross-file checks still run on cached resources."""

from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from declsync.errors import ManifestError
from declsync.manifests.cache import FORMAT, ManifestCache
from declsync.manifests.loader import Limits, Resource, load_manifests
from declsync.profile.model import default_profile

PROFILE = default_profile()
REPO = Path(__file__).resolve().parents[1]


def full(resources: list[Resource]) -> list[dict[str, Any]]:
    """Every field, including those ``==`` on Resource ignores (line maps)."""
    return [dataclasses.asdict(r) | {"lines": dict(r.lines), "top_lines": dict(r.top_lines)} for r in resources]


def copy_examples(tmp_path: Path) -> Path:
    shutil.copytree(REPO / "manifests", tmp_path / "manifests")
    return tmp_path / "manifests"


def entries(cache_dir: Path) -> list[Path]:
    return sorted((cache_dir / "manifests").rglob("*.json"))


def test_cold_and_warm_loads_are_identical(tmp_path: Path) -> None:
    manifests = copy_examples(tmp_path)
    uncached = load_manifests([manifests], PROFILE)
    cold_cache = ManifestCache(tmp_path / "cache")
    cold = load_manifests([manifests], PROFILE, cache=cold_cache)
    assert cold_cache.hits == 0 and cold_cache.misses > 0
    warm_cache = ManifestCache(tmp_path / "cache")
    warm = load_manifests([manifests], PROFILE, cache=warm_cache)
    assert warm_cache.hits == cold_cache.misses and warm_cache.misses == 0
    assert full(uncached) == full(cold) == full(warm)
    assert (tmp_path / "cache" / ".gitignore").read_text() == "*\n"


@pytest.mark.parametrize("damage", [
    lambda text: "",
    lambda text: text[: len(text) // 2],
    lambda text: "not json\n" + text,
    lambda text: text.replace('"line":', '"line":1', 1),  # altered body (still valid JSON), same header
    lambda text: text.replace(f'"format": {FORMAT}', '"format": 99', 1),
])
def test_a_corrupt_entry_changes_nothing(tmp_path: Path, damage: Any) -> None:
    manifests = copy_examples(tmp_path)
    expected = full(load_manifests([manifests], PROFILE))
    load_manifests([manifests], PROFILE, cache=ManifestCache(tmp_path / "cache"))
    for entry in entries(tmp_path / "cache"):
        entry.write_text(damage(entry.read_text()))
    cache = ManifestCache(tmp_path / "cache")
    assert full(load_manifests([manifests], PROFILE, cache=cache)) == expected
    assert cache.hits == 0 and cache.notes, "every damaged entry is reported (shown under -v)"


def test_an_entry_of_another_file_is_not_used(tmp_path: Path) -> None:
    """A foreign entry moved to this file's name (same format, wrong digest) is ignored."""
    manifests = copy_examples(tmp_path)
    expected = full(load_manifests([manifests], PROFILE))
    load_manifests([manifests], PROFILE, cache=ManifestCache(tmp_path / "cache"))
    found = entries(tmp_path / "cache")
    assert len(found) >= 2
    texts = [p.read_text() for p in found]
    for p, text in zip(found, texts[1:] + texts[:1], strict=True):
        p.write_text(text)
    cache = ManifestCache(tmp_path / "cache")
    assert full(load_manifests([manifests], PROFILE, cache=cache)) == expected
    assert cache.hits == 0


def test_problems_come_from_a_real_parse_and_cross_file_checks_still_run(tmp_path: Path) -> None:
    d = tmp_path / "m"
    d.mkdir()
    (d / "a.yaml").write_text("kind: Customer\nkey: C-1\nspec: {name: A, status: ACTIVE, currency: USD}\n")
    (d / "b.yaml").write_text("kind: Customer\nkey: C-1\nspec: {name: B, status: ACTIVE, currency: USD}\n")
    (d / "c.yaml").write_text("kind: Customer\nkey: C-2\nspec:\n  name: C\n  bogus: 1\n")
    messages = []
    for _ in range(2):  # cold, then warm: the same problems, with file:line
        with pytest.raises(ManifestError) as err:
            load_manifests([d], PROFILE, cache=ManifestCache(tmp_path / "cache"))
        messages.append(str(err.value))
    assert messages[0] == messages[1]
    assert "declared twice" in messages[1] and "c.yaml:5" in messages[1]
    # a.yaml and b.yaml were valid on their own and are cached; c.yaml never is.
    assert len(entries(tmp_path / "cache")) == 2


def test_a_changed_file_or_limit_misses(tmp_path: Path) -> None:
    manifests = copy_examples(tmp_path)
    load_manifests([manifests], PROFILE, cache=ManifestCache(tmp_path / "cache"))
    first = sorted(manifests.glob("*.yaml"))[0]
    first.write_text(first.read_text() + "\n# edited\n")
    cache = ManifestCache(tmp_path / "cache")
    load_manifests([manifests], PROFILE, cache=cache)
    assert cache.misses == 1
    other = ManifestCache(tmp_path / "cache")
    load_manifests([manifests], PROFILE, Limits(max_depth=63), cache=other)
    assert other.hits == 0


names = st.text(st.characters(min_codepoint=32, max_codepoint=0x2FFF, exclude_characters="\\\"'"), max_size=30)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(name=names, notes=st.one_of(st.none(), names), weight=st.one_of(st.integers(-10**20, 10**20),
                                                                       st.floats(allow_nan=False)))
def test_warm_equals_cold_for_any_values(tmp_path_factory: pytest.TempPathFactory, name: str,
                                         notes: str | None, weight: float) -> None:
    d = tmp_path_factory.mktemp("m")
    text = (f"kind: Customer\nkey: C-1\nspec:\n  name: {name!r}\n  status: ACTIVE\n  currency: USD\n"
            + (f"  notes: {notes!r}\n" if notes is not None else "")
            + f"---\nkind: Order\nkey: O-1\nspec:\n  customer: {{key: C-1}}\n  status: booked\n"
            f"  freight: {{weight: {weight!r}}}\n")
    (d / "a.yaml").write_text(text.replace("inf", ".inf"))
    try:
        cold = full(load_manifests([d], PROFILE))
    except ManifestError as exc:
        with pytest.raises(ManifestError) as again:
            load_manifests([d], PROFILE, cache=ManifestCache(d / ".cache"))
        assert str(again.value) == str(exc)
        return
    load_manifests([d], PROFILE, cache=ManifestCache(d / ".cache"))
    warm_cache = ManifestCache(d / ".cache")
    assert full(load_manifests([d], PROFILE, cache=warm_cache)) == cold
