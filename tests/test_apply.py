"""Unit tests of the applier with an in-memory fake client (no HTTP)."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from helpers import resource

from declsync.errors import ApiError, ConflictError, StalePlanError
from declsync.execution.apply import Applier, check_stale
from declsync.plan import Action
from declsync.planning.planner import make_plan
from declsync.profile.model import KindSpec, default_profile
from declsync.state import State

PROFILE = default_profile()


class FakeClient:
    def __init__(self) -> None:
        self.store: dict[tuple[str, str], dict[str, Any]] = {}
        self.calls: list[tuple[str, str, dict[str, Any]]] = []
        self.fail: dict[str, Exception] = {}
        self.lock = threading.Lock()
        self.n = 0

    def create(self, kind: KindSpec, body: dict[str, Any], *, idempotency_key: str) -> dict[str, Any]:
        with self.lock:
            self.calls.append(("POST", kind.name, dict(body)))
            if body["key"] in self.fail:
                raise self.fail[body["key"]]
            self.n += 1
            res = {**body, "id": f"id-{self.n}", "updatedAt": f"t{self.n}"}
            self.store[(kind.name, body["key"])] = res
            return res

    def update(self, kind: KindSpec, id: str, body: dict[str, Any], *, idempotency_key: str,
               if_match: str | None = None) -> dict[str, Any]:
        with self.lock:
            self.calls.append(("PATCH", kind.name, dict(body)))
            res = next(v for v in self.store.values() if v["id"] == id)
            res.update(body)
            return res

    def fetch_by_keys(self, kind: KindSpec, keys: list[str]) -> dict[str, dict[str, Any]]:
        return {k: self.store[(kind.name, k)] for k in keys if (kind.name, k) in self.store}


class Saver:
    def __init__(self) -> None:
        self.state = State.empty() if hasattr(State, "empty") else State()
        self.saves = 0

    def save(self) -> None:
        self.saves += 1


def manifests() -> list[Any]:
    return [
        resource("Customer", "C", {"name": "Acme", "status": "NEW"}),
        resource("Location", "L", {"customerId": {"$ref": "Customer/C"}, "name": "DC", "isAppointmentRequired": True}),
        resource("Order", "O", {"customer": {"key": "C"}, "stops": [{"type": "PICKUP", "location": {"key": "L"}}]}),
        resource("Shipment", "S", {"order": {"key": "O"}}),
    ]


def test_creates_in_dependency_order_and_fills_known_after_apply_ids() -> None:
    client, saver = FakeClient(), Saver()
    plan = make_plan(manifests(), {}, {}, PROFILE)
    result = Applier(client, PROFILE, saver, parallelism=4).run(plan)
    assert result.ok and result.count("applied") == 4
    order = [c[1] for c in client.calls]
    assert order.index("Customer") < order.index("Location") < order.index("Order") < order.index("Shipment")
    loc_body = next(c[2] for c in client.calls if c[1] == "Location")
    assert loc_body["customerId"] == client.store[("Customer", "C")]["id"]
    entry = saver.state.get("Location", "L")
    assert entry is not None and entry.spec["customerId"] == client.store[("Customer", "C")]["id"]
    assert saver.saves >= 1


def test_sends_exactly_the_planned_patch() -> None:
    client, saver = FakeClient(), Saver()
    Applier(client, PROFILE, saver).run(make_plan(manifests(), {}, {}, PROFILE))
    live = {k: dict(v) for k, v in client.store.items()}
    changed = manifests()
    changed[0] = resource("Customer", "C", {"name": "Acme Inc", "status": "NEW"})
    plan = make_plan(changed, live, {}, PROFILE)
    client.calls.clear()
    Applier(client, PROFILE, saver).run(plan)
    update = next(c for c in plan.changes if c.action is Action.UPDATE)
    assert client.calls == [("PATCH", "Customer", update.patch)]


def test_failure_skips_dependents_but_not_others() -> None:
    client, saver = FakeClient(), Saver()
    client.fail["L"] = ApiError("validation failed", status=400)
    result = Applier(client, PROFILE, saver).run(make_plan(manifests(), {}, {}, PROFILE))
    status = {o.address: o.status for o in result.outcomes}
    assert status == {"Customer/C": "applied", "Location/L": "failed", "Order/O": "skipped", "Shipment/S": "skipped"}
    assert not result.ok and "1 failed, 2 skipped" in result.summary()
    assert saver.state.get("Location", "L") is None and saver.state.get("Customer", "C") is not None


def test_duplicate_key_adopts_only_a_matching_resource() -> None:
    client, saver = FakeClient(), Saver()
    cust = resource("Customer", "C", {"name": "Acme", "status": "NEW"})
    plan = make_plan([cust], {}, {}, PROFILE)
    # someone (or our lost earlier attempt) created it identically
    client.store[("Customer", "C")] = {"id": "x", "key": "C", "name": "Acme", "status": "NEW"}
    client.fail["C"] = ConflictError("dup", status=409, code="DUPLICATE_KEY")
    result = Applier(client, PROFILE, saver).run(plan)
    assert result.ok
    entry = saver.state.get("Customer", "C")
    assert entry is not None and entry.id == "x"
    # but a different one is reported, not overwritten
    client.store[("Customer", "C")]["name"] = "Other"
    saver = Saver()
    result = Applier(client, PROFILE, saver).run(plan)
    assert not result.ok and "already exists" in result.outcomes[0].message


def test_stale_saved_plan_refused() -> None:
    client, saver = FakeClient(), Saver()
    Applier(client, PROFILE, saver).run(make_plan(manifests(), {}, {}, PROFILE))
    changed = [resource("Customer", "C", {"name": "Acme 2", "status": "NEW"})]
    live = {k: dict(v) for k, v in client.store.items()}
    plan = make_plan(changed, live, {}, PROFILE, state_serial=saver.state.serial, state_lineage=saver.state.lineage)
    check_stale(plan, client, PROFILE, saver.state)  # nothing moved
    client.store[("Customer", "C")]["updatedAt"] = "later"
    with pytest.raises(StalePlanError, match="Customer/C changed since the plan"):
        check_stale(plan, client, PROFILE, saver.state)


def test_statuses_and_reasons_are_enums_that_print_their_words() -> None:
    """Statuses and reasons are enums now; what is printed and saved is the same word as before."""
    import json

    from declsync import Reason, Status

    assert [f"{s}" for s in Status] == ["applied", "failed", "skipped", "interrupted"]
    assert [str(r) for r in Reason] == ["set", "removed", "replaced"]
    assert json.dumps({"status": Status.FAILED, "reason": Reason.REPLACED}) == '{"status": "failed", "reason": "replaced"}'
