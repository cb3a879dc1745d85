"""A saved plan is refused whole ("stale plan"), before any write, when anything it was
computed from moved: the state (lineage, serial) or any resource it changes."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

from declsync.errors import StalePlanError
from declsync.plan import Action, Change, Plan
from declsync.profile.model import Profile
from declsync.state import State

__all__ = ["check_stale", "moved_since_plan"]


class _Reader(Protocol):
    def fetch_by_keys(self, kind: Any, keys: list[str]) -> dict[str, dict[str, Any]]: ...


def moved_since_plan(change: Change, live: Mapping[str, Any] | None) -> str | None:
    """Why the resource an update or delete writes is no longer the one planned against
    (``live``: as read now), or None. Checked for the whole plan before apply
    (``check_stale``) and again right before each guarded PATCH (``ChangeWriter``)."""
    if live is None:
        return f"{change.address} no longer exists"
    if live.get("updatedAt") != change.observed_updated_at:
        return f"{change.address} changed since the plan (updatedAt {change.observed_updated_at} → {live.get('updatedAt')})"
    return None


def check_stale(plan: Plan, client: _Reader, profile: Profile, state: State, *, whole_state: bool = True) -> None:
    """Refuse a saved plan, before any write, when anything it was computed from moved.
    ``whole_state=False``: the backend checked the plan's own entries (per-resource state), so
    saves of other entries do not make it stale."""
    if plan.state_lineage and state.lineage != plan.state_lineage:
        raise StalePlanError("stale plan: it was made against another state file (lineage differs); re-run plan")
    if whole_state and state.serial != plan.state_serial:
        raise StalePlanError(
            f"stale plan: the state changed since the plan was made (serial {plan.state_serial} → {state.serial}); "
            "re-run plan"
        )
    by_kind: dict[str, list[Change]] = {}
    for change in plan.changes:
        if change.action is not Action.NOOP:
            by_kind.setdefault(change.kind, []).append(change)
    moved: list[str] = []
    for kind_name, changes in by_kind.items():
        kind = profile.kind(kind_name)
        # A rename is found under its old key, and its new key must still be free.
        live = client.fetch_by_keys(kind, [k for c in changes for k in (c.key, c.previous_key) if k is not None])
        for c in changes:
            now = live.get(c.previous_key or c.key)
            if c.previous_key is not None and c.key in live:
                moved.append(f"{c.address} was created by someone else since the plan (planned as a rename of "
                             f"{c.kind}/{c.previous_key})")
            elif c.action is Action.DELETE and now is not None and now.get("id") != c.id:
                moved.append(f"{c.address} is now another resource (id {c.id} → {now.get('id')})")
            elif c.action is Action.CREATE and now is not None:
                moved.append(f"{c.address} was created by someone else since the plan")
            elif c.action is not Action.CREATE and (why := moved_since_plan(c, now)) is not None:
                moved.append(why)
    if moved:
        raise StalePlanError("stale plan: re-run plan. Nothing was applied.\n  " + "\n  ".join(moved), reasons=moved)
