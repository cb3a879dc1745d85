"""``declsync profile show [KIND]``: what a profile lets a manifest declare, as text.

Without a kind: one line per kind (path, lookup, field count). With a kind: each field
with its type and what constrains it, nested objects and array items indented, then
the read-only fields. Attribute words are fixed per attribute (a table, not a chain of
ifs), so adding one touches one place.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping

from declsync.profile.model import FieldSpec, KindSpec, Profile
from declsync.profile.types import field_type

__all__ = ["show_kind", "show_profile"]

def _a(word: str | None) -> str:
    return f"{'an' if str(word)[:1] in 'AEIOU' else 'a'} {word}"


# Each attribute of a field: the words shown when it applies.
_ATTRIBUTES: tuple[Callable[[FieldSpec], str | None], ...] = (
    lambda f: "required" if f.required else None,
    lambda f: "nullable" if f.nullable else None,
    lambda f: "create-only" if f.create_only else None,
    lambda f: f"format {f.format}" if f.format else None,
    lambda f: f"the id of {_a(f.ref_kind)}: {{$ref: {f.ref_kind}/KEY}}" if f.ref_kind else None,
    lambda f: f"to {_a(f.kind)}: {{key: …}} or {{id: …}}" if field_type(f).is_reference else None,
    lambda f: f"at most {f.max_length} characters" if f.max_length is not None else None,
    lambda f: f"default {json.dumps(f.default)}" if f.has_default else None,
    lambda f: "sensitive" if f.sensitive else None,
    lambda f: f"one of: {', '.join(f.values)}" if f.values else None,
)


def _lookup(kind: KindSpec) -> str:
    if kind.lookup_filter:
        return f"POST /{kind.path}/filter (pages of {kind.page_size}, {kind.page_envelope})"
    if kind.lookup_by_key:
        return f"GET /{kind.path}/{{key}}?by=key"
    return f"GET /{kind.path}?key={{key}}"


def show_profile(profile: Profile) -> str:
    lines = [f"Profile {profile.name} ({profile.source}): {len(profile.kinds)} kinds", ""]
    width = max(len(k) for k in profile.kinds)
    for kind in profile.kinds.values():
        extra = f", told apart by {kind.discriminator}" if kind.discriminator else ""
        lines.append(f"  {kind.name:<{width}}  /{kind.path}  {len(kind.fields)} field{'' if len(kind.fields) == 1 else 's'}{extra}; lookup {_lookup(kind)}")
    lines += ["", "Run 'declsync profile show KIND' for a kind's fields."]
    if profile.notes:
        lines += ["", "Left out of the document (not declarable):", *(f"  {n}" for n in profile.notes)]
    return "\n".join(lines) + "\n"


def _field_lines(fields: Mapping[str, FieldSpec], indent: str, out: list[str]) -> None:
    width = max((len(n) for n in fields), default=0)
    for name, f in fields.items():
        shown = field_type(f).display(f)
        words = [w for w in (attr(f) for attr in _ATTRIBUTES) if w]
        if field_type(f).whole and f.items is not None:
            words += [w for w in (attr(f.items) for attr in _ATTRIBUTES[3:]) if w]
        out.append(f"{indent}{name:<{width}}  {shown}" + (f"  ({'; '.join(words)})" if words else ""))
        sub = f.fields or (f.items.fields if f.items is not None else {})
        if sub:
            _field_lines(sub, indent + "    ", out)


def show_kind(kind: KindSpec) -> str:
    lines = [f"{kind.name}  /{kind.path}", f"  lookup: {_lookup(kind)}",
             f"  invalid bodies: {kind.validation_status}; prune: {dict(kind.delete)}"]
    if kind.discriminator:
        lines.append(f"  told apart by {kind.discriminator} (every patch carries it):")
        lines += [f"    {value}: {', '.join(sorted(names))}" for value, names in kind.variants.items()]
    lines += ["", "  key: the client key (a string, required), at the top level of a manifest; spec fields:"]
    _field_lines(kind.fields, "  ", lines)
    if kind.read_only:
        lines += ["", f"  read-only (never in a manifest): {', '.join(sorted(kind.read_only))}"]
    return "\n".join(lines) + "\n"
