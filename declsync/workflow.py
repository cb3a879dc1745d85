"""The steps of a command, between "arguments parsed" and "result rendered".

Both faces call these: the library (``declsync.api``) and the CLI (``declsync.cli.main``),
so a Python job and ``declsync plan``/``apply``/``import`` decide the same things the
same way: the prune scope of a selection, the ``declsync.yaml`` settings, the checks
of a saved plan, the recording of unchanged resources, the steps of an import.

The planning stack (deepdiff, jsonpatch) and the sandbox server are imported inside the
steps that need them, so that ``declsync --help`` and ``validate`` never load them.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from declsync.config import load_config
from declsync.errors import ConfigError, ManifestError, StalePlanError
from declsync.execution.apply import Applier, ApplyResult, Outcome
from declsync.execution.stale import check_stale
from declsync.manifests.importer import (
    Imported,
    Per,
    check_overwrite,
    fetch_live_resources,
    import_resources,
    plan_files,
    write_files,
)
from declsync.manifests.loader import Resource, load_manifests
from declsync.plan import Plan
from declsync.planning.prune import DEFAULT_MAX_DELETE_FRACTION, PruneOptions, prune_scope
from declsync.planning.selection import Selection, select
from declsync.profile.model import KindSpec, Profile
from declsync.render.progress import NullProgress, Tick
from declsync.state import State
from declsync.state.backend import StateSession
from declsync.state.locking import check_plan_entries, lock_declared, lock_plan

__all__ = [
    "ImportOutcome",
    "ProgressLike",
    "check_saved_plan",
    "execute",
    "import_kind",
    "plan_resources",
    "prune_options",
    "record_unchanged",
]


class ProgressLike(Protocol):
    def task(self, label: str, total: int) -> AbstractContextManager[Tick]: ...


def prune_options(enabled: bool | None, allow_mass_delete: bool = False, max_delete_fraction: float | None = None,
                  directory: str | Path | None = None) -> PruneOptions:
    """Prune settings: the arguments, then ``declsync.yaml`` of ``directory`` (default: the
    working directory), then the defaults. ``enabled=None``: as the file says."""
    config = load_config(directory)
    fraction = max_delete_fraction
    if fraction is None:
        fraction = config.max_delete_fraction if config.max_delete_fraction is not None else DEFAULT_MAX_DELETE_FRACTION
    return PruneOptions(enabled=config.prune if enabled is None else enabled, allow_mass_delete=allow_mass_delete,
                        max_delete_fraction=fraction)


def plan_resources(
    client: Any, resources: Sequence[Resource], profile: Profile, state: State, selection: Selection, target: str,
    *, prune: PruneOptions | None = None, progress: ProgressLike | None = None,
    paths: Sequence[str | Path] = ("manifests",), locked: StateSession | None = None,
    replace: Sequence[str] = (),
) -> Plan:
    """Select, fetch live state (ticking ``progress``) and plan. Prune considers only state
    entries whose recorded manifest lies under ``paths`` (the paths the resources were loaded
    from), and with a selection stays inside it: a restricted plan never deletes what it was
    not restricted to. With ``locked`` (an apply), the selected resources are locked before
    their live state is read, and whatever else the plan touches (prune, renames) right after:
    on a per-resource backend that is what keeps two applies of disjoint resources apart.
    ``replace``: ``Kind/KEY`` addresses recreated (``--replace``)."""
    from declsync.planning.pipeline import build_plan
    from declsync.planning.planner import lookup_set

    selected, left_out, notes = select(list(resources), selection, profile)
    if prune is not None:
        declared = {(r.kind, k) for r in resources for k in (r.key, *r.previous_keys)}
        scope, unscoped = prune_scope(state.entries(), declared, [str(p) for p in paths],
                                      selection.matches_address if selection.active else None)
        prune = dataclasses.replace(prune, scope=scope)
        notes = [*notes, *unscoped]
    # Computed once: its size is the progress total, and build_plan fetches exactly these keys.
    lookups = lookup_set(selected, profile)
    total = sum(len(keys) for keys in lookups.values())
    if locked is not None:
        lock_declared(locked, selected)
    with (progress or NullProgress()).task("Fetching live state", total) as tick:
        plan = build_plan(client, selected, profile, state, target=target, notes=notes, progress=tick,
                          excluded=left_out, lookups=lookups, prune=prune, replace=replace)
    if locked is not None:
        lock_plan(locked, plan)
    return plan


def check_saved_plan(saved: Plan, target: str, client: Any, profile: Profile, locked: StateSession, *,
                     per_resource: bool = False) -> None:
    """Lock what a saved plan touches, then refuse it, before any write, when it was made for
    another target or against anything that moved since (``StalePlanError`` saying what).
    ``per_resource``: the backend versions each entry, so only the plan's own entries count
    (saves of other resources do not make it stale)."""
    if saved.target and saved.target != target:
        raise StalePlanError(f"stale plan: it was made for {saved.target}, not {target}; re-run plan")
    lock_plan(locked, saved)
    if per_resource:
        check_plan_entries(locked, saved)
    check_stale(saved, client, profile, locked.state, whole_state=not per_resource)


def record_unchanged(plan: Plan, client: Any, profile: Profile, locked: StateSession, parallelism: int) -> ApplyResult:
    """A plan without changes still records adopted and unchanged resources, so that later
    plans know their last-applied spec."""
    return Applier(client, profile, locked, parallelism=parallelism).run(plan)


def execute(plan: Plan, client: Any, profile: Profile, locked: StateSession, *, parallelism: int,
            on_outcome: Callable[[Outcome], None] | None = None, saved: bool = False,
            on_stop: Callable[[str, int], None] | None = None) -> ApplyResult:
    """Apply ``plan``. A ``saved`` plan re-reads each resource right before its PATCH and
    sends If-Match, so a change made after the stale check is never overwritten. A fatal
    error or a signal stops new writes (``on_stop(reason, in_flight)`` is told at once); the
    result's ``unsaved`` holds what could not be saved to the state."""
    applier = Applier(client, profile, locked, parallelism=parallelism, on_outcome=on_outcome, guard_updates=saved,
                      on_stop=on_stop)
    return applier.run(plan)


@dataclass(frozen=True)
class ImportOutcome:
    items: tuple[Imported, ...]
    written: tuple[Path, ...]


def import_kind(client: Any, kind: KindSpec, keys: Sequence[str], all_: bool, *, out_dir: Path, per: Per,
                force: bool, profile: Profile, locked: StateSession, target: str) -> ImportOutcome:
    """Write manifests for live resources of ``kind`` and record them in the state (saved).
    Nothing found: an empty outcome, nothing written."""
    live = fetch_live_resources(client, kind, keys, all_)
    if not live:
        return ImportOutcome((), ())
    items = import_resources(client, kind, profile, live)
    files = plan_files(items, kind, out_dir, per)
    check_overwrite(files, force=force)
    _refuse_declared_elsewhere(items, files, out_dir, profile, force)
    written = write_files(files, kind, target, force=force, state=locked.state)
    locked.save()
    return ImportOutcome(tuple(items), tuple(written))


def _refuse_declared_elsewhere(items: Sequence[Imported], files: Any, out_dir: Path, profile: Profile,
                               force: bool) -> None:
    """An imported resource already declared in another file under OUT would be declared twice."""
    if not out_dir.is_dir():
        return
    try:
        existing = load_manifests([out_dir], profile)
    except ManifestError:
        return  # the user's manifests have problems of their own; validate reports them
    replaced = {p.resolve() for p in files} if force else set()
    wanted = {(i.kind, i.key) for i in items}
    clashes = [r for r in existing if (r.kind, r.key) in wanted and Path(r.file).resolve() not in replaced]
    if clashes:
        raise ConfigError("already declared: " + ", ".join(f"{r.address} at {r.source}" for r in clashes)
                          + "; nothing was imported")
