"""The plan: plain, frozen data. No I/O, no rendering, no execution.

What ``before`` / ``after`` / ``patch`` mean per action:

=========  =============================  ==================================  ===========================
action     before                         after                               patch (exactly what is sent)
=========  =============================  ==================================  ===========================
create     None                           the declared spec plus ``key``      POST body
update     live, managed fields only      ``before`` with the patch merged    PATCH body
noop       live, managed fields only      same as before                      None
delete     live, managed fields only      None                                None (DELETE) or a PATCH body
replace    live, managed fields only      the declared spec plus ``key``      POST body, sent after a DELETE
=========  =============================  ==================================  ===========================

A replace (``--replace KIND/KEY``, like Terraform's ``-replace``) deletes the live
resource ``id`` and creates it again from the manifest: the way to change a field the
API sets only on create.

A rename is an update with ``previous_key`` set: the resource is found live under
that old key and its patch sets ``key`` to the new one. A delete (``--prune``)
removes a resource declsync manages (it is in the state) whose manifest is gone,
the way the kind's profile ``delete`` setting says.

A value ``{"$ref": "Kind/KEY"}`` inside ``patch`` stands for the id of a resource
that this plan creates: it is "known after apply" and filled in by the applier.
``field_changes``, ``warnings`` and ``drift`` are for display only; they never
influence apply.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

__all__ = ["FORMAT_VERSION", "Action", "Change", "FieldChange", "Plan", "Reason"]

FORMAT_VERSION = 1


class Action(StrEnum):
    CREATE = "create"
    UPDATE = "update"
    NOOP = "noop"
    DELETE = "delete"
    REPLACE = "replace"

    @property
    def symbol(self) -> str:
        return {"create": "+", "update": "~", "noop": " ", "delete": "-", "replace": "-/+"}[self.value]


class Reason(StrEnum):
    """Why a field changes; the value is the word in the plan file and the JSON view."""

    # The declared value differs.
    SET = "set"
    # Dropped from the manifest since the last apply, so cleared.
    REMOVED = "removed"
    # An array, sent whole.
    REPLACED = "replaced"


@dataclass(frozen=True)
class FieldChange:
    """One changed field, for display: ``path: before → after``."""

    path: str
    before: Any
    after: Any
    reason: Reason = Reason.SET
    # Live differed from the last-applied value: someone changed it outside declsync.
    drift: bool = False
    # For arrays: item-level differences ("stops[1].notes: 'a' → 'b'") from deepdiff.
    details: tuple[str, ...] = ()
    # A field removed from the manifest that drifted: the value declsync last applied
    # (``before`` is what someone else set since). Shown so a reviewer sees that apply
    # erases a value declsync did not set; meaningful only when ``drifted_removal``.
    last_applied: Any = None

    @property
    def drifted_removal(self) -> bool:
        return self.drift and self.reason == Reason.REMOVED

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"path": self.path, "before": self.before, "after": self.after, "reason": self.reason}
        if self.drift:
            out["drift"] = True
        if self.drifted_removal:
            out["last_applied"] = self.last_applied
        if self.details:
            out["details"] = list(self.details)
        return out

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> FieldChange:
        return cls(
            path=d["path"],
            before=d.get("before"),
            after=d.get("after"),
            reason=Reason(d.get("reason", "set")),
            drift=bool(d.get("drift", False)),
            details=tuple(d.get("details", ())),
            last_applied=d.get("last_applied"),
        )


@dataclass(frozen=True)
class Change:
    action: Action
    kind: str
    key: str
    source: str
    id: str | None = None
    patch: dict[str, Any] | None = None
    before: dict[str, Any] | None = None
    after: dict[str, Any] | None = None
    # The declared spec as it will be recorded in the state store once applied.
    spec: dict[str, Any] = field(default_factory=dict)
    warnings: tuple[str, ...] = ()
    field_changes: tuple[FieldChange, ...] = ()
    # RFC 6902 operations equivalent to the merge patch (before → after), for tools that speak JSON Patch.
    json_patch: tuple[dict[str, Any], ...] = ()
    # Live ``updatedAt`` when planned: a saved plan is stale if it moved.
    observed_updated_at: str | None = None
    # Other resources (``Kind/KEY``) this one references; apply orders by them.
    depends_on: tuple[str, ...] = ()
    # Dotted field paths whose values are never displayed (profile ``sensitive: true``
    # plus the manifest's ``sensitive:`` list); see ``declsync.planning.sensitive``. Display only.
    sensitive: tuple[str, ...] = ()
    # A rename: the key the resource is live under now (the patch sets ``key``).
    previous_key: str | None = None
    # The manifest's lifecycle.preventDestroy, recorded in the state on apply.
    prevent_destroy: bool = False

    @property
    def address(self) -> str:
        return f"{self.kind}/{self.key}"

    @property
    def drift(self) -> tuple[str, ...]:
        return tuple(fc.path for fc in self.field_changes if fc.drift)

    def to_json(self) -> dict[str, Any]:
        return {
            "action": self.action.value,
            "kind": self.kind,
            "key": self.key,
            "id": self.id,
            "patch": self.patch,
            "before": self.before,
            "after": self.after,
            "source": self.source,
            "warnings": list(self.warnings),
            "drift": list(self.drift),
            "field_changes": [fc.to_json() for fc in self.field_changes],
            "json_patch": list(self.json_patch),
            "spec": self.spec,
            "observed_updated_at": self.observed_updated_at,
            "depends_on": list(self.depends_on),
            "sensitive": list(self.sensitive),
            "previous_key": self.previous_key,
            "prevent_destroy": self.prevent_destroy,
        }

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> Change:
        return cls(
            action=Action(d["action"]),
            kind=d["kind"],
            key=d["key"],
            source=d.get("source", ""),
            id=d.get("id"),
            patch=d.get("patch"),
            before=d.get("before"),
            after=d.get("after"),
            spec=dict(d.get("spec") or {}),
            warnings=tuple(d.get("warnings", ())),
            field_changes=tuple(FieldChange.from_json(x) for x in d.get("field_changes", ())),
            json_patch=tuple(d.get("json_patch", ())),
            observed_updated_at=d.get("observed_updated_at"),
            depends_on=tuple(d.get("depends_on", ())),
            sensitive=tuple(d.get("sensitive", ())),
            previous_key=d.get("previous_key"),
            prevent_destroy=bool(d.get("prevent_destroy", False)),
        )


@dataclass(frozen=True)
class Plan:
    changes: tuple[Change, ...]
    # Where the plan was computed against (no credentials) and the state it read.
    target: str = ""
    profile: str = ""
    state_lineage: str | None = None
    state_serial: int = 0
    created_at: str = ""
    # Plan-level notes, e.g. "restricted by --target".
    notes: tuple[str, ...] = ()
    # State entries (``Kind/KEY``) apply drops without any request: undeclared resources
    # that no longer exist, or that --prune may not delete. Not a change.
    forget: tuple[str, ...] = ()

    def count(self, action: Action) -> int:
        return sum(1 for c in self.changes if c.action is action)

    @property
    def summary(self) -> dict[str, int]:
        counts = {a.value: self.count(a) for a in (Action.CREATE, Action.UPDATE, Action.NOOP, Action.DELETE)}
        # Only when planned (--replace): consumers of the four fixed counts see no new key otherwise.
        replaced = self.count(Action.REPLACE)
        return {**counts, "replace": replaced} if replaced else counts

    @property
    def has_changes(self) -> bool:
        return any(c.action is not Action.NOOP for c in self.changes)

    @property
    def warnings(self) -> list[str]:
        return [f"{c.address}: {w}" for c in self.changes for w in c.warnings]

    def to_json(self) -> dict[str, Any]:
        return {**self.head_json(), "changes": [c.to_json() for c in self.changes]}

    def head_json(self) -> dict[str, Any]:
        """``to_json()`` with ``changes`` left empty (in its place): what a streamed document
        writes around the changes, each encoded when it is written."""
        return {
            "format_version": FORMAT_VERSION,
            "summary": self.summary,
            "changes": [],
            "target": self.target,
            "profile": self.profile,
            "state": {"lineage": self.state_lineage, "serial": self.state_serial},
            "created_at": self.created_at,
            "notes": list(self.notes),
            "forget": list(self.forget),
        }

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> Plan:
        if d.get("format_version") != FORMAT_VERSION:
            raise ValueError(f"unsupported plan format_version {d.get('format_version')!r}")
        state = d.get("state") or {}
        return cls(
            changes=tuple(Change.from_json(c) for c in d["changes"]),
            target=d.get("target", ""),
            profile=d.get("profile", ""),
            state_lineage=state.get("lineage"),
            state_serial=int(state.get("serial", 0)),
            created_at=d.get("created_at", ""),
            notes=tuple(d.get("notes", ())),
            forget=tuple(d.get("forget", ())),
        )
