"""Sensitive fields: values that plans show as ``(sensitive)``, never in clear.

A field is sensitive when the profile marks it ``sensitive: true`` or a manifest
lists it in its top-level ``sensitive: [path, …]``. Paths are dotted field paths
(``freight.weight``); array items share their array's path (``stops.notes`` covers
``stops[0].notes``), and a path covers everything inside it.

Masking is for display: ``before``, ``after``, ``field_changes`` and ``json_patch``
values. ``patch`` and ``spec`` keep the real values, because apply sends the patch
and records the spec as last-applied; see the README ("Sensitive fields").
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from declsync.plan import Change, FieldChange, Plan
from declsync.profile.model import KindSpec, Profile

if TYPE_CHECKING:
    from declsync.manifests.loader import Resource

__all__ = [
    "MASK",
    "annotate",
    "contains_sensitive",
    "is_sensitive",
    "mask_change",
    "mask_plan",
    "mask_value",
    "sensitive_for",
]

MASK = "(sensitive)"
_INDEX = re.compile(r"\[\d+\]")


def _strip(path: str) -> str:
    """``stops[1].notes`` → ``stops.notes``."""
    return _INDEX.sub("", path)


def is_sensitive(path: str, sensitive: Iterable[str]) -> bool:
    """Whether the value at ``path`` is (inside) a sensitive field."""
    p = _strip(path)
    return any(p == s or p.startswith(s + ".") for s in sensitive)


def contains_sensitive(path: str, sensitive: Iterable[str]) -> bool:
    """Whether the value at ``path`` is sensitive or holds a sensitive field inside."""
    p = _strip(path)
    return any(p == s or p.startswith(s + ".") or not p or s.startswith(p + ".") for s in sensitive)


def _join(path: str, name: str) -> str:
    return f"{path}.{name}" if path else name


def mask_value(value: Any, path: str, sensitive: Sequence[str]) -> Any:
    """``value`` (found at ``path``) with every sensitive value inside replaced by ``MASK``.
    A null stays null: clearing a field reveals nothing about its value."""
    if not sensitive or value is None:
        return value
    if is_sensitive(path, sensitive):
        return MASK
    if not contains_sensitive(path, sensitive):
        return value
    if isinstance(value, Mapping):
        return {k: mask_value(v, _join(path, str(k)), sensitive) for k, v in value.items()}
    if isinstance(value, list):
        return [mask_value(item, path, sensitive) for item in value]
    return value


def _pointer_path(pointer: str) -> str:
    """RFC 6901 ``/stops/1/notes`` → ``stops.notes`` (array indices dropped)."""
    parts = [p.replace("~1", "/").replace("~0", "~") for p in pointer.split("/")[1:]]
    return ".".join(p for p in parts if not (p.isdigit() or p == "-"))


def _mask_field_change(fc: FieldChange, sensitive: Sequence[str]) -> FieldChange:
    if not contains_sensitive(fc.path, sensitive):
        return fc
    return dataclasses.replace(
        fc,
        before=mask_value(fc.before, fc.path, sensitive),
        after=mask_value(fc.after, fc.path, sensitive),
        last_applied=mask_value(fc.last_applied, fc.path, sensitive),
        # Item-level details quote values: drop them rather than parse them.
        details=(),
    )


def mask_change(change: Change) -> Change:
    """A display copy of ``change``: sensitive values masked, ``patch`` and ``spec`` untouched."""
    s = change.sensitive
    if not s:
        return change
    json_patch = tuple(
        {**op, "value": mask_value(op["value"], _pointer_path(str(op.get("path", ""))), s)} if "value" in op else op
        for op in change.json_patch
    )
    return dataclasses.replace(
        change,
        before=mask_value(change.before, "", s),
        after=mask_value(change.after, "", s),
        field_changes=tuple(_mask_field_change(fc, s) for fc in change.field_changes),
        json_patch=json_patch,
    )


def mask_plan(plan: Plan) -> Plan:
    if not any(c.sensitive for c in plan.changes):
        return plan
    return dataclasses.replace(plan, changes=tuple(mask_change(c) for c in plan.changes))


def sensitive_for(kind: KindSpec, declared: Iterable[str] = ()) -> tuple[str, ...]:
    """The sensitive paths of one resource: the profile's plus the manifest's."""
    return tuple(sorted(set(kind.sensitive_paths()) | set(declared)))


def annotate(plan: Plan, resources: Sequence[Resource], profile: Profile) -> Plan:
    """Set ``Change.sensitive`` on every change of ``plan`` (planned from ``resources``)."""
    declared = {r.address: r.sensitive for r in resources if r.sensitive}
    by_kind = {name: sensitive_for(kind) for name, kind in profile.kinds.items()}
    changes: list[Change] = []
    touched = False
    for change in plan.changes:
        paths = by_kind.get(change.kind, ())
        extra = declared.get(change.address)
        if extra:
            paths = tuple(sorted({*paths, *extra}))
        if paths != change.sensitive:
            change = dataclasses.replace(change, sensitive=paths)
            touched = True
        changes.append(change)
    return dataclasses.replace(plan, changes=tuple(changes)) if touched else plan
