"""Prune scope by manifest path (issue 10 §6): however a path is written, the same file is in
or out of the same roots, and sources are recorded in one form."""

from __future__ import annotations

from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from declsync.planning.prune import canonical_source, path_scope, prune_scope
from declsync.state import StateEntry

PARTS = st.lists(st.sampled_from(["manifests", "imported", "orders", "a.yaml", "b.yml"]), min_size=1, max_size=4)


def _entry(source: str | None) -> StateEntry:
    return StateEntry("Order", "O-1", "id-1", {}, source=source)


@settings(max_examples=200, deadline=None)
@given(file=PARTS, root=PARTS, line=st.integers(1, 9999))
def test_path_forms_agree(file: list[str], root: list[str], line: int) -> None:
    rel = "/".join(file)
    cwd = Path.cwd()
    forms = [rel, f"./{rel}", str(cwd / rel), f"{file[0]}/../{rel}"]
    assert {canonical_source(f"{f}:{line}") for f in forms} == {f"{rel}:{line}"}
    inside = rel == "/".join(root) or rel.startswith("/".join(root) + "/")
    for root_form in ("/".join(root), "./" + "/".join(root) + "/", str(cwd.joinpath(*root))):
        scope = path_scope([root_form])
        assert {scope.covers(_entry(f"{f}:{line}")) for f in forms} == {inside}


def test_an_entry_without_a_path_is_out_of_scope_unless_selected() -> None:
    entries = [_entry(None), _entry("(state)"), _entry("manifests/o.yaml:3")]
    for entry in entries[:2]:
        allowed, notes = prune_scope([entry], set(), ["manifests"], None)
        assert not allowed("Order", "O-1") and "no recorded manifest path" in notes[0]
        allowed, notes = prune_scope([entry], set(), ["manifests"], lambda kind, key: kind == "Order")
        assert allowed("Order", "O-1") and not notes
    allowed, notes = prune_scope(entries[2:], set(), ["imported"], None)
    assert not allowed("Order", "O-1") and not notes
