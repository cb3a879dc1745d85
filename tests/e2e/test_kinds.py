"""Every kind the bundled profile gained from the published contract, end to end over loopback:
payment terms, customer / location / carrier contacts and vendors are created with references to
their parents (by client key), updated, and a second plan is empty; the sandbox answers contacts
as the contract does (``customer: {id, ...}``, no ``customerId``)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from .conftest import REPO, api, run

NEW_KINDS = {"PaymentTerm": "payment-terms", "CustomerContact": "customer-contacts",
             "LocationContact": "location-contacts", "CarrierContact": "carrier-contacts", "Vendor": "vendors"}


def url(sandbox) -> list[str]:  # type: ignore[no-untyped-def]
    return ["--api-url", sandbox.base_url]


def by_key(sandbox, path: str, key: str) -> dict:  # type: ignore[no-untyped-def,type-arg]
    with api(sandbox) as c:
        r = c.get(f"{path}/{key}", params={"by": "key"})
        assert r.status_code == 200, r.text
        return dict(r.json())


def _with_examples(workdir: Path) -> list[str]:
    shutil.copytree(REPO / "examples" / "kinds", workdir / "kinds")
    return ["manifests", "kinds"]


def test_examples_cover_every_new_kind() -> None:
    files = {p.stem for p in (REPO / "examples" / "kinds").glob("*.yaml")}
    assert files == set(NEW_KINDS.values())


def test_new_kinds_are_created_with_their_parents_then_no_changes(sandbox, workdir: Path) -> None:
    paths = _with_examples(workdir)
    first = run(["apply", "--auto-approve", *url(sandbox), *paths])
    assert first.code == 0, first.all
    assert "Apply complete: 16 created, 0 updated." in first.out
    globex = by_key(sandbox, "customers", "CUST-GLOBEX")
    contact = by_key(sandbox, "customer-contacts", "CC-GLOBEX-AP")
    # The contract's answer: the parent as an object, no customerId.
    assert contact["customer"]["id"] == globex["id"] and "customerId" not in contact
    link = by_key(sandbox, "location-contacts", "LC-GLOBEX-ATL-AP")
    assert link["customerContactId"] == contact["id"]
    assert link["locationId"] == by_key(sandbox, "locations", "LOC-GLOBEX-ATL")["id"]
    carrier_contact = by_key(sandbox, "carrier-contacts", "CARR-SWIFTLINE-AR")
    assert carrier_contact["carrier"]["id"] == by_key(sandbox, "carriers", "CARR-SWIFTLINE")["id"]
    vendor = by_key(sandbox, "vendors", "VEND-SECURESTORE")
    assert vendor["paymentTerm"]["id"] == by_key(sandbox, "payment-terms", "TERMS-NET15-QP")["id"]
    # customerId / carrierId / paymentTermId are read back from the answer's objects: no diff, no warning.
    second = run(["plan", "--detailed-exitcode", *url(sandbox), *paths])
    assert second.code == 0, second.all
    assert "No changes." in second.out and "created" not in second.err


def test_new_kinds_update_field_by_field_then_no_changes(sandbox, workdir: Path) -> None:
    paths = _with_examples(workdir)
    assert run(["apply", "--auto-approve", *url(sandbox), *paths]).code == 0
    edits = {
        "customer-contacts.yaml": [("title: Accounts Payable", "title: AP Lead"), ("  phoneExtension: \"204\"\n", "")],
        "location-contacts.yaml": [("contactTypes: [RECEIVING]", "contactTypes: [RECEIVING, DOCK_SHIPPING]")],
        "carrier-contacts.yaml": [("name: Dana Okafor\n  contactInfo", "name: Dana O.\n  contactInfo")],
        "vendors.yaml": [("currency: USD", "currency: CAD"), ("line2: Suite 2", "line2: Suite 3")],
        "payment-terms.yaml": [("days: 15", "days: 10")],
    }
    for name, pairs in edits.items():
        path = workdir / "kinds" / name
        text = path.read_text()
        for old, new in pairs:
            assert old in text, (name, old)
            text = text.replace(old, new)
        path.write_text(text)
    doc = json.loads(run(["plan", "--format", "json", *url(sandbox), *paths]).out)
    (vendor,) = [c for c in doc["changes"] if c["kind"] == "Vendor"]
    # VendorPatch.billingAddress is AddressInput (line1, city, country, market required): they ride along.
    assert vendor["patch"] == {"currency": "CAD", "billingAddress": {
        "line1": "77 Commerce Dr", "city": "Atlanta", "country": "US", "market": "Atlanta", "line2": "Suite 3"}}
    plan = run(["plan", *url(sandbox), *paths])
    assert "Plan: 0 to create, 5 to update, 11 unchanged." in plan.out, plan.all
    assert 'contactInfo.title: "Accounts Payable" → "AP Lead"' in plan.out
    assert 'phoneExtension: "204" → null (removed from manifest)' in plan.out
    assert 'billingAddress.line2: "Suite 2" → "Suite 3"' in plan.out
    sandbox.reset_stats()
    applied = run(["apply", "--auto-approve", *url(sandbox), *paths])
    assert applied.code == 0, applied.all
    assert sandbox.stats()["by_method"].get("PATCH") == 5
    contact = by_key(sandbox, "customer-contacts", "CC-GLOBEX-AP")
    assert contact["contactInfo"] == {"name": "Priya Shah", "email": "ap@globexretail.example",
                                      "phoneNumber": "+1-404-555-0117", "title": "AP Lead"}
    assert contact["phoneExtension"] is None
    assert by_key(sandbox, "vendors", "VEND-SECURESTORE")["billingAddress"]["line1"] == "77 Commerce Dr"
    again = run(["plan", "--detailed-exitcode", *url(sandbox), *paths])
    assert again.code == 0, again.all


def test_a_contact_cannot_move_to_another_parent(sandbox, workdir: Path) -> None:
    # customerId is in CustomerContactInput only: a change is a warning, never sent.
    paths = _with_examples(workdir)
    assert run(["apply", "--auto-approve", *url(sandbox), *paths]).code == 0
    path = workdir / "kinds" / "customer-contacts.yaml"
    path.write_text(path.read_text().replace("Customer/CUST-GLOBEX", "Customer/CUST-ACME"))
    plan = run(["plan", *url(sandbox), *paths])
    assert "can only be set when the resource is created" in plan.all, plan.all
    sandbox.reset_stats()
    assert run(["apply", "--auto-approve", *url(sandbox), *paths]).code == 0
    assert sandbox.stats()["by_method"].get("PATCH") == 0 and sandbox.stats()["writes"] == 0


def test_pruned_contacts_are_soft_deleted_and_import_reads_parents_back(sandbox, workdir: Path) -> None:
    paths = _with_examples(workdir)
    assert run(["apply", "--auto-approve", *url(sandbox), *paths]).code == 0
    contact_id = by_key(sandbox, "carrier-contacts", "CARR-SWIFTLINE-AR")["id"]
    (workdir / "kinds" / "carrier-contacts.yaml").unlink()
    pruned = run(["apply", "--auto-approve", "--prune", *url(sandbox), *paths])
    assert pruned.code == 0, pruned.all
    assert sandbox.stats()["by_method"].get("DELETE") == 1
    with api(sandbox) as c:
        assert c.get(f"carrier-contacts/{contact_id}").status_code == 404
        assert c.post("carrier-contacts/filter", json={"filter": {"key": {"in": ["CARR-SWIFTLINE-AR"]}}}).json()[
            "data"] == []
    imported = run(["import", "CustomerContact", "CC-GLOBEX-AP", "--out-dir", "imported", *url(sandbox)])
    assert imported.code == 0, imported.all
    text = (workdir / "imported" / "customer-contacts" / "CC-GLOBEX-AP.yaml").read_text()
    assert "customerId: {$ref: Customer/CUST-GLOBEX}" in text
