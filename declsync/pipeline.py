"""The stages glued together: fetch live state for the manifests, then plan.

Kept apart from the CLI so that tests and the benchmark drive exactly what the
commands do, without click.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, Protocol

from declsync.manifest import Resource
from declsync.plan import Plan
from declsync.planner import ResourceKey, lookup_set, make_plan
from declsync.profile import KindSpec, Profile
from declsync.state import State

__all__ = ["build_plan", "fetch_live"]


class _Fetcher(Protocol):
    def fetch_by_keys(self, kind: KindSpec, keys: Sequence[str]) -> dict[str, dict[str, Any]]: ...


def fetch_live(
    client: _Fetcher, resources: Sequence[Resource], profile: Profile,
    progress: Callable[[int], None] | None = None,
) -> dict[ResourceKey, dict[str, Any]]:
    """Live resources by (kind, key) for every declared or referenced key."""
    live: dict[ResourceKey, dict[str, Any]] = {}
    for kind_name, keys in lookup_set(resources, profile).items():
        found = client.fetch_by_keys(profile.kinds[kind_name], keys)
        for key, resource in found.items():
            live[(kind_name, key)] = resource
        if progress is not None:
            progress(len(keys))
    return live


def build_plan(
    client: _Fetcher,
    resources: Sequence[Resource],
    profile: Profile,
    state: State,
    *,
    target: str = "",
    notes: Sequence[str] = (),
    progress: Callable[[int], None] | None = None,
) -> Plan:
    """Fetch live state, read last-applied specs and plan every resource."""
    live = fetch_live(client, resources, profile, progress)
    last_applied: dict[ResourceKey, Mapping[str, Any]] = {}
    state_ids: dict[ResourceKey, str] = {}
    for r in resources:
        entry = state.get(r.kind, r.key)
        if entry is not None:
            last_applied[(r.kind, r.key)] = entry.spec
            state_ids[(r.kind, r.key)] = entry.id
    return make_plan(
        resources,
        live,
        last_applied,
        profile,
        state_ids=state_ids,
        target=target,
        state_lineage=state.lineage,
        state_serial=state.serial,
        created_at=datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z"),
        notes=notes,
    )
