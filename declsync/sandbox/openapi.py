"""An OpenAPI 3.1 description of the sandbox API, generated from the profile.

Per kind: ``{Kind}`` (the full resource as returned), ``{Kind}Create`` (POST
body: required fields required, read-only fields absent) and ``{Kind}Patch``
(PATCH body: everything optional, nullable fields accept null), plus the
collection, item and filter paths. The schemas mirror ``profile.validate_body``
so that a schema-driven fuzzer and the server agree on what is valid.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from declsync.profile.model import KEY_MAX_LENGTH, FieldSpec, KindSpec, Profile
from declsync.profile.schema import always_answered, field_schema, nullable
from declsync.profile.types import field_type

__all__ = ["build_openapi"]

JSON = "application/json"


def _ref(name: str) -> dict[str, Any]:
    return {"$ref": f"#/components/schemas/{name}"}


def _key_schema(is_nullable: bool) -> dict[str, Any]:
    schema = {"type": "string", "minLength": 1, "maxLength": KEY_MAX_LENGTH, "description": "Client key"}
    return nullable(schema) if is_nullable else schema


def _require_nested(schema: dict[str, Any], spec: FieldSpec, create: bool) -> None:
    """On create a nested object is new, so its required fields are required; a PATCH merges,
    but must still carry what the patch schema requires of an object it sends."""
    if not field_type(spec).merges:
        return
    target = next((s for s in schema.get("anyOf", []) if s.get("type") == "object"), schema)
    required = [n for n, sub in spec.fields.items() if (sub.required if create else sub.patch_required)]
    if required:
        target["required"] = required
    for name, sub in spec.fields.items():
        _require_nested(target["properties"][name], sub, create)


def _as_created(spec: FieldSpec, top: bool = True) -> FieldSpec:
    """``spec`` with the create schema's nullability: a field required on create is never
    null there (null is "missing"), even where a PATCH may clear it (the contract's
    contactInfo: required on create, nullable in a patch)."""
    nullable = spec.nullable_in("create") and not (top and spec.required)
    items = _as_created(spec.items, top=False) if spec.items is not None else None
    fields = {n: _as_created(sub, top=False) for n, sub in spec.fields.items()}
    return replace(spec, nullable=nullable, create_nullable=None, items=items, fields=fields)


def _body_schema(kind: KindSpec, *, create: bool, names: frozenset[str] | None = None) -> dict[str, Any]:
    fields = {n: s for n, s in kind.fields.items() if names is None or n in names}
    props: dict[str, Any] = {"key": _key_schema(is_nullable=True)}
    props.update({name: field_schema(_as_created(spec) if create else spec, "write") for name, spec in fields.items()})
    for name, spec in fields.items():
        _require_nested(props[name], spec, create)
    schema: dict[str, Any] = {"type": "object", "properties": props, "additionalProperties": False}
    required = [name for name, spec in fields.items() if spec.required and create]
    if names is not None and kind.discriminator and kind.discriminator not in required:
        required.append(kind.discriminator)  # the contract's oneOf: every body names its variant
    if required:
        schema["required"] = required
    return schema


def _write_schema(kind: KindSpec, *, create: bool) -> dict[str, Any]:
    """The body schema; a discriminated kind's is a oneOf of its variants, as the contract's."""
    if not kind.discriminator or not kind.variants:
        return _body_schema(kind, create=create)
    variants = []
    for value, names in kind.variants.items():
        variant = _body_schema(kind, create=create, names=names | {kind.discriminator})
        variant["properties"][kind.discriminator] = {"type": "string", "enum": [value]}
        variants.append(variant)
    return {"oneOf": variants}


def _resource_schema(kind: KindSpec) -> dict[str, Any]:
    props: dict[str, Any] = {
        **{name: {"type": "string", "enum": [value], "readOnly": True} for name, value in kind.constants.items()},
        "id": {"type": "string", "format": "uuid", "readOnly": True},
        "friendlyId": {"type": "string", "readOnly": True},
        "key": _key_schema(is_nullable=True),
    }
    props.update({name: field_schema(spec, "read") for name, spec in kind.fields.items() if name not in kind.id_from})
    for member in kind.id_from.values():
        # Answered as the parent object ({id, key}) in place of the id field, as the contract does.
        props[member] = {"type": ["object", "null"], "readOnly": True,
                         "properties": {"id": {"type": "string"}, "key": {"type": ["string", "null"]}}}
    props.update({name: {**field_schema(spec, "read"), "readOnly": True} for name, spec in kind.computed.items()})
    props["organizationId"] = {"type": "string", "readOnly": True}
    for stamp in ("createdAt", "updatedAt"):
        props[stamp] = {"type": "string", "format": "date-time", "readOnly": True}
    props["deletedAt"] = {"type": ["string", "null"], "format": "date-time", "readOnly": True}
    optional = set(kind.fields) - set(always_answered(kind.fields))
    return {"type": "object", "properties": props, "required": [n for n in props if n not in optional]}


def _error_schemas() -> dict[str, Any]:
    base = {"error": {"type": "string"}, "message": {"type": "string"}}
    return {
        "Error": {"type": "object", "properties": base, "required": ["error"]},
        "ValidationError": {
            "type": "object",
            "properties": {
                **base,
                "details": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "properties": {"field": {"type": "string"}, "message": {"type": "string"}},
                        "required": ["field", "message"],
                    },
                },
            },
            "required": ["error", "message", "details"],
        },
        "Conflict": {
            "type": "object",
            "properties": {**base, "code": {"type": "string", "enum": ["DUPLICATE_KEY"]}},
            "required": ["error", "code", "message"],
        },
        "PreconditionFailed": {
            "type": "object",
            "properties": {**base, "currentVersion": {"type": "string"}},
            "required": ["error", "message", "currentVersion"],
        },
    }


def _filter_schemas() -> dict[str, Any]:
    strings = {"type": "array", "items": {"type": "string"}}
    ops = {
        "type": "object",
        "properties": {"equalTo": {"type": "string"}, "in": strings, "isNull": {"type": "boolean"}},
        "additionalProperties": False,
        "minProperties": 1,
    }
    id_ops = {**ops, "properties": {"equalTo": {"type": "string"}, "in": strings}}
    return {
        "FilterRequest": {
            "type": "object",
            "properties": {
                "filter": {
                    "type": ["object", "null"],
                    "properties": {
                        "key": ops,
                        "id": id_ops,
                        "friendlyId": id_ops,
                        "deletedAt": {
                            "type": "object",
                            "properties": {"isNull": {"type": "boolean"}},
                            "required": ["isNull"],
                            "additionalProperties": False,
                        },
                    },
                    "additionalProperties": False,
                },
                "pageSize": {"type": ["integer", "null"], "minimum": 1, "maximum": 250, "default": 50},
                "cursor": {"type": ["string", "null"], "description": "endCursor of the previous page"},
            },
            "additionalProperties": False,
        },
        "PageInfo": {
            "type": "object",
            "properties": {
                "pageSize": {"type": "integer"},
                "hasNextPage": {"type": "boolean"},
                "hasPreviousPage": {"type": "boolean"},
                "endCursor": {"type": ["string", "null"]},
            },
            "required": ["pageSize", "hasNextPage", "hasPreviousPage", "endCursor"],
        },
    }


def _error_response(description: str, schema: str = "Error") -> dict[str, Any]:
    return {"description": description, "content": {JSON: {"schema": _ref(schema)}}}


def _invalid(description: str) -> dict[str, Any]:
    """Every 400 of the API carries ``details``: one entry per field (``""``: the whole body)."""
    return _error_response(description, "ValidationError")


def _common_errors(auth: bool) -> dict[str, Any]:
    out = {
        "429": _error_response("Rate limit exceeded (see Retry-After)"),
        "500": _error_response("Internal error"),
        "503": _error_response("Temporarily unavailable"),
    }
    if auth:
        out["401"] = _error_response("Missing, invalid or expired bearer token")
    return out


_IDEMPOTENCY = {
    "name": "Idempotency-Key",
    "in": "header",
    "required": False,
    "schema": {"type": "string", "minLength": 1, "maxLength": 255},
}
_IF_MATCH = {"name": "If-Match", "in": "header", "required": False, "schema": {"type": "string"}}


def _kind_paths(kind: KindSpec, auth: bool) -> dict[str, Any]:
    name = kind.name
    errors = _common_errors(auth)
    resource = {"description": f"The {name}", "content": {JSON: {"schema": _ref(name)}}}
    reused = _error_response("Idempotency-Key reused with a different request")
    if kind.validation_status == 422:
        # Customers answer invalid bodies with 422 (the contract), as a reused key is.
        reused = {"description": "Invalid body, or Idempotency-Key reused with a different request",
                  "content": {JSON: {"schema": {"anyOf": [_ref("ValidationError"), _ref("Error")]}}}}
    too_large = _error_response("Body larger than 8 MiB")
    collection = {
        "get": {
            "operationId": f"get{name}ByKey",
            "summary": f"Find a {name} by client key",
            "parameters": [{"name": "key", "in": "query", "required": True, "schema": {"type": "string"}}],
            "responses": {"200": resource, "400": _invalid("Missing key"), "404": _error_response("No such key"), **errors},
        },
        "post": {
            "operationId": f"create{name}",
            "summary": f"Create a {name}",
            "parameters": [_IDEMPOTENCY],
            "requestBody": {"required": True, "content": {JSON: {"schema": _ref(f"{name}Create")}}},
            "responses": {
                "201": resource,
                "400": _invalid("Invalid body or Idempotency-Key"),
                "413": too_large,
                "409": _error_response("Duplicate client key", "Conflict"),
                "422": reused,
                **errors,
            },
        },
    }
    page = {
        "type": "object",
        "properties": {"data": {"type": "array", "items": _ref(name)}, kind.page_envelope: _ref("PageInfo")},
        "required": ["data", kind.page_envelope],
    }
    filter_op = {
        "post": {
            "operationId": f"filter{name}",
            "summary": f"List {name} resources matching a filter, one page at a time",
            "requestBody": {"required": False, "content": {JSON: {"schema": _ref("FilterRequest")}}},
            "responses": {
                "200": {"description": "One page", "content": {JSON: {"schema": page}}},
                "400": _invalid("Invalid filter"),
                str(kind.validation_status): _invalid("Invalid filter"),
                "413": too_large,
                **errors,
            },
        }
    }
    ref_params = [
        {"name": "ref", "in": "path", "required": True, "schema": {"type": "string"},
         "description": "id, friendlyId or client key"},
        {"name": "by", "in": "query", "required": False, "schema": {"type": "string", "enum": ["id", "friendlyId", "key"]}},
    ]
    missing = _error_response(f"No such {name}")
    stale = _error_response("If-Match does not match the current version", "PreconditionFailed")
    item = {
        "parameters": ref_params,
        "get": {
            "operationId": f"get{name}",
            "summary": f"Get a {name}",
            "responses": {"200": resource, "400": _invalid("Invalid lookup"), "404": missing, **errors},
        },
        "patch": {
            "operationId": f"update{name}",
            "summary": f"Partially update a {name} (merge semantics; arrays replaced whole)",
            "parameters": [_IDEMPOTENCY, _IF_MATCH],
            "requestBody": {"required": True, "content": {JSON: {"schema": _ref(f"{name}Patch")}}},
            "responses": {
                "200": resource,
                "400": _invalid("Invalid body, lookup or Idempotency-Key"),
                "413": too_large,
                "404": missing,
                "409": _error_response("Duplicate client key", "Conflict"),
                "412": stale,
                "422": reused,
                **errors,
            },
        },
        "delete": {
            "operationId": f"delete{name}",
            "summary": f"Delete a {name} (soft delete)",
            "parameters": [_IDEMPOTENCY, _IF_MATCH],
            "responses": {"204": {"description": "Deleted"}, "400": _invalid("Invalid lookup or Idempotency-Key"),
                          "404": missing, "412": stale, "422": reused, **errors},
        },
    }
    return {f"/v1/{kind.path}": collection, f"/v1/{kind.path}/filter": filter_op, f"/v1/{kind.path}/{{ref}}": item}


def _token_path() -> dict[str, Any]:
    form = {
        "type": "object",
        "properties": {
            "grant_type": {"type": "string", "enum": ["client_credentials"]},
            "client_id": {"type": "string"},
            "client_secret": {"type": "string"},
        },
        "required": ["grant_type"],
    }
    token = {
        "type": "object",
        "properties": {
            "access_token": {"type": "string"},
            "token_type": {"type": "string", "enum": ["Bearer"]},
            "expires_in": {"type": "integer"},
        },
        "required": ["access_token", "token_type", "expires_in"],
    }
    return {
        "/oauth2/token": {
            "post": {
                "operationId": "issueToken",
                "summary": "OAuth2 client-credentials grant",
                "security": [],
                "requestBody": {"required": True, "content": {"application/x-www-form-urlencoded": {"schema": form}}},
                "responses": {
                    "200": {"description": "A bearer token", "content": {JSON: {"schema": token}}},
                    "400": _error_response("Unsupported grant type"),
                    "401": _error_response("Unknown client or wrong secret"),
                },
            }
        }
    }


def build_openapi(profile: Profile, *, auth: bool = False) -> dict[str, Any]:
    """The OpenAPI 3.1 document of a sandbox serving ``profile``."""
    schemas: dict[str, Any] = {}
    paths: dict[str, Any] = {}
    for kind in profile.kinds.values():
        schemas[kind.name] = _resource_schema(kind)
        schemas[f"{kind.name}Create"] = _write_schema(kind, create=True)
        schemas[f"{kind.name}Patch"] = _write_schema(kind, create=False)
        paths.update(_kind_paths(kind, auth))
    schemas.update(_error_schemas())
    schemas.update(_filter_schemas())
    paths.update(_token_path())
    doc: dict[str, Any] = {
        "openapi": "3.1.0",
        "info": {
            "title": f"declsync sandbox ({profile.name})",
            "version": "1",
            "description": "A local API compatible with the resources of the profile, backed by SQLite.",
        },
        "paths": paths,
        "components": {"schemas": schemas},
    }
    if auth:
        doc["components"]["securitySchemes"] = {"bearerAuth": {"type": "http", "scheme": "bearer"}}
        doc["security"] = [{"bearerAuth": []}]
    return doc
