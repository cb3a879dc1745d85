"""The planner: a pure function (desired, live, last-applied, profile) → Plan.

Per resource, with D = manifest spec, L = live resource, A = last-applied spec:

* each field f in D: an object on both sides recurses (with A[f]); otherwise, when
  D[f] differs from L[f] after normalisation, the patch sets f to D[f] (arrays whole);
* each field f in A but no longer in D: when L[f] is not null, the patch sets f to
  null if the field is nullable (marked as drift when L[f] differs from A[f]: apply
  then erases a value someone else set), else the plan warns and leaves it;
* fields in neither D nor A are not ours: never compared, never sent.

No I/O happens here: live state and last-applied specs are handed in.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import jsonpatch
from deepdiff import DeepDiff

from declsync.errors import PlanError, Problem
from declsync.manifests.loader import Resource
from declsync.normalize import values_equal
from declsync.plan import Action, Change, FieldChange, Plan, Reason
from declsync.planning.mergepatch import apply_merge_patch, strip_nulls
from declsync.planning.prune import PruneOptions, check_mass_delete, plan_prune
from declsync.planning.refs import find_cycle, find_refs, substitute_refs
from declsync.planning.replace import can_replace, check_replace, replacement
from declsync.planning.sensitive import annotate, mask_plan
from declsync.profile.model import FieldSpec, KindSpec, Profile, format_path
from declsync.profile.types import field_type, project
from declsync.state import StateEntry

__all__ = ["ResourceKey", "lookup_set", "make_plan", "plan_resource"]

ResourceKey = tuple[str, str]
PathT = tuple[str | int, ...]


def lookup_set(resources: Sequence[Resource], profile: Profile) -> dict[str, list[str]]:
    """Keys to fetch from the API, per kind: every declared resource (and the keys it
    had before, ``previousKeys``) and every resource a manifest references."""
    out: dict[str, dict[str, None]] = {}
    for r in resources:
        out.setdefault(r.kind, {})[r.key] = None
        for old in r.previous_keys:
            out[r.kind][old] = None
        for ref in find_refs(r.spec, profile.kinds[r.kind], profile):
            out.setdefault(ref.kind, {})[ref.key] = None
    return {k: list(v) for k, v in out.items()}


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
            json_patch=tuple(jsonpatch.make_patch({}, body).patch),
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
    before = {k: live.get(k) for k in managed if k in kind.fields}
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


def make_plan(
    resources: Sequence[Resource],
    live: Mapping[ResourceKey, Mapping[str, Any]],
    last_applied: Mapping[ResourceKey, Mapping[str, Any]],
    profile: Profile,
    *,
    state_ids: Mapping[ResourceKey, str] | None = None,
    target: str = "",
    state_lineage: str | None = None,
    state_serial: int = 0,
    created_at: str = "",
    notes: Sequence[str] = (),
    state_entries: Sequence[StateEntry] = (),
    prune: PruneOptions | None = None,
    also_declared: Collection[ResourceKey] = (),
    replace: Collection[str] = (),
) -> Plan:
    """Plan every resource; raise ``PlanError`` (all problems at once) when a
    reference cannot be satisfied, references form a cycle, or a resource that must
    be created lacks a required field.

    ``live`` and ``last_applied`` may also hold the previous keys of renamed
    resources. ``state_entries`` (all of the state) are checked for resources no
    manifest declares any more: notes, or with ``prune`` enabled delete changes (see
    ``declsync.planning.prune``); ``also_declared`` are declared resources left out of this plan
    (``--target``), never pruned. ``replace``: addresses (``Kind/KEY``) recreated even when
    live (``declsync.planning.replace``)."""
    problems: list[Problem] = check_replace(replace, resources, profile)
    declared = {(r.kind, r.key) for r in resources}
    graph: dict[str, list[str]] = {}
    changes: list[Change] = []
    state_ids = state_ids or {}
    renamed = _renames(resources, live, problems)
    # Old keys claimed by previousKeys: not to be referred to, nor pruned.
    claimed = {(r.kind, old): r for r in resources for old in r.previous_keys}
    referrers: dict[str, str] = {}

    def live_of(ident: ResourceKey) -> Mapping[str, Any] | None:
        found = live.get(ident)
        if found is None and ident in renamed:
            found = live.get((ident[0], renamed[ident]))
        return found

    def resolve(address: str) -> str | None:
        kind, _, key = address.partition("/")
        target_live = live_of((kind, key))
        ident = target_live.get("id") if target_live is not None else None
        return ident if isinstance(ident, str) else None

    for res in resources:
        kind = profile.kinds[res.kind]
        deps: list[str] = []
        refs = find_refs(res.spec, kind, profile)
        for ref in refs:
            tk = (ref.kind, ref.key)
            referrers.setdefault(ref.address, f"{res.address} ({res.source})")
            if tk in claimed:
                problems.append(
                    Problem(res.file, res.line_of(ref.path),
                            f"{format_path(ref.path)}: refers to {ref.address}, which {claimed[tk].address} renames "
                            f"(previousKeys); refer to {claimed[tk].address} instead")
                )
            elif tk in declared:
                deps.append(ref.address)
            elif live_of(tk) is None:
                problems.append(
                    Problem(res.file, res.line_of(ref.path),
                            f"{format_path(ref.path)}: refers to {ref.address}, which is neither declared in the "
                            "manifests nor found in the API; declare it or fix the key")
                )
        graph[res.address] = deps
        # Only specs with {$ref} markers need a rewritten copy; the rest are used as they are.
        desired = substitute_refs(res.spec, resolve) if any(r.style == "id" for r in refs) else res.spec
        ident = (res.kind, res.key)
        live_res = live_of(ident)
        previous = renamed.get(ident)
        applied = last_applied.get(ident)
        state_id = state_ids.get(ident)
        if previous is not None and applied is None:
            # The last-applied spec was recorded under the old key.
            applied = last_applied.get((res.kind, previous))
            state_id = state_ids.get((res.kind, previous))
        elif applied is None and live_res is not None:
            # Renamed by an earlier apply whose state was not saved: the old entry has the same id.
            applied = next((last_applied.get((res.kind, old)) for old in res.previous_keys
                            if state_ids.get((res.kind, old)) == live_res.get("id")), None)
        if live_res is None:
            missing = [n for n, f in kind.fields.items() if f.required and desired.get(n) is None]
            if missing:
                problems.append(
                    Problem(res.file, res.line,
                            f"{res.address} does not exist yet and creating it needs "
                            f"{', '.join(repr(m) for m in missing)}; add {'them' if len(missing) > 1 else 'it'} to spec")
                )
                continue
        if res.address in replace and live_res is not None:
            create = plan_resource(res, kind, desired, None, applied, tuple(dict.fromkeys(deps)))
            changes.append(replacement(create, live_res))
            continue
        changes.append(
            plan_resource(
                res, kind, desired, live_res, applied, tuple(dict.fromkeys(deps)), state_id, previous_key=previous,
            )
        )
    cycle = find_cycle(graph)
    if cycle:
        first = next(r for r in resources if r.address == cycle[0])
        problems.append(Problem(first.file, first.line, f"reference cycle: {' → '.join(cycle)}; break it"))
    options = prune or PruneOptions()
    pruned = plan_prune(state_entries, {*declared, *claimed, *also_declared}, referrers, live, profile, options)
    problems.extend(pruned.problems)
    if problems:
        raise PlanError(problems)
    check_mass_delete(pruned.changes, len(state_entries), options)
    plan = Plan(
        changes=(*changes, *pruned.changes),
        target=target,
        profile=profile.name,
        state_lineage=state_lineage,
        state_serial=state_serial,
        created_at=created_at,
        notes=(*notes, *pruned.notes),
        forget=tuple(pruned.forget),
    )
    # Masked here, where every plan is made: no public path yields a sensitive value in clear
    # (``patch`` and ``spec`` keep theirs: apply sends and records them).
    return mask_plan(annotate(plan, resources, profile))


def _renames(
    resources: Sequence[Resource], live: Mapping[ResourceKey, Mapping[str, Any]], problems: list[Problem]
) -> dict[ResourceKey, str]:
    """(kind, new key) → the old key the resource is live under, for every resource not
    live under its key but under one of its ``previousKeys``. Both live is a problem."""
    renamed: dict[ResourceKey, str] = {}
    for res in resources:
        found = [old for old in res.previous_keys if (res.kind, old) in live]
        if not found:
            continue
        line = res.top_lines.get("previousKeys", res.line)
        olds = ", ".join(f"{res.kind}/{old} (id {live[(res.kind, old)].get('id')})" for old in found)
        now = live.get((res.kind, res.key))
        if now is not None:
            problems.append(Problem(res.file, line, (
                f"{res.address} (id {now.get('id')}) and its previous key {olds} both exist in the API; "
                "a rename needs the old one only. Delete or re-key one of them, or drop the old key from previousKeys")))
        elif len(found) > 1:
            problems.append(Problem(res.file, line, (
                f"{res.address}: several of its previous keys exist in the API ({olds}); "
                "only one resource can be renamed to it. Delete or re-key the others")))
        else:
            renamed[(res.kind, res.key)] = found[0]
    return renamed
