"""What a sandbox handler answers, independent of the HTTP framework."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from declsync.profile.model import Violation

__all__ = ["Reply", "bad_request", "error", "json_bytes", "not_found", "ok", "validation_error"]


def json_bytes(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()


@dataclass(frozen=True)
class Reply:
    """A status, a JSON body already encoded (empty for 204) and extra headers.

    ``wrote`` says a resource change was committed (counted in the stats, and the
    kind of answer ``drop_after_commit`` loses); ``replayed`` says the answer came
    from the idempotency store.
    """

    status: int
    content: bytes = b""
    headers: Mapping[str, str] = field(default_factory=dict)
    wrote: bool = False
    replayed: bool = False


def ok(value: Any, status: int = 200, headers: Mapping[str, str] | None = None, *, wrote: bool = False) -> Reply:
    return Reply(status, json_bytes(value), dict(headers or {}), wrote=wrote)


def error(
    status: int, code: str, message: str, headers: Mapping[str, str] | None = None, /, **extra: Any
) -> Reply:
    """``{"error": code, "message": message, **extra}``; ``extra`` may hold e.g. a ``code`` of its own."""
    return Reply(status, json_bytes({"error": code, "message": message, **extra}), dict(headers or {}))


def bad_request(message: str, field: str = "") -> Reply:
    """A 400 for malformed input; ``details`` names the field (``""``: the whole body), as on
    every 400, so that one documented shape (``ValidationError``) covers them all."""
    return error(400, "bad_request", message, details=[{"field": field, "message": message}])


def not_found(message: str) -> Reply:
    return error(404, "not_found", message)


def validation_error(violations: Iterable[Violation], status: int = 400) -> Reply:
    """``status``: the kind's validation status (400, or 422 where the API's contract says so)."""
    details = [{"field": v.field, "message": v.message} for v in violations]
    return error(status, "validation_error", "Invalid field values", details=details)
