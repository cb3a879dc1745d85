"""What schemathesis found in the sandbox (issue 10, section 7), one regression test per finding.

The promises: every 400 carries ``details`` naming the field (the document says so), the
``/{r}/filter`` path takes only POST, ``cursor: ""`` is the first page like ``null``, a body is
either empty or JSON (never whitespace read as empty), a JSON integer written ``5.0`` is an
integer, and a string that is not valid Unicode (a lone surrogate) is refused with a 400
naming its field instead of crashing the store.
"""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator

from declsync.sandbox import SandboxServer

from .conftest import order

JSON_TYPE = {"Content-Type": "application/json"}


def documented(sandbox: SandboxServer, path: str, method: str, status: int) -> Draft202012Validator:
    """A validator for the body the served document promises for ``status``."""
    doc = httpx.get(sandbox.url + "/openapi.json").json()
    response = doc["paths"][path][method]["responses"][str(status)]
    schema = response["content"]["application/json"]["schema"]
    return Draft202012Validator({**schema, "components": doc["components"]})


def details_of(r: httpx.Response) -> dict[str, str]:
    assert r.status_code == 400, r.text
    body = r.json()
    assert isinstance(body["details"], list) and body["details"], body
    return {d["field"]: d["message"] for d in body["details"]}


# (document path, method, request path, body bytes, headers, the field named in details)
BAD_REQUESTS: list[tuple[str, str, str, bytes, dict[str, str], str]] = [
    ("/v1/orders", "post", "orders", b"{", JSON_TYPE, ""),
    ("/v1/orders", "post", "orders", b"\x00", JSON_TYPE, ""),
    ("/v1/orders", "post", "orders", b"[1]", JSON_TYPE, ""),
    ("/v1/orders", "post", "orders", b"{}", {**JSON_TYPE, "Idempotency-Key": ""}, "Idempotency-Key"),
    ("/v1/orders/filter", "post", "orders/filter", b"[]", JSON_TYPE, ""),
    ("/v1/orders/filter", "post", "orders/filter", b"{", JSON_TYPE, ""),
    ("/v1/orders/filter", "post", "orders/filter", b"  \n", JSON_TYPE, ""),
    ("/v1/orders/{ref}", "patch", "orders/x", b"nope", JSON_TYPE, ""),
    ("/v1/orders/{ref}", "delete", "orders/x", b"", {"Idempotency-Key": ""}, "Idempotency-Key"),
    ("/v1/orders/{ref}", "get", "orders/x?by=nope", b"", {}, "by"),
    ("/v1/orders", "get", "orders", b"", {}, "key"),
]


@pytest.mark.parametrize(("doc_path", "method", "path", "content", "headers", "field"), BAD_REQUESTS)
def test_every_400_names_the_field_as_documented(
    client: httpx.Client, sandbox: SandboxServer,
    doc_path: str, method: str, path: str, content: bytes, headers: dict[str, str], field: str,
) -> None:
    r = client.request(method.upper(), path, content=content, headers=headers)
    assert field in details_of(r)
    errors = [e.message for e in documented(sandbox, doc_path, method, 400).iter_errors(r.json())]
    assert errors == [], errors


def test_whitespace_is_not_an_empty_body(client: httpx.Client) -> None:
    assert client.post("orders/filter").status_code == 200
    assert client.post("orders/filter", content=b" ", headers=JSON_TYPE).status_code == 400


@pytest.mark.parametrize("method", ["GET", "PATCH", "DELETE", "PUT", "OPTIONS"])
def test_the_filter_path_takes_only_post(client: httpx.Client, method: str) -> None:
    target = order(client, "filter")
    r = client.request(method, "orders/filter", json={"key": "other"} if method == "PATCH" else None)
    assert r.status_code == 405, r.text
    assert r.headers["Allow"] == "POST" and r.json()["error"] == "method_not_allowed"
    # The resource whose key is "filter" was not touched, and is still reachable.
    assert client.get("orders", params={"key": "filter"}).json() == target
    assert client.get(f"orders/{target['id']}").json() == target


def test_an_empty_cursor_is_the_first_page(client: httpx.Client) -> None:
    for key in ("A", "B"):
        order(client, key)
    first = client.post("orders/filter", json={"pageSize": 1, "cursor": ""})
    assert first.status_code == 200, first.text
    assert [o["key"] for o in first.json()["data"]] == ["A"]
    assert first.json() == client.post("orders/filter", json={"pageSize": 1, "cursor": None}).json()


def test_an_integral_number_is_an_integer(client: httpx.Client) -> None:
    # JSON Schema (and so the document) counts 97.0 as an integer.
    r = client.post("orders/filter", content=b'{"pageSize": 2.0}', headers=JSON_TYPE)
    assert r.status_code == 200, r.text
    assert r.json()["pageInfo"]["pageSize"] == 2
    assert client.post("orders/filter", json={"pageSize": 2.5}).status_code == 400


# A string holding at least one lone surrogate: JSON can carry it ("\ud800"), UTF-8 cannot.
lone = st.builds(
    lambda a, s, b: a + s + b,
    st.text(max_size=4), st.characters(min_codepoint=0xD800, max_codepoint=0xDFFF), st.text(max_size=4),
)


def _bodies(s: str, order_id: str) -> list[tuple[str, str, dict[str, Any], str]]:
    """(method, path, JSON body, field named in details) for a lone-surrogate string ``s``."""
    return [
        ("POST", "orders", {"externalNotes": s}, "externalNotes"),
        ("POST", "orders", {"key": s}, "key"),
        ("POST", "orders", {"stops": [{"type": "PICKUP", "location": {"key": s}}]}, "stops[0].location.key"),
        ("POST", "customers", {"name": "N", "status": "ACTIVE", "notes": s}, "notes"),
        ("PATCH", f"orders/{order_id}", {"internalNotes": s}, "internalNotes"),
        ("PATCH", f"orders/{order_id}", {"key": s}, "key"),
        ("POST", "orders/filter", {"filter": {"key": {"equalTo": s}}}, "filter.key.equalTo"),
        ("POST", "orders/filter", {"filter": {"key": {"in": ["ok", s]}}}, "filter.key.in[1]"),
        ("POST", "orders/filter", {"cursor": s}, "cursor"),
    ]


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(s=lone)
def test_a_lone_surrogate_is_refused_not_a_crash(client: httpx.Client, s: str) -> None:
    target = client.post("orders", json={"key": "SURR"})
    target = target if target.status_code == 201 else client.get("orders", params={"key": "SURR"})
    order_id = target.json()["id"]
    for method, path, body, field in _bodies(s, order_id):
        # ensure_ascii: the surrogate travels as a \\uXXXX escape, as a fuzzer sends it.
        r = client.request(method, path, content=json.dumps(body).encode(), headers=JSON_TYPE)
        assert field in details_of(r), (method, path, r.text)
    # A surrogate in a field *name* too; and the store still works afterwards.
    r = client.post("orders", content=json.dumps({s: 1}).encode(), headers=JSON_TYPE)
    assert r.status_code == 400 and r.json()["details"], r.text
    assert client.get(f"orders/{order_id}").status_code == 200


def test_a_surrogate_in_raw_bytes_is_refused_too(client: httpx.Client) -> None:
    # Python's JSON decoder lets a UTF-8-encoded surrogate (CESU-style bytes) through as well.
    r = client.post("orders", content=b'{"externalNotes": "\xed\xa0\x80"}', headers=JSON_TYPE)
    assert details_of(r) == {"externalNotes": "must be valid Unicode: it holds a lone surrogate"}
