"""``LiveState``: the planner's live resources, fetched a chunk at a time and released once
compared (issue 14: bounded memory). Its promise: a plan made from it is the plan made
from every live resource fetched up front, with the same requests."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

from helpers import resource
from hypothesis import given
from hypothesis import strategies as st

from declsync.plan import Action
from declsync.planning.live import LiveState
from declsync.planning.planner import lookup_set, make_plan
from declsync.profile.model import KindSpec, default_profile

PROFILE = dataclasses.replace(
    default_profile(),
    kinds={name: dataclasses.replace(kind, page_size=2) for name, kind in default_profile().kinds.items()},
)


class FakeApi:
    """Answers lookups from a dict, recording each batch (a unit-test stand-in for the client)."""

    def __init__(self, live: dict[tuple[str, str], dict[str, Any]]) -> None:
        self.live = live
        self.batches: list[tuple[str, tuple[str, ...]]] = []

    def fetch_by_keys(self, kind: KindSpec, keys: Sequence[str]) -> dict[str, dict[str, Any]]:
        self.batches.append((kind.name, tuple(keys)))
        return {k: self.live[(kind.name, k)] for k in keys if (kind.name, k) in self.live}


def _customer(i: int, name: str) -> dict[str, Any]:
    return {"id": f"00000000-0000-4000-8000-{i:012d}", "key": f"C-{i}", "name": name, "status": "ACTIVE",
            "updatedAt": "2025-01-01T00:00:00.000Z"}


def test_chunks_are_fetched_when_first_asked_for_on_page_boundaries() -> None:
    live = {("Customer", f"C-{i}"): _customer(i, f"n{i}") for i in range(10)}
    api = FakeApi(live)
    ticks: list[int] = []
    state = LiveState(api, PROFILE, {"Customer": [f"C-{i}" for i in range(11)]}, ticks.append, chunk_pages=2)
    assert api.batches == []
    assert state[("Customer", "C-5")]["name"] == "n5"
    assert api.batches == [("Customer", ("C-4", "C-5", "C-6", "C-7"))]
    assert ("Customer", "C-10") not in state  # asked for, absent in the API
    assert ("Customer", "C-99") not in state  # never looked up: nothing fetched for it
    assert len(api.batches) == 2 and ticks == [4, 3]
    state.fetch_all()
    assert sorted(b[1][0] for b in api.batches) == ["C-0", "C-4", "C-8"]
    assert sum(ticks) == 11


def test_release_keeps_only_the_id() -> None:
    api = FakeApi({("Customer", "C-1"): _customer(1, "one")})
    state = LiveState(api, PROFILE, {"Customer": ["C-1"]})
    assert state[("Customer", "C-1")]["name"] == "one"
    state.release(("Customer", "C-1"))
    assert state[("Customer", "C-1")] == {"id": _customer(1, "one")["id"]}
    state.release(("Customer", "C-2"))  # unknown: nothing to release
    assert ("Customer", "C-2") not in state


names = st.text(alphabet="abc", min_size=1, max_size=3)


@given(
    declared=st.dictionaries(st.integers(0, 12), names, max_size=12),
    live_names=st.dictionaries(st.integers(0, 15), names, max_size=15),
    chunk_pages=st.integers(1, 3),
)
def test_a_plan_from_chunks_is_the_plan_from_everything(
    declared: dict[int, str], live_names: dict[int, str], chunk_pages: int
) -> None:
    resources = [resource("Customer", f"C-{i}", {"name": n, "status": "ACTIVE"}) for i, n in declared.items()]
    live = {("Customer", f"C-{i}"): _customer(i, n) for i, n in live_names.items()}
    lookups = lookup_set(resources, PROFILE)
    expected = make_plan(resources, dict(live), {}, PROFILE)
    api = FakeApi(live)
    chunked = LiveState(api, PROFILE, lookups, chunk_pages=chunk_pages)
    got = make_plan(resources, chunked, {}, PROFILE)
    assert got == expected
    # Every key looked up once, in whole pages, and every compared body released.
    assert sorted(k for _, keys in api.batches for k in keys) == sorted(lookups.get("Customer", []))
    for r in resources:
        if (r.kind, r.key) in live:
            assert set(chunked[(r.kind, r.key)]) == {"id"}
    assert all(c.action in (Action.CREATE, Action.UPDATE, Action.NOOP) for c in got.changes)


def test_equal_embedded_references_are_one_object_and_typed_ones_are_not() -> None:
    summary = {"id": "c1", "key": "CUST-1", "name": "Acme", "rank": 1}
    orders = {
        ("Order", "O-1"): {"id": "o1", "key": "O-1", "customer": dict(summary),
                           "stops": [{"type": "PICKUP", "location": {"id": "l1", "key": "L-1"}}]},
        ("Order", "O-2"): {"id": "o2", "key": "O-2", "customer": dict(summary),
                           "stops": [{"type": "DELIVERY", "location": {"id": "l1", "key": "L-1"}}]},
        ("Order", "O-3"): {"id": "o3", "key": "O-3", "customer": {**summary, "rank": True}},
    }
    state = LiveState(FakeApi({k: dict(v) for k, v in orders.items()}), PROFILE,
                      {"Order": ["O-1", "O-2", "O-3"]}, chunk_pages=1)
    one, two, three = (state[("Order", k)] for k in ("O-1", "O-2", "O-3"))
    assert one["customer"] is two["customer"] and one["customer"] == summary
    assert one["stops"][0]["location"] is two["stops"][0]["location"]
    assert one["stops"][0] is not two["stops"][0]  # only the references are shared
    assert three["customer"] is not one["customer"] and three["customer"]["rank"] is True
