"""What an apply did, per resource, and its one-line summary."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from declsync.execution.recovery import Delta
from declsync.plan import Action

__all__ = ["ApplyResult", "Outcome", "Status"]


class Status(StrEnum):
    """What became of one change; the value is the word printed (``failed: Kind/key: …``)."""

    APPLIED = "applied"
    FAILED = "failed"
    SKIPPED = "skipped"
    # Not attempted: the run stopped (a signal or a fatal error) before it.
    INTERRUPTED = "interrupted"


# Slots: an apply of 100,000 changes keeps one per change (``ApplyResult.outcomes``).
@dataclass(frozen=True, slots=True)
class Outcome:
    address: str
    action: Action
    status: Status
    message: str = ""
    id: str | None = None
    # How long its write(s) took, from the first request to the last answer (None: nothing
    # was sent, e.g. skipped). Not part of what happened: equal outcomes may differ in it.
    seconds: float | None = field(default=None, compare=False)


@dataclass
class ApplyResult:
    outcomes: list[Outcome] = field(default_factory=list)
    # Stopped early: by a signal, or by ``fatal``.
    interrupted: bool = False
    # The error that stopped the run (a failed state save, a broken output stream, …).
    fatal: str | None = None
    # What was recorded but could not be saved (every save attempt failed), and why.
    unsaved: Delta | None = None
    save_error: str | None = None
    # Where ``unsaved`` was written for the next apply to merge (library applies write it).
    recovery_file: str | None = None

    def count(self, status: Status | str) -> int:
        return sum(1 for o in self.outcomes if o.status == status)

    @property
    def ok(self) -> bool:
        return (not self.interrupted and self.fatal is None and self.unsaved is None
                and all(o.status == Status.APPLIED for o in self.outcomes))

    def summary(self) -> str:
        created = sum(1 for o in self.outcomes if o.status == Status.APPLIED and o.action is Action.CREATE)
        updated = sum(1 for o in self.outcomes if o.status == Status.APPLIED and o.action is Action.UPDATE)
        deleted = sum(1 for o in self.outcomes if o.status == Status.APPLIED and o.action is Action.DELETE)
        replaced = sum(1 for o in self.outcomes if o.status == Status.APPLIED and o.action is Action.REPLACE)
        done = (f"{created} created, {updated} updated" + (f", {deleted} deleted" if deleted else "")
                + (f", {replaced} replaced" if replaced else ""))
        text = f"Apply complete: {done}"
        failed, skipped = self.count(Status.FAILED), self.count(Status.SKIPPED)
        not_applied = self.count(Status.INTERRUPTED)
        if failed or skipped:
            text = f"Apply finished with errors: {done}, {failed} failed, {skipped} skipped"
        if self.interrupted:
            how = "stopped by an error" if self.fatal is not None else "interrupted"
            text = (f"Apply {how}: {done}, {failed} failed, "
                    f"{not_applied + skipped} not applied")
        return text + "."
