"""Issue 5 end to end: --target/--exclude/--kind, output formats, import and schema."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
import yaml

from declsync.cli.output import use_colour
from declsync.state import StateStore

from .conftest import api, get, run


def url(sandbox) -> list[str]:  # type: ignore[no-untyped-def]
    return ["--api-url", sandbox.base_url]


def test_target_plans_only_matching_resources_and_resolves_the_rest_live(sandbox, workdir: Path) -> None:
    assert run(["apply", "--auto-approve", "--kind", "Customer", "--kind", "Location", *url(sandbox)]).code == 0
    result = run(["plan", "--format", "json", "--target", "Order/ERP-*", *url(sandbox)])
    assert result.code == 0, result.all
    doc = json.loads(result.out)
    assert {c["key"] for c in doc["changes"]} == {"ERP-ORDER-1001", "ERP-ORDER-1002"}
    assert doc["notes"] == ["restricted by --target: 2 of 11 resources planned"]
    text = run(["plan", "--target", "Order/ERP-ORDER-1001", "--target", "Carrier", *url(sandbox)])
    assert "Note: restricted by --target: 2 of 11 resources planned" in text.out
    assert "Plan: 2 to create, 0 to update, 0 unchanged." in text.out
    excluded = run(["plan", "--exclude", "Order/*", "--exclude", "Shipment/*", "--kind", "Carrier", "--kind", "Order",
                    *url(sandbox)])
    assert "restricted by --exclude/--kind: 1 of 11 resources planned" in excluded.out
    assert "Carrier/CARR-SWIFTLINE" in excluded.out and "Order/" not in excluded.out.replace("Order/*", "")


def test_target_refuses_references_to_unselected_resources_that_do_not_exist(sandbox, workdir: Path) -> None:
    result = run(["plan", "--target", "Shipment/*", *url(sandbox)])
    assert result.code == 1
    assert ("manifests/shipments.yaml:4: order: refers to Order/ERP-ORDER-1001, which is declared but not selected"
            in result.err)
    assert sandbox.stats()["writes"] == 0


def test_selection_typos_are_errors(sandbox, workdir: Path) -> None:
    bad_kind = run(["plan", "--kind", "Ordr", *url(sandbox)])
    assert bad_kind.code == 1 and "unknown kind (did you mean 'Order'?)" in bad_kind.err
    no_match = run(["plan", "--target", "Order/NOPE-*", *url(sandbox)])
    assert no_match.code == 1 and "matches no declared resource" in no_match.err
    bad_pattern = run(["plan", "--target", "Ordr/*", *url(sandbox)])
    assert bad_pattern.code == 1 and "unknown kind 'Ordr'" in bad_pattern.err


def test_apply_with_target_applies_only_the_selection(sandbox, workdir: Path) -> None:
    result = run(["apply", "--auto-approve", "--target", "Customer/CUST-ACME", "--compact", *url(sandbox)])
    assert result.code == 0, result.all
    assert "+ Customer/CUST-ACME (" in result.out and "Apply complete: 1 created, 0 updated." in result.out
    assert get(sandbox, "customers", "CUST-GLOBEX") is None
    rest = run(["plan", "--compact", *url(sandbox)])
    assert "Plan: 10 to create, 0 to update, 1 unchanged." in rest.out
    saved = workdir / "p.json"
    assert run(["plan", "--out", str(saved), *url(sandbox)]).code == 0
    refused = run(["apply", str(saved), "--target", "Order/*", "--auto-approve", *url(sandbox)])
    assert refused.code == 1 and "would change the saved plan" in refused.err


def test_markdown_and_compact_formats(sandbox, workdir: Path) -> None:
    assert run(["apply", "--auto-approve", *url(sandbox)]).code == 0
    orders = workdir / "manifests" / "orders.yaml"
    orders.write_text(orders.read_text().replace("status: booked", "status: dispatched"))
    with api(sandbox) as c:  # an out-of-band change: drift
        order = c.get("orders/ERP-ORDER-1001", params={"by": "key"}).json()
        assert c.patch(f"orders/{order['id']}", json={"status": "quoted"}).status_code == 200
    md = run(["plan", "--format", "markdown", "--detailed-exitcode", "--max-chars", "5000", *url(sandbox)])
    assert md.code == 2, md.all
    assert md.out.startswith("**Plan: 0 to create, 1 to update, 10 unchanged.**")
    assert "<code>&#126; update Order/ERP-ORDER-1001</code>" in md.out
    assert '~ status: "quoted" → "dispatched"  # drift: changed outside declsync' in md.out
    assert "10 unchanged resources not listed." in md.out and len(md.out) <= 5000
    compact = run(["plan", "--compact", *url(sandbox)])
    assert compact.out.splitlines()[1] == "~ Order/ERP-ORDER-1001 (1 field, drift)"
    too_small = run(["plan", "--format", "markdown", "--max-chars", "10", *url(sandbox)])
    assert too_small.code == 1


def test_colour_follows_tty_no_color_and_flag(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys.stdout, "isatty", lambda: True)
    monkeypatch.delenv("NO_COLOR", raising=False)
    assert use_colour(False)
    assert not use_colour(True)
    monkeypatch.setenv("NO_COLOR", "1")
    assert not use_colour(False)
    monkeypatch.setenv("NO_COLOR", "")  # no-color.org: empty means unset
    assert use_colour(False)
    monkeypatch.setattr(sys.stdout, "isatty", lambda: False)
    monkeypatch.delenv("NO_COLOR")
    assert not use_colour(False)


def test_import_then_plan_shows_no_changes(sandbox, workdir: Path) -> None:
    assert run(["apply", "--auto-approve", *url(sandbox)]).code == 0
    Path(".declsync/state.json").unlink()
    out = workdir / "imported"
    for kind, per in (("Customer", "kind"), ("Carrier", "kind"), ("Location", "resource"), ("Order", "kind"),
                      ("Shipment", "resource")):
        result = run(["import", kind, "--all", "--out-dir", str(out), "--per", per, *url(sandbox)])
        assert result.code == 0, result.all
    location = yaml.safe_load((out / "locations" / "LOC-ACME-CHI.yaml").read_text())
    assert location == {"kind": "Location", "key": "LOC-ACME-CHI", "spec": {
        "customerId": {"$ref": "Customer/CUST-ACME"}, "name": "Acme Chicago DC", "type": "SHIPPER",
        "isAppointmentRequired": True, "notes": "Dock 4, check in at the guard house."}}
    orders = list(yaml.safe_load_all((out / "orders.yaml").read_text()))
    assert [o["key"] for o in orders] == ["ERP-ORDER-1001", "ERP-ORDER-1002"]
    first = orders[0]["spec"]
    assert list(first)[:4] == ["status", "externalNotes", "mode", "customer"]  # profile order
    assert first["customer"] == {"key": "CUST-ACME"} and "internalNotes" not in first  # nulls omitted
    assert first["stops"][0]["requestedStart"] == "2025-01-20T14:00:00.000Z"  # a string, not a YAML timestamp
    assert first["freight"]["hazmat"] is False  # server defaults kept
    state = StateStore(".declsync/state.json").read()
    assert len(state) == 9
    entry = state.get("Location", "LOC-ACME-CHI")
    assert entry is not None and entry.spec["customerId"] == get(sandbox, "customers", "CUST-ACME")["id"]  # type: ignore[index]
    assert entry.source == "imported/locations/LOC-ACME-CHI.yaml:2"  # relative to the working directory
    assert run(["validate", str(out)]).code == 0
    plan = run(["plan", "--detailed-exitcode", str(out), *url(sandbox)])
    assert plan.code == 0, plan.all
    assert "No changes." in plan.out
    # A manifest edit is then a minimal, ordinary change.
    path = out / "locations" / "LOC-ACME-CHI.yaml"
    path.write_text(path.read_text().replace("Acme Chicago DC", "Acme Chicago DC 2"))
    edited = run(["plan", "--format", "json", str(out), *url(sandbox)])
    (change,) = [c for c in json.loads(edited.out)["changes"] if c["action"] != "noop"]
    assert change["patch"] == {"name": "Acme Chicago DC 2"}


def test_import_refuses_to_overwrite_and_checks_keys(sandbox, workdir: Path) -> None:
    assert run(["apply", "--auto-approve", "--kind", "Customer", *url(sandbox)]).code == 0
    clash = run(["import", "Customer", "CUST-ACME", "--out-dir", "manifests", *url(sandbox)])
    assert clash.code == 1 and "already declared: Customer/CUST-ACME at manifests/customers.yaml:2" in clash.err
    overwrite = run(["import", "Customer", "--all", "--per", "kind", "--out-dir", "manifests", *url(sandbox)])
    assert overwrite.code == 1 and "refusing to overwrite manifests/customers.yaml (use --force)" in overwrite.err
    forced = run(["import", "Customer", "--all", "--per", "kind", "--out-dir", "manifests", "--force", *url(sandbox)])
    assert forced.code == 0, forced.all
    assert run(["plan", "--detailed-exitcode", "--kind", "Customer", *url(sandbox)]).code == 0
    missing = run(["import", "Customer", "CUST-ACME", "NOPE", "--out-dir", "x", *url(sandbox)])
    assert missing.code == 1 and "not found in the API: Customer/NOPE" in missing.err
    assert not Path("x").exists()
    usage = run(["import", "Customer", *url(sandbox)])
    assert usage.code == 1 and "--all" in usage.err
    unknown = run(["import", "Custmer", "--all", *url(sandbox)])
    assert unknown.code == 1 and "did you mean 'Customer'" in unknown.err


def test_schema_command(workdir: Path) -> None:
    result = run(["schema"])
    assert result.code == 0
    schema = json.loads(result.out)
    assert schema["properties"]["kind"]["enum"] == ["Customer", "Location", "Carrier", "CustomerContact",
                                                    "LocationContact", "CarrierContact", "Vendor", "PaymentTerm",
                                                    "Order", "Shipment"]
    assert run(["schema", "--out", "schema/manifest.json"]).code == 0
    assert json.loads(Path("schema/manifest.json").read_text()) == schema
