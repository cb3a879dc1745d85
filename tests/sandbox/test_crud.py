"""Create, read and delete over HTTP: server-assigned fields, lookups, defaults, computed fields."""

from __future__ import annotations

import uuid
from urllib.parse import quote

import httpx

from declsync.normalize import canonical_datetime
from declsync.profile.model import default_profile
from declsync.sandbox import SandboxServer

from .conftest import CHARGE_CODE, created, customer, order


def ref(answer: dict) -> dict:
    """A reference answer's id and key (it also carries the referenced resource's summary)."""
    return {"id": answer.get("id"), "key": answer.get("key")}



def test_create_returns_the_full_resource(client: httpx.Client) -> None:
    r = client.post("customers", json={"key": "C-1", "name": "Acme", "status": "ACTIVE"})
    body = created(r)
    uuid.UUID(body["id"])
    assert body["friendlyId"] == "A10001"
    assert body["key"] == "C-1" and body["name"] == "Acme"
    assert body["organizationId"] == "org_sandbox"
    assert body["createdAt"] == body["updatedAt"] == canonical_datetime(body["createdAt"])
    assert body["createdAt"].endswith("Z") and body["deletedAt"] is None
    # Every profile field is present, unset ones as null.
    assert set(default_profile().kind("Customer").fields) <= set(body)
    assert body["website"] is None and body["corporateAddress"] is None and body["paymentTerm"] is None
    assert r.headers["etag"] == '"1"'
    assert r.headers["location"] == f"/v1/customers/{body['id']}"


def test_friendly_ids_count_per_kind(client: httpx.Client) -> None:
    assert order(client, "O-1")["friendlyId"] == "ORD-10001"
    assert order(client, "O-2")["friendlyId"] == "ORD-10002"
    assert order(client, None)["friendlyId"] == "ORD-10003"
    assert customer(client)["friendlyId"] == "A10001"


def test_get_by_id_friendly_id_and_key(client: httpx.Client) -> None:
    o = order(client, "ERP-1")
    for ref in (o["id"], o["friendlyId"], "ERP-1"):
        r = client.get(f"orders/{ref}")
        assert r.status_code == 200 and r.json() == o
        assert r.headers["etag"] == '"1"'
    assert client.get(f"orders/{o['id']}", params={"by": "key"}).status_code == 404
    assert client.get("orders/ERP-1", params={"by": "key"}).json()["id"] == o["id"]
    assert client.get(f"orders/{o['friendlyId']}", params={"by": "friendlyId"}).status_code == 200
    bad = client.get("orders/ERP-1", params={"by": "name"})
    assert bad.status_code == 400 and bad.json()["error"] == "bad_request"


def test_key_query_returns_the_single_resource_or_404(client: httpx.Client) -> None:
    o = order(client, "ERP-ORDER-123")
    r = client.get("orders", params={"key": "ERP-ORDER-123"})
    assert r.status_code == 200 and r.json() == o
    missing = client.get("orders", params={"key": "NOPE"})
    assert missing.status_code == 404
    assert missing.json()["error"] == "not_found" and "NOPE" in missing.json()["message"]
    assert client.get("orders").status_code == 400


def test_keys_with_slashes_and_question_marks_stay_one_path_segment(client: httpx.Client) -> None:
    o = order(client, "TENANT/a:ORDER?7 #x")
    r = client.get("orders/" + quote("TENANT/a:ORDER?7 #x", safe=""))
    assert r.status_code == 200 and r.json()["id"] == o["id"]


def test_defaults_are_filled_including_nested_and_array_items(client: httpx.Client) -> None:
    plain = order(client, "O-1")
    assert plain["status"] == "draft" and plain["stops"] == [] and plain["charges"] == []
    assert plain["freight"] is None and plain["totalRevenue"] is None
    with_freight = order(client, "O-2", freight={"weight": 100})
    assert with_freight["freight"] == {
        "weight": 100, "handlingUnits": None, "handlingUnitType": None, "commodityDescription": None, "hazmat": False,
    }
    carrier = created(client.post("carriers", json={"name": "Fast", "type": "LTL"}))
    # Unset: null where the contract allows null, left out where it does not (never a null
    # the response schema refuses); `status`, which every Carrier answer carries, has the
    # overlay's server default.
    assert carrier["isHazmat"] is None and "equipments" not in carrier
    assert carrier["status"] == "ACTIVE"
    # The contract's address defaults (AddressInput) are filled in nested objects too.
    address = {"line1": "1 Main St", "city": "Chicago", "country": "US", "market": "Chicago"}
    acme = created(client.post("customers", json={"key": "C-1", "name": "Acme", "status": "NEW",
                                                  "corporateAddress": address}))
    assert acme["corporateAddress"]["obeysDst"] is True and acme["corporateAddress"]["isSmartyValidated"] is False


def test_computed_sum_of_charges(client: httpx.Client) -> None:
    charges = [
        {"chargeCodeId": CHARGE_CODE, "amount": 1500, "description": "Linehaul"},
        {"chargeCodeId": CHARGE_CODE, "amount": 125.5},
    ]
    o = order(client, "O-1", charges=charges)
    assert o["totalRevenue"] == 1625.5
    assert o["charges"][1] == {"chargeCodeId": CHARGE_CODE, "amount": 125.5, "description": None}
    ints = order(client, "O-2", charges=[{"chargeCodeId": CHARGE_CODE, "amount": 7}] * 3)
    assert ints["totalRevenue"] == 21 and isinstance(ints["totalRevenue"], int)
    # Decimal addition: no 300.29999999999995.
    cents = order(client, "O-3", charges=[{"chargeCodeId": CHARGE_CODE, "amount": a} for a in (100.1, 200.2)])
    assert cents["totalRevenue"] == 300.3
    r = client.patch("orders/O-1", json={"charges": []})
    assert r.status_code == 200 and r.json()["totalRevenue"] is None


def test_date_times_are_stored_in_canonical_utc(client: httpx.Client, sandbox: SandboxServer) -> None:
    loc_customer = customer(client)
    loc = created(client.post("locations", json={
        "key": "L-1", "customerId": loc_customer["id"], "name": "DC", "isAppointmentRequired": True,
    }))
    stops = [{"type": "PICKUP", "location": {"key": "L-1"}, "requestedStart": "2025-01-22T09:00:00-05:00",
              "requestedEnd": "2025-01-22T14:30:00.123456+00:00"}]
    o = order(client, "O-1", stops=stops)
    assert o["stops"][0]["requestedStart"] == "2025-01-22T14:00:00.000Z"
    assert o["stops"][0]["requestedEnd"] == "2025-01-22T14:30:00.123Z"
    assert ref(o["stops"][0]["location"]) == {"id": loc["id"], "key": "L-1"}
    shipment = created(client.post("shipments", json={"order": {"key": "O-1"}, "estimatedDelivery": "2025-01-22T09:00:00+09:00"}))
    assert shipment["estimatedDelivery"] == "2025-01-22T00:00:00.000Z"


def test_numbers_are_stored_as_given(client: httpx.Client) -> None:
    assert order(client, "O-1", freight={"weight": 38000})["freight"]["weight"] == 38000
    r = client.get("orders/O-1")
    assert '"weight":38000,' in r.text
    assert order(client, "O-2", freight={"weight": 38000.5})["freight"]["weight"] == 38000.5


def test_soft_delete_hides_the_resource_and_frees_its_key(client: httpx.Client) -> None:
    o = order(client, "O-1")
    r = client.delete("orders/O-1")
    assert r.status_code == 204 and r.content == b""
    assert client.get(f"orders/{o['id']}").status_code == 404
    assert client.get("orders", params={"key": "O-1"}).status_code == 404
    assert client.patch(f"orders/{o['id']}", json={"status": "booked"}).status_code == 404
    assert client.delete(f"orders/{o['id']}").status_code == 404
    assert client.post("orders/filter", json={}).json()["data"] == []
    deleted = client.post("orders/filter", json={"filter": {"deletedAt": {"isNull": False}}}).json()["data"]
    assert [d["id"] for d in deleted] == [o["id"]]
    assert deleted[0]["deletedAt"] is not None and deleted[0]["updatedAt"] > o["updatedAt"]
    again = order(client, "O-1")
    assert again["id"] != o["id"] and again["friendlyId"] == "ORD-10002"


def test_unknown_paths_and_methods_answer_json(client: httpx.Client, sandbox: SandboxServer) -> None:
    for path in ("nothing", "orders/a/b", ""):
        r = client.get(path)
        assert r.status_code == 404 and r.json()["error"] == "not_found"
    assert httpx.get(sandbox.url + "/nope").json()["error"] == "not_found"
    r = client.put("orders/x", json={})
    assert r.status_code == 405 and r.json()["error"] == "method_not_allowed"
    assert client.delete("orders").status_code == 405
    assert httpx.get(sandbox.url + "/healthz").json() == {"status": "ok"}
