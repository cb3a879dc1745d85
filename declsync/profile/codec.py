"""A compiled ``Profile`` as plain JSON data, and back: what the compiled-profile cache and the
precompiled bundled profile (``profile/compiled.py``) store.

JSON, never pickle: a cache entry is a file someone else could have written, so decoding
builds only ``Profile`` / ``KindSpec`` / ``FieldSpec`` objects, and checks the type of every
value on the way (``ValueError`` or ``TypeError`` otherwise). ``encode`` refuses (``ValueError``)
a profile holding a value JSON cannot carry exactly (a date default, a tuple, an integer
mapping key, NaN): such a profile is simply compiled every time. ``decode(encode(p)) == p``,
order of kinds and fields included (``tests/openapi/test_compiled_profile.py``).

Attributes equal to their dataclass default are left out, so an entry holds what the
compiler decided and little else.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Mapping
from typing import Any

from declsync.profile.spec import FieldSpec, KindSpec, Profile

__all__ = ["decode", "encode"]

Json = Any
Check = Callable[[Json], Any]


# --------------------------------------------------------------------------- exact JSON values


def _exact(value: Any) -> Any:
    """``value`` itself when JSON carries it exactly (type for type), else ValueError."""
    kind = type(value)
    if value is None or kind in (str, bool, int):
        return value
    if kind is float:
        if not math.isfinite(value):
            raise ValueError(f"{value!r} has no JSON form")
        return value
    if kind is list:
        return [_exact(v) for v in value]
    if kind is dict:
        if not all(type(k) is str for k in value):
            raise ValueError("a mapping key that is not a string")
        return {k: _exact(v) for k, v in value.items()}
    raise ValueError(f"a {kind.__name__} value has no exact JSON form")


# --------------------------------------------------------------------------- decoding checks


def _is(*types: type) -> Check:
    def check(value: Json) -> Any:
        if type(value) not in types:
            raise ValueError(f"expected {' or '.join(t.__name__ for t in types)}, not {type(value).__name__}")
        return value
    return check


def _optional(inner: Check) -> Check:
    return lambda value: None if value is None else inner(value)


def _strs(value: Json) -> list[str]:
    if type(value) is not list or not all(type(v) is str for v in value):
        raise ValueError("expected a list of strings")
    return value


def _mapping(inner: Check) -> Check:
    def check(value: Json) -> dict[str, Any]:
        if type(value) is not dict:
            raise ValueError("expected an object")
        return {str(k): inner(v) for k, v in value.items()}
    return check


_str = _is(str)
_bool = _is(bool)
_int = _is(int)


# --------------------------------------------------------------------------- the table

# Per class, per attribute: (encode, decode-and-check). Dataclass attributes not listed here
# make encoding fail (a new attribute must be added here, or the cache would drop it).
_FIELD_CODEC: dict[str, tuple[Callable[[Any], Json], Check]] = {}
_KIND_CODEC: dict[str, tuple[Callable[[Any], Json], Check]] = {}
_PROFILE_CODEC: dict[str, tuple[Callable[[Any], Json], Check]] = {}


def _same(value: Any) -> Json:
    return value


def _encode_field(spec: FieldSpec) -> Json:
    return _encode_object(spec, _FIELD_CODEC)


def _decode_field(raw: Json) -> FieldSpec:
    return FieldSpec(**_decode_object(raw, _FIELD_CODEC))


def _encode_fields(fields: Mapping[str, FieldSpec]) -> Json:
    return {name: _encode_field(spec) for name, spec in fields.items()}


_decode_fields = _mapping(_decode_field)

_FIELD_CODEC.update({
    "name": (_same, _str),
    "type": (_same, _str),
    "nullable": (_same, _bool),
    "required": (_same, _bool),
    "default": (_exact, _exact),
    "has_default": (_same, _bool),
    "values": (list, lambda v: tuple(_strs(v))),
    "max_length": (_same, _optional(_int)),
    "format": (_same, _optional(_str)),
    "ref_kind": (_same, _optional(_str)),
    "kind": (_same, _optional(_str)),
    "fields": (_encode_fields, _decode_fields),
    "items": (lambda v: None if v is None else _encode_field(v), _optional(_decode_field)),
    "sensitive": (_same, _bool),
    "sum": (_same, _optional(_str)),
    "create_only": (_same, _bool),
    "create_nullable": (_same, _optional(_bool)),
    "patch_required": (_same, _bool),
    "read_nullable": (_same, _optional(_bool)),
})

_KIND_CODEC.update({
    "name": (_same, _str),
    "path": (_same, _str),
    "fields": (_encode_fields, _decode_fields),
    # Sorted: a frozenset's order changes from one process to the next.
    "read_only": (sorted, lambda v: frozenset(_strs(v))),
    "computed": (_encode_fields, _decode_fields),
    "friendly_id_prefix": (_same, _str),
    "lookup_filter": (_same, _bool),
    "page_size": (_same, _int),
    "delete": (lambda v: _exact(dict(v)), _mapping(_exact)),
    "lookup_by_key": (_same, _bool),
    "page_envelope": (_same, _str),
    "validation_status": (_same, _int),
    "discriminator": (_same, _optional(_str)),
    "variants": (lambda v: {k: sorted(names) for k, names in v.items()},
                 _mapping(lambda names: frozenset(_strs(names)))),
    "constants": (lambda v: _exact(dict(v)), _mapping(_exact)),
    "id_from": (lambda v: _exact(dict(v)), _mapping(_str)),
})

_PROFILE_CODEC.update({
    "name": (_same, _str),
    "kinds": (lambda v: {name: _encode_object(k, _KIND_CODEC) for name, k in v.items()},
              _mapping(lambda raw: KindSpec(**_decode_object(raw, _KIND_CODEC)))),
    "source": (_same, _str),
    "notes": (list, lambda v: tuple(_strs(v))),
})


def _defaults(cls: type) -> dict[str, Any]:
    out = {}
    for f in dataclasses.fields(cls):
        if f.default is not dataclasses.MISSING:
            out[f.name] = f.default
        elif f.default_factory is not dataclasses.MISSING:
            out[f.name] = f.default_factory()
    return out


_DEFAULTS = {cls: _defaults(cls) for cls in (FieldSpec, KindSpec, Profile)}
_MISSING = object()


def _encode_object(obj: Any, table: Mapping[str, tuple[Callable[[Any], Json], Check]]) -> Json:
    defaults = _DEFAULTS[type(obj)]
    out = {}
    for f in dataclasses.fields(obj):
        if f.name not in table:
            raise ValueError(f"{type(obj).__name__}.{f.name} has no JSON form here (profile/codec.py)")
        value = getattr(obj, f.name)
        default = defaults.get(f.name, _MISSING)
        # type() as well as ==: True == 1, and a default of 1 must not hide a True.
        if default is not _MISSING and type(value) is type(default) and value == default:
            continue
        out[f.name] = table[f.name][0](value)
    return out


def _decode_object(raw: Json, table: Mapping[str, tuple[Callable[[Any], Json], Check]]) -> dict[str, Any]:
    if type(raw) is not dict:
        raise ValueError("expected an object")
    unknown = set(raw) - set(table)
    if unknown:
        raise ValueError(f"unknown attribute {sorted(unknown)[0]!r}")
    return {name: table[name][1](value) for name, value in raw.items()}


# --------------------------------------------------------------------------- the faces


def encode(profile: Profile) -> Json:
    """``profile`` as JSON data (ValueError: it holds a value JSON cannot carry exactly)."""
    return _encode_object(profile, _PROFILE_CODEC)


def decode(raw: Json) -> Profile:
    """The profile ``encode`` gave ``raw`` for; every value type-checked (ValueError, TypeError
    for anything else: a missing required attribute is a TypeError from the constructor)."""
    return Profile(**_decode_object(raw, _PROFILE_CODEC))
