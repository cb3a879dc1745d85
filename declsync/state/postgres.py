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
import uuid
from collections.abc import Collection, Iterator
from contextlib import contextmanager
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from declsync.errors import ConfigError, StateError, StateLockError, redact, register_secret
from declsync.state.backend import Address, public_dsn
from declsync.state.model import State, StateEntry
from declsync.state.pg_migrations import MIGRATION_LOCK, MIGRATIONS, SCHEMA_VERSION
from declsync.state.pg_rows import COLUMNS, Conn, advisory_key, row, row_entry
from declsync.state.pg_session import PostgresSession

try:
    import psycopg
    from psycopg import errors as pg_errors
except ImportError:  # pragma: no cover - exercised only without the dependency
    psycopg = None  # type: ignore[assignment]

__all__ = ["PostgresBackend", "advisory_key"]

CONNECT_TIMEOUT = 10



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
            cur.execute(f"SELECT {COLUMNS} FROM declsync_entries WHERE workspace = %s", (self.workspace,))
            for row in cur:
                state.put(row_entry(row, where))
        state.mark_saved()
        return state

    def read(self) -> State:
        with self._query() as conn:
            return self._read(conn)

    def _entries(self, conn: Conn, keys: Collection[Address]) -> dict[Address, StateEntry]:
        kinds, names = [k for k, _ in keys], [n for _, n in keys]
        rows = conn.execute(
            f"SELECT {COLUMNS} FROM declsync_entries e JOIN unnest(%s::text[], %s::text[]) AS w(kind, key) "
            "USING (kind, key) WHERE e.workspace = %s", (kinds, names, self.workspace)).fetchall()
        where = f"state {self.description}"
        return {(r[0], r[1]): row_entry(r, where) for r in rows}

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
                cur.execute(f"SELECT {COLUMNS} FROM declsync_entries WHERE workspace = %s ORDER BY kind, key",
                            (self.workspace,))
                for row in cur:
                    if pattern is None or fnmatch.fnmatchcase(f"{row[0]}/{row[1]}", pattern):
                        yield row_entry(row, where)
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
                    copy.write_row(row(self.workspace, e, state.serial))
            conn.execute("INSERT INTO declsync_workspaces (workspace, lineage, serial) VALUES (%s, %s, %s) "
                         "ON CONFLICT (workspace) DO UPDATE SET lineage = excluded.lineage, serial = excluded.serial",
                         (self.workspace, state.lineage or str(uuid.uuid4()), state.serial))

    def force_unlock(self, lock_id: str) -> None:
        raise StateError(f"state {self.description} keeps no lock to force: PostgreSQL releases a command's locks "
                         "when its connection ends (a killed apply's included)")

