"""Resource profiles: what declsync (and its sandbox) know about each resource kind.

A profile is data (``profiles/mvmnt/``, OpenAPI documents, is bundled; ``--profile FILE`` loads
another). This module parses it into frozen ``KindSpec`` / ``FieldSpec`` objects and
validates request bodies and manifest specs against them. The same validator serves
the client (manifest validation, before anything is sent) and the sandbox server
(400 ``validation_error`` details), so both sides agree on what is valid.
"""

from __future__ import annotations

import difflib
import functools
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any, Literal

import yaml

from declsync.errors import ProfileError
from declsync.profile.formats import datetime_problem, format_problem, type_name

__all__ = [
    "KEY_MAX_LENGTH",
    "FieldSpec",
    "KindSpec",
    "Mode",
    "Profile",
    "Violation",
    "default_profile",
    "format_path",
    "load_profile",
    "suggest",
    "validate_body",
    "validate_key",
]

KEY_MAX_LENGTH = 512
FIELD_TYPES = frozenset(
    {"string", "integer", "number", "boolean", "enum", "datetime", "object", "array", "reference"}
)

Mode = Literal["create", "patch", "manifest"]
PathPart = str | int


@dataclass(frozen=True)
class FieldSpec:
    """One field of a kind (or of a nested object / array item)."""

    name: str
    type: str
    nullable: bool = False
    required: bool = False
    default: Any = None
    has_default: bool = False
    values: tuple[str, ...] = ()
    max_length: int | None = None
    format: str | None = None
    ref_kind: str | None = None
    kind: str | None = None
    fields: Mapping[str, FieldSpec] = field(default_factory=dict)
    items: FieldSpec | None = None
    sensitive: bool = False
    sum: str | None = None
    # In the create schema but not the patch schema: sent on create, never in a patch.
    create_only: bool = False


@dataclass(frozen=True)
class KindSpec:
    """One resource kind: where it lives in the API and what its fields are."""

    name: str
    path: str
    fields: Mapping[str, FieldSpec]
    read_only: frozenset[str]
    computed: Mapping[str, FieldSpec]
    friendly_id_prefix: str = ""
    lookup_filter: bool = True
    page_size: int = 250
    delete: Mapping[str, Any] = field(default_factory=lambda: {"method": "delete"})
    # Without a filter endpoint: GET {path}/{key}?by=key (True) or GET {path}?key=K (False).
    lookup_by_key: bool = False
    # The list answer's page-info member: "pageInfo" or "pagination".
    page_envelope: str = "pageInfo"
    # The status the API answers invalid bodies with (400 or 422).
    validation_status: int = 400
    # A oneOf kind told apart by this field (e.g. Carrier by ``type``): every PATCH carries it.
    discriminator: str | None = None
    # Discriminator value -> the fields that variant accepts (empty: no variant checks).
    variants: Mapping[str, frozenset[str]] = field(default_factory=dict)
    # Read-only fields with one possible value, which every answer carries (``object: CUSTOMER``).
    constants: Mapping[str, Any] = field(default_factory=dict)
    # Id fields the API's answer does not repeat: field -> the answer's object whose ``id`` holds
    # it (MVMNT's CustomerContact takes ``customerId`` and answers ``customer: {id, ...}``).
    id_from: Mapping[str, str] = field(default_factory=dict)

    @functools.cached_property
    def ref_fields(self) -> tuple[str, ...]:
        """Top-level fields that may hold a reference somewhere inside (so that
        reference scans can skip all the others)."""

        def holds_ref(f: FieldSpec) -> bool:
            if f.type == "reference" or f.ref_kind:
                return True
            if f.items is not None and holds_ref(f.items):
                return True
            return any(holds_ref(sub) for sub in f.fields.values())

        return tuple(name for name, f in self.fields.items() if holds_ref(f))

    def sensitive_paths(self) -> frozenset[str]:
        """Dotted paths of fields marked ``sensitive`` (nested objects included)."""
        out: set[str] = set()

        def walk(fields: Mapping[str, FieldSpec], prefix: str) -> None:
            for name, spec in fields.items():
                if spec.sensitive:
                    out.add(prefix + name)
                if spec.type == "object":
                    walk(spec.fields, prefix + name + ".")

        walk(self.fields, "")
        return frozenset(out)


@dataclass(frozen=True)
class Profile:
    name: str
    kinds: Mapping[str, KindSpec]
    source: str
    # What a compiled OpenAPI document left out, and why (``declsync profile show`` lists it).
    notes: tuple[str, ...] = ()

    def kind(self, name: str) -> KindSpec:
        try:
            return self.kinds[name]
        except KeyError:
            raise ProfileError(f"unknown kind {name!r}{suggest(name, self.kinds)}") from None

    def kind_by_path(self, path: str) -> KindSpec | None:
        for spec in self.kinds.values():
            if spec.path == path:
                return spec
        return None


def suggest(word: str, choices: Any) -> str:
    """`` (did you mean 'x'?)`` for the closest choice, or an empty string."""
    names = [str(c) for c in choices]
    # Case is the usual slip (``mode: ftl`` for ``FTL``): compared case-insensitively.
    by_fold = {n.casefold(): n for n in names}
    close = difflib.get_close_matches(str(word).casefold(), list(by_fold), n=1, cutoff=0.6)
    close = [by_fold[c] for c in close]
    return f" (did you mean {close[0]!r}?)" if close else ""


def format_path(path: tuple[PathPart, ...]) -> str:
    """``("stops", 1, "notes")`` → ``stops[1].notes``."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            # str(): a YAML mapping key may be anything (null, a number, a date) until validated.
            out += ("." if out else "") + str(part)
    return out


# --------------------------------------------------------------------------- loading


def _parse_field(name: str, raw: Any, where: str) -> FieldSpec:
    if not isinstance(raw, Mapping):
        raise ProfileError(f"{where}: field {name!r} must be a mapping")
    ftype = raw.get("type")
    if ftype not in FIELD_TYPES:
        raise ProfileError(f"{where}: field {name!r} has unknown type {ftype!r}; use one of {sorted(FIELD_TYPES)}")
    sub_where = f"{where}.{name}"
    fields = {k: _parse_field(k, v, sub_where) for k, v in (raw.get("fields") or {}).items()}
    items = _parse_field("[]", raw["items"], sub_where) if raw.get("items") is not None else None
    if ftype == "enum" and not raw.get("values"):
        raise ProfileError(f"{where}: enum field {name!r} needs 'values'")
    if ftype == "array" and items is None:
        raise ProfileError(f"{where}: array field {name!r} needs 'items'")
    if ftype == "reference" and not raw.get("kind"):
        raise ProfileError(f"{where}: reference field {name!r} needs 'kind'")
    return FieldSpec(
        name=name,
        type=ftype,
        nullable=bool(raw.get("nullable", False)),
        required=bool(raw.get("required", False)),
        default=raw.get("default"),
        has_default="default" in raw,
        values=tuple(str(v) for v in raw.get("values") or ()),
        max_length=raw.get("maxLength"),
        format=raw.get("format"),
        ref_kind=raw.get("refKind"),
        kind=raw.get("kind"),
        fields=fields,
        items=items,
        sensitive=bool(raw.get("sensitive", False)),
        sum=raw.get("sum"),
        create_only=bool(raw.get("createOnly", False)),
    )


def parse_profile(data: Any, source: str) -> Profile:
    """Build a ``Profile`` from its parsed YAML/JSON data."""
    if not isinstance(data, Mapping) or not isinstance(data.get("kinds"), Mapping) or not data["kinds"]:
        raise ProfileError(f"{source}: a profile needs a 'kinds' mapping with at least one kind")
    common_ro = frozenset(str(x) for x in data.get("readOnly") or ())
    kinds: dict[str, KindSpec] = {}
    for kname, raw in data["kinds"].items():
        where = f"{source}: kind {kname}"
        if not isinstance(raw, Mapping) or not isinstance(raw.get("path"), str):
            raise ProfileError(f"{where}: needs a 'path' (the collection path, e.g. 'orders')")
        fields = {k: _parse_field(k, v, where) for k, v in (raw.get("fields") or {}).items()}
        if "key" in fields:
            raise ProfileError(f"{where}: 'key' is implicit on every kind; remove it from 'fields'")
        computed = {k: _parse_field(k, v, where) for k, v in (raw.get("computed") or {}).items()}
        lookup = raw.get("lookup") or {}
        page_size = int(lookup.get("pageSize", 250))
        if not 1 <= page_size <= 1000:
            raise ProfileError(f"{where}: lookup.pageSize must be between 1 and 1000")
        kinds[str(kname)] = KindSpec(
            name=str(kname),
            path=raw["path"].strip("/"),
            fields=fields,
            read_only=common_ro | frozenset(computed) | frozenset(raw.get("readOnly") or ()),
            computed=computed,
            friendly_id_prefix=str(raw.get("friendlyIdPrefix", "")),
            lookup_filter=bool(lookup.get("filter", True)),
            page_size=page_size,
            delete=dict(raw.get("delete") or {"method": "delete"}),
            lookup_by_key=bool(lookup.get("byKey", False)),
            page_envelope=str(lookup.get("envelope", "pageInfo")),
            validation_status=_validation_status(raw, where),
            discriminator=_discriminator(raw, fields, where),
            variants=_variants(raw, fields, where),
        )
    for k in kinds.values():
        for f in _all_fields(k.fields):
            if f.ref_kind and f.ref_kind not in kinds:
                raise ProfileError(f"{source}: kind {k.name}: field {f.name!r} refKind {f.ref_kind!r} is not a kind")
    return Profile(name=str(data.get("name", source)), kinds=kinds, source=source)


def _validation_status(raw: Mapping[str, Any], where: str) -> int:
    status = raw.get("validationStatus", 400)
    if status not in (400, 422) or isinstance(status, bool):
        raise ProfileError(f"{where}: validationStatus must be 400 or 422, not {status!r}")
    return int(status)


def _variants(raw: Mapping[str, Any], fields: Mapping[str, FieldSpec], where: str) -> dict[str, frozenset[str]]:
    variants = raw.get("variants") or {}
    if not isinstance(variants, Mapping) or not all(isinstance(v, list) for v in variants.values()):
        raise ProfileError(f"{where}: variants must map each discriminator value to a list of field names")
    for value, names in variants.items():
        for name in names:
            if name not in fields:
                raise ProfileError(f"{where}: variants.{value}: {name!r} is not a field{suggest(str(name), fields)}")
    return {str(v): frozenset(names) for v, names in variants.items()}


def _discriminator(raw: Mapping[str, Any], fields: Mapping[str, FieldSpec], where: str) -> str | None:
    name = raw.get("discriminator")
    if name is not None and name not in fields:
        raise ProfileError(f"{where}: discriminator {name!r} is not a field{suggest(str(name), fields)}")
    return None if name is None else str(name)


def _all_fields(fields: Mapping[str, FieldSpec]) -> list[FieldSpec]:
    out: list[FieldSpec] = []
    for f in fields.values():
        out.append(f)
        out.extend(_all_fields(f.fields))
        if f.items is not None:
            out.append(f.items)
            out.extend(_all_fields(f.items.fields))
    return out


def load_profile(path: str | Path | None = None) -> Profile:
    """Load a profile file, or the bundled MVMNT profile when ``path`` is None."""
    if path is None:
        return default_profile()
    p = Path(path)
    if p.is_dir():
        # A directory of OpenAPI documents (one API split by resource).
        from declsync.profile.openapi import load_openapi_dir

        return load_openapi_dir(p)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as exc:
        raise ProfileError(f"cannot read profile {p}: {exc.strerror}") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ProfileError(f"profile {p} is not valid YAML: {exc}") from None
    if isinstance(data, Mapping) and "openapi" in data and "kinds" not in data:
        # An OpenAPI document: compiled into a profile (imported here: the compiler imports this module).
        from declsync.profile.openapi import load_openapi

        return load_openapi(p, text, data)
    return parse_profile(data, str(p))


BUNDLED_PROFILE = Path(__file__).parent.parent / "profiles" / "mvmnt"


@cache
def default_profile() -> Profile:
    """The bundled MVMNT profile: the published contract (customers, locations, carriers) and
    declsync's own fragment for the guides' Order and Shipment, compiled like any OpenAPI directory."""
    from declsync.profile.openapi import load_openapi_dir

    return load_openapi_dir(BUNDLED_PROFILE)


# --------------------------------------------------------------------------- validation


@dataclass(frozen=True)
class Violation:
    """A validation failure at a field path (``()`` for the whole body)."""

    path: tuple[PathPart, ...]
    message: str

    @property
    def field(self) -> str:
        return format_path(self.path)


def validate_key(value: Any) -> str | None:
    """Why ``value`` is not a valid client key, or None."""
    if not isinstance(value, str):
        return f"key must be a string, got {type_name(value)}"
    if not value:
        return "key must not be empty"
    if len(value) > KEY_MAX_LENGTH:
        return f"key is {len(value)} characters long; at most {KEY_MAX_LENGTH} are allowed"
    return None


def validate_body(kind: KindSpec, body: Mapping[str, Any], mode: Mode) -> list[Violation]:
    """Check a create/patch body (server side) or a manifest ``spec`` against ``kind``.

    ``create`` also checks required fields; ``patch`` does not; ``manifest`` is like
    patch but refuses ``key`` (it lives at the top level of a manifest) and accepts
    ``{$ref: Kind/KEY}`` on fields that hold another resource's id.
    """
    out: list[Violation] = []
    for name, value in body.items():
        if name == "key" and mode != "manifest":
            if value is not None or mode == "create":
                problem = validate_key(value) if value is not None else None
                if problem:
                    out.append(Violation(("key",), problem))
            continue
        if name == "key":
            out.append(Violation(("key",), "'key' belongs at the top level of the manifest, not in 'spec'"))
            continue
        if name in kind.read_only:
            out.append(Violation((name,), "This field is read-only"))
            continue
        spec = kind.fields.get(name)
        if spec is None:
            out.append(Violation((name,), f"unknown field {name!r} for {kind.name}{suggest(name, kind.fields)}"))
            continue
        if spec.create_only and mode == "patch":
            out.append(Violation((name,), "can only be set when the resource is created"))
            continue
        _check_value(spec, value, (name,), mode, out)
    if mode == "create":
        for name, spec in kind.fields.items():
            if spec.required and body.get(name) is None:
                out.append(Violation((name,), "This field is required"))
    if kind.discriminator is not None:
        out.extend(_variant_violations(kind, kind.discriminator, body, mode))
    return out


def _variant_violations(kind: KindSpec, disc: str, body: Mapping[str, Any], mode: Mode) -> list[Violation]:
    """A discriminated kind: a PATCH names its variant, and every field belongs to it."""
    value = body.get(disc)
    if value is None:
        if mode == "patch":
            return [Violation((disc,), f"a {kind.name} patch must carry {disc!r} (it tells the variants apart)")]
        return []
    allowed = kind.variants.get(value) if isinstance(value, str) else None
    if allowed is None:
        return []
    out = []
    for name in body:
        if name in kind.fields and name != disc and name not in allowed:
            others = [v for v, names in kind.variants.items() if name in names]
            where = f"; it belongs to {disc} {', '.join(others)}" if others else ""
            out.append(Violation((name,), f"not a field of {kind.name} with {disc} {value}{where}"))
    return out


def is_ref_marker(value: Any) -> bool:
    """A manifest's ``{$ref: Kind/KEY}`` placeholder for another resource's id."""
    return type(value) is dict and len(value) == 1 and "$ref" in value


def _check_value(spec: FieldSpec, value: Any, path: tuple[PathPart, ...], mode: Mode, out: list[Violation]) -> None:
    def bad(msg: str) -> None:
        out.append(Violation(path, msg))

    if value is None:
        if not spec.nullable:
            bad("must not be null (the field is not nullable); remove it or give a value")
        return
    t = spec.type
    if t == "string":
        if mode == "manifest" and spec.ref_kind and is_ref_marker(value):
            ref = value["$ref"]
            if not isinstance(ref, str) or "/" not in ref:
                bad(f"$ref must be 'Kind/KEY', e.g. '{spec.ref_kind}/MY-KEY'")
            elif ref.split("/", 1)[0] != spec.ref_kind:
                bad(f"$ref must point at a {spec.ref_kind}, not {ref.split('/', 1)[0]!r}")
            return
        if not isinstance(value, str):
            hint = f", or {{$ref: {spec.ref_kind}/KEY}}" if spec.ref_kind and mode == "manifest" else ""
            bad(f"expected a string{hint}, got {type_name(value)}")
            return
        if spec.max_length is not None and len(value) > spec.max_length:
            bad(f"is {len(value)} characters long; at most {spec.max_length} are allowed")
        problem = format_problem(spec.format, value)
        if problem:
            hint = f" (or {{$ref: {spec.ref_kind}/KEY}})" if spec.ref_kind and mode == "manifest" else ""
            bad(f"{problem}{hint}, got {value!r}")
    elif t == "integer":
        if isinstance(value, bool) or not isinstance(value, int):
            bad(f"expected an integer, got {type_name(value)}")
    elif t == "number":
        if isinstance(value, bool) or not isinstance(value, int | float):
            bad(f"expected a number, got {type_name(value)}")
        elif value != value or value in (float("inf"), float("-inf")):
            bad("expected a finite number")
    elif t == "boolean":
        if not isinstance(value, bool):
            bad(f"expected true or false, got {type_name(value)}")
    elif t == "enum":
        if not isinstance(value, str) or value not in spec.values:
            shown = value if isinstance(value, str) else type_name(value)
            bad(f"Must be one of: {', '.join(spec.values)}; got {shown!r}{suggest(str(value), spec.values)}")
    elif t == "datetime":
        problem = datetime_problem(value)
        if problem:
            bad(problem)
    elif t == "reference":
        if not isinstance(value, Mapping):
            bad(f"expected a reference {{key: …}} or {{id: …}} to a {spec.kind}, got {type_name(value)}")
            return
        keys = set(value)
        if keys not in ({"id"}, {"key"}):
            bad(f"a reference to a {spec.kind} takes exactly one of 'id' or 'key', e.g. {{key: MY-KEY}}")
            return
        (k,) = keys
        if not isinstance(value[k], str) or not value[k]:
            bad(f"reference {k} must be a non-empty string")
    elif t == "object":
        if not isinstance(value, Mapping):
            bad(f"expected a mapping, got {type_name(value)}")
            return
        for name, sub in value.items():
            sspec = spec.fields.get(name)
            if sspec is None:
                out.append(Violation((*path, name), f"unknown field {name!r}{suggest(name, spec.fields)}"))
                continue
            _check_value(sspec, sub, (*path, name), mode, out)
        if mode == "create" or (path and isinstance(path[-1], int)):
            # Array items are created whole, so their required fields apply in every mode.
            for name, sspec in spec.fields.items():
                if sspec.required and value.get(name) is None:
                    out.append(Violation((*path, name), "This field is required"))
    elif t == "array":
        if not isinstance(value, list):
            bad(f"expected a list, got {type_name(value)}")
            return
        assert spec.items is not None
        for i, item in enumerate(value):
            _check_value(spec.items, item, (*path, i), mode, out)
