"""The sandbox is never more lenient than the published contract: null where only a PATCH may
send it, a nested object in a PATCH without the members the patch schema requires of it.
Real HTTP over loopback; the expected status is the kind's own ``validation_status``."""

from __future__ import annotations

from typing import Any

import httpx

from declsync.profile.model import default_profile

from .conftest import created, customer

ADDRESS = {"line1": "1 Main St", "city": "Chicago", "country": "US", "market": "CHI"}


def problems(response: httpx.Response, kind: str) -> dict[str, str]:
    """``{field: message}`` of a validation error, answered with ``kind``'s status."""
    assert response.status_code == default_profile().kind(kind).validation_status, response.text
    body: dict[str, Any] = response.json()
    assert body["error"] == "validation_error"
    return {d["field"]: d["message"] for d in body["details"]}


def test_create_refuses_null_the_create_schema_does_not_allow(client: httpx.Client) -> None:
    # ContactInfoInput.email is `type: string` (the patch schema's ContactInfoPatch allows null).
    acme = customer(client, "C-1")
    body = {"key": "CC-1", "customerId": acme["id"], "name": "Jane", "contactInfo": {"name": "Jane", "email": None}}
    assert "contactInfo.email" in problems(client.post("customer-contacts", json=body), "CustomerContact")
    # Top level too: CustomerInput.website is `type: string`.
    bad = client.post("customers", json={"key": "C-2", "name": "Globex", "status": "ACTIVE", "website": None})
    assert "website" in problems(bad, "Customer")


def test_patch_still_clears_what_the_patch_schema_lets_it_clear(client: httpx.Client) -> None:
    acme = customer(client, "C-1", website="https://acme.example")
    body = {"key": "CC-1", "customerId": acme["id"], "name": "Jane",
            "contactInfo": {"name": "Jane", "email": "jane@example.com"}}
    contact = created(client.post("customer-contacts", json=body))
    cleared = client.patch(f"customer-contacts/{contact['id']}", json={"contactInfo": {"email": None}})
    assert cleared.status_code == 200, cleared.text
    assert cleared.json()["contactInfo"]["email"] is None
    assert client.patch(f"customers/{acme['id']}", json={"website": None}).json()["website"] is None


def test_patch_refuses_a_nested_object_without_what_the_patch_schema_requires(client: httpx.Client) -> None:
    # VendorPatch.corporateAddress is an AddressInput, which requires line1, city, country, market.
    vendor = created(client.post("vendors", json={"key": "V-1", "name": "Storage", "corporateAddress": ADDRESS}))
    bad = client.patch(f"vendors/{vendor['id']}", json={"corporateAddress": {"line2": "Suite 3"}})
    assert set(problems(bad, "Vendor")) == {f"corporateAddress.{m}" for m in ("line1", "city", "country", "market")}
    whole = client.patch(f"vendors/{vendor['id']}", json={"corporateAddress": {**ADDRESS, "line2": "Suite 3"}})
    assert whole.status_code == 200, whole.text
    assert whole.json()["corporateAddress"]["line2"] == "Suite 3"


def test_patch_takes_a_partial_nested_object_where_the_patch_schema_does(client: httpx.Client) -> None:
    # CustomerPatch.corporateAddress is an AddressPatch: nothing required.
    acme = customer(client, "C-1", corporateAddress=ADDRESS)
    ok = client.patch(f"customers/{acme['id']}", json={"corporateAddress": {"line2": "Suite 3"}})
    assert ok.status_code == 200, ok.text
    assert ok.json()["corporateAddress"]["line1"] == "1 Main St"
