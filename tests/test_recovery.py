"""Recovery files (issue 10 §4): round trip, and merge rules that never move the state backwards."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from declsync.errors import StateError
from declsync.execution.recovery import Delta, Removal, merge, read_file, write_recovery
from declsync.state import State, StateEntry

KEYS = st.sampled_from(["A", "B", "C", "D"])
STAMPS = st.sampled_from(["2026-01-01T00:00:00Z", "2026-01-02T00:00:00Z", "2026-01-03T00:00:00Z"])
IDS = st.sampled_from(["id-1", "id-2"])
ENTRIES = st.builds(lambda key, ident, at: StateEntry("Customer", key, ident, {"name": key}, applied_at=at,
                                                      source="manifests/c.yaml:1"), KEYS, IDS, STAMPS)
REMOVALS = st.builds(lambda key, ident, at: Removal("Customer", key, ident, at), KEYS, IDS, STAMPS)


def _state(entries: list[StateEntry]) -> State:
    state = State()
    for e in entries:
        state.put(e)
    return state


def _snapshot(state: State) -> dict[tuple[str, str], StateEntry]:
    return {(e.kind, e.key): e for e in state.entries()}


@settings(max_examples=200, deadline=None)
@given(st.lists(ENTRIES, max_size=4), st.lists(ENTRIES, max_size=4), st.lists(REMOVALS, max_size=3))
def test_merge_is_idempotent_and_never_moves_an_entry_backwards(
        current: list[StateEntry], put: list[StateEntry], removed: list[Removal]) -> None:
    state = _state(current)
    before = _snapshot(state)
    # As apply writes it: per resource, either its last entry or its removal.
    puts = list(_state(put).entries())
    removed = [r for r in removed if all(e.key != r.key for e in puts)]
    delta = Delta(put=puts, removed=removed)
    merge(state, delta)
    after = _snapshot(state)
    for ident, old in before.items():
        new = after.get(ident)
        # An entry applied later than everything the delta says about it stays as it was.
        said = [e.applied_at or "" for e in delta.put if (e.kind, e.key) == ident]
        said += [r.removed_at for r in removed if (r.kind, r.key) == ident]
        if all((old.applied_at or "") > at for at in said):
            assert new == old
        # A removal only removes the resource it names (same id).
        if new is None:
            assert any(r.key == old.key and r.id == old.id for r in removed)
    merge(state, delta)  # a second merge (a file merged twice) changes nothing
    assert _snapshot(state) == after


def test_recovery_file_round_trips(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    delta = Delta(put=[StateEntry("Order", "O-1", "id-9", {"status": "booked"}, "u", "2026-01-01T00:00:00Z",
                                  "manifests/o.yaml:3", prevent_destroy=True)],
                  removed=[Removal("Customer", "C-1", "id-1", "2026-01-01T00:00:00Z")])
    path = write_recovery(tmp_path / ".declsync" / "state.json", delta, "disk full")
    assert path is not None  # .declsync/ does not exist: written in the working directory instead
    assert path.parent == tmp_path and path.name.startswith("declsync-recovery-")
    back = read_file(path)
    assert back.put == delta.put and back.removed == delta.removed
    assert json.loads(path.read_text())["error"] == "disk full"


@pytest.mark.parametrize("content", ['{"format_version": 1}', "[]", "not json", '{"format": "declsync-state-recovery", '
                                     '"format_version": 1, "put": [{"kind": 1}], "removed": []}'])
def test_a_file_that_is_not_a_recovery_file_is_refused(tmp_path: Path, content: str) -> None:
    path = tmp_path / "r.json"
    path.write_text(content)
    with pytest.raises(StateError):
        read_file(path)
