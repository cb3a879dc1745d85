"""Prune, key renames and lifecycle protection: planner, applier, state, manifests, config (no HTTP)."""

from __future__ import annotations

import dataclasses
import json
import threading
from pathlib import Path
from typing import Any

import pytest
from helpers import live_order, resource

from declsync.config import load_config
from declsync.errors import ApiError, ConfigError, ManifestError, MassDeleteError, PlanError, StalePlanError
from declsync.execution.apply import Applier, check_stale
from declsync.manifests.loader import Resource, load_manifests
from declsync.plan import Action, Plan
from declsync.planning.planner import lookup_set, make_plan
from declsync.planning.prune import PruneOptions
from declsync.profile.model import KindSpec, default_profile
from declsync.render.text import render_json, render_text
from declsync.state import State, StateEntry

PROFILE = default_profile()
PRUNE = PruneOptions(enabled=True)
ALL = PruneOptions(enabled=True, allow_mass_delete=True)


def entry(kind: str, key: str, id: str, spec: dict[str, Any] | None = None, **kw: Any) -> StateEntry:
    return StateEntry(kind=kind, key=key, id=id, spec=spec or {}, source=f"manifests/{kind.lower()}.yaml:3", **kw)


def customer(key: str, id: str, **fields: Any) -> dict[str, Any]:
    return {"id": id, "key": key, "updatedAt": f"u-{id}", "name": key, "status": "NEW", **fields}


def kept_customers(n: int) -> tuple[list[Resource], dict[tuple[str, str], dict[str, Any]], list[StateEntry]]:
    """``n`` declared, live, managed customers K0..K(n-1), so that one prune stays under 20%."""
    spec = {"name": "x", "status": "NEW"}
    resources = [resource("Customer", f"K{i}", dict(spec)) for i in range(n)]
    live = {("Customer", f"K{i}"): customer(f"K{i}", f"k{i}", name="x") for i in range(n)}
    entries = [entry("Customer", f"K{i}", f"k{i}", dict(spec)) for i in range(n)]
    return resources, live, entries


# --------------------------------------------------------------------------- prune (planner)


def test_without_prune_an_undeclared_managed_resource_is_only_a_note() -> None:
    resources, live, entries = kept_customers(4)
    live[("Customer", "GONE")] = customer("GONE", "g")
    plan = make_plan(resources, live, {}, PROFILE, state_entries=[*entries, entry("Customer", "GONE", "g")])
    assert not plan.has_changes and plan.count(Action.DELETE) == 0
    assert plan.notes == ("Customer/GONE is no longer declared (left in place; use --prune to delete)",)
    assert "Note: Customer/GONE is no longer declared" in render_text(plan)


def test_prune_deletes_with_delete_method() -> None:
    resources, live, entries = kept_customers(9)
    live[("Customer", "GONE")] = customer("GONE", "g", notes="hi")
    gone = entry("Customer", "GONE", "g", {"name": "GONE", "notes": "hi"})
    plan = make_plan(resources, live, {}, PROFILE, state_entries=[*entries, gone], prune=PRUNE)
    (change,) = [c for c in plan.changes if c.action is Action.DELETE]
    assert change.address == "Customer/GONE" and change.id == "g" and change.patch is None
    assert change.before == {"name": "GONE", "notes": "hi"} and change.after is None
    assert change.observed_updated_at == "u-g" and change.source == "manifests/customer.yaml:3"
    assert plan.changes[-1] is change  # deletes come after everything else
    text = render_text(plan)
    assert "  - delete Customer/GONE (id g)" in text
    assert "Plan: 0 to create, 0 to update, 9 unchanged, 1 to delete." in text
    doc = json.loads(render_json(plan))
    assert doc["summary"]["delete"] == 1
    (jc,) = [c for c in doc["changes"] if c["action"] == "delete"]
    assert jc["patch"] is None and jc["id"] == "g"
    assert Plan.from_json(doc).to_json() == doc


def test_order_is_pruned_with_the_profile_patch() -> None:
    resources, live, entries = kept_customers(9)
    live[("Order", "O-1")] = live_order(status="booked")
    gone = entry("Order", "O-1", live_order()["id"], {"status": "booked"})
    plan = make_plan(resources, live, {}, PROFILE, state_entries=[*entries, gone], prune=PRUNE)
    (change,) = [c for c in plan.changes if c.action is Action.DELETE]
    assert change.patch == {"status": "canceled"}
    assert [(fc.path, fc.before, fc.after) for fc in change.field_changes] == [("status", "booked", "canceled")]
    text = render_text(plan)
    assert "- delete Order/O-1" in text and 'status: "booked" → "canceled"' in text
    assert json.loads(render_json(plan))["changes"][-1]["patch"] == {"status": "canceled"}


def test_kind_that_refuses_deletion_is_left_in_place_and_forgotten() -> None:
    refusing = dataclasses.replace(PROFILE.kinds["Carrier"], delete={"method": "refuse"})
    profile = dataclasses.replace(PROFILE, kinds={**PROFILE.kinds, "Carrier": refusing})
    resources, live, entries = kept_customers(9)
    live[("Carrier", "CR")] = {"id": "cr", "key": "CR", "name": "x", "type": "LTL"}
    plan = make_plan(resources, live, {}, profile, state_entries=[*entries, entry("Carrier", "CR", "cr")], prune=PRUNE)
    assert plan.count(Action.DELETE) == 0 and plan.forget == ("Carrier/CR",)
    assert any("does not allow deleting Carrier" in n for n in plan.notes)


def test_never_deletes_what_the_state_does_not_hold_or_a_different_resource_under_the_key() -> None:
    resources, live, entries = kept_customers(9)
    live[("Customer", "UNMANAGED")] = customer("UNMANAGED", "u")  # someone else's: not in the state
    live[("Customer", "REUSED")] = customer("REUSED", "other-id")  # key reused by another resource
    state = [*entries, entry("Customer", "REUSED", "ours"), entry("Customer", "VANISHED", "v")]
    plan = make_plan(resources, live, {}, PROFILE, state_entries=state, prune=ALL)
    assert plan.count(Action.DELETE) == 0 and not plan.has_changes
    assert set(plan.forget) == {"Customer/REUSED", "Customer/VANISHED"}
    assert any("is not the one declsync applied" in n for n in plan.notes)
    assert any("Customer/VANISHED is no longer declared and no longer exists" in n for n in plan.notes)


def test_prevent_destroy_in_the_state_refuses_prune_with_the_remedy() -> None:
    resources, live, entries = kept_customers(9)
    live[("Customer", "P")] = customer("P", "p")
    state = [*entries, entry("Customer", "P", "p", prevent_destroy=True)]
    with pytest.raises(PlanError) as info:
        make_plan(resources, live, {}, PROFILE, state_entries=state, prune=PRUNE)
    message = str(info.value)
    assert "manifests/customer.yaml:3: Customer/P" in message and "preventDestroy" in message
    assert "restore its manifest without preventDestroy, apply, then remove the manifest and prune" in message
    # without --prune it is just a note
    plan = make_plan(resources, live, {}, PROFILE, state_entries=state)
    assert plan.notes and not plan.has_changes


def test_mass_delete_needs_allow_or_a_higher_fraction() -> None:
    resources, live, entries = kept_customers(3)
    for k in ("G1", "G2"):
        live[("Customer", k)] = customer(k, k.lower())
    state = [*entries, entry("Customer", "G1", "g1"), entry("Customer", "G2", "g2")]
    with pytest.raises(MassDeleteError, match=r"refusing to prune 2 of the 5 .*40%") as info:
        make_plan(resources, live, {}, PROFILE, state_entries=state, prune=PRUNE)
    # What and how many, as fields; the library names no command-line flag (the CLI words it).
    assert (info.value.deletes, info.value.managed) == (("Customer/G1", "Customer/G2"), 5)
    assert info.value.max_fraction == PRUNE.max_delete_fraction
    assert "--" not in str(info.value) and isinstance(info.value, ConfigError)
    assert make_plan(resources, live, {}, PROFILE, state_entries=state, prune=ALL).count(Action.DELETE) == 2
    relaxed = PruneOptions(enabled=True, max_delete_fraction=0.5)
    assert make_plan(resources, live, {}, PROFILE, state_entries=state, prune=relaxed).count(Action.DELETE) == 2


def test_deletes_run_dependents_first() -> None:
    live = {
        ("Customer", "C"): customer("C", "c"),
        ("Location", "L"): {"id": "l", "key": "L", "customerId": "c"},
        ("Order", "O"): live_order(key="O", id="o"),
        ("Shipment", "S"): {"id": "s", "key": "S", "order": {"id": "o", "key": "O"}},
    }
    state = [
        entry("Customer", "C", "c", {"name": "C"}),
        entry("Location", "L", "l", {"customerId": "c", "name": "L"}),  # ids as recorded at apply
        entry("Order", "O", "o", {"customer": {"key": "C"}}),
        entry("Shipment", "S", "s", {"order": {"key": "O"}}),
    ]
    plan = make_plan([], live, {}, PROFILE, state_entries=state, prune=ALL)
    order = [c.address for c in plan.changes]
    assert order.index("Shipment/S") < order.index("Order/O") < order.index("Customer/C")
    assert order.index("Location/L") < order.index("Customer/C")


def test_refuses_to_prune_what_a_declared_resource_still_refers_to() -> None:
    shipment = resource("Shipment", "S", {"order": {"key": "O"}})
    live = {("Order", "O"): live_order(key="O", id="o"), ("Shipment", "S"): {"id": "s", "key": "S", "order": {"key": "O"}}}
    with pytest.raises(PlanError, match=r"Shipment/S .* still refers to it"):
        make_plan([shipment], live, {}, PROFILE, state_entries=[entry("Order", "O", "o")], prune=ALL)


# --------------------------------------------------------------------------- renames (planner)


def renamed(spec: dict[str, Any], previous: tuple[str, ...] = ("OLD",)) -> Resource:
    return dataclasses.replace(resource("Customer", "NEW", spec), previous_keys=previous)


def test_rename_is_an_update_of_the_resource_live_under_the_old_key() -> None:
    res = renamed({"name": "Acme", "status": "ACTIVE"})
    assert lookup_set([res], PROFILE) == {"Customer": ["NEW", "OLD"]}
    live = {("Customer", "OLD"): customer("OLD", "c1", name="Acme", notes="n")}
    applied = {("Customer", "OLD"): {"name": "Acme", "status": "NEW", "notes": "n"}}
    plan = make_plan([res], live, applied, PROFILE, state_ids={("Customer", "OLD"): "c1"})
    (change,) = plan.changes
    assert change.action is Action.UPDATE and change.id == "c1" and change.previous_key == "OLD"
    # last-applied came from the old key's entry: notes was removed from the manifest → cleared
    assert change.patch == {"key": "NEW", "status": "ACTIVE", "notes": None}
    assert change.field_changes[0].path == "key" and change.after is not None and change.after["key"] == "NEW"
    assert {"op": "replace", "path": "/key", "value": "NEW"} in change.json_patch
    assert "  ~ rename Customer/OLD → NEW (id c1)" in render_text(plan)
    assert json.loads(render_json(plan))["changes"][0]["previous_key"] == "OLD"


def test_rename_alone_patches_only_the_key() -> None:
    live = {("Customer", "OLD"): customer("OLD", "c1", name="Acme")}
    (change,) = make_plan([renamed({"name": "Acme"})], live, {}, PROFILE).changes
    assert change.action is Action.UPDATE and change.patch == {"key": "NEW"}


def test_both_old_and_new_live_is_an_error_naming_both() -> None:
    live = {("Customer", "OLD"): customer("OLD", "c1"), ("Customer", "NEW"): customer("NEW", "c2")}
    with pytest.raises(PlanError, match=r"Customer/NEW \(id c2\) and its previous key Customer/OLD \(id c1\)"):
        make_plan([renamed({"name": "x"})], live, {}, PROFILE)


def test_references_follow_a_rename() -> None:
    loc = resource("Location", "L", {"customerId": {"$ref": "Customer/NEW"}, "name": "DC", "isAppointmentRequired": True})
    live = {("Customer", "OLD"): customer("OLD", "c1", name="x")}
    plan = make_plan([renamed({"name": "x"}), loc], live, {}, PROFILE)
    create = next(c for c in plan.changes if c.kind == "Location")
    assert create.patch is not None and create.patch["customerId"] == "c1"
    stale_ref = resource("Location", "L", {"customerId": {"$ref": "Customer/OLD"}, "name": "DC",
                                           "isAppointmentRequired": True})
    with pytest.raises(PlanError, match="refers to Customer/OLD, which Customer/NEW renames"):
        make_plan([renamed({"name": "x"}), stale_ref], live, {}, PROFILE)


def test_old_key_is_not_pruned_while_claimed() -> None:
    live = {("Customer", "OLD"): customer("OLD", "c1", name="x")}
    plan = make_plan([renamed({"name": "x"})], live, {}, PROFILE,
                     state_entries=[entry("Customer", "OLD", "c1", {"name": "x"})], prune=ALL)
    assert plan.count(Action.DELETE) == 0 and not plan.notes


# --------------------------------------------------------------------------- ignoreFields (planner)


def test_ignored_fields_are_neither_compared_nor_patched_but_sent_on_create() -> None:
    res = dataclasses.replace(
        resource("Order", "O-1", {"status": "booked", "internalNotes": "initial", "freight": {"weight": 10, "handlingUnits": 2}}),
        ignore_fields=("internalNotes", "freight.weight"),
    )
    (create,) = make_plan([res], {}, {}, PROFILE).changes
    assert create.patch is not None and create.patch["internalNotes"] == "initial"
    live = live_order(key="O-1", status="booked", internalNotes="ops wrote this",
                      freight={"weight": 99, "handlingUnits": 2, "hazmat": False})
    (noop,) = make_plan([res], {("Order", "O-1"): live}, {("Order", "O-1"): res.spec}, PROFILE).changes
    assert noop.action is Action.NOOP and "internalNotes" not in (noop.before or {})
    live["freight"]["handlingUnits"] = 3
    (update,) = make_plan([res], {("Order", "O-1"): live}, {("Order", "O-1"): res.spec}, PROFILE).changes
    assert update.patch == {"freight": {"handlingUnits": 2}}


def test_ignored_field_dropped_from_the_manifest_is_not_cleared() -> None:
    res = dataclasses.replace(resource("Order", "O-1", {"status": "booked"}), ignore_fields=("internalNotes",))
    live = live_order(key="O-1", status="booked", internalNotes="theirs")
    applied = {("Order", "O-1"): {"status": "booked", "internalNotes": "mine"}}
    (change,) = make_plan([res], {("Order", "O-1"): live}, applied, PROFILE).changes
    assert change.action is Action.NOOP


# --------------------------------------------------------------------------- apply


class Fake:
    def __init__(self) -> None:
        self.store: dict[str, dict[str, Any]] = {}
        self.calls: list[tuple[str, str, Any]] = []
        self.fail: set[str] = set()
        self.lock = threading.Lock()

    def add(self, kind: str, key: str, id: str, **fields: Any) -> dict[str, Any]:
        self.store[id] = {"kind": kind, "id": id, "key": key, "updatedAt": "t0", **fields}
        return self.store[id]

    def create(self, kind: KindSpec, body: dict[str, Any], *, idempotency_key: str) -> dict[str, Any]:
        with self.lock:
            self.calls.append(("POST", kind.name, dict(body)))
            return self.add(kind.name, body["key"], f"id-{len(self.store)}", **body)

    def update(self, kind: KindSpec, id: str, body: dict[str, Any], *, idempotency_key: str,
               if_match: str | None = None) -> dict[str, Any]:
        with self.lock:
            self.calls.append(("PATCH", kind.name, dict(body)))
            if id in self.fail:
                raise ApiError("nope", status=400)
            self.store[id].update(body, updatedAt="t1")
            return self.store[id]

    def delete(self, kind: KindSpec, id: str, *, idempotency_key: str) -> None:
        with self.lock:
            self.calls.append(("DELETE", kind.name, id))
            if id not in self.store:
                raise ApiError("not found", status=404)
            del self.store[id]

    def fetch_by_keys(self, kind: KindSpec, keys: list[str]) -> dict[str, dict[str, Any]]:
        return {r["key"]: r for r in self.store.values() if r["kind"] == kind.name and r["key"] in keys}

    def live(self) -> dict[tuple[str, str], dict[str, Any]]:
        return {(r["kind"], r["key"]): r for r in self.store.values()}


class Saver:
    def __init__(self, *entries: StateEntry) -> None:
        self.state = State()
        for e in entries:
            self.state.put(e)

    def save(self) -> None:
        pass


def test_apply_deletes_last_and_drops_state_entries() -> None:
    client = Fake()
    client.add("Customer", "KEEP", "k", name="old")
    client.add("Customer", "GONE", "g")
    client.add("Order", "O", "o", status="booked")
    saver = Saver(entry("Customer", "KEEP", "k", {"name": "old"}), entry("Customer", "GONE", "g"),
                  entry("Order", "O", "o", {"status": "booked"}), entry("Customer", "VANISHED", "v"))
    keep = resource("Customer", "KEEP", {"name": "new"})
    plan = make_plan([keep], client.live(), {("Customer", "KEEP"): {"name": "old"}}, PROFILE,
                     state_entries=list(saver.state.entries()), prune=ALL)
    result = Applier(client, PROFILE, saver).run(plan)
    assert result.ok and result.summary() == "Apply complete: 0 created, 1 updated, 2 deleted."
    assert client.calls[0] == ("PATCH", "Customer", {"name": "new"})
    assert ("DELETE", "Customer", "g") in client.calls and ("PATCH", "Order", {"status": "canceled"}) in client.calls
    assert [e.key for e in saver.state.entries()] == ["KEEP"]  # GONE and O deleted, VANISHED forgotten


def test_deletes_are_skipped_when_an_update_failed() -> None:
    client = Fake()
    client.add("Customer", "KEEP", "k", name="old")
    client.add("Customer", "GONE", "g")
    client.fail.add("k")
    saver = Saver(entry("Customer", "KEEP", "k", {"name": "old"}), entry("Customer", "GONE", "g"))
    plan = make_plan([resource("Customer", "KEEP", {"name": "new"})], client.live(), {}, PROFILE,
                     state_entries=list(saver.state.entries()), prune=ALL)
    result = Applier(client, PROFILE, saver).run(plan)
    assert {o.address: o.status for o in result.outcomes} == {"Customer/KEEP": "failed", "Customer/GONE": "skipped"}
    assert saver.state.get("Customer", "GONE") is not None and "g" in client.store


def test_apply_rename_moves_the_state_entry_and_records_prevent_destroy() -> None:
    client = Fake()
    client.add("Customer", "OLD", "c1", name="x")
    saver = Saver(entry("Customer", "OLD", "c1", {"name": "x"}))
    res = dataclasses.replace(renamed({"name": "x"}), prevent_destroy=True)
    plan = make_plan([res], client.live(), {}, PROFILE)
    assert Applier(client, PROFILE, saver).run(plan).ok
    assert client.calls == [("PATCH", "Customer", {"key": "NEW"})]
    assert saver.state.get("Customer", "OLD") is None
    new = saver.state.get("Customer", "NEW")
    assert new is not None and new.id == "c1" and new.prevent_destroy
    # a second plan is empty; dropping preventDestroy is recorded by the next apply without any write
    assert not make_plan([res], client.live(), {("Customer", "NEW"): new.spec}, PROFILE).has_changes
    plain = dataclasses.replace(res, prevent_destroy=False)
    Applier(client, PROFILE, saver).run(make_plan([plain], client.live(), {("Customer", "NEW"): new.spec}, PROFILE))
    again = saver.state.get("Customer", "NEW")
    assert again is not None and not again.prevent_destroy and len(client.calls) == 1


def test_saved_plan_with_delete_or_rename_is_stale_when_things_moved() -> None:
    client = Fake()
    client.add("Customer", "GONE", "g")
    client.add("Customer", "OLD", "c1", name="x")
    saver = Saver(entry("Customer", "GONE", "g"))
    plan = make_plan([renamed({"name": "x"})], client.live(), {}, PROFILE,
                     state_entries=list(saver.state.entries()), prune=ALL)
    check_stale(plan, client, PROFILE, saver.state)
    client.store["g"]["updatedAt"] = "later"
    with pytest.raises(StalePlanError, match="Customer/GONE changed since the plan"):
        check_stale(plan, client, PROFILE, saver.state)
    client.store["g"]["updatedAt"] = "t0"
    client.add("Customer", "NEW", "c2")
    with pytest.raises(StalePlanError, match="Customer/NEW was created by someone else"):
        check_stale(plan, client, PROFILE, saver.state)
    del client.store["c2"]
    client.store["g2"] = {**client.store.pop("g"), "id": "g2"}
    with pytest.raises(StalePlanError, match="Customer/GONE is now another resource"):
        check_stale(plan, client, PROFILE, saver.state)


# --------------------------------------------------------------------------- state


def test_state_entry_prevent_destroy_round_trips_and_stays_out_of_old_files() -> None:
    state = State()
    state.put(entry("Customer", "A", "a"))
    state.put(entry("Customer", "B", "b", prevent_destroy=True))
    data = json.loads(state.to_bytes())
    assert "prevent_destroy" not in data["resources"][0] and data["resources"][1]["prevent_destroy"] is True
    again = State.from_json(data, "s.json")
    a, b = again.get("Customer", "A"), again.get("Customer", "B")
    assert a is not None and b is not None and not a.prevent_destroy and b.prevent_destroy


# --------------------------------------------------------------------------- manifests


def write(tmp_path: Path, text: str, name: str = "m.yaml") -> None:
    (tmp_path / name).write_text(text, encoding="utf-8")


def problems(tmp_path: Path) -> list[str]:
    with pytest.raises(ManifestError) as info:
        load_manifests([tmp_path], PROFILE)
    return [str(p).removeprefix(str(tmp_path) + "/") for p in info.value.problems]


def test_loads_previous_keys_and_lifecycle(tmp_path: Path) -> None:
    write(tmp_path, """kind: Order
key: NEW
previousKeys: [OLD, OLDER]
lifecycle:
  preventDestroy: true
  ignoreFields: [internalNotes, freight.weight, stops]
spec: {status: booked}
""")
    (res,) = load_manifests([tmp_path], PROFILE)
    assert res.previous_keys == ("OLD", "OLDER") and res.prevent_destroy
    assert res.ignore_fields == ("internalNotes", "freight.weight", "stops")


def test_reports_bad_previous_keys_and_lifecycle_with_lines(tmp_path: Path) -> None:
    write(tmp_path, """kind: Order
key: NEW
previousKeys: [NEW, 123, OLD, OLD]
lifecycle:
  preventDestroy: "yes"
  ignoreFeilds: []
---
kind: Order
key: B
previousKeys: OLD
lifecycle:
  ignoreFields: [freight.weigth, stops.notes, status.x, id, key, "", 5]
---
kind: Order
key: C
lifecycle: [preventDestroy]
""")
    found = problems(tmp_path)
    assert "m.yaml:3: previousKeys: 'NEW' is this resource's key; list only the keys it had before" in found
    assert any(p.startswith("m.yaml:3: previousKeys: ") and "YAML read the unquoted value as a number" in p
               for p in found)
    assert "m.yaml:3: previousKeys: 'OLD' is listed twice" in found
    assert "m.yaml:5: lifecycle.preventDestroy must be true or false, not 'yes'" in found
    assert any(p.startswith("m.yaml:6: unknown lifecycle field 'ignoreFeilds'") and "ignoreFields" in p for p in found)
    assert any(p.startswith("m.yaml:10: 'previousKeys' must be a list") for p in found)
    bad = [p for p in found if p.startswith("m.yaml:12: lifecycle.ignoreFields: ")]
    assert any("'freight.weigth' is not a field of freight" in p and "weight" in p for p in bad)
    assert any("'stops' is an array" in p for p in bad)
    assert any("'status' is not an object" in p for p in bad)
    assert any("'id' is read-only" in p for p in bad)
    assert any("'key' identifies the resource" in p for p in bad)
    assert len(bad) == 7
    assert any(p.startswith("m.yaml:16: 'lifecycle' must be a mapping") for p in found)


def test_previous_key_claimed_twice_or_still_declared(tmp_path: Path) -> None:
    write(tmp_path, """kind: Customer
key: A
previousKeys: [OLD]
spec: {name: a, status: NEW}
---
kind: Customer
key: B
previousKeys: [OLD, A]
spec: {name: b, status: NEW}
---
kind: Carrier
key: X
previousKeys: [OLD]
spec: {name: c, type: LTL}
""")
    found = problems(tmp_path)
    assert any(p.startswith("m.yaml:8: previousKeys: Customer/OLD is also a previous key of Customer/A at ")
               and p.endswith("m.yaml:1; only one resource can be renamed from it") for p in found)
    assert any(p.startswith("m.yaml:8:") and "Customer/A is still declared" in p for p in found)
    assert len(found) == 2  # another kind may use the same old key


# --------------------------------------------------------------------------- declsync.yaml


def test_config_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert load_config(tmp_path).prune is False
    write(tmp_path, "prune: true\nmaxDeleteFraction: 0.5\n", "declsync.yaml")
    config = load_config(tmp_path)
    assert config.prune is True and config.max_delete_fraction == 0.5
    write(tmp_path, "prune: yes please\n", "declsync.yaml")
    with pytest.raises(ConfigError, match="prune must be true or false"):
        load_config(tmp_path)
    write(tmp_path, "prnue: true\n", "declsync.yaml")
    with pytest.raises(ConfigError, match=r"unknown setting 'prnue'.*prune"):
        load_config(tmp_path)
    write(tmp_path, "maxDeleteFraction: 2\n", "declsync.yaml")
    with pytest.raises(ConfigError, match="from 0 to 1"):
        load_config(tmp_path)
    # never read as a manifest when the working directory is the manifest path
    write(tmp_path, "kind: Customer\nkey: C\nspec: {name: a, status: NEW}\n")
    monkeypatch.chdir(tmp_path)
    assert [r.key for r in load_manifests(["."], PROFILE)] == ["C"]
