"""The planner: a pure function (desired, live, last-applied, profile) → Plan.

Per resource, with D = manifest spec, L = live resource, A = last-applied spec:

* each field f in D: an object on both sides recurses (with A[f]); otherwise, when
  D[f] differs from L[f] after normalisation, the patch sets f to D[f] (arrays whole);
* each field f in A but no longer in D: when L[f] is not null, the patch sets f to
  null if the field is nullable (marked as drift when L[f] differs from A[f]: apply
  then erases a value someone else set), else the plan warns and leaves it;
* fields in neither D nor A are not ours: never compared, never sent.

No I/O happens here: live state and last-applied specs are handed in. One resource's
change is ``planning/resource.py``; this module plans the whole set.
"""

from __future__ import annotations

import sys
from collections.abc import Collection, Mapping, Sequence
from typing import Any

from declsync.errors import PlanError, Problem
from declsync.manifests.loader import Resource
from declsync.plan import Change, Plan
from declsync.planning.live import LiveState, ResourceKey
from declsync.planning.prune import PruneOptions, check_mass_delete, plan_prune
from declsync.planning.refs import find_cycle, find_refs, substitute_refs
from declsync.planning.replace import check_replace, replacement
from declsync.planning.resource import plan_resource
from declsync.planning.sensitive import annotate, mask_plan
from declsync.profile.model import Profile, format_path
from declsync.state import StateEntry

__all__ = ["ResourceKey", "lookup_set", "make_plan", "plan_resource"]


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
                deps.append(sys.intern(ref.address))  # a few referenced resources, many referrers
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
        else:
            changes.append(
                plan_resource(
                    res, kind, desired, live_res, applied, tuple(dict.fromkeys(deps)), state_id, previous_key=previous,
                )
            )
        if isinstance(live, LiveState):
            # Compared: only its id is asked for from here on (references to it, prune).
            live.release(ident)
            if previous is not None:
                live.release((res.kind, previous))
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
