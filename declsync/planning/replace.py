"""``--replace KIND/KEY``: recreate a resource explicitly, as Terraform's ``-replace`` does.

The one way to change a field the API sets only on create (the planner otherwise warns
about it and sends nothing). A replace is one ``Action.REPLACE`` change: apply deletes
the live resource ``id`` and then posts ``patch``, the same body a create would send.
Allowed only for declared resources of kinds the profile lets declsync delete with a
real DELETE (a soft delete by PATCH would keep the key taken).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Collection, Mapping, Sequence
from typing import Any

from declsync.errors import Problem
from declsync.manifests.loader import Resource
from declsync.plan import Action, Change
from declsync.profile.model import KindSpec, Profile, suggest

__all__ = ["can_replace", "check_replace", "replacement"]


def can_replace(kind: KindSpec) -> bool:
    """Whether the profile lets declsync delete ``kind`` with a DELETE (so it can be recreated)."""
    return kind.delete.get("method") == "delete" and "patch" not in kind.delete


def check_replace(addresses: Collection[str], resources: Sequence[Resource], profile: Profile) -> list[Problem]:
    """Why each ``--replace`` address cannot be replaced (none: all can)."""
    declared = {r.address for r in resources}
    problems: list[Problem] = []
    for address in addresses:
        kind_name, _, key = address.partition("/")
        if kind_name not in profile.kinds or not key:
            problems.append(Problem("--replace", 0, (
                f"{address!r} is not KIND/KEY of a known kind{suggest(kind_name, profile.kinds)}; "
                "e.g. --replace Carrier/CARR-1")))
        elif address not in declared:
            problems.append(Problem("--replace", 0, (
                f"{address} is not declared in the manifests{suggest(address, declared)}; "
                "only a declared resource can be replaced (it is created again from its manifest)")))
        elif not can_replace(profile.kinds[kind_name]):
            problems.append(Problem("--replace", 0, (
                f"{address} cannot be replaced: the profile does not let declsync delete a {kind_name} "
                f"(delete: {dict(profile.kinds[kind_name].delete)})")))
    return problems


def replacement(create: Change, live: Mapping[str, Any]) -> Change:
    """The replace change of a resource live as ``live``, from the create planned for it."""
    live_id = live.get("id")
    updated = live.get("updatedAt")
    before = {k: live.get(k) for k in create.spec}
    return dataclasses.replace(
        create,
        action=Action.REPLACE,
        id=live_id if isinstance(live_id, str) else None,
        before=before,
        observed_updated_at=updated if isinstance(updated, str) else None,
        warnings=(*create.warnings, f"--replace: the live resource (id {live_id}) is deleted, then created "
                                    "again from the manifest with a new id"),
    )
