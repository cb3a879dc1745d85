"""Which resources an apply locks, and refusing a plan whose state moved meanwhile.

A backend with per-resource locks (PostgreSQL) locks only what an apply touches, so two
applies of disjoint resources overlap. The declared resources are locked before planning
(``lock_declared``); then everything the plan may record is locked before the first write: each change's address, a rename's old address and
the entries the plan forgets. If another apply saved one of those entries after this
plan read it, the plan rests on an old last-applied spec: it is refused before any write.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from declsync.errors import StalePlanError
from declsync.plan import Plan
from declsync.state.backend import Address, StateSession

__all__ = ["check_plan_entries", "lock_declared", "lock_plan", "plan_addresses"]


def plan_addresses(plan: Plan) -> set[Address]:
    """Every (kind, key) an apply of ``plan`` may record or drop."""
    out: set[Address] = set()
    for change in plan.changes:
        out.add((change.kind, change.key))
        if change.previous_key:
            out.add((change.kind, change.previous_key))
    for address in plan.forget:
        kind, _, key = address.partition("/")
        out.add((kind, key))
    return out


def lock_declared(session: StateSession, resources: Iterable[Any]) -> None:
    """Lock the resources about to be planned (``kind``/``key`` attributes) before planning, so that
    an apply needing what another holds waits (``--lock-timeout``) or fails before its lookups."""
    session.lock({(r.kind, r.key) for r in resources})


def lock_plan(session: StateSession, plan: Plan) -> None:
    """Lock what ``plan`` touches; refuse it if another apply changed those entries since it was made."""
    changed = session.lock(plan_addresses(plan))
    if changed:
        shown = _shown(changed)
        raise StalePlanError(f"stale plan: another apply recorded {shown} after this plan read the state; "
                             "nothing was applied, re-run")


def check_plan_entries(session: StateSession, plan: Plan) -> None:
    """A saved plan on a per-resource backend: stale only if one of its own entries was saved after
    the plan read the state (serial ``plan.state_serial``), so disjoint plans never stale each other."""
    changed = session.written_since(plan_addresses(plan), plan.state_serial)
    if changed:
        shown = _shown(changed)
        raise StalePlanError(f"stale plan: the state of {shown} changed since the plan was made; re-run plan")


def _shown(addresses: set[Address]) -> str:
    """The first few addresses, sorted, for a stale-plan message."""
    return ", ".join(f"{k}/{n}" for k, n in sorted(addresses)[:5]) + (", …" if len(addresses) > 5 else "")
