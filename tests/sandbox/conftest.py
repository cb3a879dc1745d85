"""Sandbox fixtures: one real server over loopback per test session, emptied per test."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from declsync.sandbox import SandboxConfig, SandboxServer

CHARGE_CODE = "550e8400-e29b-41d4-a716-446655440000"


@pytest.fixture(scope="session")
def sandbox_session() -> Iterator[SandboxServer]:
    with SandboxServer(SandboxConfig(db_path=":memory:")) as server:
        yield server


@pytest.fixture
def sandbox(sandbox_session: SandboxServer) -> Iterator[SandboxServer]:
    """A started sandbox (``:memory:``), empty, with no faults, latency or stats."""
    server = sandbox_session
    server.reset()
    server.reset_stats()
    server.set_latency(0.0)
    yield server
    server.clear_faults()
    server.set_latency(0.0)


@pytest.fixture
def client(sandbox: SandboxServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=sandbox.base_url + "/", timeout=10) as c:
        yield c


def created(response: httpx.Response) -> dict[str, Any]:
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


def customer(client: httpx.Client, key: str = "C-1", **fields: Any) -> dict[str, Any]:
    return created(client.post("customers", json={"key": key, "name": f"Customer {key}", "status": "ACTIVE", **fields}))


def location(client: httpx.Client, key: str, customer_id: str, **fields: Any) -> dict[str, Any]:
    body = {"key": key, "customerId": customer_id, "name": f"Location {key}", "isAppointmentRequired": False}
    return created(client.post("locations", json={**body, **fields}))


def order(client: httpx.Client, key: str | None = "O-1", **fields: Any) -> dict[str, Any]:
    return created(client.post("orders", json={"key": key, **fields}))


def details(response: httpx.Response) -> dict[str, str]:
    """``{field: message}`` of a validation_error: 422 on customers, 400 elsewhere (as the contract says)."""
    expected = 422 if response.request.url.path.split("/")[2:3] == ["customers"] else 400
    assert response.status_code == expected, response.text
    body = response.json()
    assert body["error"] == "validation_error" and body["message"] == "Invalid field values"
    return {d["field"]: d["message"] for d in body["details"]}
