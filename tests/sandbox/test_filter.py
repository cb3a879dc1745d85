"""POST {path}/filter: key filters, keyset paging with opaque cursors, and refusing bad requests."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from declsync.sandbox import SandboxServer

from .conftest import CHARGE_CODE, customer, order


def ref(answer: dict) -> dict:
    """A reference answer's id and key (it also carries the referenced resource's summary)."""
    return {"id": answer.get("id"), "key": answer.get("key")}



def keys(response: httpx.Response) -> list[str | None]:
    assert response.status_code == 200, response.text
    return [item["key"] for item in response.json()["data"]]


def test_key_filters(client: httpx.Client) -> None:
    for k in ("A", "B", "C"):
        order(client, k)
    order(client, None)
    assert keys(client.post("orders/filter", json={"filter": {"key": {"in": ["C", "A", "Z"]}}})) == ["A", "C"]
    assert keys(client.post("orders/filter", json={"filter": {"key": {"equalTo": "B"}}})) == ["B"]
    assert keys(client.post("orders/filter", json={"filter": {"key": {"isNull": True}}})) == [None]
    assert keys(client.post("orders/filter", json={"filter": {"key": {"isNull": False}}})) == ["A", "B", "C"]
    assert keys(client.post("orders/filter", json={"filter": {}})) == ["A", "B", "C", None]
    assert keys(client.post("orders/filter", json={"filter": None, "pageSize": None, "cursor": None})) == [
        "A", "B", "C", None,
    ]
    assert keys(client.post("orders/filter", json={"filter": {"key": {"in": []}}})) == []
    # Other kinds are separate.
    assert keys(client.post("customers/filter", json={})) == []


def test_filter_by_id_and_friendly_id(client: httpx.Client) -> None:
    a, b = order(client, "A"), order(client, "B")
    assert keys(client.post("orders/filter", json={"filter": {"id": {"in": [b["id"], a["id"]]}}})) == ["A", "B"]
    assert keys(client.post("orders/filter", json={"filter": {"friendlyId": {"equalTo": b["friendlyId"]}}})) == ["B"]


def test_paging_with_cursors(client: httpx.Client) -> None:
    wanted = [f"K{i}" for i in range(7)]
    for k in wanted:
        order(client, k)
    order(client, "OTHER")
    seen: list[str | None] = []
    cursor = None
    pages: list[dict[str, Any]] = []
    while True:
        r = client.post("orders/filter", json={"filter": {"key": {"in": wanted}}, "pageSize": 3, "cursor": cursor})
        seen += keys(r)
        info = r.json()["pageInfo"]
        pages.append(info)
        if not info["hasNextPage"]:
            break
        cursor = info["endCursor"]
    assert seen == wanted
    assert [p["hasNextPage"] for p in pages] == [True, True, False]
    assert all(p["pageSize"] == 3 and p["hasPreviousPage"] is False for p in pages)
    assert pages[-1]["endCursor"] is not None
    # A cursor is a position: it works with another filter too.
    rest = client.post("orders/filter", json={"pageSize": 3, "cursor": pages[-1]["endCursor"]}).json()
    assert [d["key"] for d in rest["data"]] == ["OTHER"] and rest["pageInfo"]["hasNextPage"] is False


def test_default_page_size_is_50(client: httpx.Client, sandbox: SandboxServer) -> None:
    kind = sandbox.app.profile.kind("Customer")
    for i in range(51):
        sandbox.app.service.create(kind, {"key": f"C{i}", "name": "n", "status": "NEW"})
    page = client.post("customers/filter", json={}).json()
    assert len(page["data"]) == 50
    assert page["pagination"]["pageSize"] == 50 and page["pagination"]["hasNextPage"] is True


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"pageSize": 251}, "pageSize"),
        ({"pageSize": 0}, "pageSize"),
        ({"pageSize": "10"}, "pageSize"),
        ({"pageSize": True}, "pageSize"),
        ({"pageSize": 10**30}, "pageSize"),
        ({"cursor": "garbage"}, "cursor"),
        ({"cursor": 12}, "cursor"),
        ({"cursor": "c2VxOi0x"}, "cursor"),
        ({"filter": []}, "filter"),
        ({"filter": {"name": {"equalTo": "x"}}}, "filter.name"),
        ({"filter": {"key": "x"}}, "filter.key"),
        ({"filter": {"key": {"like": "x"}}}, "filter.key.like"),
        ({"filter": {"key": {"in": "x"}}}, "filter.key.in"),
        ({"filter": {"key": {"in": [1]}}}, "filter.key.in"),
        ({"filter": {"key": {"equalTo": None}}}, "filter.key.equalTo"),
        ({"filter": {"key": {"isNull": "no"}}}, "filter.key.isNull"),
        ({"filter": {"deletedAt": {"equalTo": "x"}}}, "filter.deletedAt.equalTo"),
        ({"size": 3}, "size"),
    ],
)
def test_bad_filter_requests(client: httpx.Client, body: dict[str, Any], field: str) -> None:
    r = client.post("orders/filter", json=body)
    assert r.status_code == 400, r.text
    assert field in [d["field"] for d in r.json()["details"]]


def test_a_full_page_resolves_references_in_bulk(client: httpx.Client, sandbox: SandboxServer) -> None:
    acme = customer(client, "C-1")
    kind = sandbox.app.profile.kind("Order")
    charges = [{"chargeCodeId": CHARGE_CODE, "amount": 10.5}] * 3
    for i in range(260):
        body = {"key": f"O{i}", "customer": {"id": acme["id"]}, "freight": {"weight": i}, "charges": charges}
        assert sandbox.app.service.create(kind, body).status == 201
    r = client.post("orders/filter", json={"filter": {"key": {"in": [f"O{i}" for i in range(260)]}}, "pageSize": 250})
    data = r.json()["data"]
    assert len(data) == 250 and r.json()["pageInfo"]["hasNextPage"] is True
    assert all(ref(d["customer"]) == {"id": acme["id"], "key": "C-1"} and d["totalRevenue"] == 31.5 for d in data)
