"""References: resolved to live resources of the right kind, stored by id, returned as {id, key}."""

from __future__ import annotations

import uuid
from pathlib import Path

import httpx

from declsync.profile.model import load_profile
from declsync.sandbox import SandboxConfig, SandboxServer

from .conftest import created, customer, details, location, order


def ref(answer: dict) -> dict:
    """A reference answer's id and key (it also carries the referenced resource's summary)."""
    return {"id": answer.get("id"), "key": answer.get("key")}



def test_references_by_key_and_by_id_resolve(client: httpx.Client) -> None:
    acme = customer(client, "C-1")
    by_key = order(client, "O-1", customer={"key": "C-1"})
    by_id = order(client, "O-2", customer={"id": acme["id"]})
    assert by_key["customer"] == by_id["customer"] and ref(by_id["customer"]) == {"id": acme["id"], "key": "C-1"}


def test_a_reference_shows_the_current_key_of_its_target(client: httpx.Client) -> None:
    acme = customer(client, "C-1")
    order(client, "O-1", customer={"key": "C-1"})
    assert client.patch("customers/C-1", json={"key": "C-NEW"}).status_code == 200
    assert ref(client.get("orders/O-1").json()["customer"]) == {"id": acme["id"], "key": "C-NEW"}
    # Once the target is deleted its key is free: the reference keeps the id only.
    assert client.delete("customers/C-NEW").status_code == 204
    assert ref(client.get("orders/O-1").json()["customer"]) == {"id": acme["id"], "key": None}


def test_missing_references_are_refused(client: httpx.Client) -> None:
    r = client.post("orders", json={"key": "O-1", "customer": {"key": "X"}})
    assert details(r) == {"customer": "References must exist: no Customer with key 'X'"}
    ghost = str(uuid.uuid4())
    r = client.post("shipments", json={"order": {"id": ghost}})
    assert details(r) == {"order": f"References must exist: no Order with id '{ghost}'"}
    assert client.post("orders/filter", json={}).json()["data"] == []
    order(client, "O-1")
    r = client.patch("orders/O-1", json={"customer": {"key": "X"}})
    assert details(r) == {"customer": "References must exist: no Customer with key 'X'"}


def test_references_must_point_at_the_right_kind_and_a_live_resource(client: httpx.Client) -> None:
    acme = customer(client, "C-1")
    o = order(client, "O-1")
    assert "customer" in details(client.post("orders", json={"customer": {"id": o["id"]}}))
    assert client.delete("customers/C-1").status_code == 204
    assert "customer" in details(client.post("orders", json={"customer": {"id": acme["id"]}}))
    assert "customer" in details(client.post("orders", json={"customer": {"key": "C-1"}}))


def test_references_inside_array_items_resolve(client: httpx.Client) -> None:
    acme = customer(client, "C-1")
    chi = location(client, "L-CHI", acme["id"])
    stops = [{"type": "PICKUP", "location": {"key": "L-CHI"}}, {"type": "DELIVERY", "location": {"key": "L-NOPE"}}]
    problems = details(client.post("orders", json={"key": "O-1", "stops": stops}))
    assert problems == {"stops[1].location": "References must exist: no Location with key 'L-NOPE'"}
    o = order(client, "O-1", stops=stops[:1])
    assert ref(o["stops"][0]["location"]) == {"id": chi["id"], "key": "L-CHI"}


def test_ref_kind_strings_must_be_ids_of_that_kind(client: httpx.Client) -> None:
    acme = customer(client, "C-1")
    assert location(client, "L-1", acme["id"])["customerId"] == acme["id"]
    ghost = str(uuid.uuid4())
    body = {"key": "L-2", "customerId": ghost, "name": "DC", "isAppointmentRequired": True}
    assert details(client.post("locations", json=body)) == {
        "customerId": f"References must exist: no Customer with id '{ghost}'"
    }
    carrier = created(client.post("carriers", json={"name": "Fast", "type": "LTL"}))
    assert "customerId" in details(client.post("locations", json={**body, "customerId": carrier["id"]}))
    assert "customerId" in details(client.post("locations", json={**body, "customerId": "C-1"}))
    assert "customerId" in details(client.patch("locations/L-1", json={"customerId": ghost}))


def test_references_to_kinds_outside_the_profile_are_kept_as_given() -> None:
    # The hand-written profile has Customer.paymentTerm but no PaymentTerm kind.
    profile = load_profile(Path(__file__).parents[1] / "fixtures" / "handwritten-mvmnt.yaml")
    with SandboxServer(SandboxConfig(db_path=":memory:", profile=profile)) as server, \
            httpx.Client(base_url=server.base_url + "/", timeout=10) as client:
        c = customer(client, "C-1", paymentTerm={"key": "NET30"})
        assert c["paymentTerm"] == {"id": None, "key": "NET30"}
        pt = "3f2c8a4e-1b2d-4c5e-8f90-123456789abc"
        r = client.patch("customers/C-1", json={"paymentTerm": {"id": pt}})
        # No PaymentTerm kind: the reference is stored as given (replaced whole), not resolved.
        assert r.json()["paymentTerm"] == {"id": pt, "key": None}


def test_payment_term_references_resolve(client: httpx.Client) -> None:
    # The bundled profile has PaymentTerm (payment-terms.yaml): references to it must exist.
    assert "paymentTerm" in details(client.post("customers", json={
        "key": "C-1", "name": "Acme", "status": "ACTIVE", "paymentTerm": {"key": "NET30"}}))
    net30 = created(client.post("payment-terms", json={"key": "NET30", "name": "Net 30", "days": 30}))
    c = customer(client, "C-1", paymentTerm={"key": "NET30"})
    assert ref(c["paymentTerm"]) == {"id": net30["id"], "key": "NET30"}


def test_contacts_answer_their_parent_as_an_object(client: httpx.Client) -> None:
    # As the contract: POST takes customerId; the answer has customer {id, ...}, no customerId.
    acme = customer(client, "C-1")
    body = {"key": "CC-1", "customerId": acme["id"], "name": "Jane", "contactInfo": {"name": "Jane"}}
    contact = created(client.post("customer-contacts", json=body))
    assert ref(contact["customer"]) == {"id": acme["id"], "key": "C-1"} and "customerId" not in contact
    assert "customerId" in details(client.post("customer-contacts", json={**body, "key": "CC-2",
                                                                        "customerId": str(uuid.uuid4())}))
