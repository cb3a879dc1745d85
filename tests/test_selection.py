"""``--target``/``--exclude`` patterns: compiled once, they select exactly what ``fnmatch`` does."""

from __future__ import annotations

from fnmatch import fnmatchcase

from hypothesis import given
from hypothesis import strategies as st

from declsync.planning.selection import Selection, _normalise

_PART = st.text(alphabet="AOab-/*?[]!0", max_size=8)


@given(st.lists(_PART, max_size=4), st.lists(_PART, max_size=3), st.sampled_from(["Order", "Customer", "O*"]),
       st.text(alphabet="Aab-/*?[]!0", max_size=8))
def test_selection_matches_exactly_what_fnmatch_matches(targets: list[str], excludes: list[str], kind: str,
                                                        key: str) -> None:
    address = f"{kind}/{key}"
    want = (not targets or any(fnmatchcase(address, _normalise(p)) for p in targets)) \
        and not any(fnmatchcase(address, _normalise(p)) for p in excludes)
    assert Selection(targets=tuple(targets), excludes=tuple(excludes)).matches_address(kind, key) == want


def test_unmatched_targets_are_named_in_the_order_given() -> None:
    sel = Selection(targets=("Order/B", "Order/A*", "Order/X", "Customer"))
    assert sel._targets.unmatched({"Order/B", "Customer/C"}) == ["Order/A*", "Order/X"]
