"""Prune, key renames and lifecycle protection, end to end: CLI → HTTP → sandbox."""

from __future__ import annotations

import json
from pathlib import Path

from .conftest import api, get, run


def url(sandbox) -> list[str]:  # type: ignore[no-untyped-def]
    return ["--api-url", sandbox.base_url]


def state_keys(workdir: Path) -> set[str]:
    data = json.loads((workdir / ".declsync" / "state.json").read_text())
    return {f"{r['kind']}/{r['key']}" for r in data["resources"]}


def drop_document(path: Path, key: str) -> None:
    """Remove the document declaring ``key`` from a multi-document manifest file."""
    docs = path.read_text().split("---\n")
    path.write_text("---\n".join(d for d in docs if f"key: {key}\n" not in d))


def test_removed_manifest_is_a_note_without_prune_and_deleted_with_it(sandbox, workdir: Path) -> None:
    assert run(["apply", "--auto-approve", *url(sandbox)]).code == 0
    (workdir / "manifests" / "shipments.yaml").unlink()
    plain = run(["plan", "--detailed-exitcode", *url(sandbox)])
    assert plain.code == 0, plain.all
    assert "Note: Shipment/SHP-ERP-1001 is no longer declared (left in place; use --prune to delete)" in plain.out
    shipment = get(sandbox, "shipments", "SHP-ERP-1001")
    assert shipment is not None
    sandbox.reset_stats()
    pruning = run(["plan", "--prune", "--detailed-exitcode", *url(sandbox)])
    assert pruning.code == 2, pruning.all
    assert f"  - delete Shipment/SHP-ERP-1001 (id {shipment['id']})" in pruning.out
    assert "Plan: 0 to create, 0 to update, 10 unchanged, 1 to delete." in pruning.out
    doc = json.loads(run(["plan", "--prune", "--format", "json", *url(sandbox)]).out)
    (change,) = [c for c in doc["changes"] if c["action"] == "delete"]
    assert change["patch"] is None and change["id"] == shipment["id"]
    assert sandbox.stats()["writes"] == 0
    applied = run(["apply", "--prune", "--auto-approve", *url(sandbox)])
    assert applied.code == 0, applied.all
    assert "Apply complete: 0 created, 0 updated, 1 deleted." in applied.out
    assert sandbox.stats()["by_method"].get("DELETE") == 1
    assert get(sandbox, "shipments", "SHP-ERP-1001") is None
    assert "Shipment/SHP-ERP-1001" not in state_keys(workdir)
    after = run(["plan", "--prune", "--detailed-exitcode", *url(sandbox)])
    assert after.code == 0 and "No changes." in after.out and "Note:" not in after.out, after.all


def test_order_is_pruned_by_cancelling_it_and_config_file_turns_prune_on(sandbox, workdir: Path) -> None:
    assert run(["apply", "--auto-approve", *url(sandbox)]).code == 0
    drop_document(workdir / "manifests" / "orders.yaml", "ERP-ORDER-1002")
    (workdir / "declsync.yaml").write_text("prune: true\n")
    plan = run(["plan", *url(sandbox)])
    assert "- delete Order/ERP-ORDER-1002" in plan.out and 'status: "quoted" → "canceled"' in plan.out, plan.all
    assert "Note: Order/ERP-ORDER-1002 is no longer declared" in run(["plan", "--no-prune", *url(sandbox)]).out
    sandbox.reset_stats()
    applied = run(["apply", "--auto-approve", *url(sandbox)])
    assert applied.code == 0, applied.all
    stats = sandbox.stats()
    assert stats["writes"] == 1 and stats["by_method"]["PATCH"] == 1 and not stats["by_method"].get("DELETE")
    order = get(sandbox, "orders", "ERP-ORDER-1002")
    assert order is not None and order["status"] == "canceled"  # cancelled, not deleted
    assert "Order/ERP-ORDER-1002" not in state_keys(workdir)
    assert run(["plan", "--detailed-exitcode", *url(sandbox)]).code == 0


def test_mass_delete_is_refused_unless_allowed(sandbox, workdir: Path) -> None:
    assert run(["apply", "--auto-approve", *url(sandbox)]).code == 0
    (workdir / "manifests" / "shipments.yaml").unlink()
    (workdir / "manifests" / "orders.yaml").unlink()
    sandbox.reset_stats()
    refused = run(["apply", "--prune", "--auto-approve", *url(sandbox)])
    assert refused.code == 1, refused.all
    assert "refusing to prune 3 of the 11 resources declsync manages (27%" in refused.err
    assert "--allow-mass-delete" in refused.err
    assert sandbox.stats()["writes"] == 0 and len(state_keys(workdir)) == 11
    assert run(["plan", "--prune", "--max-delete-fraction", "0.5", *url(sandbox)]).code == 0
    allowed = run(["apply", "--prune", "--allow-mass-delete", "--auto-approve", *url(sandbox)])
    assert allowed.code == 0, allowed.all
    assert "3 deleted" in allowed.out
    # the shipment went before the order it refers to
    assert get(sandbox, "shipments", "SHP-ERP-1001") is None
    assert get(sandbox, "orders", "ERP-ORDER-1001")["status"] == "canceled"  # type: ignore[index]


def test_never_prunes_a_live_resource_declsync_does_not_manage(sandbox, workdir: Path) -> None:
    assert run(["apply", "--auto-approve", *url(sandbox)]).code == 0
    with api(sandbox) as c:
        r = c.post("customers", json={"key": "CUST-SOMEONE-ELSE", "name": "Theirs", "status": "NEW"})
        assert r.status_code == 201, r.text
    result = run(["apply", "--prune", "--allow-mass-delete", "--auto-approve", *url(sandbox)])
    assert result.code == 0 and "No changes." in result.out, result.all
    assert "CUST-SOMEONE-ELSE" not in result.all
    assert get(sandbox, "customers", "CUST-SOMEONE-ELSE") is not None


def test_prevent_destroy_refuses_prune_until_removed_and_applied(sandbox, workdir: Path) -> None:
    shipments = workdir / "manifests" / "shipments.yaml"
    original = shipments.read_text()
    shipments.write_text(original + "lifecycle:\n  preventDestroy: true\n")
    assert run(["apply", "--auto-approve", *url(sandbox)]).code == 0
    shipments.unlink()
    refused = run(["plan", "--prune", *url(sandbox)])
    assert refused.code == 1, refused.all
    assert "manifests/shipments.yaml:1: Shipment/SHP-ERP-1001 is no longer declared, but it is protected" \
           in refused.err
    assert "restore its manifest without preventDestroy, apply, then remove the manifest and prune" in refused.err
    shipments.write_text(original)
    assert run(["apply", "--auto-approve", *url(sandbox)]).code == 0  # no changes, records the flag off
    shipments.unlink()
    pruned = run(["apply", "--prune", "--auto-approve", *url(sandbox)])
    assert pruned.code == 0 and "1 deleted" in pruned.out, pruned.all


def test_rename_keeps_the_resource(sandbox, workdir: Path) -> None:
    carriers = workdir / "manifests" / "carriers.yaml"
    shipments = workdir / "manifests" / "shipments.yaml"
    assert run(["apply", "--auto-approve", *url(sandbox)]).code == 0
    before = get(sandbox, "carriers", "CARR-SWIFTLINE")
    assert before is not None
    carriers.write_text(carriers.read_text().replace("key: CARR-SWIFTLINE\n",
                                                     "key: CARR-SWIFT\npreviousKeys: [CARR-SWIFTLINE]\n")
                        .replace("isHazmat: false", "isHazmat: true"))
    shipments.write_text(shipments.read_text().replace("{key: CARR-SWIFTLINE}", "{key: CARR-SWIFT}"))
    contacts = workdir / "manifests" / "contacts.yaml"  # a reference to the old key is refused: follow the rename
    contacts.write_text(contacts.read_text().replace("{$ref: Carrier/CARR-SWIFTLINE}", "{$ref: Carrier/CARR-SWIFT}"))
    plan = run(["plan", "--prune", "--format", "json", *url(sandbox)])
    doc = json.loads(plan.out)
    (rename,) = [c for c in doc["changes"] if c["kind"] == "Carrier"]
    assert rename["action"] == "update" and rename["previous_key"] == "CARR-SWIFTLINE"
    assert rename["patch"] == {"type": "TRUCKLOAD", "key": "CARR-SWIFT", "isHazmat": True} and rename["id"] == before["id"]
    assert doc["summary"]["create"] == 0 and doc["summary"]["delete"] == 0
    text = run(["plan", *url(sandbox)]).out
    assert f"  ~ rename Carrier/CARR-SWIFTLINE → CARR-SWIFT (id {before['id']})" in text
    applied = run(["apply", "--prune", "--auto-approve", *url(sandbox)])
    assert applied.code == 0, applied.all
    after = get(sandbox, "carriers", "CARR-SWIFT")
    assert after is not None and after["id"] == before["id"] and after["isHazmat"] is True
    assert get(sandbox, "carriers", "CARR-SWIFTLINE") is None
    with api(sandbox) as c:
        assert len(c.post("carriers/filter", json={}).json()["data"]) == 1  # no second carrier
    keys = state_keys(workdir)
    assert "Carrier/CARR-SWIFT" in keys and "Carrier/CARR-SWIFTLINE" not in keys
    again = run(["plan", "--prune", "--detailed-exitcode", *url(sandbox)])
    assert again.code == 0 and "No changes." in again.out, again.all


def test_rename_with_both_keys_live_is_an_error(sandbox, workdir: Path) -> None:
    carriers = workdir / "manifests" / "carriers.yaml"
    assert run(["apply", "--auto-approve", *url(sandbox)]).code == 0
    with api(sandbox) as c:
        assert c.post("carriers", json={"key": "CARR-SWIFT", "name": "Other", "type": "LTL"}).status_code == 201
    carriers.write_text(carriers.read_text().replace("key: CARR-SWIFTLINE\n",
                                                     "key: CARR-SWIFT\npreviousKeys: [CARR-SWIFTLINE]\n"))
    result = run(["plan", *url(sandbox)])
    assert result.code == 1
    assert "Carrier/CARR-SWIFT (id" in result.err and "previous key Carrier/CARR-SWIFTLINE (id" in result.err


def test_ignored_fields_owned_by_another_system_never_diff(sandbox, workdir: Path) -> None:
    orders = workdir / "manifests" / "orders.yaml"
    orders.write_text(orders.read_text().replace(
        "key: ERP-ORDER-1001\n", "key: ERP-ORDER-1001\nlifecycle:\n  ignoreFields: [internalNotes, freight.weight]\n"
    ).replace("  externalNotes: Keep frozen at -10F.\n", "  externalNotes: Keep frozen at -10F.\n  internalNotes: seed\n"))
    assert run(["apply", "--auto-approve", *url(sandbox)]).code == 0
    order = get(sandbox, "orders", "ERP-ORDER-1001")
    assert order is not None and order["internalNotes"] == "seed"  # sent on create
    with api(sandbox) as c:
        r = c.patch("orders/ERP-ORDER-1001", json={"internalNotes": "ops", "freight": {"weight": 41000}})
        assert r.status_code == 200, r.text
    plan = run(["plan", "--detailed-exitcode", *url(sandbox)])
    assert plan.code == 0 and "No changes." in plan.out, plan.all
    # a field that is not ignored still diffs, and the patch leaves the ignored ones alone
    orders.write_text(orders.read_text().replace("handlingUnits: 20", "handlingUnits: 21"))
    doc = json.loads(run(["plan", "--format", "json", *url(sandbox)]).out)
    (change,) = [c for c in doc["changes"] if c["action"] != "noop"]
    assert change["patch"] == {"freight": {"handlingUnits": 21}}


def test_saved_plan_with_a_delete_is_checked_before_applying(sandbox, workdir: Path) -> None:
    assert run(["apply", "--auto-approve", *url(sandbox)]).code == 0
    (workdir / "manifests" / "shipments.yaml").unlink()
    assert run(["plan", "--prune", "--out", "p.json", *url(sandbox)]).code == 0
    with api(sandbox) as c:
        assert c.patch("shipments/SHP-ERP-1001", json={"notes": "touched"}).status_code == 200
    stale = run(["apply", "p.json", "--auto-approve", *url(sandbox)])
    assert stale.code == 1 and "Shipment/SHP-ERP-1001 changed since the plan" in stale.err, stale.all
    assert get(sandbox, "shipments", "SHP-ERP-1001") is not None
    assert run(["plan", "--prune", "--out", "p.json", *url(sandbox)]).code == 0
    applied = run(["apply", "p.json", "--auto-approve", *url(sandbox)])
    assert applied.code == 0 and "1 deleted" in applied.out, applied.all
    assert get(sandbox, "shipments", "SHP-ERP-1001") is None


def test_a_restricted_plan_prunes_only_inside_its_selection(sandbox, workdir: Path) -> None:
    assert run(["apply", "--auto-approve", *url(sandbox)]).code == 0
    (workdir / "manifests" / "shipments.yaml").unlink()
    drop_document(workdir / "manifests" / "orders.yaml", "ERP-ORDER-1002")
    only_orders = run(["plan", "--prune", "--allow-mass-delete", "--kind", "Order", *url(sandbox)])
    assert only_orders.code == 0, only_orders.all
    assert "- delete Order/ERP-ORDER-1002" in only_orders.out
    assert "delete Shipment/SHP-ERP-1001" not in only_orders.out
    excluded = run(["plan", "--prune", "--allow-mass-delete", "--exclude", "Shipment/*", *url(sandbox)])
    assert "delete Shipment/SHP-ERP-1001" not in excluded.out and "- delete Order/ERP-ORDER-1002" in excluded.out
    everything = run(["plan", "--prune", "--allow-mass-delete", *url(sandbox)])
    assert "- delete Shipment/SHP-ERP-1001" in everything.out and "- delete Order/ERP-ORDER-1002" in everything.out
