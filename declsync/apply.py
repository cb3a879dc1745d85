"""Executing a plan: exactly ``change.patch`` per change, in dependency order.

Creates are POSTs and updates PATCHes of the planned body; ``{$ref}`` placeholders
for resources created earlier in the same run are the only thing filled in. Deletes
(``--prune``) come last, dependents first, and only when every create and update
succeeded: a DELETE, or the PATCH the profile gives (e.g. cancel an Order). Each
write carries an ``Idempotency-Key`` (reused by the client on retries). The state
store records a resource only after the server confirmed its write. A failed
resource does not stop the others; resources that depend on it are skipped.
"""

from __future__ import annotations

import queue
import signal
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Protocol

from declsync.errors import ApiError, ConflictError, StalePlanError
from declsync.normalize import utc_now, values_equal
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

    def get_with_etag(self, kind: Any, ref: str) -> tuple[dict[str, Any] | None, str | None]: ...

    def delete(self, kind: Any, id: str, *, idempotency_key: str) -> None: ...


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
        deleted = sum(1 for o in self.outcomes if o.status == "applied" and o.action is Action.DELETE)
        done = f"{created} created, {updated} updated" + (f", {deleted} deleted" if deleted else "")
        text = f"Apply complete: {done}"
        failed, skipped = self.count("failed"), self.count("skipped")
        not_applied = self.count("interrupted")
        if failed or skipped:
            text = f"Apply finished with errors: {done}, {failed} failed, {skipped} skipped"
        if self.interrupted:
            text = (f"Apply interrupted: {done}, {failed} failed, "
                    f"{not_applied + skipped} not applied")
        return text + "."


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
        guard_updates: bool = False,
    ) -> None:
        self.client = client
        self.profile = profile
        self.saver = saver
        self.parallelism = max(1, parallelism)
        self.save_interval = save_interval
        self.on_outcome = on_outcome
        # A saved plan's updates: re-read each resource right before its PATCH and send
        # it with If-Match, so that a change made after the stale-plan check is never
        # overwritten (it fails, "changed since the plan", instead).
        self.guard_updates = guard_updates
        self._ids: dict[str, str] = {}
        self._dirty = False
        self._last_save = time.monotonic()
        # Set by a first Ctrl-C: start no new write, finish and record the ones in flight.
        self._stop = threading.Event()

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
                applied_at=utc_now(),
                source=change.source,
                prevent_destroy=change.prevent_destroy,
            )
        )
        if change.previous_key is not None:
            # A rename: the entry moves to the new key.
            self.saver.state.remove(change.kind, change.previous_key)
        self._dirty = True

    def _forget(self, kind: str, key: str) -> None:
        if self.saver.state.get(kind, key) is not None:
            self.saver.state.remove(kind, key)
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
            if change.action is Action.DELETE:
                return self._delete(change, kind, body, idem)
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
                if_match = None
                if self.guard_updates:
                    moved, if_match = self._recheck(kind, change)
                    if moved:
                        return Outcome(change.address, change.action, "failed",
                                       f"{moved}; not overwritten, re-run plan ({change.source})"), None
                resource = self.client.update(kind, change.id, body, idempotency_key=idem, if_match=if_match)
        except ApiError as exc:
            if exc.status == 412:
                return Outcome(change.address, change.action, "failed",
                               f"{change.address} changed since the plan (the API refused the conditional write: "
                               f"412); not overwritten, re-run plan ({change.source})"), None
            return Outcome(change.address, change.action, "failed", f"{exc} ({change.source})"), None
        return Outcome(change.address, change.action, "applied", "", resource.get("id")), resource

    def _recheck(self, kind: Any, change: Change) -> tuple[str | None, str | None]:
        """``(why it moved, None)`` when the resource changed since the plan, else ``(None, its ETag)``."""
        assert change.id is not None
        live, etag = self.client.get_with_etag(kind, change.id)
        if live is None:
            return f"{change.address} no longer exists", None
        if live.get("updatedAt") != change.observed_updated_at:
            return (f"{change.address} changed since the plan "
                    f"(updatedAt {change.observed_updated_at} → {live.get('updatedAt')})"), None
        return None, etag

    def _delete(
        self, change: Change, kind: Any, body: Mapping[str, Any], idem: str
    ) -> tuple[Outcome, Mapping[str, Any] | None]:
        """DELETE, or the profile's PATCH when ``change.patch`` is set. Already gone (404) is done."""
        assert change.id is not None
        try:
            if change.patch is None:
                self.client.delete(kind, change.id, idempotency_key=idem)
            else:
                self.client.update(kind, change.id, body, idempotency_key=idem)
        except ApiError as exc:
            if exc.status != 404:
                raise
            return Outcome(change.address, change.action, "applied", "already gone", change.id), None
        return Outcome(change.address, change.action, "applied", "", change.id), None

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
                if (entry is None or entry.spec != change.spec or entry.id != change.id
                        or entry.prevent_destroy != change.prevent_destroy):
                    self._record(change, None, change.spec)
        for address in plan.forget:
            kind_name, _, key = address.partition("/")
            self._forget(kind_name, key)
        work = {c.address: c for c in plan.changes if c.action in (Action.CREATE, Action.UPDATE)}
        graph = {a: list(c.depends_on) for a, c in work.items()}
        levels = topological_levels(work, graph)
        deletes = {c.address: c for c in plan.changes if c.action is Action.DELETE}
        # Deletes go dependents first: a resource waits for the pruned resources that refer to it.
        reverse = {a: [b for b, c in deletes.items() if a in c.depends_on] for a in deletes}
        delete_levels = topological_levels(deletes, reverse)
        placed = {a for level in delete_levels for a in level}
        if len(placed) < len(deletes):
            delete_levels.append([a for a in deletes if a not in placed])
        bad: set[str] = set()
        try:
            with self._graceful_sigint(), \
                    ThreadPoolExecutor(max_workers=self.parallelism, thread_name_prefix="declsync-apply") as pool:
                for level in levels:
                    result.interrupted = self._run_level(pool, [work[a] for a in level], bad, result)
                    if result.interrupted:
                        done = {o.address for o in result.outcomes}
                        for address in [*work, *deletes]:
                            if address not in done:
                                result.outcomes.append(Outcome(address, (work.get(address) or deletes[address]).action,
                                                               "interrupted"))
                        break
                else:
                    result.interrupted = self._run_deletes(pool, deletes, delete_levels, reverse, bad, result)
        finally:
            self._maybe_save(force=True)
        return result

    def _run_deletes(self, pool: ThreadPoolExecutor, deletes: Mapping[str, Change], levels: list[list[str]],
                     reverse: Mapping[str, Sequence[str]], bad: set[str], result: ApplyResult) -> bool:
        if not deletes:
            return False
        if bad:
            # Pruning is destructive: only from a state where every create and update went through.
            for address, change in deletes.items():
                self._emit(result, Outcome(address, change.action, "skipped",
                                           "not pruned because other changes failed; re-run apply"))
            return False
        for level in levels:
            if self._run_level(pool, [deletes[a] for a in level], bad, result, reverse):
                done = {o.address for o in result.outcomes}
                for address, change in deletes.items():
                    if address not in done:
                        result.outcomes.append(Outcome(address, change.action, "interrupted"))
                return True
        return False

    def _finish(self, change: Change, resource: Mapping[str, Any] | None) -> None:
        """Record a confirmed write in the state: a delete drops the entry."""
        if change.action is Action.DELETE:
            self._forget(change.kind, change.key)
        else:
            self._record(change, resource, substitute_refs(change.spec, self._resolve))

    def _run_level(self, pool: ThreadPoolExecutor, level: list[Change], bad: set[str], result: ApplyResult,
                   needs: Mapping[str, Sequence[str]] | None = None) -> bool:
        """Run one level concurrently; ``needs`` (default: each change's ``depends_on``) are the
        changes that must have succeeded first."""
        if self._stop.is_set():
            return True
        pending: dict[Future[tuple[Outcome, Mapping[str, Any] | None]], Change] = {}
        # Completions arrive on a queue, not through concurrent.futures.wait(): a
        # KeyboardInterrupt raised inside wait() can leave the futures' locks held, and the
        # pool's shutdown then hangs for ever (seen with SIGINT from a terminal).
        finished: queue.SimpleQueue[Future[tuple[Outcome, Mapping[str, Any] | None]]] = queue.SimpleQueue()
        for change in level:
            required = needs[change.address] if needs is not None else change.depends_on
            failed_deps = [d for d in required if d in bad]
            if failed_deps:
                bad.add(change.address)
                self._emit(result, Outcome(change.address, change.action, "skipped",
                                           f"depends on {', '.join(failed_deps)}, which failed"))
                continue
            fut = pool.submit(self._execute, change)
            pending[fut] = change
            fut.add_done_callback(finished.put)
        try:
            while pending:
                if self._stop.is_set():
                    raise KeyboardInterrupt  # a graceful stop: handled below like an unhandled Ctrl-C
                try:
                    fut = finished.get(timeout=min(self.save_interval, 0.2))
                except queue.Empty:
                    self._maybe_save()
                    continue
                change = pending[fut]
                outcome, resource = fut.result()
                if outcome.status == "applied":
                    self._finish(change, resource)
                else:
                    bad.add(change.address)
                self._emit(result, outcome)
                # Only now: an interrupt before this line finds it still pending, below.
                del pending[fut]
                self._maybe_save()
        except KeyboardInterrupt:
            # Stop starting new writes, let the ones in flight finish and record them.
            emitted = {o.address for o in result.outcomes}
            for fut in pending:
                fut.cancel()
            for fut, change in pending.items():
                if fut.cancelled() or change.address in emitted:
                    continue
                outcome, resource = fut.result()
                if outcome.status == "applied":
                    self._finish(change, resource)
                self._emit(result, outcome)
            return True
        return False

    @contextmanager
    def _graceful_sigint(self) -> Iterator[None]:
        """During the run, a first Ctrl-C (SIGINT) only sets ``_stop``, which the loop checks:
        writes in flight finish and are recorded, no new one starts. A KeyboardInterrupt raised
        wherever the main thread happens to be can land inside a lock or between a write and its
        record. A second Ctrl-C raises KeyboardInterrupt as usual. Only the main thread can
        handle signals, and only Python's default handler is replaced."""
        if (threading.current_thread() is not threading.main_thread()
                or signal.getsignal(signal.SIGINT) is not signal.default_int_handler):
            yield
            return

        def stop(signum: int, frame: Any) -> None:
            self._stop.set()
            signal.signal(signal.SIGINT, signal.default_int_handler)

        signal.signal(signal.SIGINT, stop)
        try:
            yield
        finally:
            signal.signal(signal.SIGINT, signal.default_int_handler)

    def _emit(self, result: ApplyResult, outcome: Outcome) -> None:
        result.outcomes.append(outcome)
        if self.on_outcome is not None:
            self.on_outcome(outcome)


def check_stale(plan: Plan, client: _Client, profile: Profile, state: State, *, whole_state: bool = True) -> None:
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
            elif c.action is not Action.CREATE and now is None:
                moved.append(f"{c.address} no longer exists")
            elif c.action is not Action.CREATE and now is not None and now.get("updatedAt") != c.observed_updated_at:
                moved.append(f"{c.address} changed since the plan (updatedAt {c.observed_updated_at} → {now.get('updatedAt')})")
    if moved:
        raise StalePlanError("stale plan: re-run plan. Nothing was applied.\n  " + "\n  ".join(moved))
