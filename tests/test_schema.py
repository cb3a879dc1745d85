"""The manifest JSON Schema: a valid draft 2020-12 schema that accepts every example
manifest and rejects what `declsync validate` rejects (where a schema can tell)."""

from __future__ import annotations

import json
from datetime import date, datetime
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from declsync.manifests.validate import TOP_LEVEL_FIELDS
from declsync.profile.model import default_profile
from declsync.profile.schema import SCHEMA_DIALECT, manifest_schema

REPO = Path(__file__).resolve().parents[1]


def as_json(value: Any) -> Any:
    """What an editor's YAML → JSON conversion produces (YAML timestamps as strings)."""
    if isinstance(value, dict):
        return {k: as_json(v) for k, v in value.items()}
    if isinstance(value, list):
        return [as_json(v) for v in value]
    if isinstance(value, datetime | date):
        return value.isoformat()
    return value


@pytest.fixture(scope="module")
def validator() -> jsonschema.Draft202012Validator:
    schema = manifest_schema(default_profile())
    assert schema["$schema"] == SCHEMA_DIALECT
    jsonschema.Draft202012Validator.check_schema(schema)
    json.dumps(schema)  # plain JSON
    return jsonschema.Draft202012Validator(schema, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER)


def documents() -> list[tuple[str, Any]]:
    out = []
    for path in sorted((REPO / "manifests").rglob("*.y*ml")):
        for doc in yaml.safe_load_all(path.read_text()):
            if doc is not None:
                out.append((f"{path.name}/{doc.get('key')}", as_json(doc)))
    return out


@pytest.mark.parametrize(("name", "doc"), documents(), ids=[n for n, _ in documents()])
def test_every_example_manifest_validates(validator: jsonschema.Draft202012Validator, name: str, doc: Any) -> None:
    errors = [f"{e.json_path}: {e.message}" for e in validator.iter_errors(doc)]
    assert not errors, errors


def test_top_level_fields_follow_the_manifest_module(validator: jsonschema.Draft202012Validator) -> None:
    assert set(validator.schema["properties"]) == set(TOP_LEVEL_FIELDS)


@pytest.mark.parametrize(("doc", "where"), [
    ({"kind": "Ordr", "key": "X"}, "$.kind"),
    ({"kind": "Order"}, "$"),
    ({"kind": "Order", "key": ""}, "$.key"),
    ({"kind": "Order", "key": "X", "extra": 1}, "$"),
    ({"kind": "Order", "key": "X", "spec": {"status": "nope"}}, "$.spec.status"),
    ({"kind": "Order", "key": "X", "spec": {"id": "x"}}, "$.spec"),
    ({"kind": "Order", "key": "X", "spec": {"freight": {"weight": "heavy"}}}, "$.spec.freight.weight"),
    ({"kind": "Order", "key": "X", "spec": {"customer": {"key": "A", "id": "B"}}}, "$.spec.customer"),
    ({"kind": "Order", "key": "X", "spec": {"status": None}}, "$.spec.status"),
    ({"kind": "Order", "key": "X", "spec": {"stops": [{"type": "PICKUP"}]}}, "$.spec.stops[0]"),
    ({"kind": "Location", "key": "X", "spec": {"customerId": {"$ref": "Carrier/C"}}}, "$.spec.customerId"),
    ({"kind": "Order", "key": "X", "sensitive": ["nope"]}, "$.sensitive[0]"),
])
def test_rejects(validator: jsonschema.Draft202012Validator, doc: Any, where: str) -> None:
    errors = list(validator.iter_errors(doc))
    assert errors
    assert where in {e.json_path for e in errors} | {c.json_path for e in errors for c in e.context or ()}


def test_accepts_nulls_refs_and_ids(validator: jsonschema.Draft202012Validator) -> None:
    ok = [
        {"kind": "Order", "key": "X", "spec": None},
        {"kind": "Order", "key": "X", "spec": {"externalNotes": None, "mode": None, "freight": None,
                                                "customer": {"id": "b"}}},
        {"kind": "Location", "key": "X", "spec": {"customerId": {"$ref": "Customer/C"}}},
        {"kind": "Location", "key": "X", "spec": {"customerId": "550e8400-e29b-41d4-a716-446655440000"}},
        {"kind": "Order", "key": "X", "sensitive": ["internalNotes", "stops.notes"]},
    ]
    for doc in ok:
        assert not list(validator.iter_errors(doc)), doc
