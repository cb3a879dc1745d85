"""400 answers: the shared profile validator's details, and bodies that are not JSON objects."""

from __future__ import annotations

import httpx
import pytest

from declsync.sandbox import SandboxServer

from .conftest import details


def test_read_only_unknown_enum_and_type_problems_are_all_reported(client: httpx.Client) -> None:
    r = client.post("orders", json={
        "id": "x", "friendlyId": "F", "totalRevenue": 3, "status": "shipped", "colour": "red",
        "freight": {"weight": "heavy", "handlingUnits": 1.5, "hazmat": "yes", "volume": 3},
        "stops": [{"location": {"key": "L"}}],
    })
    problems = details(r)
    assert problems["id"] == problems["friendlyId"] == problems["totalRevenue"] == "This field is read-only"
    assert problems["status"].startswith("Must be one of: draft, quoted, booked")
    assert problems["colour"].startswith("unknown field 'colour'")
    assert problems["freight.weight"] == "expected a number, got a string"
    assert problems["freight.handlingUnits"] == "expected an integer, got a number"
    assert problems["freight.hazmat"].startswith("expected true or false")
    assert problems["freight.volume"].startswith("unknown field 'volume'")
    assert problems["stops[0].type"] == "This field is required"
    assert client.post("orders/filter", json={}).json()["data"] == []


def test_required_fields_on_create(client: httpx.Client) -> None:
    problems = details(client.post("customers", json={"key": "C-1"}))
    assert problems == {"name": "This field is required", "status": "This field is required"}
    problems = details(client.post("customers", json={"name": None, "status": "NEW"}))
    assert "name" in problems


@pytest.mark.parametrize(
    ("key", "fragment"),
    [(123, "must be a string"), ("", "must not be empty"), ("k" * 513, "at most 512"), (["K"], "must be a string")],
)
def test_invalid_keys(client: httpx.Client, key: object, fragment: str) -> None:
    assert fragment in details(client.post("orders", json={"key": key}))["key"]
    assert client.post("orders", json={"key": "O-1"}).status_code == 201
    assert fragment in details(client.patch("orders/O-1", json={"key": key}))["key"]


def test_longest_key_and_null_key_are_accepted(client: httpx.Client) -> None:
    r = client.post("orders", json={"key": "k" * 512})
    assert r.status_code == 201 and r.json()["key"] == "k" * 512
    r = client.post("orders", json={"key": None})
    assert r.status_code == 201 and r.json()["key"] is None
    problems = details(client.patch("orders/" + "k" * 512, json={"key": "k" * 513}))
    assert "at most 512" in problems["key"]


def test_date_times_need_a_zone_and_a_representable_instant(client: httpx.Client) -> None:
    order_ = client.post("orders", json={"key": "O-1"}).json()
    problems = details(client.post("shipments", json={"order": {"id": order_["id"]}, "estimatedDelivery": "2025-01-22T09:00:00"}))
    assert "no timezone" in problems["estimatedDelivery"]
    problems = details(client.post("shipments", json={"order": {"id": order_["id"]}, "estimatedDelivery": "0001-01-01T00:00:00+01:00"}))
    assert "out of range" in problems["estimatedDelivery"]


@pytest.mark.parametrize(
    "content",
    [b"", b"{", b"[1, 2]", b'"text"', b"null", b'{"weight": NaN}', b"\xff\xfe\x00", b"[" * 100_000 + b"]" * 100_000],
)
def test_bodies_that_are_not_json_objects(client: httpx.Client, content: bytes) -> None:
    for r in (
        client.post("orders", content=content, headers={"Content-Type": "application/json"}),
        client.patch("orders/x", content=content, headers={"Content-Type": "application/json"}),
    ):
        assert r.status_code == 400, r.text
        assert r.json()["error"] == "bad_request"


def test_filter_takes_an_empty_body_but_not_garbage(client: httpx.Client) -> None:
    assert client.post("orders/filter").status_code == 200
    r = client.post("orders/filter", content=b"[]")
    assert r.status_code == 400 and r.json()["error"] == "bad_request"


def test_oversized_body_is_refused(client: httpx.Client, sandbox: SandboxServer) -> None:
    r = client.post("orders", content=b" " * (8 * 1024 * 1024 + 1))
    assert r.status_code == 413 and r.json()["error"] == "payload_too_large"


def test_numbers_beyond_a_double(client: httpx.Client) -> None:
    r = client.post("orders", content=b'{"freight": {"weight": 1e999}}', headers={"Content-Type": "application/json"})
    assert details(r) == {"freight.weight": "expected a finite number"}
    charges = [{"chargeCodeId": "550e8400-e29b-41d4-a716-446655440000", "amount": a} for a in (10**400, 0.5)]
    r = client.post("orders", json={"charges": charges})
    assert r.status_code == 201 and r.json()["totalRevenue"] is None
