"""The library face of declsync: what ``declsync plan`` and ``declsync apply PLANFILE`` do,
as functions that return data instead of printing it.

The loop an integrator writes (plan, review, apply)::

    import declsync

    plan = declsync.plan(["manifests"], api_url="https://api.mvmnt.io/v1", token=TOKEN)
    print(declsync.render_text(plan))
    if not any(c.action == "delete" for c in plan.changes):
        result = declsync.apply(plan, api_url="https://api.mvmnt.io/v1", token=TOKEN)
        print(result.summary())

Without ``api_url`` both talk to the embedded sandbox (``.declsync/sandbox.sqlite`` of the
working directory), as the CLI does. Nothing here prints, prompts or exits: problems are
raised as ``declsync.DeclsyncError`` subclasses with structured fields (``ManifestError.problems``,
``MassDeleteError.deletes``, ``PlanFileError.location`` …).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from declsync.errors import ManifestError, Problem
from declsync.execution import recovery
from declsync.execution.apply import ApplyResult, Outcome
from declsync.manifests.loader import Resource
from declsync.manifests.loader import load_manifests as _load_manifests
from declsync.plan import Plan
from declsync.planfile import codec as planfile
from declsync.planning.selection import Selection
from declsync.profile.model import Profile, load_profile
from declsync.remote.target import Settings, Target, open_target
from declsync.state import DEFAULT_PATH, open_backend
from declsync.workflow import check_saved_plan, execute, plan_resources, prune_options, record_unchanged

__all__ = ["apply", "load_manifests", "plan", "read_plan", "validate", "write_plan"]

DEFAULT_PATHS = ("manifests",)

ProfileArg = str | Path | Profile | None
_log = logging.getLogger("declsync")


def _profile(profile: ProfileArg) -> Profile:
    return profile if isinstance(profile, Profile) else load_profile(profile)


def _paths(paths: str | Path | Sequence[str | Path]) -> list[str | Path]:
    # A lone string is one path, not a sequence of one-letter paths.
    if isinstance(paths, str | Path):
        return [paths]
    return list(paths) or list(DEFAULT_PATHS)


def load_manifests(paths: str | Path | Sequence[str | Path] = DEFAULT_PATHS, profile: ProfileArg = None) -> list[Resource]:
    """Load and validate every manifest under ``paths`` (files or directories).

    Raises ``ManifestError`` carrying every problem (``.problems``, each ``file``,
    ``line``, ``message``) when there is any.

    >>> import declsync
    >>> [r.address for r in declsync.load_manifests("manifests/customers.yaml")]
    ['Customer/CUST-ACME', 'Customer/CUST-GLOBEX']
    """
    return _load_manifests(_paths(paths), _profile(profile))


def validate(paths: str | Path | Sequence[str | Path] = DEFAULT_PATHS, profile: ProfileArg = None) -> list[Problem]:
    """The problems of the manifests under ``paths`` (empty: valid). Offline; never raises
    for a manifest problem.

    >>> import declsync
    >>> declsync.validate("manifests")
    []
    """
    try:
        load_manifests(paths, profile)
    except ManifestError as exc:
        return list(exc.problems)
    return []


@contextmanager
def _target(settings: Settings, profile: Profile) -> Iterator[Target]:
    with open_target(settings, profile, _log.info) as target:
        yield target


def plan(
    paths: str | Path | Sequence[str | Path] = DEFAULT_PATHS,
    *,
    api_url: str | None = None,
    token: str | None = None,
    client_id: str | None = None,
    client_secret: str | None = None,
    token_url: str | None = None,
    state: str | Path | None = None,
    profile: ProfileArg = None,
    target: Sequence[str] = (),
    exclude: Sequence[str] = (),
    kinds: Sequence[str] = (),
    prune: bool | None = False,
    allow_mass_delete: bool = False,
    max_delete_fraction: float | None = None,
    parallelism: int = 16,
    insecure_http: bool = False,
    replace: Sequence[str] = (),
) -> Plan:
    """The plan ``declsync plan`` would print for ``paths``: read-only, never writes to the API.

    ``target``/``exclude``/``kinds``: ``Kind/KEY`` globs and kind names, as the CLI's
    ``--target``/``--exclude``/``--kind``. ``prune=None`` takes the setting of
    ``declsync.yaml`` in the working directory (as the CLI does without ``--prune``).
    ``replace``: ``Kind/KEY`` addresses deleted and created again, as ``--replace``.
    Sensitive values are masked in the plan itself (``before``, ``after``,
    ``field_changes``, ``json_patch``); ``patch`` and ``spec`` hold what apply sends.

    >>> import declsync
    >>> p = declsync.plan(["manifests"])          # the embedded sandbox
    >>> p.summary
    {'create': 11, 'update': 0, 'noop': 0, 'delete': 0}
    >>> [(c.action, c.address) for c in p.changes][:1]
    [(<Action.CREATE: 'create'>, 'Carrier/CARR-SWIFTLINE')]
    """
    settings = Settings(api_url=api_url, token=token, client_id=client_id, client_secret=client_secret,
                        token_url=token_url, parallelism=parallelism, insecure_http=insecure_http)
    selection = Selection(targets=tuple(target), excludes=tuple(exclude), kinds=tuple(kinds))
    options = prune_options(prune, allow_mass_delete, max_delete_fraction)
    the_profile = _profile(profile)
    resources = load_manifests(paths, the_profile)
    current = open_backend(str(state or DEFAULT_PATH)).read()
    with _target(settings, the_profile) as api:
        return plan_resources(api.client, resources, the_profile, current, selection, api.description,
                              prune=options, paths=_paths(paths), replace=tuple(replace))


def apply(
    plan: Plan,
    *,
    api_url: str | None = None,
    token: str | None = None,
    client_id: str | None = None,
    client_secret: str | None = None,
    token_url: str | None = None,
    state: str | Path | None = None,
    profile: ProfileArg = None,
    parallelism: int = 16,
    insecure_http: bool = False,
    on_outcome: Callable[[Outcome], None] | None = None,
) -> ApplyResult:
    """Apply ``plan`` exactly as ``declsync apply PLANFILE`` does: under the state lock,
    refused whole (``StalePlanError``) before any write when it was made for another
    target or anything it was computed from moved; then each change's ``patch`` and
    nothing else, recording confirmed writes in the state.

    ``ApplyResult.ok`` tells whether everything was applied; ``.outcomes`` has one
    ``Outcome`` (``address``, ``action``, ``status``, ``message``, ``id``) per resource,
    also passed to ``on_outcome`` as it happens.

    >>> import declsync
    >>> result = declsync.apply(declsync.plan(["manifests"]))
    >>> result.ok, result.summary()
    (True, 'Apply complete: 11 created, 0 updated.')
    """
    settings = Settings(api_url=api_url, token=token, client_id=client_id, client_secret=client_secret,
                        token_url=token_url, parallelism=parallelism, insecure_http=insecure_http)
    the_profile = _profile(profile)
    store = open_backend(str(state or DEFAULT_PATH))
    with store.locked(operation="apply") as locked, _target(settings, the_profile) as api:
        # An earlier apply's unsaved state changes are completed before anything else.
        recovery.pick_up(locked, recovery.base_for(store), lambda _message: None)
        check_saved_plan(plan, api.description, api.client, the_profile, locked,
                         per_resource=store.per_resource_locks)
        if not plan.has_changes:
            result = record_unchanged(plan, api.client, the_profile, locked, parallelism)
        else:
            result = execute(plan, api.client, the_profile, locked, parallelism=parallelism, on_outcome=on_outcome,
                             saved=True)
        if result.unsaved is not None:
            # Written under the lock, before another apply may start, as the CLI does.
            written = recovery.write_recovery(recovery.base_for(store), result.unsaved, result.save_error or "")
            result.recovery_file = str(written) if written else None
        return result


def write_plan(plan: Plan, path: str | Path) -> None:
    """Save ``plan`` to ``path`` (atomically) in the versioned plan file format, for
    ``read_plan`` or ``declsync apply PATH``. Sensitive display values stay masked.

    >>> import declsync
    >>> declsync.write_plan(declsync.plan(["manifests"]), "plan.json")
    >>> declsync.read_plan("plan.json").summary["create"]
    11
    """
    planfile.write(plan, path)


def read_plan(path: str | Path) -> Plan:
    """The plan saved in ``path`` by ``write_plan`` or ``declsync plan --out`` of any
    release (earlier ``format_version`` s are migrated). ``PlanFileError`` (``.path``,
    ``.location``, ``.reason``) when it is not a valid plan."""
    return planfile.read(path)
