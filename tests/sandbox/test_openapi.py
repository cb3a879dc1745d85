"""/openapi.json: an OpenAPI 3.1 document generated from the profile."""

from __future__ import annotations

from typing import Any

import httpx

from declsync.profile.model import default_profile
from declsync.sandbox import SandboxServer, build_openapi


def refs(node: Any) -> list[str]:
    if isinstance(node, dict):
        found = [node["$ref"]] if isinstance(node.get("$ref"), str) else []
        return found + [r for v in node.values() for r in refs(v)]
    if isinstance(node, list):
        return [r for v in node for r in refs(v)]
    return []


def test_served_document_covers_every_kind(sandbox: SandboxServer) -> None:
    doc = httpx.get(sandbox.url + "/openapi.json").json()
    assert doc["openapi"] == "3.1.0"
    schemas = doc["components"]["schemas"]
    for kind in default_profile().kinds.values():
        assert {f"/v1/{kind.path}", f"/v1/{kind.path}/filter", f"/v1/{kind.path}/{{ref}}"} <= set(doc["paths"])
        item = doc["paths"][f"/v1/{kind.path}/{{ref}}"]
        assert {"get", "patch", "delete"} <= set(item)
        assert {kind.name, f"{kind.name}Create", f"{kind.name}Patch"} <= set(schemas)
        # A discriminated kind's body is a oneOf of its variants (as the contract's), each naming its type.
        for create in schemas[f"{kind.name}Create"].get("oneOf") or [schemas[f"{kind.name}Create"]]:
            wanted = {n for n, f in kind.fields.items() if f.required} | ({kind.discriminator} - {None})
            assert set(create.get("required", [])) == wanted
            assert "id" not in create["properties"] and "key" in create["properties"]
        assert set(kind.computed) <= set(schemas[kind.name]["properties"])
    for name in ("Error", "ValidationError", "Conflict", "PreconditionFailed", "FilterRequest"):
        assert name in schemas
    assert "/oauth2/token" in doc["paths"]
    for ref in refs(doc):
        assert ref.startswith("#/components/schemas/") and ref.rsplit("/", 1)[1] in schemas
    assert "security" not in doc


def test_field_shapes() -> None:
    schemas = build_openapi(default_profile(), auth=True)["components"]["schemas"]
    patch = schemas["OrderPatch"]["properties"]
    assert patch["externalNotes"] == {"type": ["string", "null"]}
    assert patch["status"]["enum"][0] == "draft" and patch["status"]["type"] == "string"
    assert patch["mode"]["enum"][-1] is None
    assert "oneOf" in patch["stops"]["items"]["properties"]["location"]
    assert patch["stops"]["items"]["required"] == ["type", "location"]
    assert schemas["OrderPatch"]["properties"]["key"]["maxLength"] == 512
    customer = schemas["Order"]["properties"]["customer"]
    assert customer["type"] == ["object", "null"] and customer["required"] == ["id", "key"]
    # Answers are null only where the contract allows: Location.customerId is not nullable
    # (and a create must send it, so every answer carries it).
    assert schemas["Location"]["properties"]["customerId"]["type"] == "string"
    assert "customerId" in schemas["Location"]["required"]
    assert "equipments" not in schemas["Carrier"]["required"]
    assert schemas["LocationCreate"]["properties"]["customerId"]["format"] == "uuid"
