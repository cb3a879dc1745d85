"""The JSON state store: round trips, atomic saves, the lock."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import pytest

from declsync.errors import StateError, StateLockError
from declsync.state import State, StateEntry, StateStore


def entry(kind: str, key: str, **spec: Any) -> StateEntry:
    return StateEntry(kind=kind, key=key, id=f"id-{kind}-{key}", spec=spec or {"name": key},
                      updated_at="2025-01-01T00:00:00Z", applied_at="2025-01-02T00:00:00Z",
                      source="manifests/a.yaml:3")


def leftovers(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir() if p.name.endswith(".tmp"))


# --------------------------------------------------------------------------- the data


def test_missing_file_reads_as_empty_state(tmp_path: Path) -> None:
    state = StateStore(tmp_path / "nope" / "state.json").read()
    assert len(state) == 0 and state.serial == 0 and state.lineage == ""


def test_roundtrip_sorted_and_serial_and_lineage(tmp_path: Path) -> None:
    store = StateStore(tmp_path / ".declsync" / "state.json")
    with store.locked() as locked:
        locked.state.put(entry("Order", "b", status="draft", freight={"weight": 1500.5}))
        locked.state.put(entry("Customer", "z", name="Zed Ünïcode"))
        locked.state.put(entry("Order", "a"))
        locked.save()
        lineage = locked.state.lineage
        assert locked.state.serial == 1 and len(lineage) == 36
        locked.state.remove("Order", "a")
        locked.save()
    data = json.loads(store.path.read_text(encoding="utf-8"))
    assert data["format_version"] == 1 and data["serial"] == 2 and data["lineage"] == lineage
    assert [(r["kind"], r["key"]) for r in data["resources"]] == [("Customer", "z"), ("Order", "b")]
    assert data["resources"][1] == {
        "kind": "Order", "key": "b", "id": "id-Order-b",
        "spec": {"status": "draft", "freight": {"weight": 1500.5}},
        "updated_at": "2025-01-01T00:00:00Z", "applied_at": "2025-01-02T00:00:00Z",
        "source": "manifests/a.yaml:3",
    }
    again = store.read()
    assert again.serial == 2 and again.lineage == lineage
    assert again.get("Order", "b") == entry("Order", "b", status="draft", freight={"weight": 1500.5})
    assert again.get("Customer", "z") == entry("Customer", "z", name="Zed Ünïcode")
    assert again.get("Order", "a") is None
    assert again.to_json() == data
    # One resource per line keeps version-control diffs small.
    assert len(store.path.read_text(encoding="utf-8").splitlines()) == 4


def test_put_replaces_and_from_json_rejects_duplicates() -> None:
    state = State()
    state.put(entry("Order", "a", status="draft"))
    state.put(entry("Order", "a", status="booked"))
    assert len(state) == 1 and state.get("Order", "a") == entry("Order", "a", status="booked")
    data = state.to_json()
    data["resources"] *= 2
    with pytest.raises(StateError, match="Order/a appears twice"):
        State.from_json(data, "s.json")


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ([], "is not a JSON object"),
        ({"serial": 1}, "has no format_version"),
        ({"format_version": 99, "serial": 1, "lineage": "", "resources": []}, "upgrade declsync"),
        ({"format_version": 1, "serial": -1, "lineage": "", "resources": []}, "'serial'"),
        ({"format_version": 1, "serial": 1, "lineage": 5, "resources": []}, "'lineage'"),
        ({"format_version": 1, "serial": 1, "lineage": "", "resources": {}}, "'resources' must be a list"),
        ({"format_version": 1, "serial": 1, "lineage": "", "resources": [1]}, "not an object"),
        ({"format_version": 1, "serial": 1, "lineage": "", "resources": [{"kind": "Order", "key": "a"}]},
         "no string 'id'"),
        ({"format_version": 1, "serial": 1, "lineage": "",
          "resources": [{"kind": "Order", "key": "a", "id": "1", "spec": []}]}, "no 'spec' object"),
        ({"format_version": 1, "serial": 1, "lineage": "",
          "resources": [{"kind": "Order", "key": "a", "id": "1", "spec": {}, "source": 3}]},
         "non-string 'source'"),
    ],
)
def test_from_json_rejects_wrong_shapes(data: Any, message: str) -> None:
    with pytest.raises(StateError, match=message):
        State.from_json(data, "s.json")


def test_corrupt_file_says_where_and_how_to_fix(tmp_path: Path) -> None:
    path = tmp_path / "state.json"
    path.write_text('{"format_version": 1, "serial": 3,\n "resources": [', encoding="utf-8")
    with pytest.raises(StateError) as info:
        StateStore(path).read()
    msg = str(info.value)
    assert f"state file {path} is not valid JSON (line 2" in msg
    assert "restore it from a backup or version control, or move it aside" in msg
    path.write_bytes(b"\xff\xfe garbage")
    with pytest.raises(StateError, match="is not valid JSON"):
        StateStore(path).read()


# --------------------------------------------------------------------------- atomic saves


def test_save_leaves_no_temp_files(tmp_path: Path) -> None:
    store = StateStore(tmp_path / "state.json")
    with store.locked() as locked:
        for i in range(3):
            locked.state.put(entry("Order", f"k{i}"))
            locked.save()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["state.json"]


def test_failed_serialisation_keeps_the_old_file(tmp_path: Path) -> None:
    store = StateStore(tmp_path / "state.json")
    with store.locked() as locked:
        locked.state.put(entry("Order", "a"))
        locked.save()
        before = store.path.read_bytes()
        locked.state.put(StateEntry("Order", "bad", "1", {"x": object()}))
        with pytest.raises(TypeError):
            locked.save()
        assert locked.state.serial == 1  # not advanced by the failed save
    assert store.path.read_bytes() == before
    assert leftovers(tmp_path) == []


def test_a_whole_write_failing_midway_leaves_no_file_and_no_temp(tmp_path: Path) -> None:
    """The file is streamed an entry at a time: "a" is written before "b" fails to encode."""
    store = StateStore(tmp_path / "state.json")
    with store.locked() as locked:
        locked.state.put(entry("Order", "a"))
        locked.state.put(StateEntry("Order", "b", "1", {"x": object()}))
        with pytest.raises(TypeError):
            locked.save()
        assert locked.state.serial == 0
    assert not store.path.exists()
    assert leftovers(tmp_path) == []


def test_failed_rename_keeps_the_old_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    store = StateStore(tmp_path / "state.json")
    with store.locked() as locked:
        locked.state.put(entry("Order", "a"))
        locked.save()
    before = store.path.read_bytes()
    with store.locked() as locked:
        locked.state.put(entry("Order", "b"))
        locked.save()  # to the journal: the file is written whole when the session ends

        def broken_replace(src: Any, dst: Any) -> None:
            raise OSError(28, "No space left on device")

        monkeypatch.setattr(os, "replace", broken_replace)
    # The compaction failed: the file is as it was, the journal still holds the save.
    assert store.path.read_bytes() == before
    assert leftovers(tmp_path) == []
    assert store.read().get("Order", "b") is not None
    monkeypatch.undo()
    with store.locked():
        pass  # the next session compacts
    assert store.path.read_bytes() != before and not (tmp_path / "state.json.journal").exists()
    assert store.read().get("Order", "b") is not None


def test_saving_10000_entries_is_fast(tmp_path: Path) -> None:
    store = StateStore(tmp_path / "state.json")
    notes = "n" * 900
    with store.locked() as locked:
        for i in range(10_000):
            spec = {"status": "draft", "externalNotes": notes, "stops": [{"i": i}]}
            locked.state.put(entry("Order", f"O-{i:05d}", **spec))
        started = time.perf_counter()
        locked.save()
        first = time.perf_counter() - started
        locked.state.put(entry("Order", "O-00001", status="booked"))
        started = time.perf_counter()
        locked.save()
        again = time.perf_counter() - started
    assert store.path.stat().st_size > 10_000_000
    # Generous bounds for slow CI disks; typically ~0.1 s and ~0.04 s.
    assert first < 1.5 and again < 1.0
    assert len(store.read()) == 10_000


# --------------------------------------------------------------------------- the lock


def test_second_lock_in_process_fails_fast(tmp_path: Path) -> None:
    store = StateStore(tmp_path / "state.json")
    with store.locked(operation="apply"):
        started = time.perf_counter()
        with pytest.raises(StateLockError) as info, StateStore(tmp_path / "state.json").locked():
            pass
        assert time.perf_counter() - started < 1
    msg = str(info.value)
    host = socket.gethostname()
    assert msg.startswith(f"state is locked by apply (pid {os.getpid()} on host {host} since ")
    assert "another declsync is running. If that process is gone, run `declsync force-unlock --state" in msg
    assert "stale" not in msg
    # Released on exit.
    assert not store.lock_path.exists()
    with store.locked():
        pass


def test_lock_released_on_exception(tmp_path: Path) -> None:
    store = StateStore(tmp_path / "state.json")
    with pytest.raises(RuntimeError), store.locked():
        raise RuntimeError("boom")
    assert not store.lock_path.exists()


HOLDER = textwrap.dedent(
    """
    import sys
    from declsync.state import StateStore
    with StateStore(sys.argv[1]).locked(operation="plan-holder"):
        print("locked", flush=True)
        sys.stdin.readline()
    """
)


def test_lock_held_by_another_process_then_stale_after_kill(tmp_path: Path) -> None:
    path = tmp_path / "state.json"
    proc = subprocess.Popen([sys.executable, "-c", HOLDER, str(path)], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "locked"
        with pytest.raises(StateLockError) as info, StateStore(path).locked():
            pass
        msg = str(info.value)
        assert f"state is locked by plan-holder (pid {proc.pid} on host" in msg
        assert "stale" not in msg
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
        with pytest.raises(StateLockError) as info, StateStore(path).locked():
            pass
        msg = str(info.value)
        assert "(the holder process no longer exists: the lock is stale)" in msg
        lock_id = json.loads((tmp_path / "state.json.lock").read_text())["id"]
        assert f"force-unlock --state {path} {lock_id}`" in msg
        StateStore(path).force_unlock(lock_id)
        with StateStore(path).locked() as locked:
            locked.save()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_lock_released_by_other_process_on_exit(tmp_path: Path) -> None:
    path = tmp_path / "state.json"
    proc = subprocess.Popen([sys.executable, "-c", HOLDER, str(path)], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None and proc.stdout.readline().strip() == "locked"
    assert proc.stdin is not None
    proc.stdin.write("\n")
    proc.stdin.flush()
    assert proc.wait(timeout=10) == 0
    with StateStore(path).locked():
        pass


def test_stale_lock_of_dead_pid(tmp_path: Path) -> None:
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    store = StateStore(tmp_path / "state.json")
    store.lock_path.write_text(json.dumps({"id": "L-1", "pid": dead.pid, "host": socket.gethostname(),
                                           "operation": "apply", "created_at": "2025-01-01T00:00:00Z"}))
    with pytest.raises(StateLockError, match="the lock is stale"), store.locked():
        pass


def test_lock_on_other_host_is_not_called_stale(tmp_path: Path) -> None:
    store = StateStore(tmp_path / "state.json")
    store.lock_path.write_text(json.dumps({"id": "L-2", "pid": 1, "host": "elsewhere.example",
                                           "operation": "apply", "created_at": "2025-01-01T00:00:00Z"}))
    with pytest.raises(StateLockError) as info, store.locked():
        pass
    assert "stale" not in str(info.value) and "pid 1 on host elsewhere.example" in str(info.value)


def test_damaged_lock_file(tmp_path: Path) -> None:
    store = StateStore(tmp_path / "state.json")
    store.lock_path.write_text("")
    with pytest.raises(StateLockError, match="being written or is damaged"), store.locked():
        pass


def test_force_unlock_checks_the_id(tmp_path: Path) -> None:
    store = StateStore(tmp_path / "state.json")
    with pytest.raises(StateError, match="is not locked"):
        store.force_unlock("whatever")
    with store.locked():
        lock_id = json.loads(store.lock_path.read_text())["id"]
        with pytest.raises(StateError, match="does not match"):
            store.force_unlock("wrong-id")
        assert store.lock_path.exists()
        store.force_unlock(lock_id)
        assert not store.lock_path.exists()
        # Someone else takes the lock; our exit must not remove theirs.
        other = StateStore(tmp_path / "state.json")
        ctx = other.locked()
        ctx.__enter__()
    assert store.lock_path.exists()
    ctx.__exit__(None, None, None)
    assert not store.lock_path.exists()


def test_lock_file_contents(tmp_path: Path) -> None:
    store = StateStore(tmp_path / "deep" / "state.json")
    with store.locked(operation="import"):
        info = json.loads(store.lock_path.read_text())
    assert set(info) == {"id", "pid", "host", "operation", "created_at"}
    assert info["operation"] == "import" and info["pid"] == os.getpid()


# --------------------------------------------------------------------------- hardening (issue 10)


def test_deeply_nested_state_file_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "state.json"
    path.write_text("[" * 200_000 + "]" * 200_000)
    with pytest.raises(StateError, match=r"state\.json.*nested too deeply"):
        StateStore(path).read()


@pytest.mark.parametrize("version", [0, -5, True, 1.0, "1", None])
def test_unknown_format_versions_are_refused(tmp_path: Path, version: Any) -> None:
    path = tmp_path / "state.json"
    path.write_text(json.dumps({"format_version": version, "serial": 1, "lineage": "x", "resources": []}))
    with pytest.raises(StateError, match="format_version"):
        StateStore(path).read()
    # Nothing rewrote it as version 1.
    assert json.loads(path.read_text())["format_version"] == version


def test_state_reached_through_a_symlink_locks_and_saves_the_real_file(tmp_path: Path) -> None:
    shared = tmp_path / "shared"
    shared.mkdir()
    real = shared / "state.json"
    link_dir = tmp_path / "work"
    link_dir.mkdir()
    link = link_dir / "state.json"
    link.symlink_to(real)
    with StateStore(link).locked() as locked:
        assert (shared / "state.json.lock").exists() and not (link_dir / "state.json.lock").exists()
        # A second store using the real path sees the same lock.
        with pytest.raises(StateLockError), StateStore(real).locked():
            pass
        locked.state.put(entry("Order", "a"))
        locked.save()
    assert link.is_symlink()
    assert StateStore(real).read().get("Order", "a") is not None


def test_stale_temp_files_of_a_killed_save_are_removed(tmp_path: Path) -> None:
    path = tmp_path / "state.json"
    stale = tmp_path / ".state.json.abc123.tmp"
    stale.write_bytes(b'{"format_version": 1, "ser')
    old = time.time() - 3600
    os.utime(stale, (old, old))
    other = tmp_path / ".other.json.abc.tmp"  # not ours: another file's temp
    other.write_bytes(b"x")
    with StateStore(path).locked() as locked:
        locked.state.put(entry("Order", "a"))
        locked.save()
    assert not stale.exists()
    assert other.exists()


def test_share_spec_keeps_one_copy_and_is_not_a_change(tmp_path: Path) -> None:
    store = StateStore(tmp_path / "state.json")
    with store.locked() as locked:
        locked.state.put(entry("Order", "a"))
        locked.save()
    state = store.read()
    before = state.to_bytes()
    same = dict(state.get("Order", "a").spec)  # type: ignore[union-attr]
    state.share_spec("Order", "a", same)
    assert state.get("Order", "a").spec is same and state.dirty() == set()  # type: ignore[union-attr]
    state.share_spec("Order", "a", {**same, "other": 1})  # not equal: kept as it was
    assert state.get("Order", "a").spec is same  # type: ignore[union-attr]
    assert state.to_bytes() == before
