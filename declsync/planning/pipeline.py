"""The stages glued together: fetch live state for the manifests, then plan.

Kept apart from the CLI so that tests and the benchmark drive exactly what the
commands do, without click.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping, Sequence
from typing import Any, Protocol

from declsync.errors import PlanError, Problem
from declsync.manifests.loader import Resource
from declsync.normalize import utc_now
from declsync.plan import Plan
from declsync.planning.live import LiveState
from declsync.planning.planner import ResourceKey, lookup_set, make_plan
from declsync.planning.prune import PruneOptions, undeclared
from declsync.planning.refs import find_refs
from declsync.profile.model import KindSpec, Profile, format_path
from declsync.state import State, StateEntry

__all__ = ["build_plan"]


class _Fetcher(Protocol):
    def fetch_by_keys(self, kind: KindSpec, keys: Sequence[str]) -> dict[str, dict[str, Any]]: ...


def build_plan(
    client: _Fetcher,
    resources: Sequence[Resource],
    profile: Profile,
    state: State,
    *,
    target: str = "",
    notes: Sequence[str] = (),
    progress: Callable[[int], None] | None = None,
    excluded: Sequence[Resource] = (),
    prune: PruneOptions | None = None,
    lookups: Mapping[str, Sequence[str]] | None = None,
    replace: Collection[str] = (),
) -> Plan:
    """Fetch live state, read last-applied specs and plan every resource.

    ``excluded``: declared resources left out by ``--target``/``--exclude``/``--kind``.
    They are not planned; references to them resolve against the live API.
    ``prune``: with ``enabled``, state entries no manifest declares are fetched too
    and planned as deletes (see ``declsync.planning.prune``).
    ``replace``: ``Kind/KEY`` addresses to delete and create again (``--replace``).
    """
    # Before fetching: sharing unchanged specs with the manifests frees the state's copies
    # before the live bodies arrive (the three were the peak).
    last_applied: dict[ResourceKey, Mapping[str, Any]] = {}
    state_ids: dict[ResourceKey, str] = {}
    for r in resources:
        for key in (r.key, *r.previous_keys):
            entry = state.get(r.kind, key)
            if entry is not None:
                if key == r.key:
                    # Unchanged since the last apply (most resources): one copy of the spec, not two.
                    state.share_spec(r.kind, key, r.spec)
                    entry = state.get(r.kind, key) or entry
                last_applied[(r.kind, key)] = entry.spec
                state_ids[(r.kind, key)] = entry.id
    # Fetched a chunk at a time as the planner reaches it, each body released once compared.
    live = LiveState(client, profile, lookup_set(resources, profile) if lookups is None else lookups, progress)
    kept = {(r.kind, k) for r in (*resources, *excluded) for k in (r.key, *r.previous_keys)}
    if prune is not None and prune.scope is not None:
        scope = prune.scope
        kept |= {(e.kind, e.key) for e in state.entries() if not scope(e.kind, e.key)}
    if prune is not None and prune.enabled:
        _fetch_pruned(client, undeclared(state.entries(), kept), profile, live)
    if excluded:
        _check_excluded_refs(resources, excluded, live, profile)
    return make_plan(
        resources,
        live,
        last_applied,
        profile,
        state_ids=state_ids,
        target=target,
        state_lineage=state.lineage,
        state_serial=state.serial,
        created_at=utc_now(),
        notes=notes,
        state_entries=list(state.entries()),
        prune=prune,
        also_declared=kept,
        replace=replace,
    )


def _fetch_pruned(client: _Fetcher, entries: Sequence[StateEntry], profile: Profile, live: LiveState) -> None:
    """Add the live resources of prune candidates (undeclared state entries) to ``live``."""
    by_kind: dict[str, list[str]] = {}
    for e in entries:
        if e.kind in profile.kinds and (e.kind, e.key) not in live:
            by_kind.setdefault(e.kind, []).append(e.key)
    for kind_name, keys in by_kind.items():
        for key, resource in client.fetch_by_keys(profile.kinds[kind_name], keys).items():
            live.add((kind_name, key), resource)


def _check_excluded_refs(
    resources: Sequence[Resource], excluded: Sequence[Resource], live: Mapping[ResourceKey, Any], profile: Profile
) -> None:
    """A selected resource may refer to a declared resource that the selection left out
    only when that one already exists: it will not be created by this plan."""
    left_out = {(r.kind, r.key) for r in excluded}
    problems: list[Problem] = []
    for res in resources:
        for ref in find_refs(res.spec, profile.kinds[res.kind], profile):
            if (ref.kind, ref.key) in left_out and (ref.kind, ref.key) not in live:
                problems.append(Problem(
                    res.file, res.line_of(ref.path),
                    f"{format_path(ref.path)}: refers to {ref.address}, which is declared but not selected "
                    "(--target/--exclude/--kind) and does not exist yet; select it too",
                ))
    if problems:
        raise PlanError(problems)
