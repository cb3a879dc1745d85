"""The resource semantics of the sandbox API, independent of HTTP.

Each method takes parsed input and returns a ``Reply``. Writes run inside one
store transaction together with their idempotency record, so a committed write
and the answer a retry will replay can never disagree. Errors found after the
transaction started are raised as ``_Reject`` so that the transaction rolls back
(e.g. the friendlyId number taken by a create that then hits a duplicate key).

A PATCH that changes nothing (same body and key) answers 200 with the resource
as it is and does not bump ``updatedAt`` or the version, and is not counted as
a write: only stored changes move ``updatedAt``.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from declsync.profile.model import KindSpec, Profile, Violation, validate_body
from declsync.profile.types import field_type
from declsync.sandbox.config import ORGANIZATION_ID
from declsync.sandbox.listing import encode_cursor, page_request
from declsync.sandbox.replies import Reply, error, not_found, ok, validation_error
from declsync.sandbox.resources import (
    Refs,
    body_fingerprint,
    canonicalise_datetimes,
    compute,
    expand,
    fill_defaults,
    format_ms,
    merge,
    reference_answer,
    reference_ids,
    reference_slots,
    summary,
)
from declsync.sandbox.store import Column, DuplicateKeyError, IdempotencyRecord, Row, Store

__all__ = ["Idempotency", "Lookup", "ResourceService", "now_ms"]

Lookup = Literal["id", "friendlyId", "key"]
_LOOKUP_COLUMNS: Mapping[str, Column] = {"id": "id", "friendlyId": "friendly_id", "key": "key"}


def now_ms() -> int:
    return time.time_ns() // 1_000_000


@dataclass(frozen=True)
class Idempotency:
    """An ``Idempotency-Key`` and the fingerprint (method, path, body) of its request."""

    key: str
    fingerprint: str


class _Reject(Exception):
    def __init__(self, reply: Reply) -> None:
        super().__init__(reply.status)
        self.reply = reply


def etag(row: Row) -> str:
    return f'"{row.version}"'


def _if_match(header: str, row: Row) -> bool:
    current = etag(row)
    for part in header.split(","):
        tag = part.strip()
        if tag.startswith("W/"):
            tag = tag[2:]
        # A bare version number is accepted too: clients copy it from currentVersion by hand.
        if tag in ("*", current, str(row.version)):
            return True
    return False


class ResourceService:
    """Create, read, patch, delete and filter the resources of one profile in one store."""

    def __init__(self, profile: Profile, store: Store, clock: Callable[[], int] = now_ms) -> None:
        self.profile = profile
        self.store = store
        self._clock = clock
        self._known = frozenset(profile.kinds)

    # ------------------------------------------------------------------ rendering

    def render(self, kind: KindSpec, row: Row, keys: Refs) -> dict[str, Any]:
        """The full resource a client sees; ``keys`` maps referenced ids to their current keys."""
        out: dict[str, Any] = {**kind.constants, "id": row.id, "friendlyId": row.friendly_id, "key": row.key}
        out.update(expand(kind, self._known, row.body, keys))
        out.update(compute(kind, row.body))
        for name, member in kind.id_from.items():
            # As the contract answers: the parent as an object (``customer: {id, key, name, …}``),
            # no ``customerId``.
            ref_id = out.pop(name, None)
            out[member] = reference_answer(ref_id, keys) if isinstance(ref_id, str) else None
        out["organizationId"] = ORGANIZATION_ID
        out["createdAt"] = format_ms(row.created_ms)
        out["updatedAt"] = format_ms(row.updated_ms)
        out["deletedAt"] = format_ms(row.deleted_ms) if row.deleted_ms is not None else None
        return out

    def render_many(self, kind: KindSpec, rows: list[Row]) -> list[dict[str, Any]]:
        # One query for the keys of everything the page references.
        ids = {ref for row in rows for ref in reference_ids(kind, self._known, row.body)}
        ids |= {ref for row in rows for name in kind.id_from if isinstance(ref := row.body.get(name), str)}
        refs = {ref: summary(found) for ref, found in self.store.live_rows(ids).items()}
        return [self.render(kind, row, refs) for row in rows]

    def _single(self, kind: KindSpec, row: Row, status: int = 200, *, wrote: bool = False) -> Reply:
        (resource,) = self.render_many(kind, [row])
        headers = {"ETag": etag(row)}
        if status == 201:
            headers["Location"] = f"/v1/{kind.path}/{row.id}"
        return ok(resource, status, headers, wrote=wrote)

    # ------------------------------------------------------------------ reads

    def _locate(self, kind: KindSpec, ref: str, by: Lookup | None) -> Row | None:
        order: tuple[Lookup, ...] = (by,) if by else ("id", "friendlyId", "key")
        for how in order:
            row = self.store.find(kind.name, _LOOKUP_COLUMNS[how], ref)
            if row is not None:
                return row
        return None

    def _missing(self, kind: KindSpec, ref: str, by: Lookup | None) -> Reply:
        how = by or "id, friendlyId or key"
        return not_found(f"No {kind.name} with {how} {ref!r}")

    def get(self, kind: KindSpec, ref: str, by: Lookup | None = None) -> Reply:
        row = self._locate(kind, ref, by)
        return self._missing(kind, ref, by) if row is None else self._single(kind, row)

    def get_by_key(self, kind: KindSpec, key: str) -> Reply:
        return self.get(kind, key, "key")

    def filter(self, kind: KindSpec, payload: Mapping[str, Any]) -> Reply:
        """One page of ``POST {path}/filter``; keyset pagination over the insertion order."""
        size, after, conditions, problems = page_request(payload)
        if problems:
            return validation_error(problems, kind.validation_status)
        rows = self.store.page(kind.name, conditions, after, size + 1)
        more = len(rows) > size
        rows = rows[:size]
        return ok({
            "data": self.render_many(kind, rows),
            kind.page_envelope: {
                "pageSize": size,
                "hasNextPage": more,
                "hasPreviousPage": False,
                "endCursor": encode_cursor(rows[-1].seq) if rows else None,
            },
        })

    # ------------------------------------------------------------------ writes

    def create(self, kind: KindSpec, body: dict[str, Any], idem: Idempotency | None = None) -> Reply:
        return self._write(idem, lambda: self._create(kind, body))

    def patch(
        self,
        kind: KindSpec,
        ref: str,
        body: dict[str, Any],
        *,
        by: Lookup | None = None,
        if_match: str | None = None,
        idem: Idempotency | None = None,
    ) -> Reply:
        return self._write(idem, lambda: self._patch(kind, ref, by, body, if_match))

    def delete(
        self,
        kind: KindSpec,
        ref: str,
        *,
        by: Lookup | None = None,
        if_match: str | None = None,
        idem: Idempotency | None = None,
    ) -> Reply:
        return self._write(idem, lambda: self._delete(kind, ref, by, if_match))

    def _write(self, idem: Idempotency | None, action: Callable[[], Reply]) -> Reply:
        try:
            with self.store.transaction():
                if idem is not None:
                    record = self.store.idempotency(idem.key)
                    if record is not None:
                        return self._replay(idem, record)
                reply = action()
                # Only successes are remembered: a failed request may be corrected and retried.
                if idem is not None and 200 <= reply.status < 300:
                    record = IdempotencyRecord(idem.fingerprint, reply.status, dict(reply.headers), reply.content)
                    self.store.remember(idem.key, record, self._clock())
                return reply
        except _Reject as rejected:
            return rejected.reply

    @staticmethod
    def _replay(idem: Idempotency, record: IdempotencyRecord) -> Reply:
        if record.fingerprint != idem.fingerprint:
            return error(
                422,
                "idempotency_key_reused",
                "This Idempotency-Key was already used for a different request (method, path or body); "
                "use a new key for a new request",
            )
        headers = {**record.headers, "Idempotent-Replayed": "true"}
        return Reply(record.status, record.content, headers, replayed=True)

    def _prepare(self, kind: KindSpec, body: dict[str, Any]) -> None:
        """Canonicalise date-times and resolve references in ``body``, in place."""
        problems = canonicalise_datetimes(kind, body)
        problems += self._resolve(kind, body)
        if problems:
            raise _Reject(validation_error(problems, kind.validation_status))

    def _create(self, kind: KindSpec, body: dict[str, Any]) -> Reply:
        violations = validate_body(kind, body, "create")
        if violations:
            raise _Reject(validation_error(violations, kind.validation_status))
        key = body.pop("key", None)
        self._prepare(kind, body)
        fill_defaults(kind.fields, body)
        try:
            row = self.store.insert(kind.name, str(uuid.uuid4()), kind.friendly_id_prefix, key, body, self._clock())
        except DuplicateKeyError:
            raise _Reject(self._duplicate(kind, key)) from None
        return self._single(kind, row, 201, wrote=True)

    def _patch(self, kind: KindSpec, ref: str, by: Lookup | None, body: dict[str, Any], if_match: str | None) -> Reply:
        row = self._target(kind, ref, by, if_match)
        violations = validate_body(kind, body, "patch")
        if violations:
            raise _Reject(validation_error(violations, kind.validation_status))
        key = body.pop("key") if "key" in body else row.key
        self._prepare(kind, body)
        new_body = merge(kind.fields, row.body, body)
        if key == row.key and body_fingerprint(new_body) == body_fingerprint(row.body):
            return self._single(kind, row)
        try:
            row = self.store.update(row, key, new_body, self._next_ms(row))
        except DuplicateKeyError:
            raise _Reject(self._duplicate(kind, key)) from None
        return self._single(kind, row, wrote=True)

    def _delete(self, kind: KindSpec, ref: str, by: Lookup | None, if_match: str | None) -> Reply:
        row = self._target(kind, ref, by, if_match)
        self.store.soft_delete(row, self._next_ms(row))
        return Reply(204, wrote=True)

    def _target(self, kind: KindSpec, ref: str, by: Lookup | None, if_match: str | None) -> Row:
        row = self._locate(kind, ref, by)
        if row is None:
            raise _Reject(self._missing(kind, ref, by))
        if if_match is not None and not _if_match(if_match, row):
            raise _Reject(error(
                412, "precondition_failed", "Resource was modified by another request", currentVersion=etag(row)
            ))
        return row

    def _next_ms(self, row: Row) -> int:
        # updatedAt strictly increases per resource even when the clock has not moved.
        return max(self._clock(), row.updated_ms + 1)

    @staticmethod
    def _duplicate(kind: KindSpec, key: str | None) -> Reply:
        return error(409, "conflict", f"A {kind.name} with key '{key}' already exists", code="DUPLICATE_KEY")

    # ------------------------------------------------------------------ references

    def _resolve(self, kind: KindSpec, body: dict[str, Any]) -> list[Violation]:
        """Check that references point at live resources and store them as ``{"id": …}``.

        References to kinds the profile does not know (e.g. PaymentTerm) cannot be
        checked; they are kept as given, the missing member null.
        """
        slots = reference_slots(kind, body)
        if not slots:
            return []
        ids: dict[str, set[str]] = {}
        keys: dict[str, set[str]] = {}
        for slot in slots:
            value = slot.value
            if not field_type(slot.spec).is_reference:
                assert slot.spec.ref_kind is not None
                ids.setdefault(slot.spec.ref_kind, set()).add(value)
            elif slot.spec.kind not in self._known:
                slot.set({"id": value.get("id"), "key": value.get("key")})
            elif "id" in value:
                ids.setdefault(str(slot.spec.kind), set()).add(value["id"])
            else:
                keys.setdefault(str(slot.spec.kind), set()).add(value["key"])
        live_ids = {k: self.store.live_ids(k, wanted) for k, wanted in ids.items()}
        live_keys = {k: self.store.live_ids_by_key(k, wanted) for k, wanted in keys.items()}
        problems: list[Violation] = []
        for slot in slots:
            value = slot.value
            if not field_type(slot.spec).is_reference:
                target = str(slot.spec.ref_kind)
                if value not in live_ids[target]:
                    problems.append(Violation(slot.path, f"References must exist: no {target} with id '{value}'"))
                continue
            target = str(slot.spec.kind)
            if target not in self._known:
                continue
            if "id" in value:
                if value["id"] in live_ids[target]:
                    slot.set({"id": value["id"]})
                else:
                    problems.append(Violation(slot.path, f"References must exist: no {target} with id '{value['id']}'"))
            else:
                found = live_keys[target].get(value["key"])
                if found is not None:
                    slot.set({"id": found})
                else:
                    problems.append(Violation(slot.path, f"References must exist: no {target} with key '{value['key']}'"))
        return problems
