"""Shapes → profile fields: one field per writable property of a kind's create and patch schemas.

A field's shape is the create schema's and the patch schema's taken together
(``write_merge``): its type and required-ness come from the create schema, its
nullability from the patch schema (a PATCH with null is what clears a field) with the
create schema's kept beside it where they differ (``create_nullable``), the members
a nested object must carry in a PATCH from the patch schema (``patch_required``), the
fields of a nested object from both. References are recognised by shape: an object
whose only properties are ``id`` and ``key`` is a reference to the kind its schema
or field is named after (``PaymentTermReference``, ``paymentTerm``); a uuid string
named ``…Id`` holds the id of the kind it is named after (``customerId``), when such
a kind exists; ``x-declsync-kind`` / ``x-declsync-ref-kind`` say so where a name cannot.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from declsync.profile.model import FieldSpec
from declsync.profile.openapi.shapes import Shape

__all__ = ["FieldContext", "to_field", "write_merge"]

_REF_SUFFIXES = ("ReferenceInput", "ReferencePatch", "Reference", "RefInput", "Ref", "Input")


@dataclass
class FieldContext:
    kinds: Collection[str]
    # Overlay: dotted field path -> kind whose id (or reference) the field holds.
    ref_kinds: Mapping[str, str] = field(default_factory=dict)
    sensitive: Collection[str] = ()
    # Properties left out, with why (shown by `declsync profile show`, reported by tests).
    skipped: list[str] = field(default_factory=list)


def write_merge(create: Shape | None, patch: Shape | None) -> Shape:
    """One shape for a property from its create-schema and patch-schema versions."""
    if create is None or patch is None:
        only = create or patch
        assert only is not None
        return only
    props: dict[str, Shape] = {}
    for name in dict.fromkeys([*create.properties, *patch.properties]):
        props[name] = write_merge(create.properties.get(name), patch.properties.get(name))
    enum = create.enum
    if create.enum is not None and patch.enum is not None:
        enum = tuple(dict.fromkeys((*create.enum, *patch.enum)))
    return replace(
        create,
        types=create.types or patch.types,
        nullable=patch.nullable,
        create_nullable=create.nullable,
        patch_required=patch.required,
        enum=enum,
        properties=props,
        items=write_merge(create.items, patch.items) if create.items and patch.items else create.items or patch.items,
        variants={**patch.variants, **create.variants},
        discriminator=create.discriminator or patch.discriminator,
        extensions={**patch.extensions, **create.extensions},
    )


def _capital(word: str) -> str:
    return word[:1].upper() + word[1:]


def _reference_kind(name: str, shape: Shape, ctx: FieldContext, path: str) -> str | None:
    named = ctx.ref_kinds.get(path) or shape.extensions.get("x-declsync-kind")
    if isinstance(named, str):
        return named
    candidates = []
    if shape.name:
        candidates += [shape.name.removesuffix(s) for s in _REF_SUFFIXES if shape.name.endswith(s)]
    candidates += [_capital(name), _capital(name.removesuffix("s"))]
    return next((c for c in candidates if c in ctx.kinds), None)


def _id_kind(name: str, shape: Shape, ctx: FieldContext, path: str) -> str | None:
    named = ctx.ref_kinds.get(path) or shape.extensions.get("x-declsync-ref-kind")
    if isinstance(named, str):
        return named
    if shape.format == "uuid" and name.endswith("Id") and _capital(name[:-2]) in ctx.kinds:
        return _capital(name[:-2])
    return None


def _is_reference(shape: Shape) -> bool:
    writable = {k for k, v in shape.properties.items() if not v.read_only}
    return shape.is_object and "key" in writable and writable <= {"id", "key"}


def _type_of(shape: Shape) -> str | None:
    """The profile type of a shape (None: nothing declsync can declare)."""
    if shape.enum and all(isinstance(v, str) for v in shape.enum):
        return "enum"
    for json_type, profile_type in _PRIMARY:
        if json_type in shape.types:
            if profile_type == "string" and shape.format == "date-time":
                return "datetime"
            return profile_type
    return "object" if shape.properties else None


_PRIMARY = (("object", "object"), ("array", "array"), ("string", "string"), ("number", "number"),
            ("integer", "integer"), ("boolean", "boolean"))


def to_field(name: str, shape: Shape, ctx: FieldContext, path: str = "", *, create_only: bool = False,
             required: bool = False, patch_required: bool = False) -> FieldSpec | None:
    """The profile field for property ``name`` (None, recorded in ``ctx.skipped``, when
    the document gives it no shape declsync can declare)."""
    path = path or name
    ftype = _type_of(shape)
    if ftype == "object" and _is_reference(shape):
        ref = _reference_kind(name, shape, ctx, path)
        if ref is not None:
            ftype = "reference"
    if ftype is None:
        ctx.skipped.append(f"{path}: no type declsync can declare (free-form or untyped)")
        return None
    build = _BUILDERS.get(ftype)
    extra = build(name, shape, ctx, path) if build is not None else {}
    if extra is None:
        return None
    return FieldSpec(
        name=name,
        type=ftype,
        nullable=shape.nullable,
        required=required,
        default=shape.default if shape.has_default else None,
        has_default=shape.has_default,
        max_length=shape.max_length,
        format=shape.format if ftype == "string" else None,
        sensitive=path in ctx.sensitive or shape.extensions.get("x-declsync-sensitive") is True,
        create_only=create_only,
        create_nullable=None if shape.create_nullable in (None, shape.nullable) else shape.create_nullable,
        patch_required=patch_required,
        **extra,
    )


def _enum(name: str, shape: Shape, ctx: FieldContext, path: str) -> dict[str, Any]:
    assert shape.enum is not None
    return {"values": tuple(str(v) for v in shape.enum)}


def _string(name: str, shape: Shape, ctx: FieldContext, path: str) -> dict[str, Any]:
    return {"ref_kind": _id_kind(name, shape, ctx, path)}


def _reference(name: str, shape: Shape, ctx: FieldContext, path: str) -> dict[str, Any]:
    return {"kind": _reference_kind(name, shape, ctx, path)}


def _object(name: str, shape: Shape, ctx: FieldContext, path: str) -> dict[str, Any] | None:
    fields = {}
    for sub, sub_shape in shape.properties.items():
        if sub_shape.read_only:
            continue
        # A patch-only object (patch_required None, required from the patch schema) or a
        # merged one: what the patch schema requires of it whenever it is sent.
        in_patch = shape.required if shape.patch_required is None else shape.patch_required
        spec = to_field(sub, sub_shape, ctx, f"{path}.{sub}", required=sub in shape.required,
                        patch_required=sub in in_patch)
        if spec is not None:
            fields[sub] = spec
    if not fields:
        ctx.skipped.append(f"{path}: an object without writable properties")
        return None
    return {"fields": fields}


def _array(name: str, shape: Shape, ctx: FieldContext, path: str) -> dict[str, Any] | None:
    if shape.items is None:
        ctx.skipped.append(f"{path}: an array without 'items'")
        return None
    items = to_field(name, shape.items, ctx, f"{path}[]")
    return None if items is None else {"items": replace(items, name="[]")}


_BUILDERS: dict[str, Callable[[str, Shape, FieldContext, str], dict[str, Any] | None]] = {
    "enum": _enum,
    "string": _string,
    "reference": _reference,
    "object": _object,
    "array": _array,
}
