"""Executing a plan: exactly ``change.patch`` per change, in dependency order.

Creates are POSTs and updates PATCHes of the planned body; ``{$ref}`` placeholders
for resources created earlier in the same run are the only thing filled in. Deletes
(``--prune``) come last, dependents first, and only when every create and update
succeeded: a DELETE, or the PATCH the profile gives (e.g. cancel an Order). Each
write carries an ``Idempotency-Key`` (reused by the client on retries). The state
store records a resource only after the server confirmed its write. A failed
resource does not stop the others; resources that depend on it are skipped.

A stop — SIGINT, SIGTERM or SIGHUP, or a fatal error such as a state save that fails
or an ``on_outcome`` callback that raises (stderr closed) — starts no new write: the
queued ones are cancelled, the ones in flight finish and are recorded, and the state
is saved (retried; what cannot be saved is handed back as ``ApplyResult.unsaved`` for
a recovery file, see ``declsync.execution.recovery``).

This module schedules and records; one change's write is ``declsync.execution.change``,
and the futures of a level are drained by ``declsync.execution.drain``.
"""

from __future__ import annotations

import contextlib
import dataclasses
import signal
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, Protocol

from declsync.execution.change import ChangeWriter, Client, Written, resolved
from declsync.execution.drain import Completions
from declsync.execution.interrupt import graceful_stop
from declsync.execution.outcome import ApplyResult, Outcome, Status
from declsync.execution.recovery import Delta, Removal
from declsync.execution.stale import check_stale
from declsync.normalize import utc_now
from declsync.plan import Action, Change, Plan
from declsync.planning.prune import canonical_source
from declsync.planning.refs import topological_levels
from declsync.profile.model import Profile
from declsync.state import State, StateEntry

__all__ = ["Applier", "ApplyResult", "Outcome", "check_stale"]


class _Saver(Protocol):
    state: State

    def save(self) -> None: ...


class Applier:
    """Runs one plan against one client, recording confirmed writes in the state."""

    def __init__(
        self,
        client: Client,
        profile: Profile,
        saver: _Saver,
        *,
        parallelism: int = 16,
        save_interval: float = 1.0,
        on_outcome: Callable[[Outcome], None] | None = None,
        guard_updates: bool = False,
        on_stop: Callable[[str, int], None] | None = None,
        save_attempts: int = 3,
        save_retry_delay: float = 0.5,
    ) -> None:
        self.client = client
        self.profile = profile
        self.saver = saver
        self.parallelism = max(1, parallelism)
        # Writes submitted to the pool at a time: enough that no worker waits for the main
        # thread (which records each answer) to hand it the next one; a few hundred futures,
        # not one per change of a 100,000-change level.
        self.window = 16 * self.parallelism
        self.save_interval = save_interval
        self.on_outcome = on_outcome
        # A saved plan's updates: re-read each resource right before its PATCH and send
        # it with If-Match, so that a change made after the stale-plan check is never
        # overwritten (it fails, "changed since the plan", instead).
        self.guard_updates = guard_updates
        self._writer = ChangeWriter(client, profile, self._resolve, guard_updates=guard_updates)
        # Told once when the run stops early: (why, writes in flight), why being the signal's
        # name (SIGINT, SIGTERM, SIGHUP) or the fatal error.
        self.on_stop = on_stop
        self.save_attempts = max(1, save_attempts)
        self.save_retry_delay = save_retry_delay
        self._ids: dict[str, str] = {}
        self._last_stamp = ""
        self._dirty = False
        self._last_save = time.monotonic()
        # Set by a first stop signal or a fatal error: start no new write, finish and record
        # the ones in flight.
        self._stop = threading.Event()
        self._why: str | None = None
        self._fatal: str | None = None
        self._announced = False
        # What changed in the state since its last successful save (for a recovery file).
        self._unsaved: dict[tuple[str, str], Removal | None] = {}

    # ---------------------------------------------------------------- helpers

    def _resolve(self, address: str) -> str | None:
        return self._ids.get(address)

    def _record(self, change: Change, resource: Mapping[str, Any] | None, spec: dict[str, Any]) -> None:
        ident = (resource or {}).get("id") or change.id
        if not isinstance(ident, str):
            return
        self._ids[change.address] = ident
        updated = (resource or {}).get("updatedAt")
        # Normalised: prune compares it with the paths being planned. The change's own string
        # when already normal, and one stamp per second, not one string per entry.
        source = canonical_source(change.source)
        self.saver.state.put(
            StateEntry(
                kind=change.kind,
                key=change.key,
                id=ident,
                spec=spec,
                updated_at=updated if isinstance(updated, str) else change.observed_updated_at,
                applied_at=self._stamp(),
                source=change.source if source == change.source else source,
                prevent_destroy=change.prevent_destroy,
            )
        )
        self._unsaved[(change.kind, change.key)] = None
        if change.previous_key is not None:
            # A rename: the entry moves to the new key.
            self._forget(change.kind, change.previous_key)
        self._dirty = True

    def _stamp(self) -> str:
        now = utc_now()
        if now != self._last_stamp:
            self._last_stamp = now
        return self._last_stamp

    def _forget(self, kind: str, key: str) -> None:
        entry = self.saver.state.get(kind, key)
        if entry is not None:
            self.saver.state.remove(kind, key)
            self._unsaved[(kind, key)] = Removal(kind, key, entry.id, utc_now())
            self._dirty = True

    def _save(self) -> None:
        self.saver.save()
        self._dirty = False
        self._unsaved.clear()
        self._last_save = time.monotonic()

    def _maybe_save(self) -> None:
        """Save every ``save_interval`` while writing; a failure stops the run (it is retried at the end)."""
        if self._dirty and time.monotonic() - self._last_save >= self.save_interval:
            try:
                self._save()
            except Exception as exc:  # disk full, read-only, …: no point in writing more
                self._fail(f"the state could not be saved: {exc}")

    def _final_save(self, result: ApplyResult) -> None:
        """Save what was recorded, retrying; if it cannot be, hand it back in ``result.unsaved``."""
        if not self._dirty:
            return
        error = ""
        for attempt in range(self.save_attempts):
            if attempt:
                time.sleep(self.save_retry_delay * attempt)
            try:
                self._save()
                return
            except Exception as exc:
                error = str(exc)
        state = self.saver.state
        delta = Delta()
        for (kind, key), removal in self._unsaved.items():
            entry = state.get(kind, key)
            if entry is not None:
                delta.put.append(entry)
            elif removal is not None:
                delta.removed.append(removal)
        result.unsaved, result.save_error = delta, error

    def _fail(self, why: str) -> None:
        """A fatal error: stop like an interrupt, remembering the first reason."""
        if self._fatal is None:
            self._fatal = why
            self._why = why
        self._stop.set()

    def _on_signal(self, signum: signal.Signals) -> None:
        if self._why is None:
            self._why = signum.name
        self._stop.set()

    def _announce(self, in_flight: int) -> None:
        if self._announced or self.on_stop is None:
            return
        self._announced = True
        with contextlib.suppress(Exception):  # e.g. stderr is gone: the stop goes on all the same
            self.on_stop(self._why or "stopped", in_flight)

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
                        or entry.prevent_destroy != change.prevent_destroy
                        or entry.source != canonical_source(change.source)):
                    self._record(change, None, change.spec)
        for address in plan.forget:
            kind_name, _, key = address.partition("/")
            self._forget(kind_name, key)
        work = {c.address: c for c in plan.changes if c.action in (Action.CREATE, Action.UPDATE, Action.REPLACE)}
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
        with graceful_stop(self._on_signal):
            try:
                self._run_levels(levels, work, deletes, delete_levels, reverse, bad, result)
            finally:
                self._final_save(result)
            if self._stop.is_set():
                self._announce(0)
        result.fatal = self._fatal
        result.interrupted = result.interrupted or self._fatal is not None
        return result

    def _run_levels(self, levels: list[list[str]], work: Mapping[str, Change], deletes: Mapping[str, Change],
                    delete_levels: list[list[str]], reverse: Mapping[str, Sequence[str]], bad: set[str],
                    result: ApplyResult) -> None:
        with ThreadPoolExecutor(max_workers=self.parallelism, thread_name_prefix="declsync-apply") as pool:
            for level in levels:
                result.interrupted = self._run_level(pool, [work[a] for a in level], bad, result)
                if result.interrupted:
                    self._not_attempted(result, [*work.values(), *deletes.values()])
                    break
            else:
                result.interrupted = self._run_deletes(pool, deletes, delete_levels, reverse, bad, result)

    def _run_deletes(self, pool: ThreadPoolExecutor, deletes: Mapping[str, Change], levels: list[list[str]],
                     reverse: Mapping[str, Sequence[str]], bad: set[str], result: ApplyResult) -> bool:
        if not deletes:
            return False
        if bad:
            # Pruning is destructive: only from a state where every create and update went through.
            for address, change in deletes.items():
                self._emit(result, Outcome(address, change.action, Status.SKIPPED,
                                           "not pruned because other changes failed; re-run apply"))
            return False
        for level in levels:
            if self._run_level(pool, [deletes[a] for a in level], bad, result, reverse):
                self._not_attempted(result, deletes.values())
                return True
        return False

    @staticmethod
    def _not_attempted(result: ApplyResult, changes: Iterable[Change]) -> None:
        """After a stop: every change without an outcome yet was not attempted."""
        done = {o.address for o in result.outcomes}
        result.outcomes.extend(Outcome(c.address, c.action, Status.INTERRUPTED) for c in changes
                               if c.address not in done)

    def _finish(self, change: Change, resource: Mapping[str, Any] | None) -> None:
        """Record a confirmed write in the state: a delete drops the entry."""
        if change.action is Action.DELETE:
            self._forget(change.kind, change.key)
        else:
            # The plan's own spec object when it has no {$ref} to fill in (most do not).
            self._record(change, resource, resolved(change.spec, self._resolve))

    def _run_level(self, pool: ThreadPoolExecutor, level: list[Change], bad: set[str], result: ApplyResult,
                   needs: Mapping[str, Sequence[str]] | None = None) -> bool:
        """Run one level concurrently; ``needs`` (default: each change's ``depends_on``) are the
        changes that must have succeeded first."""
        if self._stop.is_set():
            self._announce(0)
            return True
        writes: Completions[Change, Written] = Completions()
        runnable: list[Change] = []
        for change in level:
            required = needs[change.address] if needs is not None else change.depends_on
            failed_deps = [d for d in required if d in bad]
            if failed_deps:
                bad.add(change.address)
                self._emit(result, Outcome(change.address, change.action, Status.SKIPPED,
                                           f"depends on {', '.join(failed_deps)}, which failed"))
                continue
            runnable.append(change)
        queued = iter(runnable)
        left = self._feed(pool, writes, queued)
        try:
            # Also while changes are left unsubmitted: a stop then ends the level as interrupted.
            while writes.pending or left:
                if self._stop.is_set():
                    raise KeyboardInterrupt  # a graceful stop: handled below like an unhandled Ctrl-C
                fut = writes.next(timeout=min(self.save_interval, 0.2))
                if fut is None:
                    self._maybe_save()
                    continue
                change = writes.pending[fut]
                outcome, resource = self._result(fut, change)
                if outcome.status is Status.APPLIED:
                    self._finish(change, resource)
                else:
                    bad.add(change.address)
                self._emit(result, outcome)
                # Only now: an interrupt before this line finds it still pending, below.
                writes.done(fut)
                left = self._feed(pool, writes, queued)
                self._maybe_save()
        except KeyboardInterrupt:
            # Stop starting new writes, let the ones in flight finish and record them.
            emitted = {o.address for o in result.outcomes}
            in_flight = [(f, c) for f, c in writes.cancel() if c.address not in emitted]
            self._announce(len(in_flight))
            for fut, change in in_flight:
                outcome, resource = self._result(fut, change)
                if outcome.status is Status.APPLIED:
                    self._finish(change, resource)
                self._emit(result, outcome)
            return True
        return False

    def _feed(self, pool: ThreadPoolExecutor, writes: Completions[Change, Written], queued: Iterator[Change]) -> bool:
        """Submit from ``queued`` until ``window`` writes are pending (none once stopping); False
        once ``queued`` is exhausted. A level of 100,000 creates submitted at once held a
        future, a work item and, once done, the server's answer for every one of them."""
        while len(writes.pending) < self.window and not self._stop.is_set():
            change = next(queued, None)
            if change is None:
                return False
            writes.submit(pool, change, self._timed_write, change)
        return True

    def _timed_write(self, change: Change) -> Written:
        """The change's write(s), timed in the worker: the log's per-resource duration, not
        counting the time it waited for a free worker."""
        start = time.monotonic()
        outcome, resource = self._writer.execute(change)
        return dataclasses.replace(outcome, seconds=time.monotonic() - start), resource

    def _result(self, fut: Future[Written], change: Change) -> Written:
        """A write's outcome. An unexpected error (not an API answer) means its effect is
        unknown and the next writes would likely meet it too: the resource fails and the run stops."""
        try:
            return fut.result()
        except Exception as exc:
            self._fail(f"{change.address}: {type(exc).__name__}: {exc}")
            return Outcome(change.address, change.action, Status.FAILED, f"{exc} ({change.source})"), None

    def _emit(self, result: ApplyResult, outcome: Outcome) -> None:
        result.outcomes.append(outcome)
        if self.on_outcome is not None:
            try:
                self.on_outcome(outcome)
            except Exception as exc:  # e.g. BrokenPipeError: whoever read our progress went away
                self.on_outcome = None
                self._fail(f"reporting progress failed: {type(exc).__name__}: {exc}")
