"""The PostgreSQL backend's rows and errors, shared by the backend (``postgres.py``) and a
command's session on it (``pg_session.py``): advisory lock keys, entry rows, psycopg's
errors in words (never the password).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from declsync.errors import StateError, redact
from declsync.state.model import StateEntry, entry_from_json

try:
    import psycopg
except ImportError:  # pragma: no cover - exercised only without the dependency
    psycopg = None  # type: ignore[assignment]

__all__ = ["COLUMNS", "Conn", "advisory_key", "db_errors", "row", "row_entry"]

COLUMNS = "kind, key, id, spec, updated_at, applied_at, source, prevent_destroy"
Conn = Any  # psycopg.Connection[tuple[Any, ...]]; Any keeps psycopg optional at import time


def advisory_key(workspace: str, kind: str, key: str) -> int:
    """The signed 64-bit advisory lock key of one resource."""
    digest = hashlib.blake2b(f"{workspace}\0{kind}\0{key}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


def row_entry(row: tuple[Any, ...], where: str) -> StateEntry:
    kind, key, ident, spec, updated_at, applied_at, source, protect = row
    try:
        spec_value = json.loads(spec)
    except (ValueError, RecursionError):
        raise StateError(f"{where}: entry {kind}/{key} has a damaged spec") from None
    return entry_from_json({"kind": kind, "key": key, "id": ident, "spec": spec_value, "updated_at": updated_at,
                            "applied_at": applied_at, "source": source, "prevent_destroy": protect}, where)


def row(workspace: str, entry: StateEntry, serial: int) -> tuple[Any, ...]:
    return (workspace, entry.kind, entry.key, entry.id, json.dumps(entry.spec, ensure_ascii=False),
            entry.updated_at, entry.applied_at, entry.source, entry.prevent_destroy, serial)


@contextmanager
def db_errors(description: str) -> Iterator[None]:
    """psycopg's errors as one StateError naming the database (never its password)."""
    try:
        yield
    except psycopg.OperationalError as exc:
        raise StateError(f"lost the state database {description}: {redact(str(exc).strip())}") from None
    except psycopg.Error as exc:
        raise StateError(f"state database {description}: {redact(str(exc).strip())}") from None
