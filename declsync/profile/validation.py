"""Validating request bodies and manifest specs against a kind.

The same validator serves the client (manifest validation, before anything is sent)
and the sandbox server (400/422 ``validation_error`` details), so both sides agree on
what is valid. Per-value checks belong to the field types (``profile/types.py``);
this module adds what only a whole body has: keys, read-only and unknown fields,
required fields and discriminated variants.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from declsync.profile.formats import type_name
from declsync.profile.spec import KEY_MAX_LENGTH, KindSpec, Mode, Violation, suggest
from declsync.profile.types import check_value

__all__ = ["validate_body", "validate_key"]


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
        check_value(spec, value, (name,), mode, out)
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
