"""``declsync state list|show|rm|mv|migrate`` on each backend (file and PostgreSQL)."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import pytest
from helpers import run

from declsync.state import State, StateEntry, open_backend

MANIFEST = "kind: Customer\nkey: C-2\nsensitive: [notes]\nspec:\n  name: Two\n  status: ACTIVE\n  notes: pin 1234\n"


@pytest.fixture(params=["file", "postgres"])
def url(request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("DECLSYNC_STATE", raising=False)
    if request.param == "file":
        return str(tmp_path / "state.json")
    cluster: Any = request.getfixturevalue("pg_cluster")
    return str(cluster.dsn(workspace="c" + uuid.uuid4().hex[:10]))


def _seed(url: str) -> State:
    state = State(serial=3, lineage=str(uuid.uuid4()))
    state.put(StateEntry(kind="Customer", key="C-1", id="id-1", spec={"name": "One"}, source="m/c.yaml:1",
                         applied_at="2026-01-01T00:00:00Z"))
    state.put(StateEntry(kind="Customer", key="C-2", id="id-2", spec={"name": "Two", "notes": "pin 1234"},
                         source="manifests/c.yaml:1", prevent_destroy=True))
    state.put(StateEntry(kind="Order", key="ERP-1", id="id-3", spec={"status": "draft"}))
    open_backend(url).import_state(state)
    return state


def test_list_and_patterns(url: str) -> None:
    _seed(url)
    result = run(["state", "list", "--state", url])
    assert result.code == 0, result.all
    assert result.out.splitlines() == ["Customer/C-1\tid-1", "Customer/C-2\tid-2", "Order/ERP-1\tid-3"]
    assert run(["state", "list", "Order/*", "--state", url]).out.splitlines() == ["Order/ERP-1\tid-3"]


def test_show_masks_fields_the_manifest_declares_sensitive(url: str) -> None:
    _seed(url)
    Path("manifests").mkdir()
    Path("manifests/c.yaml").write_text(MANIFEST)
    result = run(["state", "show", "Customer/C-2", "--state", url])
    assert result.code == 0, result.all
    assert "pin 1234" not in result.all and '"notes": "(sensitive)"' in result.out
    assert "id-2" in result.out and "manifests/c.yaml:1" in result.out and "prevent destroy: true" in result.out
    missing = run(["state", "show", "Customer/nope", "--state", url])
    assert missing.code == 1 and "not in state" in missing.err


def test_rm_forgets_and_mv_renames(url: str) -> None:
    _seed(url)
    result = run(["state", "rm", "Customer/C-1", "Order/ERP-1", "--state", url])
    assert result.code == 0, result.all
    assert "not touched" in result.out
    assert [e.key for e in open_backend(url).list()] == ["C-2"]
    assert run(["state", "rm", "Customer/C-1", "--state", url]).code == 1  # already gone: says so
    moved = run(["state", "mv", "Customer/C-2", "Customer/C-3", "--state", url])
    assert moved.code == 0, moved.all
    state = open_backend(url).read()
    entry = state.get("Customer", "C-3")
    assert entry is not None and entry.id == "id-2" and entry.prevent_destroy and state.get("Customer", "C-2") is None
    assert run(["state", "mv", "Customer/C-3", "Order/C-3", "--state", url]).code == 1
    assert run(["state", "rm", "no-slash", "--state", url]).code == 1


def test_migrate_is_lossless_and_refuses_a_non_empty_destination(url: str, tmp_path: Path) -> None:
    original = _seed(url)
    other = str(tmp_path / "other" / "state.json")
    result = run(["state", "migrate", "--from", url, "--to", other])
    assert result.code == 0, result.all
    copied = open_backend(other).read()
    assert (copied.serial, copied.lineage) == (original.serial, original.lineage)
    assert sorted(copied.entries(), key=lambda e: e.key) == sorted(original.entries(), key=lambda e: e.key)
    again = run(["state", "migrate", "--from", url, "--to", other])
    assert again.code == 1 and "--force" in again.err
    assert run(["state", "migrate", "--from", url, "--to", other, "--force"]).code == 0
    # And back, over the original: only with --force.
    assert run(["state", "migrate", "--from", other, "--to", url]).code == 1
    assert run(["state", "migrate", "--from", other, "--to", url, "--force"]).code == 0
    assert json.loads(Path(other).read_text())["lineage"] == open_backend(url).lineage()
