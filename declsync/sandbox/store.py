"""SQLite persistence for the sandbox.

One generic ``resources`` table holds every kind: the server-managed columns
(id, friendlyId, key, version, timestamps) live in columns so they can be
indexed; the writable fields live in ``body`` as JSON. Client-key uniqueness is
a UNIQUE *partial* index over live, keyed rows, so SQLite itself refuses a
second live resource with the same key (no check-then-insert race) and a
soft-deleted resource frees its key.

A single connection is shared by all threads behind a re-entrant lock: the
sandbox's work per request is a few indexed statements, so serialising them
costs less than a connection pool would, and ``transaction()`` makes a
multi-statement write (resource + idempotency record) atomic.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Literal

from declsync.errors import ConfigError

__all__ = [
    "FIRST_FRIENDLY_NUMBER",
    "Condition",
    "DuplicateKeyError",
    "IdempotencyRecord",
    "Row",
    "Store",
]

FIRST_FRIENDLY_NUMBER = 10001

_SCHEMA = """
CREATE TABLE IF NOT EXISTS resources (
    seq         INTEGER PRIMARY KEY,
    kind        TEXT NOT NULL,
    id          TEXT NOT NULL UNIQUE,
    friendly_id TEXT NOT NULL,
    key         TEXT,
    body        TEXT NOT NULL,
    version     INTEGER NOT NULL,
    created_ms  INTEGER NOT NULL,
    updated_ms  INTEGER NOT NULL,
    deleted_ms  INTEGER
);
CREATE UNIQUE INDEX IF NOT EXISTS resources_live_key
    ON resources (kind, key) WHERE key IS NOT NULL AND deleted_ms IS NULL;
CREATE INDEX IF NOT EXISTS resources_friendly_id ON resources (kind, friendly_id);
CREATE INDEX IF NOT EXISTS resources_kind_seq ON resources (kind, seq);
CREATE TABLE IF NOT EXISTS counters (
    kind TEXT PRIMARY KEY,
    last INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS idempotency (
    key         TEXT PRIMARY KEY,
    fingerprint TEXT NOT NULL,
    status      INTEGER NOT NULL,
    headers     TEXT NOT NULL,
    content     BLOB NOT NULL,
    created_ms  INTEGER NOT NULL
);
"""

_COLUMNS = "seq, kind, id, friendly_id, key, body, version, created_ms, updated_ms, deleted_ms"
Column = Literal["id", "friendly_id", "key", "deleted_ms"]
_FILTER_COLUMNS = frozenset({"id", "friendly_id", "key", "deleted_ms"})


class DuplicateKeyError(Exception):
    """A live resource of the same kind already has this key."""


@dataclass(frozen=True)
class Row:
    seq: int
    kind: str
    id: str
    friendly_id: str
    key: str | None
    body: dict[str, Any]
    version: int
    created_ms: int
    updated_ms: int
    deleted_ms: int | None


@dataclass(frozen=True)
class IdempotencyRecord:
    """What a write answered, replayed to a retry carrying the same Idempotency-Key."""

    fingerprint: str
    status: int
    headers: dict[str, str]
    content: bytes


@dataclass(frozen=True)
class Condition:
    """One filter term: ``column = value``, ``column IN value`` or ``column IS [NOT] NULL``."""

    column: Column
    op: Literal["eq", "in", "is_null"]
    value: Any


def _dumps(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def _row(t: Sequence[Any]) -> Row:
    return Row(t[0], t[1], t[2], t[3], t[4], json.loads(t[5]), t[6], t[7], t[8], t[9])


class Store:
    """The sandbox database (a file, kept in WAL mode, or ``:memory:``)."""

    def __init__(self, path: str = ":memory:") -> None:
        self.path = path
        self._lock = threading.RLock()
        self._depth = 0
        try:
            # Autocommit mode: transactions are opened explicitly by ``transaction()``.
            self._conn = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
            if path != ":memory:":
                self._conn.execute("PRAGMA journal_mode=WAL")
                # WAL + NORMAL never corrupts; it may lose the last commits on power loss, fine for a sandbox.
                self._conn.execute("PRAGMA synchronous=NORMAL")
            # Another process (``declsync sandbox seed``) may hold the write lock briefly.
            self._conn.execute("PRAGMA busy_timeout=5000")
            self._conn.executescript(_SCHEMA)
        except sqlite3.Error as exc:
            raise ConfigError(f"cannot open the sandbox database {path}: {exc}") from None

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """Hold the lock and run the block in one SQLite transaction (re-entrant)."""
        with self._lock:
            if self._depth:
                self._depth += 1
                try:
                    yield
                finally:
                    self._depth -= 1
                return
            # IMMEDIATE takes the write lock up front, so two processes never deadlock upgrading.
            self._conn.execute("BEGIN IMMEDIATE")
            self._depth = 1
            try:
                yield
            except BaseException:
                self._depth = 0
                self._conn.execute("ROLLBACK")
                raise
            self._depth = 0
            self._conn.execute("COMMIT")

    # ------------------------------------------------------------------ reads

    def find(self, kind: str, column: Column, value: str) -> Row | None:
        """The live resource of ``kind`` whose ``column`` equals ``value``."""
        if column not in _FILTER_COLUMNS:
            raise ValueError(f"not a lookup column: {column}")
        with self._lock:
            t = self._conn.execute(
                f"SELECT {_COLUMNS} FROM resources WHERE kind = ? AND {column} = ? AND deleted_ms IS NULL LIMIT 1",
                (kind, value),
            ).fetchone()
        return _row(t) if t else None

    def page(self, kind: str, conditions: Iterable[Condition], after_seq: int, limit: int) -> list[Row]:
        """Up to ``limit`` resources matching every condition, in ``seq`` order after ``after_seq``."""
        where = ["kind = ?", "seq > ?"]
        params: list[Any] = [kind, after_seq]
        for c in conditions:
            if c.column not in _FILTER_COLUMNS:
                raise ValueError(f"not a filter column: {c.column}")
            if c.op == "eq":
                where.append(f"{c.column} = ?")
                params.append(c.value)
            elif c.op == "in":
                # json_each keeps this one parameter however long the list is.
                where.append(f"{c.column} IN (SELECT value FROM json_each(?))")
                params.append(_dumps(list(c.value)))
            else:
                where.append(f"{c.column} IS {'' if c.value else 'NOT '}NULL")
        params.append(limit)
        sql = f"SELECT {_COLUMNS} FROM resources WHERE {' AND '.join(where)} ORDER BY seq LIMIT ?"
        with self._lock:
            return [_row(t) for t in self._conn.execute(sql, params)]

    def live_ids(self, kind: str, ids: Iterable[str]) -> set[str]:
        """Which of ``ids`` are live resources of ``kind``."""
        wanted = _dumps(sorted(set(ids)))
        with self._lock:
            rows = self._conn.execute(
                "SELECT id FROM resources WHERE id IN (SELECT value FROM json_each(?)) "
                "AND kind = ? AND deleted_ms IS NULL",
                (wanted, kind),
            ).fetchall()
        return {r[0] for r in rows}

    def live_ids_by_key(self, kind: str, keys: Iterable[str]) -> dict[str, str]:
        """``{key: id}`` for the live resources of ``kind`` holding any of ``keys``."""
        wanted = _dumps(sorted(set(keys)))
        with self._lock:
            rows = self._conn.execute(
                "SELECT key, id FROM resources WHERE kind = ? AND key IN (SELECT value FROM json_each(?)) "
                "AND deleted_ms IS NULL",
                (kind, wanted),
            ).fetchall()
        return {r[0]: r[1] for r in rows}

    def live_rows(self, ids: Iterable[str]) -> dict[str, Row]:
        """``{id: row}`` for those of ``ids`` that are live resources (of any kind)."""
        wanted = sorted(set(ids))
        if not wanted:
            return {}
        with self._lock:
            rows = self._conn.execute(
                f"SELECT {_COLUMNS} FROM resources WHERE id IN (SELECT value FROM json_each(?)) "
                "AND deleted_ms IS NULL",
                (_dumps(wanted),),
            ).fetchall()
        return {row.id: row for row in map(_row, rows)}

    def count(self, kind: str | None = None, *, include_deleted: bool = False) -> int:
        sql = "SELECT COUNT(*) FROM resources WHERE (? IS NULL OR kind = ?)"
        if not include_deleted:
            sql += " AND deleted_ms IS NULL"
        with self._lock:
            return int(self._conn.execute(sql, (kind, kind)).fetchone()[0])

    # ------------------------------------------------------------------ writes

    def insert(self, kind: str, id: str, prefix: str, key: str | None, body: Mapping[str, Any], now_ms: int) -> Row:
        """Create a resource; its friendlyId is ``prefix`` + the kind's next number."""
        with self.transaction():
            (number,) = self._conn.execute(
                "INSERT INTO counters (kind, last) VALUES (?, ?) "
                "ON CONFLICT (kind) DO UPDATE SET last = last + 1 RETURNING last",
                (kind, FIRST_FRIENDLY_NUMBER),
            ).fetchone()
            friendly_id = f"{prefix}{number}"
            try:
                cur = self._conn.execute(
                    "INSERT INTO resources (kind, id, friendly_id, key, body, version, created_ms, updated_ms) "
                    "VALUES (?, ?, ?, ?, ?, 1, ?, ?)",
                    (kind, id, friendly_id, key, _dumps(body), now_ms, now_ms),
                )
            except sqlite3.IntegrityError as exc:
                raise DuplicateKeyError(key) from exc
            seq = cur.lastrowid
        assert seq is not None
        return Row(seq, kind, id, friendly_id, key, dict(body), 1, now_ms, now_ms, None)

    def update(self, row: Row, key: str | None, body: Mapping[str, Any], updated_ms: int) -> Row:
        """Store a new key and body for ``row`` and bump its version."""
        with self.transaction():
            try:
                self._conn.execute(
                    "UPDATE resources SET key = ?, body = ?, version = version + 1, updated_ms = ? WHERE seq = ?",
                    (key, _dumps(body), updated_ms, row.seq),
                )
            except sqlite3.IntegrityError as exc:
                raise DuplicateKeyError(key) from exc
        return Row(row.seq, row.kind, row.id, row.friendly_id, key, dict(body), row.version + 1,
                   row.created_ms, updated_ms, None)

    def soft_delete(self, row: Row, deleted_ms: int) -> Row:
        """Mark ``row`` deleted: it leaves the live key index, so its key is free again."""
        with self.transaction():
            self._conn.execute(
                "UPDATE resources SET deleted_ms = ?, updated_ms = ?, version = version + 1 WHERE seq = ?",
                (deleted_ms, deleted_ms, row.seq),
            )
        return Row(row.seq, row.kind, row.id, row.friendly_id, row.key, row.body, row.version + 1,
                   row.created_ms, deleted_ms, deleted_ms)

    def wipe(self) -> None:
        """Delete every resource, counter and idempotency record."""
        with self.transaction():
            for table in ("resources", "counters", "idempotency"):
                self._conn.execute(f"DELETE FROM {table}")

    # ------------------------------------------------------------------ idempotency

    def idempotency(self, key: str) -> IdempotencyRecord | None:
        with self._lock:
            t = self._conn.execute(
                "SELECT fingerprint, status, headers, content FROM idempotency WHERE key = ?", (key,)
            ).fetchone()
        if t is None:
            return None
        return IdempotencyRecord(t[0], t[1], json.loads(t[2]), bytes(t[3]))

    def remember(self, key: str, record: IdempotencyRecord, now_ms: int) -> None:
        with self._lock:
            self._conn.execute(
                "INSERT INTO idempotency (key, fingerprint, status, headers, content, created_ms) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                (key, record.fingerprint, record.status, _dumps(record.headers), record.content, now_ms),
            )
