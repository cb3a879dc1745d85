"""One resource's change: desired spec vs live resource vs last-applied spec → ``Change``.

The per-resource half of the planner (``planner.py`` orchestrates: references, renames,
prune, the whole plan). The rules are the planner's, stated in its docstring. No I/O.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import jsonpatch
from deepdiff import DeepDiff

from declsync.manifests.loader import Resource
from declsync.normalize import values_equal
from declsync.plan import Action, Change, FieldChange, Reason
from declsync.planning.mergepatch import apply_merge_patch, strip_nulls
from declsync.planning.replace import can_replace
from declsync.profile.model import FieldSpec, KindSpec, format_path
from declsync.profile.types import field_type, project

__all__ = ["create_ops", "plan_resource"]

PathT = tuple[str | int, ...]


@dataclass
class _Diff:
    patch: dict[str, Any] = field(default_factory=dict)
    changes: list[FieldChange] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


_DEEPDIFF_KEY = re.compile(r"\['([^']*)'\]")


def _dotted(path: str, where: str) -> str:
    """deepdiff's ``root[1]['notes']`` under ``stops`` → ``stops[1].notes``."""
    return path + _DEEPDIFF_KEY.sub(r".\1", where.removeprefix("root"))


def _array_details(path: str, before: Any, after: Any) -> tuple[str, ...]:
    """Item-level differences of a replaced array, worded for a reviewer."""
    if not isinstance(before, list) or not isinstance(after, list):
        return ()
    diff = DeepDiff(before, after, ignore_numeric_type_changes=True, verbose_level=2)
    lines: list[str] = []
    for where, change in diff.get("values_changed", {}).items():
        lines.append(f"{_dotted(path, where)}: {change['old_value']!r} → {change['new_value']!r}")
    for where, change in diff.get("type_changes", {}).items():
        lines.append(f"{_dotted(path, where)}: {change['old_value']!r} → {change['new_value']!r}")
    for where, value in diff.get("dictionary_item_added", {}).items():
        lines.append(f"{_dotted(path, where)}: (unset) → {value!r}")
    for where, value in diff.get("dictionary_item_removed", {}).items():
        lines.append(f"{_dotted(path, where)}: {value!r} → (unset)")
    for where, value in diff.get("iterable_item_added", {}).items():
        lines.append(f"{_dotted(path, where)}: added {value!r}")
    for where, value in diff.get("iterable_item_removed", {}).items():
        lines.append(f"{_dotted(path, where)}: removed {value!r}")
    return tuple(sorted(lines))


def _diff(
    desired: Mapping[str, Any],
    live: Mapping[str, Any],
    applied: Mapping[str, Any],
    fields: Mapping[str, FieldSpec],
    prefix: PathT,
    out: _Diff,
    patch: dict[str, Any],
) -> None:
    for name, d in desired.items():
        spec = fields.get(name)
        lv = live.get(name)
        path = (*prefix, name)
        a_has = name in applied
        av = applied.get(name)
        if spec is not None and field_type(spec).merges and type(d) is dict and type(lv) is dict:
            sub: dict[str, Any] = {}
            _diff(d, lv, av if isinstance(av, Mapping) else {}, spec.fields, path, out, sub)
            if sub:
                patch[name] = _with_required(spec, sub, d, lv)
            continue
        # A {$ref} marker never equals a live value, so "known after apply" fields are always sent.
        if not values_equal(d, lv, spec):
            patch[name] = d
            drift = a_has and not values_equal(av, lv, spec)
            shown = project(spec, lv, d)
            is_array = spec is not None and field_type(spec).whole
            out.changes.append(
                FieldChange(
                    path=format_path(path),
                    before=shown,
                    after=d,
                    reason=Reason.REPLACED if is_array else Reason.SET,
                    drift=drift,
                    details=_array_details(format_path(path), shown, d) if is_array else (),
                )
            )
    for name in applied:
        if name in desired:
            continue
        lv = live.get(name)
        spec = fields.get(name)
        if lv is None or spec is None:
            continue  # already clear, or a field the profile no longer knows
        shown_path = format_path((*prefix, name))
        if spec.nullable:
            patch[name] = None
            # Live differs from what declsync last applied: clearing it erases someone else's value.
            drift = not values_equal(applied[name], lv, spec)
            out.changes.append(FieldChange(path=shown_path, before=lv, after=None, reason=Reason.REMOVED, drift=drift,
                                           last_applied=applied[name] if drift else None))
        else:
            out.warnings.append(
                f"{shown_path} was removed from the manifest but cannot be cleared (the field is not nullable); "
                "it keeps its live value"
            )


def _with_required(spec: FieldSpec, sub: dict[str, Any], desired: Mapping[str, Any],
                   live: Mapping[str, Any]) -> dict[str, Any]:
    """A nested patch that carries the object's required fields, unchanged ones included: the
    contract's patch schemas reuse the create shape (MVMNT's ``AddressInput`` requires ``line1,
    city, country, market`` in a PATCH too), so ``{market: CHI}`` alone would be refused."""
    missing = [n for n, f in spec.fields.items() if f.required and n not in sub]
    extra = {n: desired[n] if n in desired else live.get(n) for n in missing}
    return {**{n: v for n, v in extra.items() if v is not None}, **sub} if extra else sub


def _without(value: Mapping[str, Any], paths: Sequence[tuple[str, ...]]) -> dict[str, Any]:
    """``value`` without the (dotted, split) ``paths``; nested objects are copied, never changed."""
    out = dict(value)
    for path in paths:
        node = out
        for part in path[:-1]:
            sub = node.get(part)
            if not isinstance(sub, Mapping):
                break
            copied = dict(sub)
            node[part] = copied
            node = copied
        else:
            node.pop(path[-1], None)
    return out


def create_ops(body: Mapping[str, Any]) -> tuple[dict[str, Any], ...]:
    """The RFC 6902 operations from nothing to ``body``: what ``jsonpatch.make_patch({}, body)``
    gives, without its deep copy of every value (a create holds its body once)."""
    return tuple({"op": "add", "path": "/" + k.replace("~", "~0").replace("/", "~1"), "value": v}
                 for k, v in body.items())


def _leaf_changes(value: Mapping[str, Any], fields: Mapping[str, FieldSpec], prefix: PathT) -> list[FieldChange]:
    """Display lines for a create: every declared leaf as ``path: (unset) → value``."""
    out: list[FieldChange] = []
    for name, v in value.items():
        spec = fields.get(name)
        path = (*prefix, name)
        if spec is not None and field_type(spec).merges and isinstance(v, Mapping) and v:
            out.extend(_leaf_changes(v, spec.fields, path))
        elif spec is not None and field_type(spec).whole and isinstance(v, list) and v:
            out.extend(FieldChange(path=format_path((*path, i)), before=None, after=item) for i, item in enumerate(v))
        else:
            out.append(FieldChange(path=format_path(path), before=None, after=v))
    return out


def _hold_create_only(kind: KindSpec, out: _Diff, address: str) -> None:
    """Create-only fields the API will not patch: warned about (with the way out), never sent."""
    how = (f"plan with --replace {address} to delete and recreate the resource" if can_replace(kind)
           else f"the profile does not let declsync delete a {kind.name}, so it cannot be recreated")
    for name in [n for n in out.patch if (f := kind.fields.get(n)) is not None and f.create_only]:
        del out.patch[name]
        out.changes = [c for c in out.changes if c.path != name and not c.path.startswith((f"{name}.", f"{name}["))]
        out.warnings.append(
            f"{name} differs from the live value but can only be set when the resource is created; "
            f"the change is not sent ({how})"
        )


def _with_discriminator(
    kind: KindSpec, patch: dict[str, Any], desired: Mapping[str, Any], live: Mapping[str, Any]
) -> dict[str, Any]:
    """A patch to a discriminated kind names its variant even when the variant did not
    change: the API tells the patch schemas apart by it (a patch without it matches all)."""
    disc = kind.discriminator
    if disc is None or disc in patch:
        return patch
    value = desired.get(disc, live.get(disc))
    return patch if value is None else {disc: value, **patch}


def _shared(desired: Any, live: Any) -> Any:
    """``desired`` when it is exactly the JSON value ``live`` is, else ``live``. ``==`` alone would
    take ``1``, ``1.0`` and ``True`` for one another; inside containers ``repr`` tells them apart
    (and a different member order only means the two are not shared)."""
    if desired is None or type(desired) is not type(live) or desired != live:
        return live
    if type(desired) is dict or type(desired) is list:
        return desired if repr(desired) == repr(live) else live
    return desired


def plan_resource(
    res: Resource,
    kind: KindSpec,
    desired: dict[str, Any],
    live: Mapping[str, Any] | None,
    applied: Mapping[str, Any] | None,
    depends_on: tuple[str, ...] = (),
    state_id: str | None = None,
    previous_key: str | None = None,
) -> Change:
    """The change for one resource. ``desired`` is the spec with known references
    resolved; ``applied`` the last-applied spec (None when declsync never applied it).
    ``previous_key``: ``live`` was found under that old key, so the resource is renamed.
    The manifest's ``lifecycle.ignoreFields`` are sent on create, never compared after."""
    if live is None:
        body = {"key": res.key, **strip_nulls(desired)}
        warnings: tuple[str, ...] = ()
        if state_id is not None:
            warnings = (
                f"was applied before (id {state_id}) but no longer exists under key {res.key!r}; it will be created again",
            )
        return Change(
            action=Action.CREATE,
            kind=res.kind,
            key=res.key,
            source=res.source,
            patch=body,
            after=dict(body),
            spec=desired,
            warnings=warnings,
            field_changes=(FieldChange(path="key", before=None, after=res.key),
                           *_leaf_changes(strip_nulls(desired), kind.fields, ())),
            json_patch=create_ops(body),
            depends_on=depends_on,
            prevent_destroy=res.prevent_destroy,
        )
    compare, known = desired, applied or {}
    if res.ignore_fields:
        ignored = [tuple(p.split(".")) for p in res.ignore_fields]
        compare, known = _without(desired, ignored), _without(known, ignored)
    out = _Diff()
    _diff(compare, live, known, kind.fields, (), out, out.patch)
    _hold_create_only(kind, out, res.address)
    managed = dict.fromkeys([*compare, *known])
    # Where the live value is exactly the declared one, the plan holds the manifest's object:
    # the same JSON, kept once (most fields of most resources of a large plan are unchanged).
    before = {k: _shared(desired.get(k), live.get(k)) for k in managed if k in kind.fields}
    if previous_key is not None:
        before = {"key": previous_key, **before}
    live_id = live.get("id")
    updated = live.get("updatedAt")
    noop = Change(
        action=Action.NOOP,
        kind=res.kind,
        key=res.key,
        source=res.source,
        id=live_id if isinstance(live_id, str) else None,
        before=before,
        after=before,
        spec=desired,
        warnings=tuple(out.warnings),
        observed_updated_at=updated if isinstance(updated, str) else None,
        depends_on=depends_on,
        prevent_destroy=res.prevent_destroy,
    )
    patch, field_changes = out.patch, out.changes
    if previous_key is not None:
        patch = {"key": res.key, **patch}
        field_changes = [FieldChange(path="key", before=previous_key, after=res.key), *field_changes]
    if not patch:
        return noop
    after = apply_merge_patch(before, patch, kind.fields)
    return dataclasses.replace(
        noop,
        action=Action.UPDATE,
        patch=_with_discriminator(kind, patch, desired, live),
        after=after,
        field_changes=tuple(field_changes),
        json_patch=tuple(jsonpatch.make_patch(before, after).patch),
        previous_key=previous_key,
    )
