"""declsync: declarative, reviewable sync of YAML manifests to a REST business API.

The whole public surface is here; one import is enough::

    import declsync

    plan = declsync.plan(["manifests"])                   # no api_url: the embedded sandbox
    print(declsync.render_text(plan))                     # review
    if plan.has_changes:
        result = declsync.apply(plan)                     # stale check, then exactly plan's patches
        print(result.summary())

Like httpx, the surface is re-exported from the modules that define it. Nothing heavy is
imported here: the planning stack (deepdiff, jsonpatch) loads when a plan is computed and the
sandbox server (starlette, uvicorn) only when the embedded sandbox starts.

``declsync.plan`` and ``declsync.apply`` are the functions; the plan's data model is the
module ``declsync.plan`` (``from declsync.plan import Plan``; binding the function last,
below, is what keeps the attribute the function).

Exceptions (all ``DeclsyncError``; see ``declsync.errors`` for the tree)::

    DeclsyncError
    ├── ProfileError, ManifestError (.problems) ─ PlanError, StateError ─ StateLockError
    ├── ApiError (.status, .code, .details) ─ ConnectError, AuthError, ConflictError
    ├── StalePlanError, ApplyError
    └── ConfigError ─ PlanFileError (.path, .location, .reason),
                      MassDeleteError (.deletes, .managed, .max_fraction)
"""

from __future__ import annotations

__version__ = "0.1.0"

# ``declsync.api`` loads the submodule ``declsync.plan`` (binding that name to the module)
# before this statement binds it to the function, so it stays the function: later imports of
# a loaded submodule do not rebind the package attribute.
from declsync.api import apply, load_manifests, plan, read_plan, validate, write_plan
from declsync.errors import (
    ApiError,
    ApplyError,
    AuthError,
    ConfigError,
    ConflictError,
    ConnectError,
    DeclsyncError,
    ManifestError,
    MassDeleteError,
    PlanError,
    PlanFileError,
    Problem,
    ProfileError,
    StalePlanError,
    StateError,
    StateLockError,
)
from declsync.execution.outcome import ApplyResult, Outcome, Status
from declsync.manifests.loader import Resource
from declsync.plan import Action, Change, FieldChange, Plan, Reason
from declsync.profile.model import Profile, load_profile
from declsync.render.markdown import render_markdown
from declsync.render.text import render_json, render_text

__all__ = [
    "Action",
    "ApiError",
    "ApplyError",
    "ApplyResult",
    "AuthError",
    "Change",
    "ConfigError",
    "ConflictError",
    "ConnectError",
    "DeclsyncError",
    "FieldChange",
    "ManifestError",
    "MassDeleteError",
    "Outcome",
    "Plan",
    "PlanError",
    "PlanFileError",
    "Problem",
    "Profile",
    "ProfileError",
    "Reason",
    "Resource",
    "StalePlanError",
    "StateError",
    "StateLockError",
    "Status",
    "__version__",
    "apply",
    "load_manifests",
    "load_profile",
    "plan",
    "read_plan",
    "render_json",
    "render_markdown",
    "render_text",
    "validate",
    "write_plan",
]
