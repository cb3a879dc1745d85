"""A local MVMNT-compatible API server backed by SQLite (like moto for AWS).

It serves every kind of a resource profile under ``/v1`` with the seed
semantics (client keys unique per kind, merge-patch PATCH, soft delete,
validation with the same validator the client uses), plus OAuth2 client
credentials, ETag/If-Match, Idempotency-Key, rate limiting, and knobs for
latency and fault injection used by tests and benchmarks::

    from declsync.sandbox import SandboxConfig, SandboxServer

    with SandboxServer(SandboxConfig(latency=0.02)) as server:
        ...  # talk to server.base_url; server.fail_next(3); server.stats()
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

# Loaded on first use: the server stack (starlette, uvicorn) is imported only by the
# code that serves, never by ``declsync --help`` or a command that targets a real API.
_EXPORTS = {
    "SandboxApp": "declsync.sandbox.app",
    "SandboxConfig": "declsync.sandbox.config",
    "build_openapi": "declsync.sandbox.openapi",
    "seed_demo": "declsync.sandbox.seed",
    "SandboxServer": "declsync.sandbox.server",
    "sandbox_server": "declsync.sandbox.server",
    "serve_forever": "declsync.sandbox.server",
    "Store": "declsync.sandbox.store",
}

__all__ = [
    "SandboxApp",
    "SandboxConfig",
    "SandboxServer",
    "Store",
    "build_openapi",
    "sandbox_server",
    "seed_demo",
    "serve_forever",
]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'declsync.sandbox' has no attribute {name!r}")
    value = getattr(import_module(module), name)
    globals()[name] = value
    return value


if TYPE_CHECKING:
    from declsync.sandbox.app import SandboxApp
    from declsync.sandbox.config import SandboxConfig
    from declsync.sandbox.openapi import build_openapi
    from declsync.sandbox.seed import seed_demo
    from declsync.sandbox.server import SandboxServer, sandbox_server, serve_forever
    from declsync.sandbox.store import Store
