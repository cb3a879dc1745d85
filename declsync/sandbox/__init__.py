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

from declsync.sandbox.app import SandboxApp
from declsync.sandbox.config import SandboxConfig
from declsync.sandbox.openapi import build_openapi
from declsync.sandbox.seed import seed_demo
from declsync.sandbox.server import SandboxServer, sandbox_server, serve_forever
from declsync.sandbox.store import Store

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
