"""JSON Schema (as OpenAPI 3.0 and 3.1 write it) flattened into one ``Shape`` per value.

A Shape is what declsync needs to know of a schema, with the composition keywords
worked out: ``allOf`` parts are merged (enums intersect: a variant's ``type: [AIR]``
narrows the base's seven carrier types); ``oneOf``/``anyOf`` alternatives are united
(the fields of every variant, the fields every variant requires), a ``null``
alternative makes the value nullable, and a ``discriminator`` is recorded with the
fields of each variant. Nullability is read from 3.0's ``nullable: true``, 3.1's
``type: [x, "null"]``, ``enum`` with ``null`` and ``anyOf [.., {type: "null"}]``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from declsync.profile.openapi.document import Document, as_map

__all__ = ["Shape", "flatten"]

_UNSET = object()


@dataclass(frozen=True)
class Shape:
    types: frozenset[str] = frozenset()
    nullable: bool = False
    format: str | None = None
    enum: tuple[Any, ...] | None = None
    properties: Mapping[str, Shape] = field(default_factory=dict)
    required: frozenset[str] = frozenset()
    items: Shape | None = None
    read_only: bool = False
    default: Any = _UNSET
    max_length: int | None = None
    # The component schema this shape came from (``#/components/schemas/NAME``), if any.
    name: str | None = None
    discriminator: str | None = None
    variants: Mapping[str, frozenset[str]] = field(default_factory=dict)
    extensions: Mapping[str, Any] = field(default_factory=dict)
    # The JSON pointer it was read at, for error messages.
    at: str = ""
    # Set by ``fields.write_merge`` on a create and patch shape taken together: the create
    # schema's nullability, and the members the patch schema requires (None: no patch shape).
    create_nullable: bool | None = None
    patch_required: frozenset[str] | None = None

    @property
    def has_default(self) -> bool:
        return self.default is not _UNSET

    @property
    def is_object(self) -> bool:
        return "object" in self.types or (not self.types and bool(self.properties))


def _is_null(schema: Any) -> bool:
    return isinstance(schema, Mapping) and (schema.get("type") == "null" or schema.get("enum") == [None])


def _only_constraints(schema: Any) -> bool:
    """``{required: [id]}``: a oneOf branch that constrains, but adds no shape."""
    return isinstance(schema, Mapping) and set(schema) <= {"required", "description", "title"}


def flatten(doc: Document, schema: Any, at: str, stack: tuple[str, ...] = (), expand: bool = True) -> Shape:
    """The Shape of ``schema`` (read at JSON pointer ``at``)."""
    # A pure function of its arguments (the document is never changed, Shapes are frozen), and
    # the create, patch, read and filter schemas of a kind flatten the same schemas again and
    # again: remembered per document. The key holds the schema object itself, not only its id:
    # a schema built on the fly (``_subclasses``) must stay alive, or its id could be reused.
    key = (id(schema), at, stack, expand)
    known = doc.shapes.get(key)
    if known is not None and known[0] is schema:
        remembered: Shape = known[1]
        return remembered
    shape = _flatten(doc, schema, at, stack, expand)
    doc.shapes[key] = (schema, shape)
    return shape


def _flatten(doc: Document, schema: Any, at: str, stack: tuple[str, ...], expand: bool) -> Shape:
    if not isinstance(schema, Mapping):
        return Shape(at=at)
    name: str | None = None
    ref = schema.get("$ref")
    if isinstance(ref, str):
        if ref in stack:  # a recursive schema (filters nest themselves): stop at one level
            return Shape(types=frozenset({"object"}), name=ref.rsplit("/", 1)[-1], at=at)
        # A variant's allOf naming the base being expanded: the base's own shape, not its variants again.
        inherit = f"expanding:{ref}" in stack
        target = flatten(doc, doc.resolve(ref, at), ref, (*stack, ref), expand=not inherit)
        name = ref.rsplit("/", 1)[-1] if ref.startswith("#/components/schemas/") else None
        siblings = {k: v for k, v in schema.items() if k != "$ref"}
        own = _own(doc, siblings, at, stack) if siblings else Shape(at=at)
        return replace(_all_of([target, own]) if siblings else target, name=name, at=at)
    variants = _subclasses(doc, schema, at) if expand else []
    if variants:
        outer = (*(x for x in stack if x != at), f"expanding:{at}")
        return replace(_one_of(doc, schema, "oneOf", variants, at, outer), name=None, at=at)
    parts = [_own(doc, schema, at, stack)]
    for i, sub in enumerate(doc.member(schema, "allOf", list, at) or ()):
        parts.append(flatten(doc, sub, f"{at}/allOf/{i}", stack))
    shape = _all_of(parts)
    for word in ("oneOf", "anyOf"):
        alternatives = doc.member(schema, word, list, at)
        if alternatives:
            shape = _all_of([shape, _one_of(doc, schema, word, alternatives, at, stack)])
    return shape if shape.at == at else replace(shape, at=at)


def _subclasses(doc: Document, schema: Mapping[str, Any], at: str) -> list[dict[str, str]]:
    """The variants of a base schema with a ``discriminator`` and no ``oneOf`` (the allOf
    inheritance style): its mapping's targets, else the schemas whose ``allOf`` names it."""
    disc = schema.get("discriminator")
    if not isinstance(disc, Mapping) or schema.get("oneOf") or schema.get("anyOf"):
        return []
    mapping = as_map(disc.get("mapping"))
    if mapping:
        return [{"$ref": str(target)} for target in dict.fromkeys(mapping.values())]
    if not at.startswith("#/components/schemas/"):
        return []
    found = []
    for name, sub in as_map(as_map(doc.data.get("components")).get("schemas")).items():
        parts = as_map(sub).get("allOf")
        if isinstance(parts, list) and any(as_map(p).get("$ref") == at for p in parts):
            found.append({"$ref": f"#/components/schemas/{name}"})
    return found


def _own(doc: Document, schema: Mapping[str, Any], at: str, stack: tuple[str, ...]) -> Shape:
    """The shape of ``schema``'s own keywords (no composition)."""
    raw_type = schema.get("type")
    listed = [raw_type] if isinstance(raw_type, str) else doc.member(schema, "type", list, at) or []
    if not all(isinstance(t, str) for t in listed):
        raise doc.error(at, f"type must be a type name or a list of them, not {raw_type!r:.40}")
    types = set(listed)
    nullable = "null" in types or schema.get("nullable") is True
    enum = doc.member(schema, "enum", list, at)
    if "const" in schema:
        enum = [schema["const"]]
    if enum is not None:
        # Only scalars can be declared as enum values; null makes the value nullable.
        nullable = nullable or None in enum
        enum = [v for v in enum if isinstance(v, str | int | float | bool)]
    props = doc.member(schema, "properties", Mapping, at) or {}
    items = schema.get("items")
    max_length = schema.get("maxLength")
    fmt = schema.get("format")
    return Shape(
        types=frozenset(t for t in types if t != "null"),
        nullable=nullable,
        format=fmt if isinstance(fmt, str) else None,
        enum=tuple(enum) if enum is not None else None,
        properties={str(k): flatten(doc, v, f"{at}/properties/{k}", stack) for k, v in props.items()},
        required=frozenset(str(r) for r in doc.member(schema, "required", list, at) or ()),
        items=flatten(doc, items, f"{at}/items", stack) if isinstance(items, Mapping) else None,
        read_only=schema.get("readOnly") is True,
        default=schema.get("default", _UNSET),
        max_length=max_length if isinstance(max_length, int) else None,
        extensions={k: v for k, v in schema.items() if isinstance(k, str) and k.startswith("x-declsync")},
        at=at,
    )


def _one_of(
    doc: Document, schema: Mapping[str, Any], word: str, alternatives: Any, at: str, stack: tuple[str, ...]
) -> Shape:
    nullable = any(_is_null(a) for a in alternatives)
    real = [(i, a) for i, a in enumerate(alternatives) if not _is_null(a) and not _only_constraints(a)]
    shapes = [flatten(doc, a, f"{at}/{word}/{i}", stack) for i, a in real]
    if not shapes:
        return Shape(nullable=nullable, at=at)
    union = shapes[0]
    for other in shapes[1:]:
        union = _either(union, other)
    union = replace(union, nullable=union.nullable or nullable)
    disc = schema.get("discriminator")
    if isinstance(disc, Mapping) and isinstance(disc.get("propertyName"), str):
        union = _discriminated(union, str(disc["propertyName"]), as_map(disc.get("mapping")), real, shapes)
    return union


def _discriminated(
    union: Shape, prop: str, mapping: Mapping[str, Any], real: list[tuple[int, Any]], shapes: list[Shape]
) -> Shape:
    """Record each variant's fields under its discriminator value."""
    by_ref = {str(v): str(k) for k, v in mapping.items()}
    variants: dict[str, frozenset[str]] = {}
    for (_, raw), shape in zip(real, shapes, strict=True):
        ref = raw.get("$ref") if isinstance(raw, Mapping) else None
        own = shape.properties.get(prop)
        if isinstance(ref, str) and ref in by_ref:
            value = by_ref[ref]
        elif own is not None and own.enum and len(own.enum) == 1:
            value = str(own.enum[0])
        elif shape.name:
            value = shape.name
        else:
            continue
        variants[value] = frozenset(shape.properties)
    disc_prop = union.properties.get(prop, Shape(types=frozenset({"string"})))
    disc_prop = replace(disc_prop, enum=tuple(variants) or disc_prop.enum, nullable=False)
    return replace(
        union,
        discriminator=prop,
        variants=variants,
        properties={**union.properties, prop: disc_prop},
        required=union.required | {prop},
    )


def _all_of(parts: list[Shape]) -> Shape:
    out = parts[0]
    for other in parts[1:]:
        out = _both(out, other)
    return out


def _both(a: Shape, b: Shape) -> Shape:
    """``allOf [a, b]``: a value must satisfy both."""
    props = dict(a.properties)
    for k, v in b.properties.items():
        props[k] = _both(props[k], v) if k in props else v
    if a.enum is not None and b.enum is not None:
        enum: tuple[Any, ...] | None = tuple(v for v in a.enum if v in b.enum)
    else:
        enum = a.enum if a.enum is not None else b.enum
    # Both typed: null must satisfy both. Otherwise a bare `nullable: true` beside an
    # allOf (the OpenAPI 3.0 idiom) makes the value nullable.
    both_typed = all(s.types or s.enum is not None for s in (a, b))
    return Shape(
        types=(a.types & b.types if a.types and b.types else a.types | b.types),
        nullable=(a.nullable and b.nullable) if both_typed else a.nullable or b.nullable,
        format=a.format or b.format,
        enum=enum,
        properties=props,
        required=a.required | b.required,
        items=_both(a.items, b.items) if a.items and b.items else a.items or b.items,
        read_only=a.read_only or b.read_only,
        default=b.default if b.has_default else a.default,
        max_length=b.max_length if b.max_length is not None else a.max_length,
        name=a.name or b.name,
        discriminator=a.discriminator or b.discriminator,
        variants={**a.variants, **b.variants},
        extensions={**a.extensions, **b.extensions},
        at=a.at or b.at,
    )


def _either(a: Shape, b: Shape) -> Shape:
    """``oneOf [a, b]``: a value satisfies one of them; every field either allows is known."""
    props = dict(a.properties)
    for k, v in b.properties.items():
        props[k] = _either(props[k], v) if k in props else v
    enum = None if a.enum is None or b.enum is None else tuple(dict.fromkeys((*a.enum, *b.enum)))
    return Shape(
        types=a.types | b.types,
        nullable=a.nullable or b.nullable,
        format=a.format if a.format == b.format else None,
        enum=enum,
        properties=props,
        required=a.required & b.required,
        items=_either(a.items, b.items) if a.items and b.items else a.items or b.items,
        read_only=a.read_only and b.read_only,
        default=a.default if a.has_default else b.default,
        max_length=a.max_length if a.max_length == b.max_length else None,
        name=None,
        extensions={**b.extensions, **a.extensions},
        at=a.at,
    )
