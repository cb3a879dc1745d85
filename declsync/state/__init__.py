"""The state store: per (kind, key), the resource id and the last-applied spec.

``StateBackend`` (``declsync.state.backend``) is the contract; ``open_backend(value)``
picks the file backend (a path, the default ``.declsync/state.json``) or PostgreSQL
(``postgresql://user@host:port/db?workspace=NAME``). The names below are what callers
import; the modules behind them may move.
"""

from __future__ import annotations

from declsync.state.backend import (
    Address,
    StateBackend,
    StateSession,
    open_backend,
    parse_lock_timeout,
    public_dsn,
)
from declsync.state.file import DEFAULT_PATH, LockedState, StateStore
from declsync.state.model import FORMAT_VERSION, State, StateEntry

__all__ = [
    "DEFAULT_PATH",
    "FORMAT_VERSION",
    "Address",
    "LockedState",
    "State",
    "StateBackend",
    "StateEntry",
    "StateSession",
    "StateStore",
    "open_backend",
    "parse_lock_timeout",
    "public_dsn",
]
