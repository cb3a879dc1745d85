"""The state file read a batch of entries at a time (``State.from_lines``, issue 14): it must
read exactly what a whole-file decode reads, and leave anything else to that decode."""

from __future__ import annotations

import io
import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from declsync.errors import StateError
from declsync.state import State, StateEntry, StateStore
from declsync.state import model as state_model

text = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=8)
json_values = st.recursive(st.none() | st.booleans() | st.integers() | text,
                           lambda inner: st.lists(inner, max_size=3) | st.dictionaries(text, inner, max_size=3),
                           max_leaves=8)
entries = st.lists(
    st.builds(StateEntry, kind=st.sampled_from(["Customer", "Order"]), key=text, id=text,
              spec=st.dictionaries(text, json_values, max_size=4), prevent_destroy=st.booleans()),
    max_size=12, unique_by=lambda e: (e.kind, e.key))


def _state(items: list[StateEntry], serial: int) -> State:
    state = State(serial=serial, lineage="lin")
    for e in items:
        state.put(e)
    return state


def _whole(data: bytes) -> State:
    return State.from_json(json.loads(data), "s.json")


def _same(a: State, b: State) -> bool:
    return (a.serial, a.lineage, sorted(a.entries(), key=repr)) == (b.serial, b.lineage, sorted(b.entries(), key=repr))


@given(items=entries, serial=st.integers(0, 10**6), batch=st.integers(1, 4))
def test_streamed_read_is_the_whole_file_read(items: list[StateEntry], serial: int, batch: int) -> None:
    data = _state(items, serial).to_bytes()
    old, state_model._BATCH = state_model._BATCH, batch
    try:
        streamed = State.from_lines(iter(io.BytesIO(data)), "s.json")
    finally:
        state_model._BATCH = old
    assert streamed is not None and _same(streamed, _whole(data))


@given(items=entries, cut=st.integers(0, 10**6), junk=st.sampled_from([b"", b",", b"\n", b"]}\n", b"{}", b"x"]))
def test_a_damaged_file_is_never_read_differently(items: list[StateEntry], cut: int, junk: bytes) -> None:
    data = _state(items, 3).to_bytes()
    at = cut % (len(data) + 1)
    damaged = data[:at] + junk + data[at:]
    try:
        whole: State | None = _whole(damaged)
    except (ValueError, StateError):
        whole = None
    try:
        streamed = State.from_lines(iter(io.BytesIO(damaged)), "s.json")
    except StateError:
        assert whole is None  # an error only where the whole decode has one too
        return
    # Either handed to the whole decode (None), or exactly what it reads.
    assert streamed is None or (whole is not None and _same(streamed, whole))


def test_file_backend_reads_other_layouts_whole(tmp_path: Any) -> None:
    path = tmp_path / "state.json"
    entry = {"kind": "Order", "key": "O-1", "id": "i", "spec": {"a": 1}}
    path.write_text(json.dumps({"format_version": 1, "serial": 2, "lineage": "l", "resources": [entry]}, indent=2))
    state = StateStore(str(path)).read()
    assert state.get("Order", "O-1") is not None and state.serial == 2
    path.write_text('{"format_version": 1, "serial": 2, "lineage": "l", "resources": [\n{"kind": 1}\n]}\n')
    with pytest.raises(StateError, match="no string 'kind'"):
        StateStore(str(path)).read()
