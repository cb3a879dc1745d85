"""PATCH semantics of the seed: omitted stays, value replaces, null clears, objects merge, arrays replace."""

from __future__ import annotations

from typing import Any

import httpx

from .conftest import CHARGE_CODE, details, order

FULL: dict[str, Any] = {
    "status": "quoted",
    "externalNotes": "fragile",
    "internalNotes": "ops",
    "mode": "FTL",
    "freight": {"weight": 38000, "handlingUnits": 20, "handlingUnitType": "PALLET", "commodityDescription": "Peas"},
    "charges": [
        {"chargeCodeId": CHARGE_CODE, "amount": 1500, "description": "Linehaul"},
        {"chargeCodeId": CHARGE_CODE, "amount": 100},
    ],
}


def patch(client: httpx.Client, ref: str, body: dict[str, Any], **headers: str) -> dict[str, Any]:
    r = client.patch(f"orders/{ref}", json=body, headers=headers)
    assert r.status_code == 200, r.text
    result: dict[str, Any] = r.json()
    return result


def test_omitted_fields_stay_and_given_values_replace(client: httpx.Client) -> None:
    before = order(client, "O-1", **FULL)
    after = patch(client, "O-1", {"status": "booked", "externalNotes": "handle with care"})
    assert after["status"] == "booked" and after["externalNotes"] == "handle with care"
    unchanged = {k: v for k, v in before.items() if k not in ("status", "externalNotes", "updatedAt")}
    assert {k: after[k] for k in unchanged} == unchanged
    assert after["updatedAt"] > before["updatedAt"]


def test_null_clears_a_nullable_field_and_is_refused_on_others(client: httpx.Client) -> None:
    order(client, "O-1", **FULL)
    assert patch(client, "O-1", {"externalNotes": None, "mode": None}) == client.get("orders/O-1").json()
    current = client.get("orders/O-1").json()
    assert current["externalNotes"] is None and current["mode"] is None and current["internalNotes"] == "ops"
    problems = details(client.patch("orders/O-1", json={"status": None, "stops": None}))
    assert set(problems) == {"status", "stops"}
    assert "not nullable" in problems["status"]


def test_nested_objects_merge_field_by_field(client: httpx.Client) -> None:
    order(client, "O-1", **FULL)
    after = patch(client, "O-1", {"freight": {"weight": 40000, "commodityDescription": None}})
    assert after["freight"] == {
        "weight": 40000, "handlingUnits": 20, "handlingUnitType": "PALLET", "commodityDescription": None,
        "hazmat": False,
    }
    problems = details(client.patch("orders/O-1", json={"freight": {"hazmat": None}}))
    assert list(problems) == ["freight.hazmat"]


def test_an_object_given_for_a_null_field_is_set_with_its_defaults(client: httpx.Client) -> None:
    order(client, "O-1")
    after = patch(client, "O-1", {"freight": {"weight": 5}})
    assert after["freight"]["weight"] == 5 and after["freight"]["hazmat"] is False
    cleared = patch(client, "O-1", {"freight": None})
    assert cleared["freight"] is None


def test_arrays_are_replaced_whole(client: httpx.Client) -> None:
    order(client, "O-1", **FULL)
    new = [{"chargeCodeId": CHARGE_CODE, "amount": 1500.0, "description": "Updated linehaul"}]
    after = patch(client, "O-1", {"charges": new})
    assert after["charges"] == new and after["totalRevenue"] == 1500.0
    assert patch(client, "O-1", {"charges": []})["charges"] == []


def test_key_can_be_changed_and_cleared(client: httpx.Client) -> None:
    o = order(client, "O-1")
    assert patch(client, "O-1", {"key": "O-2"})["key"] == "O-2"
    assert client.get("orders", params={"key": "O-1"}).status_code == 404
    assert client.get("orders", params={"key": "O-2"}).json()["id"] == o["id"]
    assert patch(client, "O-2", {"key": None})["key"] is None
    assert client.get(f"orders/{o['id']}").json()["key"] is None
    # The freed keys can be taken again.
    order(client, "O-1")
    order(client, "O-2")


def test_duplicate_key_on_patch_is_a_conflict(client: httpx.Client) -> None:
    order(client, "O-1")
    order(client, "O-2")
    r = client.patch("orders/O-2", json={"key": "O-1"})
    assert r.status_code == 409
    assert r.json() == {"error": "conflict", "message": "A Order with key 'O-1' already exists", "code": "DUPLICATE_KEY"}
    assert patch(client, "O-1", {"key": "O-1", "status": "booked"})["status"] == "booked"


def test_updated_at_strictly_increases_and_the_version_follows(client: httpx.Client) -> None:
    o = order(client, "O-1")
    stamps = [o["updatedAt"]]
    for i in range(15):
        r = client.patch("orders/O-1", json={"internalNotes": f"note {i}"})
        assert r.headers["etag"] == f'"{i + 2}"'
        stamps.append(r.json()["updatedAt"])
    assert stamps == sorted(set(stamps))
    assert all(r == o["createdAt"] for r in [client.get("orders/O-1").json()["createdAt"]])


def test_a_patch_that_changes_nothing_keeps_updated_at_and_version(client: httpx.Client) -> None:
    order(client, "O-1", **FULL)
    first = client.patch("orders/O-1", json={"status": "booked"})
    again = client.patch("orders/O-1", json={"status": "booked", "freight": {"weight": 38000}})
    assert again.status_code == 200 and again.json() == first.json()
    assert again.headers["etag"] == first.headers["etag"]
    # 38000.0 is a different representation, so it is stored (and returned) as given.
    changed = client.patch("orders/O-1", json={"freight": {"weight": 38000.0}})
    assert changed.headers["etag"] != first.headers["etag"]


def test_if_match(client: httpx.Client) -> None:
    order(client, "O-1")
    tag = client.get("orders/O-1").headers["etag"]
    ok = client.patch("orders/O-1", json={"status": "booked"}, headers={"If-Match": tag})
    assert ok.status_code == 200
    stale = client.patch("orders/O-1", json={"status": "canceled"}, headers={"If-Match": tag})
    assert stale.status_code == 412
    body = stale.json()
    assert body["error"] == "precondition_failed" and body["currentVersion"] == ok.headers["etag"]
    assert client.get("orders/O-1").json()["status"] == "booked"
    assert client.delete("orders/O-1", headers={"If-Match": tag}).status_code == 412
    assert client.patch("orders/O-1", json={"mode": "LTL"}, headers={"If-Match": "*"}).status_code == 200
    current = client.get("orders/O-1").headers["etag"]
    assert client.delete("orders/O-1", headers={"If-Match": f"W/{current}"}).status_code == 204


def test_patch_validates_like_create_but_without_required_fields(client: httpx.Client) -> None:
    client.post("customers", json={"key": "C-1", "name": "Acme", "status": "ACTIVE"})
    r = client.patch("customers/C-1", json={"notes": "vip"})
    assert r.status_code == 200 and r.json()["name"] == "Acme"
    problems = details(client.patch("customers/C-1", json={"status": "GONE", "createdAt": "x", "nmae": "y"}))
    assert problems["status"].startswith("Must be one of: NEW, CONTACTED")
    assert problems["createdAt"] == "This field is read-only"
    assert "did you mean 'name'" in problems["nmae"]
