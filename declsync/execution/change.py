"""One change, written: exactly ``change.patch`` (its ``{$ref}`` placeholders filled in)
to exactly the resource it names, and what became of it.

A create whose key turns out to exist (409) adopts the resource when it already is what
was declared (our own earlier attempt whose answer was lost); an update of a saved plan
(``guard_updates``) re-reads the resource first and writes with ``If-Match``; a delete of
a resource already gone (404) is done. Every write carries a fresh ``Idempotency-Key``.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Protocol

from declsync.errors import ApiError, ConflictError
from declsync.execution.outcome import Outcome, Status
from declsync.execution.stale import moved_since_plan
from declsync.normalize import values_equal
from declsync.plan import Action, Change
from declsync.planning.refs import has_ref_marker, substitute_refs
from declsync.profile.model import Profile

__all__ = ["ChangeWriter", "Client", "Written", "resolved"]

# An outcome, and the resource the server answered with (recorded in the state when applied).
Written = tuple[Outcome, Mapping[str, Any] | None]


def resolved(value: Any, resolve: Callable[[str], str | None]) -> Any:
    """``substitute_refs(value, resolve)``, but ``value`` itself when it holds no ``{$ref}``:
    a copy per write and per state entry of 100,000 creates is hundreds of MB. What is sent
    and recorded is equal either way; the shared object is never mutated (the client only
    encodes it, and a state entry is a value)."""
    return substitute_refs(value, resolve) if has_ref_marker(value) else value


class Client(Protocol):
    def create(self, kind: Any, body: Mapping[str, Any], *, idempotency_key: str) -> dict[str, Any]: ...

    def update(
        self, kind: Any, id: str, body: Mapping[str, Any], *, idempotency_key: str, if_match: str | None = None
    ) -> dict[str, Any]: ...

    def fetch_by_keys(self, kind: Any, keys: Sequence[str]) -> dict[str, dict[str, Any]]: ...

    def get_with_etag(self, kind: Any, ref: str) -> tuple[dict[str, Any] | None, str | None]: ...

    def delete(self, kind: Any, id: str, *, idempotency_key: str) -> None: ...


class ChangeWriter:
    """Writes one change at a time (thread-safe: it keeps no state of its own)."""

    def __init__(
        self, client: Client, profile: Profile, resolve: Callable[[str], str | None], *, guard_updates: bool = False
    ) -> None:
        self.client = client
        self.profile = profile
        # The id of a resource created earlier in the run, by address, for ``{$ref}``s.
        self.resolve = resolve
        self.guard_updates = guard_updates

    def execute(self, change: Change) -> Written:
        kind = self.profile.kinds[change.kind]
        body = resolved(change.patch or {}, self.resolve)
        if has_ref_marker(body):
            return Outcome(change.address, change.action, Status.FAILED, "a referenced resource has no id"), None
        idem = str(uuid.uuid4())
        try:
            if change.action is Action.DELETE:
                return self._delete(change, kind, body, idem)
            if change.action is Action.REPLACE:
                # The old resource goes first: the new one takes its key (already gone is fine).
                gone, _ = self._delete(change, kind, {}, idem, method_only=True)
                if gone.status is not Status.APPLIED:
                    return Outcome(change.address, change.action, Status.FAILED, gone.message), None
                idem = str(uuid.uuid4())
            if change.action in (Action.CREATE, Action.REPLACE):
                try:
                    resource = self.client.create(kind, body, idempotency_key=idem)
                except ConflictError as exc:
                    # The key exists: perhaps our own earlier attempt whose answer was lost.
                    # Adopt it when it already is what we declared; otherwise report.
                    found = self.client.fetch_by_keys(kind, [change.key]).get(change.key)
                    if found is not None and self._satisfies(change, found):
                        return (Outcome(change.address, change.action, Status.APPLIED, "already existed",
                                        found.get("id")), found)
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
                        return Outcome(change.address, change.action, Status.FAILED,
                                       f"{moved}; not overwritten, re-run plan ({change.source})"), None
                resource = self.client.update(kind, change.id, body, idempotency_key=idem, if_match=if_match)
        except ApiError as exc:
            if exc.status == 412:
                return Outcome(change.address, change.action, Status.FAILED,
                               f"{change.address} changed since the plan (the API refused the conditional write: "
                               f"412); not overwritten, re-run plan ({change.source})"), None
            return Outcome(change.address, change.action, Status.FAILED, f"{exc} ({change.source})"), None
        return Outcome(change.address, change.action, Status.APPLIED, "", resource.get("id")), resource

    def _satisfies(self, change: Change, live: Mapping[str, Any]) -> bool:
        kind = self.profile.kinds[change.kind]
        spec = substitute_refs(change.spec, self.resolve)
        return all(values_equal(v, live.get(k), kind.fields.get(k)) for k, v in spec.items())

    def _recheck(self, kind: Any, change: Change) -> tuple[str | None, str | None]:
        """``(why it moved, None)`` when the resource changed since the plan, else ``(None, its ETag)``."""
        assert change.id is not None
        live, etag = self.client.get_with_etag(kind, change.id)
        why = moved_since_plan(change, live)
        return (why, None) if why is not None else (None, etag)

    def _delete(self, change: Change, kind: Any, body: Mapping[str, Any], idem: str, *,
                method_only: bool = False) -> Written:
        """DELETE, or the profile's PATCH when ``change.patch`` is set (never for ``method_only``:
        a replace's patch is the new resource). Already gone (404) is done."""
        assert change.id is not None
        try:
            if change.patch is None or method_only:
                self.client.delete(kind, change.id, idempotency_key=idem)
            else:
                self.client.update(kind, change.id, body, idempotency_key=idem)
        except ApiError as exc:
            if exc.status != 404:
                raise
            return Outcome(change.address, change.action, Status.APPLIED, "already gone", change.id), None
        return Outcome(change.address, change.action, Status.APPLIED, "", change.id), None
