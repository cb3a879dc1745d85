"""Small builders shared by unit tests."""

from __future__ import annotations

from typing import Any

from declsync.manifest import Resource


def resource(kind: str, key: str, spec: dict[str, Any], file: str = "m.yaml", line: int = 1) -> Resource:
    return Resource(kind=kind, key=key, spec=spec, file=file, line=line)


def live_order(**fields: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "id": "11111111-1111-4111-8111-111111111111",
        "friendlyId": "ORD-10001",
        "key": "O-1",
        "organizationId": "org",
        "createdAt": "2025-01-01T00:00:00.000Z",
        "updatedAt": "2025-01-01T00:00:00.000Z",
        "status": "draft",
        "externalNotes": None,
        "internalNotes": None,
        "mode": None,
        "customer": None,
        "freight": None,
        "stops": [],
        "charges": [],
        "totalRevenue": None,
    }
    base.update(fields)
    return base
