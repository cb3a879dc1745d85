"""Prune: deleting what declsync manages but no manifest declares any more.

Pure, like the planner: state entries, live resources and the profile go in; delete
changes, notes and problems come out. Only resources in the state store are ever
candidates (declsync created, updated or adopted them), and only when they are still
live under their key *with the id the state recorded*: a resource someone else
created under that key since is not ours and is left alone.

Per candidate, the kind's profile ``delete`` setting says how:

* ``{method: delete}`` → ``DELETE {path}/{id}`` (the API soft-deletes);
* ``{patch: {...}}``   → a PATCH with that body (an Order is cancelled, not deleted);
* ``{method: refuse}`` → never deleted: a note, and the state entry is dropped.

A candidate whose state entry carries ``prevent_destroy`` (the manifest's
``lifecycle.preventDestroy`` when last applied) is a plan error, and so is one that
a declared resource still refers to. A plan that would delete more than
``max_delete_fraction`` of the managed resources is refused unless
``allow_mass_delete``.

Which state entries are candidates at all is the caller's ``scope``: the CLI lets prune
consider only entries whose manifest — the file of the entry's recorded ``source``,
``file:line`` — lies under the paths being planned (``path_scope``), so that a plan of
``manifests/`` never deletes what was imported or applied from ``imported/``. An entry
that records no manifest path is never a candidate unless ``--target``/``--exclude``/
``--kind`` select it.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from declsync.errors import MassDeleteError, Problem
from declsync.plan import Action, Change, FieldChange
from declsync.planning.refs import topological_levels
from declsync.profile.model import FieldSpec, KindSpec, Profile, format_path, is_ref_marker
from declsync.profile.types import field_type
from declsync.state import StateEntry

__all__ = [
    "DEFAULT_MAX_DELETE_FRACTION",
    "PathScope",
    "PruneOptions",
    "PruneResult",
    "canonical_source",
    "check_mass_delete",
    "delete_method",
    "path_scope",
    "plan_prune",
    "prune_scope",
    "undeclared",
]

ResourceKey = tuple[str, str]
DEFAULT_MAX_DELETE_FRACTION = 0.2


@dataclass(frozen=True)
class PruneOptions:
    """``--prune``, ``--allow-mass-delete``, ``--max-delete-fraction``."""

    enabled: bool = False
    allow_mass_delete: bool = False
    max_delete_fraction: float = DEFAULT_MAX_DELETE_FRACTION
    # With --target/--exclude/--kind: only state entries this accepts (kind, key) may be
    # pruned, so a restricted plan never deletes outside what it was restricted to.
    scope: Callable[[str, str], bool] | None = None


@dataclass
class PruneResult:
    changes: list[Change] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    forget: list[str] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)


def _split_source(source: str | None) -> tuple[str, str] | None:
    """``(file, line)`` of a ``file:line`` source, or None when it names no file."""
    if not source:
        return None
    file, sep, line = source.rpartition(":")
    if not sep or not file or not line.isdigit():
        return None
    return file, line


def canonical_source(source: str) -> str:
    """``file:line`` as recorded in the state: the file relative to the working directory when
    inside it (``./manifests/../manifests/a.yaml`` and ``/abs/cwd/manifests/a.yaml`` are both
    ``manifests/a.yaml``), POSIX separators, so the state does not depend on how paths were typed."""
    parts = _split_source(source)
    if parts is None:
        return source
    cwd = os.getcwd()
    path = os.path.normpath(os.path.join(cwd, parts[0]))
    # os.path, not pathlib: this runs once per resource on every apply (10,000 in well under 0.1 s).
    shown = path[len(cwd) + 1:] if path.startswith(cwd + os.sep) else path
    return f"{shown.replace(os.sep, '/')}:{parts[1]}"


@dataclass(frozen=True)
class PathScope:
    """The manifest paths being planned (files or directories), absolute: as typed, normalised,
    and with symlinks resolved (an entry matches either form)."""

    roots: tuple[str, ...]

    def covers(self, entry: StateEntry) -> bool | None:
        """Whether ``entry``'s recorded manifest lies under one of the roots; None when it records none.
        The entry's path is compared lexically (no file-system access: prune scopes every state entry)."""
        parts = _split_source(entry.source)
        if parts is None:
            return None
        path = os.path.normpath(os.path.join(os.getcwd(), parts[0]))
        return any(path == root or path.startswith(root.rstrip(os.sep) + os.sep) for root in self.roots)


def path_scope(paths: Sequence[str | Path]) -> PathScope:
    cwd = os.getcwd()
    roots: dict[str, None] = {}
    for p in paths:
        lexical = os.path.normpath(os.path.join(cwd, p))
        roots[lexical] = None
        roots[os.path.realpath(lexical)] = None
    return PathScope(tuple(roots))


def prune_scope(
    entries: Iterable[StateEntry], declared: Collection[ResourceKey], paths: Sequence[str | Path],
    selected: Callable[[str, str], bool] | None,
) -> tuple[Callable[[str, str], bool], list[str]]:
    """Which state entries prune may consider (``PruneOptions.scope``), and notes on those it
    may not for want of a recorded path.

    An entry is considered when its recorded manifest lies under ``paths`` and, with a
    selection (``selected``: --target/--exclude/--kind), inside it: what was applied or
    imported from elsewhere is not this plan's to delete. An entry that records no manifest
    path is considered only when a selection is given and matches it: an explicit choice."""
    scope = path_scope(paths)
    inside: set[ResourceKey] = set()
    notes: list[str] = []
    for entry in entries:
        ident = (entry.kind, entry.key)
        covered = scope.covers(entry)
        if covered is None and selected is not None:
            covered = True
        elif covered is None and ident not in declared:
            address = f"{entry.kind}/{entry.key}"
            notes.append(f"{address} is not declared here, and its state entry has no recorded manifest path "
                         f"(older declsync or edited state), so it is never pruned unless selected, e.g. "
                         f"`--prune --kind {entry.kind}`")
        if covered:
            inside.add(ident)

    def allowed(kind: str, key: str) -> bool:
        return (kind, key) in inside and (selected is None or selected(kind, key))

    return allowed, notes


def undeclared(entries: Iterable[StateEntry], declared: Collection[ResourceKey]) -> list[StateEntry]:
    """State entries that no manifest declares (``declared`` includes keys claimed by ``previousKeys``)."""
    return [e for e in entries if (e.kind, e.key) not in declared]


def delete_method(kind: KindSpec) -> tuple[str, dict[str, Any] | None]:
    """How the profile says to delete a ``kind``: ("delete", None), ("patch", body) or ("refuse", None).
    Anything the profile says that is not understood counts as "refuse": never guess at deleting."""
    how = kind.delete or {}
    patch = how.get("patch")
    if isinstance(patch, Mapping) and patch:
        return "patch", dict(patch)
    if how.get("method", "delete") == "delete" and "patch" not in how:
        return "delete", None
    return "refuse", None


def _where(entry: StateEntry) -> tuple[str, int]:
    """The manifest location an entry was last applied from, for a ``Problem``."""
    if entry.source:
        file, _, line = entry.source.rpartition(":")
        if file and line.isdigit():
            return file, int(line)
        return entry.source, 0
    return "(state)", 0


def _entry_refs(spec: Mapping[str, Any], kind: KindSpec, by_id: Mapping[str, str]) -> list[str]:
    """Resources (``Kind/KEY``) an applied spec refers to: by key, or by an id the state knows."""
    out: list[str] = []

    def walk(value: Any, fspec: FieldSpec | None) -> None:
        if fspec is None or value is None:
            return
        if fspec.ref_kind:
            if is_ref_marker(value):
                out.append(str(value["$ref"]))
            elif isinstance(value, str) and value in by_id:
                out.append(by_id[value])
        elif field_type(fspec).is_reference and isinstance(value, Mapping):
            if fspec.kind and isinstance(value.get("key"), str):
                out.append(f"{fspec.kind}/{value['key']}")
            elif isinstance(value.get("id"), str) and value["id"] in by_id:
                out.append(by_id[value["id"]])
        elif isinstance(value, Mapping | list):
            for _, v, sub in field_type(fspec).children(fspec, value):
                walk(v, sub)

    for name in kind.ref_fields:
        walk(spec.get(name), kind.fields.get(name))
    return list(dict.fromkeys(out))


def _delete_change(entry: StateEntry, kind: KindSpec, live: Mapping[str, Any],
                   patch: dict[str, Any] | None, depends_on: Sequence[str]) -> Change:
    before = {k: live.get(k) for k in entry.spec if k in kind.fields}
    changes: tuple[FieldChange, ...] = ()
    if patch is not None:
        changes = tuple(FieldChange(path=format_path((name,)), before=live.get(name), after=value)
                        for name, value in patch.items())
    updated = live.get("updatedAt")
    return Change(
        action=Action.DELETE,
        kind=entry.kind,
        key=entry.key,
        source=entry.source or "(state)",
        id=entry.id,
        patch=patch,
        before=before,
        after=None,
        field_changes=changes,
        observed_updated_at=updated if isinstance(updated, str) else None,
        depends_on=tuple(depends_on),
    )


def plan_prune(
    entries: Sequence[StateEntry],
    declared: Collection[ResourceKey],
    referrers: Mapping[str, str],
    live: Mapping[ResourceKey, Mapping[str, Any]],
    profile: Profile,
    options: PruneOptions,
) -> PruneResult:
    """Delete changes (in reverse dependency order), notes and problems for the undeclared
    ``entries``. ``referrers``: address → who still refers to it (declared resources).
    ``live`` must hold every undeclared entry's key when ``options.enabled``."""
    out = PruneResult()
    gone = undeclared(entries, declared)
    if not options.enabled:
        out.notes.extend(f"{e.kind}/{e.key} is no longer declared (left in place; use --prune to delete)" for e in gone)
        return out
    by_id = {e.id: f"{e.kind}/{e.key}" for e in entries}
    deletes: dict[str, Change] = {}
    for entry in gone:
        address = f"{entry.kind}/{entry.key}"
        kind = profile.kinds.get(entry.kind)
        if kind is None:
            out.notes.append(f"{address} is no longer declared, and its kind is not in the profile; left in place")
            continue
        now = live.get((entry.kind, entry.key))
        if now is None:
            out.notes.append(f"{address} is no longer declared and no longer exists; its state entry is dropped")
            out.forget.append(address)
            continue
        if now.get("id") != entry.id:
            out.notes.append(f"{address} is no longer declared, and the resource now under that key (id "
                             f"{now.get('id')}) is not the one declsync applied (id {entry.id}); it is left alone "
                             "and the state entry is dropped")
            out.forget.append(address)
            continue
        file, line = _where(entry)
        if entry.prevent_destroy:
            out.problems.append(Problem(file, line, (
                f"{address} is no longer declared, but it is protected by lifecycle.preventDestroy, so --prune "
                "will not delete it. To delete it: restore its manifest without preventDestroy, apply, then "
                "remove the manifest and prune. To keep it: restore its manifest.")))
            continue
        if address in referrers:
            out.problems.append(Problem(file, line, (
                f"{address} is no longer declared, but {referrers[address]} still refers to it; "
                "remove that reference before pruning it")))
            continue
        how, patch = delete_method(kind)
        if how == "refuse":
            out.notes.append(f"{address} is no longer declared, but the profile does not allow deleting "
                             f"{entry.kind} resources (delete: {dict(kind.delete)}); it is left in place and its "
                             "state entry is dropped")
            out.forget.append(address)
            continue
        deletes[address] = _delete_change(entry, kind, now, patch, _entry_refs(entry.spec, kind, by_id))
    # Delete dependents first: a resource waits for every pruned resource that refers to it.
    reverse = {a: [b for b, c in deletes.items() if a in c.depends_on] for a in deletes}
    ordered = [a for level in topological_levels(deletes, reverse) for a in level]
    # State entries could refer to each other in a cycle (by id): those go last, in any order.
    placed = set(ordered)
    ordered += [a for a in deletes if a not in placed]
    out.changes = [deletes[a] for a in ordered]
    return out


def check_mass_delete(deletes: Sequence[Change], managed: int, options: PruneOptions) -> None:
    """Refuse a plan that deletes more than ``options.max_delete_fraction`` of the managed resources."""
    if not deletes or options.allow_mass_delete:
        return
    if len(deletes) / max(1, managed) <= options.max_delete_fraction:
        return
    raise MassDeleteError([c.address for c in deletes], managed, options.max_delete_fraction)
