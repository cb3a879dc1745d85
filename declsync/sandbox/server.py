"""Running the sandbox: in a background thread (tests, benchmarks, the embedded
target) or in the foreground (``declsync sandbox``).

The listening socket is bound here, before uvicorn starts, so that port 0 gets
a free port whose number is known at once and a busy port fails in ``start()``
with a clear error instead of inside the server thread.
"""

from __future__ import annotations

import logging
import signal
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import TracebackType
from typing import Any

import uvicorn
from starlette.types import ASGIApp

from declsync.errors import ConfigError
from declsync.sandbox.app import SandboxApp
from declsync.sandbox.config import SandboxConfig
from declsync.sandbox.controls import RateLimiter

__all__ = ["SandboxServer", "sandbox_server", "serve_forever"]

START_TIMEOUT = 10.0


class _DroppedOnPurpose(logging.Filter):
    """``drop_after_commit`` returns without finishing the answer, on purpose; uvicorn
    would log that as an error each time. The app never does it otherwise."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "ASGI callable returned without completing response" not in record.getMessage()


def _quiet_dropped_answers() -> None:
    logger = logging.getLogger("uvicorn.error")
    if not any(isinstance(f, _DroppedOnPurpose) for f in logger.filters):
        logger.addFilter(_DroppedOnPurpose())


def _bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # IPPROTO_TCP explicitly: asyncio sets TCP_NODELAY only on sockets that say so, and
    # without it Nagle + delayed ACK add ~40 ms to every answer.
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise ConfigError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    sock.set_inheritable(True)
    return sock


def _uvicorn(app: ASGIApp) -> uvicorn.Server:
    config = uvicorn.Config(
        app,
        log_level="warning",
        access_log=False,
        lifespan="off",
        # Idle keep-alive connections must not hold up stop().
        timeout_graceful_shutdown=5,
    )
    _quiet_dropped_answers()
    return uvicorn.Server(config)


def _url(host: str, port: int) -> str:
    shown = f"[{host}]" if ":" in host else host
    return f"http://{shown}:{port}"


class SandboxServer:
    """A sandbox API on a background thread.

    >>> with SandboxServer() as server:            # :memory: database, free port
    ...     httpx.get(server.base_url + "/orders", params={"key": "K"})
    """

    def __init__(
        self,
        config: SandboxConfig | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        middleware: Callable[[ASGIApp], ASGIApp] | None = None,
    ) -> None:
        self.config = config or SandboxConfig()
        self.host = host
        self.port = port
        # Wraps the app that is served (e.g. the contract tests' validating middleware);
        # ``app`` stays the SandboxApp, so every knob still reaches it.
        self._middleware = middleware
        self._app: SandboxApp | None = None
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self._sock: socket.socket | None = None

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> SandboxServer:
        if self._thread is not None:
            raise RuntimeError("the sandbox server is already running")
        sock = _bind(self.host, self.port)
        try:
            app = SandboxApp(self.config)
        except BaseException:
            sock.close()
            raise
        server = _uvicorn(self._middleware(app) if self._middleware else app)
        thread = threading.Thread(
            target=server.run, kwargs={"sockets": [sock]}, name="declsync-sandbox", daemon=True
        )
        thread.start()
        deadline = time.monotonic() + START_TIMEOUT
        while not server.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                server.should_exit = True
                thread.join(timeout=1)
                sock.close()
                app.store.close()
                raise ConfigError(f"the sandbox server did not start on {_url(self.host, self.port)}")
            time.sleep(0.005)
        self.port = sock.getsockname()[1]
        self._app, self._server, self._thread, self._sock = app, server, thread, sock
        return self

    def stop(self) -> None:
        """Stop serving (finishing requests in flight) and close the database."""
        if self._thread is None or self._server is None or self._app is None:
            return
        self._server.should_exit = True
        self._thread.join(timeout=15)
        if self._sock is not None:
            self._sock.close()
        self._app.store.close()
        self._app = self._server = self._thread = self._sock = None

    def __enter__(self) -> SandboxServer:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    @property
    def running(self) -> bool:
        return self._thread is not None

    @property
    def url(self) -> str:
        return _url(self.host, self.port)

    @property
    def base_url(self) -> str:
        return self.url + "/v1"

    @property
    def app(self) -> SandboxApp:
        if self._app is None:
            raise RuntimeError("the sandbox server is not running; call start() first")
        return self._app

    # ------------------------------------------------------------------ knobs

    def fail_next(self, count: int, status: int = 503) -> None:
        """The next ``count`` /v1 requests fail with ``status`` without running."""
        self.app.faults.fail_next(count, status)

    def drop_after_commit(self, count: int) -> None:
        """The next ``count`` successful writes commit, then lose their answer."""
        self.app.faults.drop_after_commit(count)

    def clear_faults(self) -> None:
        self.app.faults.clear()

    def set_rate_limit(self, limit: int | None, window: int = 60) -> None:
        """Allow ``limit`` requests per ``window`` seconds from now on (None: no limit), e.g.
        a short, tight window to cause a burst of 429s with Retry-After and X-RateLimit-*."""
        if limit is not None and limit < 1:
            raise ValueError("limit must be at least 1")
        self.app.limiter = RateLimiter(limit, window=window) if limit is not None else None

    def faults_injected(self) -> dict[str, int]:
        """Faults injected since the server started: by HTTP status, and ``drop`` for lost answers."""
        return self.app.faults.injected()

    def set_fault_rates(self, *, fail_rate: float | None = None, drop_rate: float | None = None) -> None:
        """Change the random fault rates while serving (e.g. to 0 before checking the results)."""
        for name, value in (("fail_rate", fail_rate), ("drop_rate", drop_rate)):
            if value is not None:
                if not 0.0 <= value <= 1.0:
                    raise ValueError(f"{name} must be between 0 and 1")
                setattr(self.app.faults, name, value)

    def set_latency(self, seconds: float) -> None:
        if seconds < 0:
            raise ValueError("latency must not be negative")
        self.app.latency = seconds

    def stats(self) -> dict[str, Any]:
        """``{"total", "by_method": {...}, "writes"}`` for /v1 requests since the last reset."""
        return self.app.stats.snapshot()

    def reset_stats(self) -> None:
        self.app.stats.reset()

    def reset(self) -> None:
        """Wipe every resource (and idempotency record) and clear pending faults."""
        self.app.store.wipe()
        self.app.faults.clear()


@contextmanager
def sandbox_server(
    config: SandboxConfig | None = None, *, host: str = "127.0.0.1", port: int = 0, **settings: Any
) -> Iterator[SandboxServer]:
    """A started ``SandboxServer``; ``settings`` are ``SandboxConfig`` fields,
    e.g. ``sandbox_server(latency=0.02, rate_limit=600)``."""
    if config is None:
        config = SandboxConfig(**settings)
    elif settings:
        raise TypeError("pass either a SandboxConfig or its fields as keywords, not both")
    with SandboxServer(config, host, port) as server:
        yield server


def serve_forever(
    config: SandboxConfig,
    host: str = "127.0.0.1",
    port: int = 8080,
    *,
    announce: Callable[[str], None] | None = None,
) -> None:
    """Serve in the foreground until Ctrl-C (or SIGTERM); ``announce`` gets the base URL."""
    sock = _bind(host, port)
    try:
        app = SandboxApp(config)
    except BaseException:
        sock.close()
        raise
    server = _uvicorn(app)
    if announce is not None:
        announce(_url(host, sock.getsockname()[1]) + "/v1")
    # uvicorn catches SIGINT/SIGTERM, shuts down gracefully, then re-raises the signal
    # under the previous handler: make that a no-op for SIGTERM (KeyboardInterrupt for
    # SIGINT is caught below) so both end here, with the database closed.
    in_main = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGTERM, lambda *_: None) if in_main else None
    try:
        server.run(sockets=[sock])
    except KeyboardInterrupt:
        pass
    finally:
        if in_main:
            signal.signal(signal.SIGTERM, previous)
        sock.close()
        app.store.close()
