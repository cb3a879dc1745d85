"""The PostgreSQL backend: ``postgresql://user@host:port/db?workspace=NAME`` (psycopg 3).

One row per (workspace, kind, key) in ``declsync_entries`` and one per workspace
(serial, lineage) in ``declsync_workspaces``; several environments share a database
through workspaces (default ``default``). The schema is created on first use and
versioned (``pg_migrations``). The password comes from the URL, ``PGPASSWORD`` or
``.pgpass`` (libpq) and is never printed: messages show ``public_dsn``.

Locks are per resource: session-level advisory locks (``pg_try_advisory_lock``) held
by the command's connection. Two applies of disjoint resources run at once; one that
needs a resource another holds retries until ``--lock-timeout`` and then names the
holder (host, pid, command, since: ``declsync_lock_holders``, matched on the backend's
pid and start time). A killed apply's connection ends, and its locks with it: no
``force-unlock`` is needed. ``save`` writes only the entries put or removed since the
last save (and takes their locks if the caller had not), in one transaction.
"""

from __future__ import annotations

import fnmatch
import hashlib
import json
import os
import socket
import time
import uuid
from collections.abc import Collection, Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from declsync.errors import ConfigError, StateError, StateLockError, redact, register_secret
from declsync.normalize import utc_now
from declsync.state.backend import Address, public_dsn
from declsync.state.model import State, StateEntry, entry_from_json
from declsync.state.pg_migrations import MIGRATION_LOCK, MIGRATIONS, SCHEMA_VERSION

try:
    import psycopg
    from psycopg import errors as pg_errors
except ImportError:  # pragma: no cover - exercised only without the dependency
    psycopg = None  # type: ignore[assignment]

__all__ = ["PostgresBackend", "advisory_key"]

LOCK_POLL = 0.1
# Above this many resources, a session locks its whole workspace (one lock-table slot).
BULK_LOCKS = 1000
_LOCK_FUNCTIONS = {
    "exclusive": ("pg_try_advisory_lock", "pg_advisory_unlock"),
    "shared": ("pg_try_advisory_lock_shared", "pg_advisory_unlock_shared"),
}
CONNECT_TIMEOUT = 10
_COLUMNS = "kind, key, id, spec, updated_at, applied_at, source, prevent_destroy"
Conn = Any  # psycopg.Connection[tuple[Any, ...]]; Any keeps psycopg optional at import time


def advisory_key(workspace: str, kind: str, key: str) -> int:
    """The signed 64-bit advisory lock key of one resource."""
    digest = hashlib.blake2b(f"{workspace}\0{kind}\0{key}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


def _row_entry(row: tuple[Any, ...], where: str) -> StateEntry:
    kind, key, ident, spec, updated_at, applied_at, source, protect = row
    try:
        spec_value = json.loads(spec)
    except (ValueError, RecursionError):
        raise StateError(f"{where}: entry {kind}/{key} has a damaged spec") from None
    return entry_from_json({"kind": kind, "key": key, "id": ident, "spec": spec_value, "updated_at": updated_at,
                            "applied_at": applied_at, "source": source, "prevent_destroy": protect}, where)


def _row(workspace: str, entry: StateEntry, serial: int) -> tuple[Any, ...]:
    return (workspace, entry.kind, entry.key, entry.id, json.dumps(entry.spec, ensure_ascii=False),
            entry.updated_at, entry.applied_at, entry.source, entry.prevent_destroy, serial)


@contextmanager
def _db_errors(description: str) -> Iterator[None]:
    """psycopg's errors as one StateError naming the database (never its password)."""
    try:
        yield
    except psycopg.OperationalError as exc:
        raise StateError(f"lost the state database {description}: {redact(str(exc).strip())}") from None
    except psycopg.Error as exc:
        raise StateError(f"state database {description}: {redact(str(exc).strip())}") from None


class PostgresBackend:
    """A workspace in a PostgreSQL database."""

    per_resource_locks = True

    def __init__(self, url: str) -> None:
        if psycopg is None:
            raise ConfigError("the PostgreSQL state backend needs psycopg: pip install 'psycopg[binary]'")
        parts = urlsplit(url)
        try:
            parts.port  # noqa: B018 - validates the port
        except ValueError:
            raise ConfigError(f"invalid state URL {public_dsn(url)!r}: bad port") from None
        register_secret(parts.password)
        query = parse_qsl(parts.query, keep_blank_values=True)
        self.workspace = next((v for k, v in query if k == "workspace"), "default") or "default"
        # libpq refuses parameters it does not know: workspace is ours.
        rest = urlencode([(k, v) for k, v in query if k != "workspace"])
        self._conninfo = urlunsplit(("postgresql", parts.netloc, parts.path, rest, ""))
        self.description = public_dsn(url)
        self.workspace_key = advisory_key(self.workspace, "", "")

    # ---------------------------------------------------------------- connections

    def connect(self, *, autocommit: bool = True) -> Conn:
        """A connection with the schema in place, or one clear StateError."""
        try:
            conn = psycopg.connect(self._conninfo, autocommit=autocommit, connect_timeout=CONNECT_TIMEOUT,
                                   application_name="declsync")
        except psycopg.Error as exc:
            raise StateError(f"cannot connect to the state database {self.description}: "
                             f"{redact(str(exc).strip())}") from None
        try:
            self._migrate(conn)
        except BaseException:
            conn.close()
            raise
        return conn

    def _migrate(self, conn: Conn) -> None:
        try:
            with conn.transaction():
                conn.execute("SELECT pg_advisory_xact_lock(%s)", (MIGRATION_LOCK,))
                conn.execute("CREATE TABLE IF NOT EXISTS declsync_schema (version integer NOT NULL)")
                row = conn.execute("SELECT max(version) FROM declsync_schema").fetchone()
                version = row[0] if row and row[0] is not None else 0
                if version > SCHEMA_VERSION:
                    raise StateError(f"the state database {self.description} has schema version {version}, newer "
                                     f"than this declsync understands ({SCHEMA_VERSION}); upgrade declsync")
                for number in range(version, SCHEMA_VERSION):
                    for statement in MIGRATIONS[number]:
                        conn.execute(statement)
                    conn.execute("INSERT INTO declsync_schema (version) VALUES (%s)", (number + 1,))
        except pg_errors.InsufficientPrivilege as exc:
            raise StateError(f"the state database {self.description} refused declsync's tables "
                             f"({redact(str(exc).strip())}); grant the user CREATE on the database's schema "
                             "and read/write on the declsync_* tables") from None
        except psycopg.Error as exc:
            raise StateError(f"state database {self.description}: {redact(str(exc).strip())}") from None

    @contextmanager
    def _query(self) -> Iterator[Conn]:
        conn = self.connect()
        try:
            yield conn
        except psycopg.Error as exc:
            raise StateError(f"state database {self.description}: {redact(str(exc).strip())}") from None
        finally:
            conn.close()

    # ---------------------------------------------------------------- reading

    def _read(self, conn: Conn) -> State:
        head = conn.execute("SELECT serial, lineage FROM declsync_workspaces WHERE workspace = %s",
                            (self.workspace,)).fetchone()
        state = State(serial=head[0], lineage=head[1]) if head else State()
        where = f"state {self.description}"
        with conn.cursor() as cur:
            cur.execute(f"SELECT {_COLUMNS} FROM declsync_entries WHERE workspace = %s", (self.workspace,))
            for row in cur:
                state.put(_row_entry(row, where))
        state.mark_saved()
        return state

    def read(self) -> State:
        with self._query() as conn:
            return self._read(conn)

    def _entries(self, conn: Conn, keys: Collection[Address]) -> dict[Address, StateEntry]:
        kinds, names = [k for k, _ in keys], [n for _, n in keys]
        rows = conn.execute(
            f"SELECT {_COLUMNS} FROM declsync_entries e JOIN unnest(%s::text[], %s::text[]) AS w(kind, key) "
            "USING (kind, key) WHERE e.workspace = %s", (kinds, names, self.workspace)).fetchall()
        where = f"state {self.description}"
        return {(r[0], r[1]): _row_entry(r, where) for r in rows}

    def read_entries(self, keys: Collection[Address]) -> dict[Address, StateEntry]:
        with self._query() as conn:
            return self._entries(conn, keys)

    def list(self, pattern: str | None = None) -> Iterator[StateEntry]:
        """Entries in (kind, key) order, streamed through a server-side cursor."""
        conn = self.connect(autocommit=False)
        where = f"state {self.description}"
        try:
            with conn.cursor(name="declsync_list") as cur:
                cur.itersize = 1000
                cur.execute(f"SELECT {_COLUMNS} FROM declsync_entries WHERE workspace = %s ORDER BY kind, key",
                            (self.workspace,))
                for row in cur:
                    if pattern is None or fnmatch.fnmatchcase(f"{row[0]}/{row[1]}", pattern):
                        yield _row_entry(row, where)
        except psycopg.Error as exc:
            raise StateError(f"state database {self.description}: {redact(str(exc).strip())}") from None
        finally:
            conn.close()

    def lineage(self) -> str:
        with self._query() as conn:
            row = conn.execute("SELECT lineage FROM declsync_workspaces WHERE workspace = %s",
                               (self.workspace,)).fetchone()
            return str(row[0]) if row else ""

    # ---------------------------------------------------------------- writing

    @contextmanager
    def locked(self, *, operation: str = "apply", lock_timeout: float = 0.0) -> Iterator[PostgresSession]:
        """A session on its own connection: its locks end with it (or with the process)."""
        conn = self.connect()
        try:
            session = PostgresSession(self, conn, operation, lock_timeout)
            yield session
        except psycopg.Error as exc:
            raise StateError(f"state database {self.description}: {redact(str(exc).strip())}") from None
        finally:
            conn.close()

    def import_state(self, state: State, *, force: bool = False) -> None:
        with self._query() as conn, conn.transaction():
            # Excludes every session of the workspace (they hold this key shared).
            if not conn.execute("SELECT pg_try_advisory_xact_lock(%s)", (self.workspace_key,)).fetchone()[0]:
                raise StateLockError(f"state {self.description} is in use by another command; "
                                     "nothing was migrated, try again when it has finished")
            count = conn.execute("SELECT count(*) FROM declsync_entries WHERE workspace = %s",
                                 (self.workspace,)).fetchone()[0]
            if count and not force:
                raise StateError(f"state {self.description} already has {count} entries; pass --force to replace them")
            conn.execute("DELETE FROM declsync_entries WHERE workspace = %s", (self.workspace,))
            with conn.cursor() as cur, cur.copy("COPY declsync_entries FROM STDIN") as copy:
                for e in state.entries():
                    copy.write_row(_row(self.workspace, e, state.serial))
            conn.execute("INSERT INTO declsync_workspaces (workspace, lineage, serial) VALUES (%s, %s, %s) "
                         "ON CONFLICT (workspace) DO UPDATE SET lineage = excluded.lineage, serial = excluded.serial",
                         (self.workspace, state.lineage or str(uuid.uuid4()), state.serial))

    def force_unlock(self, lock_id: str) -> None:
        raise StateError(f"state {self.description} keeps no lock to force: PostgreSQL releases a command's locks "
                         "when its connection ends (a killed apply's included)")


class PostgresSession:
    """One command's connection: the state read on it, its advisory locks, its saves."""

    def __init__(self, backend: PostgresBackend, conn: Conn, operation: str, lock_timeout: float) -> None:
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
        with _db_errors(self.backend.description):
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
        with _db_errors(self.backend.description):
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
        with _db_errors(self.backend.description):
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
                rows = [_row(ws, e, serial) for e in keep if e is not None]
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
