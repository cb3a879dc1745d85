"""Resource profiles: what declsync (and its sandbox) know about each resource kind.

A profile is data (``profiles/mvmnt/``, OpenAPI documents, is bundled; ``--profile FILE`` loads
another). This module parses it into the frozen ``KindSpec`` / ``FieldSpec`` objects of
``profile/spec.py``; each field's type is one of ``profile/types.py``'s registry, and
``profile/validation.py`` checks bodies against a kind. The names of all three are
re-exported here, the profile's one import for the stages that use it.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from declsync.errors import ProfileError
from declsync.profile.spec import (
    KEY_MAX_LENGTH,
    FieldSpec,
    KindSpec,
    Mode,
    PathPart,
    Profile,
    Violation,
    format_path,
    is_ref_marker,
    suggest,
)
from declsync.profile.types import REGISTRY
from declsync.profile.validation import validate_body, validate_key

if TYPE_CHECKING:
    from declsync.profile.compiled import ProfileCache

__all__ = [
    "FIELD_TYPES",
    "KEY_MAX_LENGTH",
    "FieldSpec",
    "KindSpec",
    "Mode",
    "PathPart",
    "Profile",
    "Violation",
    "default_profile",
    "format_path",
    "is_ref_marker",
    "load_profile",
    "parse_profile",
    "suggest",
    "validate_body",
    "validate_key",
]

FIELD_TYPES = frozenset(REGISTRY)


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
    needs = REGISTRY[ftype].needs
    if needs is not None and not raw.get(needs):
        raise ProfileError(f"{where}: {ftype} field {name!r} needs {needs!r}")
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


def load_profile(path: str | Path | None = None, cache: ProfileCache | None = None) -> Profile:
    """Load a profile file, OpenAPI document or directory of them, or the bundled MVMNT profile
    when ``path`` is None; through ``cache`` (compiled once per content) when given."""
    if path is None:
        return default_profile()
    p = Path(path)
    if cache is not None:
        from declsync.profile.compiled import cached

        return cached(p, cache, lambda: _load_profile(p))
    return _load_profile(p)


def _load_profile(p: Path) -> Profile:
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


@cache
def default_profile() -> Profile:
    """The bundled MVMNT profile: the published contract (customers, locations, carriers) and
    declsync's own fragment for the guides' Order and Shipment, compiled like any OpenAPI directory
    (precompiled into the package: ``profile/compiled.py``)."""
    from declsync.profile.compiled import bundled_profile

    return bundled_profile()
