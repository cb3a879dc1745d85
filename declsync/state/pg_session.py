"""One command's session on the PostgreSQL state: the state read on its connection, its
per-resource advisory locks (``pg_try_advisory_lock``, retried until ``--lock-timeout``,
then naming the holder), and its saves (only the entries put or removed since the last
one, in one transaction). See ``declsync.state.postgres`` for the whole design.
"""

from __future__ import annotations

import os
import socket
import time
import uuid
from collections.abc import Collection
from typing import Protocol

from declsync.errors import StateError, StateLockError
from declsync.normalize import utc_now
from declsync.state.backend import Address
from declsync.state.model import State, StateEntry
from declsync.state.pg_rows import Conn, advisory_key, db_errors, row

__all__ = ["PostgresSession"]


class _Backend(Protocol):
    """What a session needs of its ``PostgresBackend`` (a Protocol: postgres.py imports this module)."""

    description: str
    workspace: str
    workspace_key: int

    def _read(self, conn: Conn) -> State: ...

    def _entries(self, conn: Conn, keys: Collection[Address]) -> dict[Address, StateEntry]: ...

LOCK_POLL = 0.1
# Above this many resources, a session locks its whole workspace (one lock-table slot).
BULK_LOCKS = 1000
_LOCK_FUNCTIONS = {
    "exclusive": ("pg_try_advisory_lock", "pg_advisory_unlock"),
    "shared": ("pg_try_advisory_lock_shared", "pg_advisory_unlock_shared"),
}


class PostgresSession:
    """One command's connection: the state read on it, its advisory locks, its saves."""

    def __init__(self, backend: _Backend, conn: Conn, operation: str, lock_timeout: float) -> None:
        self.backend = backend
        self.conn = conn
        self.lock_timeout = max(0.0, lock_timeout)
        self._held: set[Address] = set()
        self._workspace_mode: str | None = None
        # Holding the workspace exclusively: every resource is this session's.
        self._whole = False
        self._register(operation)
        self.state = backend._read(conn)

    def _register(self, operation: str) -> None:
        """Record who this backend session is, for the lock errors of others."""
        with self.conn.transaction():
            self.conn.execute(
                "DELETE FROM declsync_lock_holders h WHERE NOT EXISTS (SELECT 1 FROM pg_stat_activity a "
                "WHERE a.pid = h.backend_pid AND a.backend_start = h.backend_start)")
            self.conn.execute(
                "INSERT INTO declsync_lock_holders SELECT pid, backend_start, %s, %s, %s, %s "
                "FROM pg_stat_activity WHERE pid = pg_backend_pid() ON CONFLICT DO NOTHING",
                (socket.gethostname(), os.getpid(), operation, utc_now()))

    def lock(self, addresses: Collection[Address]) -> set[Address]:
        with db_errors(self.backend.description):
            return self._lock(addresses)

    def _lock(self, addresses: Collection[Address]) -> set[Address]:
        # PostgreSQL text cannot hold NUL: refuse such a key now, before any API write, rather
        # than at the save that would record it.
        bad = next((a for a in addresses if "\0" in a[0] or "\0" in a[1]), None)
        if bad is not None:
            raise StateError(f"{bad[0]}/{bad[1]!r} contains a NUL character, which the PostgreSQL state cannot "
                             "store; rename the key")
        wanted = sorted(set(addresses) - self._held)
        if not wanted or self._whole:
            return set()
        if self._workspace_mode is None:
            # Every session holds the workspace lock shared; one that needs more than BULK_LOCKS
            # resources (a migrate, a huge apply) holds it exclusively instead of filling
            # PostgreSQL's lock table with one lock per resource.
            self._workspace_mode = "exclusive" if len(wanted) > BULK_LOCKS else "shared"
            self._acquire([self.backend.workspace_key], self._workspace_mode, None)
            if self._workspace_mode == "exclusive":
                self._whole = True
                return self._refresh(wanted)
        ws = self.backend.workspace
        self._acquire([advisory_key(ws, *a) for a in wanted], "exclusive", wanted)
        self._held.update(wanted)
        return self._refresh(wanted)

    def _acquire(self, keys: list[int], mode: str, addresses: list[Address] | None) -> None:
        """Take all of ``keys`` or none, retrying until the lock timeout; then name a holder."""
        try_fn, unlock_fn = _LOCK_FUNCTIONS[mode]
        deadline = time.monotonic() + self.lock_timeout
        while True:
            rows = self.conn.execute(f"SELECT {try_fn}(k) FROM unnest(%s::bigint[]) WITH ORDINALITY AS t(k, n) "
                                     "ORDER BY n", (keys,)).fetchall()
            got = [r[0] for r in rows]
            if all(got):
                return
            # Give back what we took, so that two waiting sessions never hold each other up.
            taken = [k for k, ok in zip(keys, got, strict=True) if ok]
            if taken:
                self.conn.execute(f"SELECT {unlock_fn}(k) FROM unnest(%s::bigint[]) AS t(k)", (taken,))
            if time.monotonic() >= deadline:
                busy = got.index(False)
                what = (f"{addresses[busy][0]}/{addresses[busy][1]}" if addresses is not None
                        else f"workspace {self.backend.workspace!r}")
                raise StateLockError(self._held_message(keys[busy], what))
            time.sleep(LOCK_POLL)

    def written_since(self, addresses: Collection[Address], serial: int) -> set[Address]:
        """Each row carries the serial of the save that wrote it."""
        kinds, names = [k for k, _ in addresses], [n for _, n in addresses]
        with db_errors(self.backend.description):
            rows = self.conn.execute(
                "SELECT e.kind, e.key FROM declsync_entries e JOIN unnest(%s::text[], %s::text[]) AS w(kind, key) "
                "USING (kind, key) WHERE e.workspace = %s AND e.serial > %s",
                (kinds, names, self.backend.workspace, serial)).fetchall()
        return {(r[0], r[1]) for r in rows}

    def _refresh(self, addresses: Collection[Address]) -> set[Address]:
        """Re-read locked entries: another session may have saved them since ``state`` was read."""
        fresh = self.backend._entries(self.conn, addresses)
        changed: set[Address] = set()
        dirty = self.state.dirty()
        for address in addresses:
            if address in dirty:
                continue
            mine, theirs = self.state.get(*address), fresh.get(address)
            if mine != theirs:
                changed.add(address)
                if theirs is None:
                    self.state.remove(*address)
                else:
                    self.state.put(theirs)
        self.state.mark_saved(changed)
        return changed

    def _held_message(self, signed_key: int, what: str) -> str:
        key = signed_key & 0xFFFFFFFFFFFFFFFF
        row = self.conn.execute(
            "SELECT h.host, h.pid, h.operation, h.since FROM pg_locks l "
            "JOIN pg_stat_activity a ON a.pid = l.pid "
            "LEFT JOIN declsync_lock_holders h ON h.backend_pid = a.pid AND h.backend_start = a.backend_start "
            "WHERE l.locktype = 'advisory' AND l.granted AND l.classid = %s::bigint::oid "
            "AND l.objid = %s::bigint::oid AND l.objsubid = 1 LIMIT 1",
            (key >> 32, key & 0xFFFFFFFF)).fetchone()
        what = f"{what} is locked in state {self.backend.description}"
        waited = f"; waited {self.lock_timeout:g}s (--lock-timeout)" if self.lock_timeout else \
            "; pass --lock-timeout (e.g. 2m) to wait for it"
        if row is None or row[0] is None:
            return f"{what} by another session{waited}"
        host, pid, operation, since = row
        return f"{what} by {operation} (pid {pid} on host {host} since {since}){waited}"

    def save(self) -> None:
        dirty = self.state.dirty()
        if not dirty:
            return
        with db_errors(self.backend.description):
            # Never write an entry another session holds.
            self._lock(dirty)
            self._save(dirty)

    def _save(self, dirty: set[Address]) -> None:
        state, ws = self.state, self.backend.workspace
        with self.conn.transaction():
            # Create the workspace row first (two first saves racing both see it then), and
            # lock it: saves of one workspace are serialised, so serial grows by one each.
            self.conn.execute("INSERT INTO declsync_workspaces (workspace, lineage, serial) VALUES (%s, %s, 0) "
                              "ON CONFLICT (workspace) DO NOTHING", (ws, state.lineage or str(uuid.uuid4())))
            head = self.conn.execute("SELECT serial, lineage FROM declsync_workspaces WHERE workspace = %s "
                                     "FOR UPDATE", (ws,)).fetchone()
            if head and state.lineage and head[1] != state.lineage:
                raise StateError(f"state {self.backend.description} was replaced (lineage {head[1]}, this "
                                 f"command read {state.lineage}); nothing was saved, re-run")
            serial = (head[0] if head else 0) + 1
            lineage = head[1] if head else (state.lineage or str(uuid.uuid4()))
            keep = [state.get(*a) for a in sorted(dirty)]
            gone = [a for a in sorted(dirty) if state.get(*a) is None]
            with self.conn.cursor() as cur:
                if gone:
                    cur.executemany("DELETE FROM declsync_entries WHERE workspace = %s AND kind = %s AND key = %s",
                                    [(ws, *a) for a in gone])
                rows = [row(ws, e, serial) for e in keep if e is not None]
                if rows:
                    cur.executemany(
                        "INSERT INTO declsync_entries VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s) "
                        "ON CONFLICT (workspace, kind, key) DO UPDATE SET id = excluded.id, spec = excluded.spec, "
                        "updated_at = excluded.updated_at, applied_at = excluded.applied_at, "
                        "source = excluded.source, prevent_destroy = excluded.prevent_destroy, "
                        "serial = excluded.serial", rows)
            self.conn.execute("INSERT INTO declsync_workspaces (workspace, lineage, serial) VALUES (%s, %s, %s) "
                              "ON CONFLICT (workspace) DO UPDATE SET serial = excluded.serial", (ws, lineage, serial))
        state.serial, state.lineage = serial, lineage
        state.mark_saved(dirty)
