"""Executing a plan: exactly ``change.patch`` per change, in dependency order.

Creates are POSTs and updates PATCHes of the planned body; ``{$ref}`` placeholders
for resources created earlier in the same run are the only thing filled in. Each
write carries an ``Idempotency-Key`` (reused by the client on retries). The state
store records a resource only after the server confirmed its write. A failed
resource does not stop the others; resources that depend on it are skipped.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

from declsync.errors import ApiError, ConflictError, StalePlanError
from declsync.normalize import values_equal
from declsync.plan import Action, Change, Plan
from declsync.profile import Profile
from declsync.refs import has_ref_marker, substitute_refs, topological_levels
from declsync.state import State, StateEntry

__all__ = ["Applier", "ApplyResult", "Outcome", "check_stale"]


class _Client(Protocol):
    def create(self, kind: Any, body: Mapping[str, Any], *, idempotency_key: str) -> dict[str, Any]: ...

    def update(
        self, kind: Any, id: str, body: Mapping[str, Any], *, idempotency_key: str, if_match: str | None = None
    ) -> dict[str, Any]: ...

    def fetch_by_keys(self, kind: Any, keys: Sequence[str]) -> dict[str, dict[str, Any]]: ...


class _Saver(Protocol):
    state: State

    def save(self) -> None: ...


@dataclass(frozen=True)
class Outcome:
    address: str
    action: Action
    # applied | failed | skipped | interrupted
    status: str
    message: str = ""
    id: str | None = None


@dataclass
class ApplyResult:
    outcomes: list[Outcome] = field(default_factory=list)
    interrupted: bool = False

    def count(self, status: str) -> int:
        return sum(1 for o in self.outcomes if o.status == status)

    @property
    def ok(self) -> bool:
        return not self.interrupted and all(o.status == "applied" for o in self.outcomes)

    def summary(self) -> str:
        created = sum(1 for o in self.outcomes if o.status == "applied" and o.action is Action.CREATE)
        updated = sum(1 for o in self.outcomes if o.status == "applied" and o.action is Action.UPDATE)
        text = f"Apply complete: {created} created, {updated} updated"
        failed, skipped = self.count("failed"), self.count("skipped")
        not_applied = self.count("interrupted")
        if failed or skipped:
            text = f"Apply finished with errors: {created} created, {updated} updated, {failed} failed, {skipped} skipped"
        if self.interrupted:
            text = (f"Apply interrupted: {created} created, {updated} updated, {failed} failed, "
                    f"{not_applied + skipped} not applied")
        return text + "."


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


class Applier:
    """Runs one plan against one client, recording confirmed writes in the state."""

    def __init__(
        self,
        client: _Client,
        profile: Profile,
        saver: _Saver,
        *,
        parallelism: int = 16,
        save_interval: float = 1.0,
        on_outcome: Callable[[Outcome], None] | None = None,
    ) -> None:
        self.client = client
        self.profile = profile
        self.saver = saver
        self.parallelism = max(1, parallelism)
        self.save_interval = save_interval
        self.on_outcome = on_outcome
        self._ids: dict[str, str] = {}
        self._dirty = False
        self._last_save = time.monotonic()

    # ---------------------------------------------------------------- helpers

    def _resolve(self, address: str) -> str | None:
        return self._ids.get(address)

    def _record(self, change: Change, resource: Mapping[str, Any] | None, spec: dict[str, Any]) -> None:
        ident = (resource or {}).get("id") or change.id
        if not isinstance(ident, str):
            return
        self._ids[change.address] = ident
        updated = (resource or {}).get("updatedAt")
        self.saver.state.put(
            StateEntry(
                kind=change.kind,
                key=change.key,
                id=ident,
                spec=spec,
                updated_at=updated if isinstance(updated, str) else change.observed_updated_at,
                applied_at=_now(),
                source=change.source,
            )
        )
        self._dirty = True

    def _maybe_save(self, force: bool = False) -> None:
        if self._dirty and (force or time.monotonic() - self._last_save >= self.save_interval):
            self.saver.save()
            self._dirty = False
            self._last_save = time.monotonic()

    def _satisfies(self, change: Change, live: Mapping[str, Any]) -> bool:
        kind = self.profile.kinds[change.kind]
        spec = substitute_refs(change.spec, self._resolve)
        return all(values_equal(v, live.get(k), kind.fields.get(k)) for k, v in spec.items())

    # ---------------------------------------------------------------- one change

    def _execute(self, change: Change) -> tuple[Outcome, Mapping[str, Any] | None]:
        kind = self.profile.kinds[change.kind]
        body = substitute_refs(change.patch or {}, self._resolve)
        if has_ref_marker(body):
            return Outcome(change.address, change.action, "failed", "a referenced resource has no id"), None
        idem = str(uuid.uuid4())
        try:
            if change.action is Action.CREATE:
                try:
                    resource = self.client.create(kind, body, idempotency_key=idem)
                except ConflictError as exc:
                    # The key exists: perhaps our own earlier attempt whose answer was lost.
                    # Adopt it when it already is what we declared; otherwise report.
                    found = self.client.fetch_by_keys(kind, [change.key]).get(change.key)
                    if found is not None and self._satisfies(change, found):
                        return Outcome(change.address, change.action, "applied", "already existed", found.get("id")), found
                    raise ConflictError(
                        f"{change.address} already exists (created elsewhere since the plan); re-run plan",
                        status=exc.status, code=exc.code,
                    ) from exc
            else:
                assert change.id is not None
                resource = self.client.update(kind, change.id, body, idempotency_key=idem)
        except ApiError as exc:
            return Outcome(change.address, change.action, "failed", f"{exc} ({change.source})"), None
        return Outcome(change.address, change.action, "applied", "", resource.get("id")), resource

    # ---------------------------------------------------------------- the run

    def run(self, plan: Plan) -> ApplyResult:
        result = ApplyResult()
        for change in plan.changes:
            if change.id:
                self._ids[change.address] = change.id
        # Resources that already match still get (re)recorded, so that the state
        # knows the last-applied spec of everything the manifests declare.
        state = self.saver.state
        for change in plan.changes:
            if change.action is Action.NOOP:
                entry = state.get(change.kind, change.key)
                if entry is None or entry.spec != change.spec or entry.id != change.id:
                    self._record(change, None, change.spec)
        work = {c.address: c for c in plan.changes if c.action in (Action.CREATE, Action.UPDATE)}
        graph = {a: list(c.depends_on) for a, c in work.items()}
        levels = topological_levels(work, graph)
        bad: set[str] = set()
        try:
            with ThreadPoolExecutor(max_workers=self.parallelism, thread_name_prefix="declsync-apply") as pool:
                for level in levels:
                    result.interrupted = self._run_level(pool, [work[a] for a in level], bad, result)
                    if result.interrupted:
                        done = {o.address for o in result.outcomes}
                        for address in work:
                            if address not in done:
                                result.outcomes.append(Outcome(address, work[address].action, "interrupted"))
                        break
        finally:
            self._maybe_save(force=True)
        return result

    def _run_level(self, pool: ThreadPoolExecutor, level: list[Change], bad: set[str], result: ApplyResult) -> bool:
        pending: dict[Future[tuple[Outcome, Mapping[str, Any] | None]], Change] = {}
        for change in level:
            failed_deps = [d for d in change.depends_on if d in bad]
            if failed_deps:
                bad.add(change.address)
                self._emit(result, Outcome(change.address, change.action, "skipped",
                                           f"depends on {', '.join(failed_deps)}, which failed"))
                continue
            pending[pool.submit(self._execute, change)] = change
        try:
            while pending:
                finished, _ = wait(pending, timeout=self.save_interval, return_when=FIRST_COMPLETED)
                for fut in finished:
                    change = pending.pop(fut)
                    outcome, resource = fut.result()
                    if outcome.status == "applied":
                        self._record(change, resource, substitute_refs(change.spec, self._resolve))
                    else:
                        bad.add(change.address)
                    self._emit(result, outcome)
                self._maybe_save()
        except KeyboardInterrupt:
            # Stop starting new writes, let the ones in flight finish and record them.
            for fut in pending:
                fut.cancel()
            for fut, change in pending.items():
                if fut.cancelled():
                    continue
                outcome, resource = fut.result()
                if outcome.status == "applied":
                    self._record(change, resource, substitute_refs(change.spec, self._resolve))
                self._emit(result, outcome)
            return True
        return False

    def _emit(self, result: ApplyResult, outcome: Outcome) -> None:
        result.outcomes.append(outcome)
        if self.on_outcome is not None:
            self.on_outcome(outcome)


def check_stale(plan: Plan, client: _Client, profile: Profile, state: State) -> None:
    """Refuse a saved plan, before any write, when anything it was computed from moved."""
    if plan.state_lineage and state.lineage != plan.state_lineage:
        raise StalePlanError("stale plan: it was made against another state file (lineage differs); re-run plan")
    if state.serial != plan.state_serial:
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
        live = client.fetch_by_keys(kind, [c.key for c in changes])
        for c in changes:
            now = live.get(c.key)
            if c.action is Action.CREATE and now is not None:
                moved.append(f"{c.address} was created by someone else since the plan")
            elif c.action is not Action.CREATE and now is None:
                moved.append(f"{c.address} no longer exists")
            elif c.action is not Action.CREATE and now is not None and now.get("updatedAt") != c.observed_updated_at:
                moved.append(f"{c.address} changed since the plan (updatedAt {c.observed_updated_at} → {now.get('updatedAt')})")
    if moved:
        raise StalePlanError("stale plan: re-run plan. Nothing was applied.\n  " + "\n  ".join(moved))
