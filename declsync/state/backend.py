"""The contract every state backend keeps, and how a ``--state`` value picks one.

A backend stores, per (kind, key), what declsync last applied (``StateEntry``), plus
the state's ``serial`` and ``lineage``. What the planner and the applier need::

    backend.read()                        # State, without locking (plan)
    backend.read_entries(keys)            # just these entries
    backend.list(pattern)                 # entries in (kind, key) order, streamed
    backend.lineage()                     # "" until the first save
    with backend.locked(operation="apply", lock_timeout=30) as session:
        session.state                     # read under the session
        session.lock({("Order", "A")})    # exclusive until the session ends
        session.state.put(entry)
        session.save()                    # atomic: all dirty entries or none

``lock`` is per resource where the backend can (PostgreSQL: two applies of disjoint
resources run at once); the file backend locks the whole file when the session starts
and ``lock`` only checks nothing else is needed. A lock that cannot be had within
``lock_timeout`` seconds (0: fail at once) raises ``StateLockError`` naming its
holder. ``tests/state/conformance.py`` is the suite every backend passes.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection, Iterator
from contextlib import AbstractContextManager
from typing import Protocol, runtime_checkable
from urllib.parse import parse_qs, unquote, urlsplit, urlunsplit

from declsync.errors import ConfigError
from declsync.state.model import State, StateEntry

__all__ = ["Address", "LockHolder", "StateBackend", "StateSession", "open_backend", "parse_lock_timeout", "public_dsn"]

Address = tuple[str, str]


class LockHolder(Protocol):
    """Who holds a lock, for the error message."""

    def describe(self) -> str: ...


@runtime_checkable
class StateSession(Protocol):
    """One command's view of the state, with its locks (released when the session ends)."""

    state: State

    def lock(self, addresses: Collection[Address]) -> set[Address]:
        """Take the locks of ``addresses``; return those whose entry changed since ``state`` was
        read (their new value is now in ``state``), so a caller can refuse a plan made on the old one."""
        ...

    def save(self) -> None:
        """Write every entry put or removed since the last save, atomically; serial + 1."""
        ...

    def written_since(self, addresses: Collection[Address], serial: int) -> set[Address]:
        """Those of ``addresses`` whose entry was saved after the state's serial was ``serial``."""
        ...


@runtime_checkable
class StateBackend(Protocol):
    """Where the state lives. ``description`` names it without credentials."""

    description: str
    # True when ``lock`` locks single resources (disjoint sessions run at once).
    per_resource_locks: bool

    def read(self) -> State: ...

    def read_entries(self, keys: Collection[Address]) -> dict[Address, StateEntry]: ...

    def list(self, pattern: str | None = None) -> Iterator[StateEntry]: ...

    def lineage(self) -> str: ...

    def locked(self, *, operation: str = "apply", lock_timeout: float = 0.0) -> AbstractContextManager[StateSession]:
        ...

    def import_state(self, state: State, *, force: bool = False) -> None:
        """Replace everything with ``state`` (entries, serial, lineage): ``state migrate``."""
        ...

    def force_unlock(self, lock_id: str) -> None: ...


def public_dsn(value: str) -> str:
    """A state URL without its password (and without any query but the workspace)."""
    parts = urlsplit(value)
    if not parts.scheme or not parts.netloc:
        return value
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    if parts.port:
        host = f"{host}:{parts.port}"
    if parts.username:
        host = f"{unquote(parts.username)}@{host}"
    workspace = parse_qs(parts.query).get("workspace")
    query = f"workspace={workspace[0]}" if workspace else ""
    return urlunsplit((parts.scheme, host, parts.path, query, ""))


_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)?\s*$")
_UNIT = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, None: 1.0}


def parse_lock_timeout(text: str | float | None) -> float:
    """``--lock-timeout``: seconds (``30``), or ``30s``/``2m``/``500ms``/``1h``; 0 = fail at once."""
    if text is None or text == "":
        return 0.0
    if isinstance(text, int | float):
        return float(text)
    match = _DURATION.match(text)
    if not match:
        raise ConfigError(f"invalid --lock-timeout {text!r}: give seconds or a duration such as 30s or 2m")
    return float(match.group(1)) * _UNIT[match.group(2)]


def _file(value: str) -> StateBackend:
    from declsync.state.file import StateStore

    return StateStore(value)


def _postgres(value: str) -> StateBackend:
    # Imported here: psycopg is only needed by those who use it.
    from declsync.state.postgres import PostgresBackend

    return PostgresBackend(value)


_SCHEMES: dict[str, Callable[[str], StateBackend]] = {
    "postgresql": _postgres,
    "postgres": _postgres,
    "file": lambda value: _file(value.removeprefix("file://")),
}
# A URL scheme: letters then "://" (a Windows drive "C:\\" or a plain "a:b.json" is a path).
_URL = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*)://")


def open_backend(value: str) -> StateBackend:
    """The backend a ``--state`` value names: a file path, ``file://PATH`` or ``postgresql://…``."""
    match = _URL.match(value)
    if match is None:
        return _file(value)
    scheme = match.group(1).lower()
    factory = _SCHEMES.get(scheme)
    if factory is None:
        raise ConfigError(
            f"unknown state backend {public_dsn(value)!r}: --state takes a file path or "
            f"postgresql://user@host:port/db?workspace=NAME"
        )
    return factory(value)
