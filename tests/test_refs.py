from __future__ import annotations

from pathlib import Path

from declsync.normalize import canonical_datetime, values_equal
from declsync.planning.mergepatch import apply_merge_patch, strip_nulls
from declsync.planning.refs import find_cycle, find_refs, substitute_refs, topological_levels
from declsync.profile.model import default_profile, load_profile

PROFILE = default_profile()


def test_find_refs_in_nested_and_array_fields() -> None:
    spec = {"customer": {"key": "C"}, "stops": [{"type": "PICKUP", "location": {"key": "L1"}},
                                              {"type": "DELIVERY", "location": {"id": "x"}}]}
    refs = find_refs(spec, PROFILE.kind("Order"), PROFILE)
    assert [(r.path, r.address, r.style) for r in refs] == [
        (("customer",), "Customer/C", "key"), (("stops", 0, "location"), "Location/L1", "key")]
    loc = find_refs({"customerId": {"$ref": "Customer/C"}}, PROFILE.kind("Location"), PROFILE)
    assert [(r.address, r.style) for r in loc] == [("Customer/C", "id")]
    # references to kinds outside the profile are left to the API (the hand-written profile has no PaymentTerm)
    hand = load_profile(Path(__file__).parent / "fixtures" / "handwritten-mvmnt.yaml")
    assert find_refs({"paymentTerm": {"key": "NET30"}}, hand.kind("Customer"), hand) == []
    # ... and resolved where the profile has the kind (the bundled one has PaymentTerm)
    assert [r.address for r in find_refs({"paymentTerm": {"key": "NET30"}}, PROFILE.kind("Customer"), PROFILE)] == [
        "PaymentTerm/NET30"]


def test_substitute_refs() -> None:
    ids = {"Customer/C": "cid"}
    assert substitute_refs({"a": [{"$ref": "Customer/C"}], "b": {"$ref": "Customer/D"}}, ids.get) == {
        "a": ["cid"], "b": {"$ref": "Customer/D"}}


def test_topological_levels_and_cycles() -> None:
    graph = {"s": ["o"], "o": ["c", "l"], "l": ["c"], "c": []}
    assert topological_levels(["s", "o", "l", "c"], graph) == [["c"], ["l"], ["o"], ["s"]]
    assert topological_levels(["s", "o"], graph) == [["o"], ["s"]]
    assert find_cycle({"a": ["b"], "b": ["a"]}) == ["a", "b", "a"]
    long_chain = {str(i): [str(i + 1)] for i in range(5000)}
    assert find_cycle(long_chain) is None


def test_values_equal_normalises() -> None:
    order = PROFILE.kind("Order").fields
    assert values_equal(1500, 1500.0, order["freight"].fields["weight"])
    assert not values_equal(True, 1, order["freight"].fields["weight"])
    assert values_equal("2025-01-22T09:00:00-05:00", "2025-01-22T14:00:00.000Z", order["stops"].items.fields["requestedStart"])  # type: ignore[union-attr]
    assert values_equal({"key": "C"}, {"id": "x", "key": "C"}, order["customer"])
    assert not values_equal({"key": "C"}, {"id": "x", "key": "D"}, order["customer"])
    assert values_equal({"weight": 1}, {"weight": 1.0, "hazmat": False}, order["freight"])
    assert not values_equal([1], [1, 2], None)
    assert values_equal(None, None, None) and not values_equal(None, 0, None)
    assert canonical_datetime("2025-01-22T09:00:00.123456-05:00") == "2025-01-22T14:00:00.123Z"


def test_merge_patch_semantics() -> None:
    fields = PROFILE.kind("Order").fields
    live = {"freight": {"weight": 1, "hazmat": False}, "customer": {"id": "a", "key": "A"}, "stops": [1, 2], "x": 1}
    out = apply_merge_patch(live, {"freight": {"weight": 2}, "customer": {"key": "B"}, "stops": [3], "x": None}, fields)
    assert out == {"freight": {"weight": 2, "hazmat": False}, "customer": {"key": "B"}, "stops": [3], "x": None}
    assert live["freight"] == {"weight": 1, "hazmat": False}
    assert strip_nulls({"a": None, "b": [{"c": None, "d": 1}]}) == {"b": [{"d": 1}]}
