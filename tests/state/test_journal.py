"""The file backend's journal (issue 14): saves in a session append what changed; the
file is written whole once, when the session ends; reads replay the journal."""

from __future__ import annotations

import errno
import json
import os
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from declsync.errors import StateError
from declsync.state import State, StateEntry, StateStore


def entry(key: str, **spec: Any) -> StateEntry:
    return StateEntry(kind="Order", key=key, id=f"id-{key}", spec=spec or {"name": key}, source="m/a.yaml:1")


def journal(store: StateStore) -> Path:
    return store.path.with_name(store.path.name + ".journal")


def seeded(tmp_path: Path, n: int = 3) -> StateStore:
    store = StateStore(tmp_path / "state.json")
    with store.locked() as session:
        for i in range(n):
            session.state.put(entry(f"k{i}"))
        session.save()
    return store


def test_saves_append_to_the_journal_and_the_session_writes_the_file_once(tmp_path: Path) -> None:
    store = seeded(tmp_path, 200)
    before = store.path.read_bytes()
    with store.locked() as session:
        sizes = []
        for i in range(5):
            session.state.put(entry(f"k{i}", round=i))
            session.state.remove("Order", f"k{100 + i}")
            session.save()
            # The file is not rewritten; a reader sees every save (file + journal).
            assert store.path.read_bytes() == before
            sizes.append(journal(store).stat().st_size)
            seen = store.read()
            assert seen.serial == 2 + i and seen.get("Order", f"k{i}") == entry(f"k{i}", round=i)
            assert seen.get("Order", f"k{100 + i}") is None
        # Each record holds what changed, not the state: far smaller than the file.
        assert max(b - a for a, b in zip([0, *sizes], sizes, strict=False)) < len(before) / 20
    assert not journal(store).exists()
    final = store.read()
    assert final.serial == 6 and len(final) == 195
    assert json.loads(store.path.read_bytes())["serial"] == 6


def test_a_failed_journal_write_changes_nothing_and_the_next_save_works(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    store = seeded(tmp_path)
    with store.locked() as session:
        session.state.put(entry("a", v=1))
        session.save()
        session.state.put(entry("b", v=2))
        real_fsync = os.fsync

        def full(fd: int) -> None:
            raise OSError(errno.ENOSPC, "No space left on device")

        monkeypatch.setattr(os, "fsync", full)
        with pytest.raises(StateError, match=r"cannot write state file .*No space left on device"):
            session.save()
        monkeypatch.setattr(os, "fsync", real_fsync)
        assert session.state.serial == 2
        # The failed record was cut off again: the journal replays to the last good save.
        seen = store.read()
        assert seen.serial == 2 and seen.get("Order", "b") is None and seen.get("Order", "a") is not None
        session.save()
        assert store.read().get("Order", "b") == entry("b", v=2)
    assert store.read().serial == 3 and not journal(store).exists()


def test_a_failed_first_save_of_a_new_file_leaves_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    store = StateStore(tmp_path / "state.json")
    with store.locked() as session:
        session.state.put(entry("a"))

        def broken_replace(src: Any, dst: Any) -> None:
            raise OSError(errno.ENOSPC, "No space left on device")

        monkeypatch.setattr(os, "replace", broken_replace)
        with pytest.raises(StateError, match=r"cannot write state file .*No space left on device"):
            session.save()
        assert session.state.serial == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == []


def test_a_torn_last_record_is_ignored_and_cut_off_by_the_next_session(tmp_path: Path) -> None:
    store = seeded(tmp_path)
    with store.locked() as session:
        session.state.put(entry("a"))
        session.save()
        complete = journal(store).read_bytes()
        # What a process killed in the middle of an append leaves: no newline at the end.
        with journal(store).open("ab") as fh:
            fh.write(b'{"serial":3,"lineage":"x","put":[{"kind":"Ord')
        assert store.read().serial == 2
        os.close(session._journal_fd or -1)
        session._journal_fd = None  # as if the process had died here: no compaction
    assert journal(store).read_bytes().startswith(complete)
    with store.locked() as session:
        assert session.state.serial == 2 and session.state.get("Order", "a") is not None
    assert not journal(store).exists() and store.read().serial == 2


def test_a_journal_the_file_already_holds_is_skipped(tmp_path: Path) -> None:
    store = seeded(tmp_path)
    with store.locked() as session:
        session.state.put(entry("a"))
        session.save()
        kept = journal(store).read_bytes()
    # A compaction killed after replacing the file, before removing the journal.
    journal(store).write_bytes(kept)
    state = store.read()
    assert state.serial == 2 and len(state) == 4


@pytest.mark.parametrize("change", ["gap", "lineage", "garbage"])
def test_a_journal_of_another_state_file_is_refused(tmp_path: Path, change: str) -> None:
    store = seeded(tmp_path)
    lineage = store.read().lineage
    record = {"serial": 2, "lineage": lineage, "put": [entry("a").to_json()], "remove": []}
    if change == "gap":
        record["serial"] = 7
    elif change == "lineage":
        record["lineage"] = "another"
    line = b"not json\n" if change == "garbage" else json.dumps(record).encode() + b"\n"
    journal(store).write_bytes(line)
    with pytest.raises(StateError, match=r"state journal .*state\.json\.journal .*move state\.json\.journal aside"):
        store.read()


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.tuples(st.sampled_from("abcdef"), st.one_of(st.none(), st.integers(0, 3))), max_size=25),
       st.integers(1, 6))
def test_replaying_the_journal_gives_what_was_saved(tmp_path: Path, ops: list[tuple[str, int | None]],
                                                    every: int) -> None:
    """Any puts and removes, saved every few operations: a reader during the session, and the
    file after it, hold exactly the last saved generation."""
    store = StateStore(tmp_path / f"s{len(list(tmp_path.iterdir()))}.json")
    with store.locked() as session:
        session.state.put(entry("seed"))
        session.save()
        expected = State()
        expected.put(entry("seed"))
        for n, (key, value) in enumerate(ops, start=1):
            if value is None:
                session.state.remove("Order", key)
                expected.remove("Order", key)
            else:
                session.state.put(entry(key, v=value))
                expected.put(entry(key, v=value))
            if n % every == 0:
                session.save()
                assert sorted(store.read().entries(), key=lambda e: e.key) == \
                    sorted(expected.entries(), key=lambda e: e.key)
        session.save()
    after = store.read()
    assert sorted(after.entries(), key=lambda e: e.key) == sorted(expected.entries(), key=lambda e: e.key)
