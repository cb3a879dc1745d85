"""``declsync schema``: a JSON Schema (draft 2020-12) for manifests, from the profile.

Editors use it for completion and inline errors (``# yaml-language-server:
$schema=…``). It mirrors the offline validation: kinds, per-kind ``spec`` fields
(chosen with ``if``/``then`` on ``kind``), types, enums, nullability, nested
objects, arrays, references (``{key}`` or ``{id}``) and ``{$ref: Kind/KEY}`` for id
fields with ``refKind``. It cannot express everything ``declsync validate`` checks
(keys unique across files, date-times with a timezone, references that exist):
``validate`` stays the authority.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any, Literal

from declsync.profile.model import KEY_MAX_LENGTH, FieldSpec, KindSpec, Profile
from declsync.profile.paths import field_paths
from declsync.profile.types import field_type

__all__ = ["SCHEMA_DIALECT", "SchemaMode", "always_answered", "field_schema", "kind_spec_schema", "manifest_schema",
           "nullable"]

SchemaMode = Literal["read", "write", "manifest"]

SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"


def nullable(schema: dict[str, Any]) -> dict[str, Any]:
    """``schema`` that also admits null, without wrapping where possible (so editors
    report errors at the field, not at an "anyOf")."""
    t = schema.get("type")
    if isinstance(t, str) and "enum" in schema:
        return {**schema, "type": [t, "null"], "enum": [*schema["enum"], None]}
    if isinstance(t, str):
        return {**schema, "type": [t, "null"]}
    if "anyOf" in schema:
        return {**schema, "anyOf": [*schema["anyOf"], {"type": "null"}]}
    return {"anyOf": [schema, {"type": "null"}]}


def _describe(schema: dict[str, Any], spec: FieldSpec) -> dict[str, Any]:
    notes: list[str] = []
    if spec.required:
        notes.append("required when the resource is created")
    if spec.has_default:
        notes.append(f"server default: {spec.default!r}")
    if field_type(spec).whole:
        notes.append("always replaced whole")
    if spec.sensitive:
        notes.append("sensitive: shown as (sensitive) in plans")
    if notes:
        schema = {**schema, "description": "; ".join(notes)}
    if spec.has_default and spec.default is not None:
        schema = {**schema, "default": spec.default}
    return schema


def field_schema(spec: FieldSpec, mode: SchemaMode, *, item: bool = False) -> dict[str, Any]:
    """The JSON Schema of one profile field, for an API response (``read``), a request
    body (``write``, used by the sandbox's OpenAPI document) or a manifest ``spec``
    (``manifest``: also ``{$ref: Kind/KEY}`` for id fields, with descriptions).
    ``item`` marks an array item, whose required fields apply."""
    schema = field_type(spec).json_schema(spec, mode, item, _sub_schema)
    if mode == "manifest":
        schema = _describe(schema, spec)
    elif spec.has_default and mode == "write":
        schema["default"] = spec.default
    # Responses show an unset field as null only where it is nullable; otherwise it is left
    # out (see ``always_answered``), so a read value is null exactly where the contract allows.
    return nullable(schema) if (spec.answers_null if mode == "read" else spec.nullable) else schema


def always_answered(fields: Mapping[str, FieldSpec], *, nested: bool = False) -> list[str]:
    """The fields every answer carries: nullable ones (null when unset), ones with a server
    default, and (top level) ones a create must send. Any other is left out while unset."""
    return [name for name, f in fields.items() if f.answers_null or f.has_default or (f.required and not nested)]


def _sub_schema(spec: FieldSpec, mode: str, item: bool) -> dict[str, Any]:
    return field_schema(spec, mode, item=item)  # type: ignore[arg-type]


def kind_spec_schema(kind: KindSpec) -> dict[str, Any]:
    """The JSON Schema of a manifest ``spec`` of ``kind`` (read-only fields left out)."""
    props = {name: field_schema(f, "manifest") for name, f in kind.fields.items() if name not in kind.read_only}
    return {
        "type": ["object", "null"],
        "title": f"{kind.name} spec",
        "properties": props,
        "additionalProperties": False,
    }


def _top_level(name: str) -> dict[str, Any]:
    known: dict[str, dict[str, Any]] = {
        "key": {"type": "string", "minLength": 1, "maxLength": KEY_MAX_LENGTH,
                "description": "client key: your own id, unique per kind (quote numbers, dates, yes/no)"},
        "spec": {"type": ["object", "null"], "description": "the fields you manage"},
        "sensitive": {"type": "array", "items": {"type": "string"},
                      "description": "field paths whose values plans show as (sensitive)"},
        "previousKeys": {"type": "array", "items": {"type": "string", "minLength": 1, "maxLength": KEY_MAX_LENGTH},
                         "description": "keys this resource had before: found live under one, it is renamed"},
        "lifecycle": {
            "type": "object",
            "properties": {"preventDestroy": {"type": "boolean"},
                           "ignoreFields": {"type": "array", "items": {"type": "string"}}},
            "additionalProperties": False,
        },
    }
    # Fields added to the manifest format later than this generator: accept any value.
    return known.get(name, {"description": f"see the README for '{name}'"})


def manifest_schema(profile: Profile, top_level_fields: Sequence[str] | None = None) -> dict[str, Any]:
    """The JSON Schema of one manifest document for ``profile``."""
    if top_level_fields is None:
        from declsync.manifests.validate import TOP_LEVEL_FIELDS

        top_level_fields = TOP_LEVEL_FIELDS
    props: dict[str, Any] = {name: _top_level(name) for name in top_level_fields}
    props["kind"] = {"enum": list(profile.kinds), "description": "the resource kind"}
    branches = []
    for kind in profile.kinds.values():
        then: dict[str, Any] = {"properties": {"spec": {"$ref": f"#/$defs/{kind.name}"}}}
        if "sensitive" in props:
            then["properties"]["sensitive"] = {"items": {"enum": field_paths(kind)}}
        branches.append({"if": {"properties": {"kind": {"const": kind.name}}, "required": ["kind"]}, "then": then})
    return {
        "$schema": SCHEMA_DIALECT,
        "$id": f"urn:declsync:manifest:{re.sub(r'[^A-Za-z0-9._-]+', '-', profile.name)}",
        "title": f"declsync manifest ({profile.name} profile)",
        "description": "One YAML document: kind + client key + spec. Generated by `declsync schema`.",
        "type": "object",
        "required": ["kind", "key"],
        "properties": props,
        "additionalProperties": False,
        "allOf": branches,
        "$defs": {kind.name: kind_spec_schema(kind) for kind in profile.kinds.values()},
    }
