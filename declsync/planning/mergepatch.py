"""Merge-patch semantics of the API (RFC 7396 as MVMNT applies it).

A field set to ``null`` is cleared to ``null`` (the API keeps the field, unlike
RFC 7396 which removes it); nested ``object`` fields merge member by member;
everything else, arrays and references included, is replaced whole.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

from declsync.profile.model import FieldSpec
from declsync.profile.types import field_type

__all__ = ["apply_merge_patch", "strip_nulls"]


def apply_merge_patch(
    target: Mapping[str, Any] | None, patch: Mapping[str, Any], fields: Mapping[str, FieldSpec] | None
) -> dict[str, Any]:
    """The resource ``target`` becomes after the API applies ``patch`` (a new dict).

    ``fields`` says which members are objects (merged); ``None`` means "no profile":
    every mapping merges, as in plain RFC 7396.
    """
    out = dict(target or {})
    for name, value in patch.items():
        spec = fields.get(name) if fields is not None else None
        mergeable = field_type(spec).merges if spec is not None else fields is None
        current = out.get(name)
        if mergeable and isinstance(value, Mapping) and isinstance(current, Mapping):
            out[name] = apply_merge_patch(current, value, spec.fields if spec is not None else None)
        else:
            out[name] = copy.deepcopy(value)
    return out


def strip_nulls(value: Any) -> Any:
    """``value`` without null members in any mapping (create bodies never carry null). Without
    any null inside, ``value`` itself (plans treat values as immutable: one copy, not three)."""
    if not _has_null(value):
        return value
    if isinstance(value, Mapping):
        return {k: strip_nulls(v) for k, v in value.items() if v is not None}
    return [strip_nulls(v) for v in value]


def _has_null(value: Any) -> bool:
    if isinstance(value, Mapping):
        return any(v is None or _has_null(v) for v in value.values())
    if isinstance(value, list):
        return any(_has_null(v) for v in value)
    return False
