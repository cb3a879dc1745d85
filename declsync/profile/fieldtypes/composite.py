"""Structured field types: reference objects, nested objects (merged) and arrays (whole)."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from declsync.profile.fieldtypes.base import (
    OMIT,
    FieldType,
    LookupKey,
    Path,
    SubSchema,
    check_value,
    field_type,
    import_value,
    project,
    register,
    values_equal,
)
from declsync.profile.formats import type_name
from declsync.profile.spec import FieldSpec, Mode, PathPart, Violation, suggest

__all__ = ["ArrayType", "ObjectType", "ReferenceType"]


@register
class ReferenceType(FieldType):
    name = "reference"
    needs = "kind"
    is_reference = True

    def check(self, spec: FieldSpec, value: Any, path: Path, mode: Mode, out: list[Violation]) -> None:
        if not isinstance(value, Mapping):
            out.append(Violation(
                path, f"expected a reference {{key: …}} or {{id: …}} to a {spec.kind}, got {type_name(value)}"
            ))
            return
        keys = set(value)
        if keys not in ({"id"}, {"key"}):
            out.append(Violation(
                path, f"a reference to a {spec.kind} takes exactly one of 'id' or 'key', e.g. {{key: MY-KEY}}"
            ))
            return
        (k,) = keys
        if not isinstance(value[k], str) or not value[k]:
            out.append(Violation(path, f"reference {k} must be a non-empty string"))

    def equal(self, spec: FieldSpec, desired: Any, live: Any) -> bool:
        # {key: K} equals the server's {id: …, key: K}.
        if type(desired) is dict and type(live) is dict:
            return all(live.get(k) == v for k, v in desired.items())
        return super().equal(spec, desired, live)

    def project(self, spec: FieldSpec, live: Any, desired: Any) -> Any:
        if isinstance(live, Mapping) and isinstance(desired, Mapping):
            return {k: live.get(k) for k in desired}
        return live

    def import_value(self, spec: FieldSpec, value: Any, lookup_key: LookupKey) -> tuple[Any, Any]:
        if not isinstance(value, Mapping):
            return super().import_value(spec, value, lookup_key)
        key, ident = value.get("key"), value.get("id")
        if isinstance(key, str) and key:
            return {"key": key}, {"key": key}
        if isinstance(ident, str) and ident:
            return {"id": ident}, {"id": ident}
        return OMIT, OMIT

    def json_schema(self, spec: FieldSpec, mode: str, item: bool, sub: SubSchema) -> dict[str, Any]:
        target = spec.kind or "resource"
        if mode == "read":
            return {
                "type": "object",
                "description": f"Reference to a {target}",
                "properties": {"id": {"type": ["string", "null"]}, "key": {"type": ["string", "null"]}},
                "required": ["id", "key"],
            }
        one = [
            {
                "type": "object",
                "properties": {member: {"type": "string", "minLength": 1}},
                "required": [member],
                "additionalProperties": False,
            }
            for member in ("id", "key")
        ]
        return {"description": f"a reference to a {target}: {{key: …}} or {{id: …}}", "oneOf": one}


@register
class ObjectType(FieldType):
    name = "object"
    merges = True

    def check(self, spec: FieldSpec, value: Any, path: Path, mode: Mode, out: list[Violation]) -> None:
        if not isinstance(value, Mapping):
            out.append(Violation(path, f"expected a mapping, got {type_name(value)}"))
            return
        for name, sub in value.items():
            sspec = spec.fields.get(name)
            if sspec is None:
                out.append(Violation((*path, name), f"unknown field {name!r}{suggest(name, spec.fields)}"))
                continue
            check_value(sspec, sub, (*path, name), mode, out)
        if mode == "create" or (path and isinstance(path[-1], int)):
            # Array items are created whole, so their required fields apply in every mode.
            for name, sspec in spec.fields.items():
                if sspec.required and value.get(name) is None:
                    out.append(Violation((*path, name), "This field is required"))
        elif mode == "patch":
            # A nested object in a PATCH is checked against the patch schema's version of it,
            # which may require members too (a manifest may still declare a part: the planner
            # sends the rest).
            for name, sspec in spec.fields.items():
                if sspec.patch_required and name not in value:
                    out.append(Violation((*path, name), "This field is required whenever its object is sent"))

    def equal(self, spec: FieldSpec, desired: Any, live: Any) -> bool:
        # Only the members ``desired`` declares: the others are not ours.
        if type(desired) is dict and type(live) is dict:
            return all(values_equal(v, live.get(k), spec.fields.get(k)) for k, v in desired.items())
        return super().equal(spec, desired, live)

    def normalise(self, spec: FieldSpec, value: Any) -> Any:
        if type(value) is not dict:
            return value
        return {k: v if s is None or v is None else field_type(s).normalise(s, v)
                for k, v, s in ((k, v, spec.fields.get(k)) for k, v in value.items())}

    def children(self, spec: FieldSpec, value: Any) -> Iterator[tuple[PathPart, Any, FieldSpec | None]]:
        if isinstance(value, Mapping):
            for k, v in value.items():
                yield k, v, spec.fields.get(k)

    def nested(self, spec: FieldSpec) -> Mapping[str, FieldSpec]:
        return spec.fields

    def project(self, spec: FieldSpec, live: Any, desired: Any) -> Any:
        if isinstance(live, Mapping) and isinstance(desired, Mapping):
            return {k: project(spec.fields.get(k), live.get(k), v) for k, v in desired.items()}
        return live

    def import_value(self, spec: FieldSpec, value: Any, lookup_key: LookupKey) -> tuple[Any, Any]:
        if not isinstance(value, Mapping):
            return super().import_value(spec, value, lookup_key)
        shown: dict[str, Any] = {}
        recorded: dict[str, Any] = {}
        for name, sub in spec.fields.items():
            m, s = import_value(sub, value.get(name), lookup_key)
            if m is not OMIT:
                shown[name], recorded[name] = m, s
        return shown, recorded

    def json_schema(self, spec: FieldSpec, mode: str, item: bool, sub: SubSchema) -> dict[str, Any]:
        props = {name: sub(s, mode, False) for name, s in spec.fields.items()}
        schema: dict[str, Any] = {"type": "object", "properties": props}
        if mode == "read":
            # Nullable ones (null when unset) and ones with a server default: not the
            # create-required ones, since a PATCH may start a nested object without them
            # (profile.schema.always_answered, nested).
            schema["required"] = [name for name, s in spec.fields.items() if s.answers_null or s.has_default]
        else:
            schema["additionalProperties"] = False
            required = [name for name, s in spec.fields.items() if s.required]
            if item and required:
                schema["required"] = required
        return schema


@register
class ArrayType(FieldType):
    name = "array"
    needs = "items"
    whole = True

    def check(self, spec: FieldSpec, value: Any, path: Path, mode: Mode, out: list[Violation]) -> None:
        if not isinstance(value, list):
            out.append(Violation(path, f"expected a list, got {type_name(value)}"))
            return
        assert spec.items is not None
        for i, item in enumerate(value):
            check_value(spec.items, item, (*path, i), mode, out)

    def equal(self, spec: FieldSpec, desired: Any, live: Any) -> bool:
        if type(desired) is list and type(live) is list:
            return len(desired) == len(live) and all(
                values_equal(d, v, spec.items) for d, v in zip(desired, live, strict=True)
            )
        return super().equal(spec, desired, live)

    def normalise(self, spec: FieldSpec, value: Any) -> Any:
        items = spec.items
        if type(value) is not list or items is None:
            return value
        return [v if v is None else field_type(items).normalise(items, v) for v in value]

    def children(self, spec: FieldSpec, value: Any) -> Iterator[tuple[PathPart, Any, FieldSpec | None]]:
        if isinstance(value, list):
            for i, v in enumerate(value):
                yield i, v, spec.items

    def nested(self, spec: FieldSpec) -> Mapping[str, FieldSpec]:
        # An array of objects: its items' fields, named through the array (``stops.notes``).
        return spec.items.fields if spec.items is not None and field_type(spec.items).merges else {}

    def project(self, spec: FieldSpec, live: Any, desired: Any) -> Any:
        if isinstance(live, list) and isinstance(desired, list):
            return [project(spec.items, lv, desired[i] if i < len(desired) else None) for i, lv in enumerate(live)]
        return live

    def import_value(self, spec: FieldSpec, value: Any, lookup_key: LookupKey) -> tuple[Any, Any]:
        if not isinstance(value, list) or spec.items is None:
            return super().import_value(spec, value, lookup_key)
        pairs = [import_value(spec.items, item, lookup_key) for item in value]
        # An array is compared whole: keep every item, even an empty one.
        return ([None if m is OMIT else m for m, _ in pairs], [None if s is OMIT else s for _, s in pairs])

    def json_schema(self, spec: FieldSpec, mode: str, item: bool, sub: SubSchema) -> dict[str, Any]:
        assert spec.items is not None
        return {"type": "array", "items": sub(spec.items, mode, True)}

    def display(self, spec: FieldSpec) -> str:
        return f"array of {spec.items.type}" if spec.items is not None else self.name
