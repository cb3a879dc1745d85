"""The PostgreSQL backend's schema, as numbered migrations applied on first use.

``declsync_schema`` records the version reached. Each migration runs in the same
transaction as its version bump, under a transaction-scoped advisory lock, so two
declsync processes starting at once against a new database do not race. A database
whose version is newer than this declsync knows is refused (upgrade declsync).
Add a migration by appending to ``MIGRATIONS``; never edit one that has shipped.
"""

from __future__ import annotations

__all__ = ["MIGRATIONS", "MIGRATION_LOCK", "SCHEMA_VERSION"]

# pg_advisory_xact_lock key held while migrating ("declsync" in ASCII, as a bigint).
MIGRATION_LOCK = 0x6465636C73796E63

MIGRATIONS: list[tuple[str, ...]] = [
    # 1: one row per workspace (serial, lineage), one row per (workspace, kind, key).
    (
        """CREATE TABLE IF NOT EXISTS declsync_workspaces (
               workspace text PRIMARY KEY,
               lineage   text   NOT NULL,
               serial    bigint NOT NULL)""",
        # spec is JSON text, not jsonb: state migrate must round-trip it exactly.
        """CREATE TABLE IF NOT EXISTS declsync_entries (
               workspace       text    NOT NULL,
               kind            text    NOT NULL,
               key             text    NOT NULL,
               id              text    NOT NULL,
               spec            text    NOT NULL,
               updated_at      text,
               applied_at      text,
               source          text,
               prevent_destroy boolean NOT NULL DEFAULT false,
               serial          bigint  NOT NULL,
               PRIMARY KEY (workspace, kind, key))""",
        # Who holds the advisory locks of a backend session, for "locked by …" messages.
        # Rows of ended sessions are harmless (looked up by pid AND backend start) and pruned.
        """CREATE TABLE IF NOT EXISTS declsync_lock_holders (
               backend_pid   integer     NOT NULL,
               backend_start timestamptz NOT NULL,
               host          text        NOT NULL,
               pid           integer     NOT NULL,
               operation     text        NOT NULL,
               since         text        NOT NULL,
               PRIMARY KEY (backend_pid, backend_start))""",
    ),
]

SCHEMA_VERSION = len(MIGRATIONS)
