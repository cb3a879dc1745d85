"""One HTTP session with the API: each call sent with retries, throttling and deadlines.

``HttpSession._call`` goes ``_call (retries, throttle) → _send_once (one HTTP exchange,
size-capped read)``; what the answers mean is the API dialect's business
(``declsync.remote.dialect``), what a failure says is ``declsync.remote.failures``'.

- retries: connection errors, 429 and 500/502/503/504, with full-jitter exponential
  backoff. Writes are retried too; that is safe only because every write carries
  the caller's ``Idempotency-Key``, reused on every attempt.
- throttle: one ``Throttle`` (``throttle.py``) shared by all threads reads the
  ``X-RateLimit-*`` headers and spreads the last requests of a window instead of
  running into 429; a 429 pauses every thread until ``Retry-After``.
- bounds (``transport.py``): every request has a total deadline (``request_timeout``),
  every session an overall one (``deadline``), and bodies are inflated under the size
  cap layer by layer; a timed-out request is not retried.
- security: no plain http beyond loopback, no redirects (the ``Authorization``
  header would follow them), and responses are read up to a size cap.
"""

from __future__ import annotations

import json
import random
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import date, datetime
from typing import Any, TypeVar
from urllib.parse import urlsplit

import httpx

from declsync.errors import ApiError, ConnectError
from declsync.execution.drain import Completions
from declsync.remote.answers import Answer
from declsync.remote.auth import ClientCredentialsAuth, check_url, origin
from declsync.remote.failures import RETRY_STATUSES, error_for, is_tls, transport_error
from declsync.remote.throttle import Throttle, parse_reset, parse_retry_after
from declsync.remote.transport import (
    ACCEPT_ENCODING,
    DeadlineExceeded,
    DecodeError,
    TooLarge,
    decode_capped,
    default_transport,
    request_deadline,
)

__all__ = ["DEFAULT_DEADLINE", "DEFAULT_REQUEST_TIMEOUT", "MAX_RESPONSE_BYTES", "Answer", "HttpSession"]

MAX_RESPONSE_BYTES = 64 * 1024 * 1024
# One HTTP exchange, headers and body, however slowly the server trickles it.
DEFAULT_REQUEST_TIMEOUT = 60.0
# All requests of one command (plan, apply after the prompt, import): an hour.
DEFAULT_DEADLINE = 3600.0

T = TypeVar("T")
R = TypeVar("R")


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    raise TypeError(f"cannot send a {type(value).__name__} as JSON")


class _WorkerLocal(threading.local):
    inside = False


class HttpSession:
    """Thread-safe calls to one API base URL (including ``/v1``), ``parallelism`` at once."""

    def __init__(
        self,
        base_url: str,
        *,
        auth: httpx.Auth | None = None,
        transport: httpx.BaseTransport | None = None,
        parallelism: int = 16,
        timeout: float = 30.0,
        max_retries: int = 5,
        backoff_base: float = 0.2,
        backoff_max: float = 10.0,
        insecure_http: bool = False,
        user_agent: str = "declsync/0.1",
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.time,
        rng: random.Random | None = None,
        max_response_bytes: int = MAX_RESPONSE_BYTES,
        request_timeout: float = DEFAULT_REQUEST_TIMEOUT,
        deadline: float | None = None,
    ) -> None:
        """``timeout``: each socket operation; ``request_timeout``: one whole HTTP exchange;
        ``deadline``: every request of this client, counted from now (None: no limit)."""
        base_url = base_url.rstrip("/")
        check_url(base_url, insecure_http=insecure_http)
        if isinstance(auth, ClientCredentialsAuth):
            check_url(auth.token_url, insecure_http=insecure_http, what="token URL")
        self.base_url = base_url
        self.origin = origin(base_url)
        self.parallelism = max(1, parallelism)
        self.max_retries = max(0, max_retries)
        self.backoff_base = backoff_base
        self.backoff_max = backoff_max
        self.max_response_bytes = max_response_bytes
        self.request_timeout = request_timeout
        self.deadline = deadline
        # Monotonic, not the injectable wall clock: a deadline must not move with it.
        self._deadline_at = None if deadline is None else time.monotonic() + deadline
        self._sleep = sleep
        self._clock = clock
        self._rng = rng or random.Random()
        self.throttle = Throttle(self.parallelism, clock=clock)
        self._count_lock = threading.Lock()
        self._request_count = 0
        self._pool_lock = threading.Lock()
        self._pool: ThreadPoolExecutor | None = None
        self._worker = _WorkerLocal()
        self._auth = auth
        limits = httpx.Limits(max_connections=self.parallelism, max_keepalive_connections=self.parallelism)
        self._http = httpx.Client(
            auth=auth,
            transport=transport or default_transport(base_url, limits),
            timeout=httpx.Timeout(min(timeout, request_timeout)),
            limits=limits,
            follow_redirects=False,
            # Only what decode_capped can inflate under the size cap.
            headers={"Accept": "application/json", "User-Agent": user_agent, "Accept-Encoding": ACCEPT_ENCODING},
            event_hooks={"request": [self._on_request], "response": [self._on_response]},
        )

    # ---------------------------------------------------------------- lifecycle

    def close(self) -> None:
        with self._pool_lock:
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)
        self._http.close()
        # The session owns the token endpoint connection of the auth it was given.
        if isinstance(self._auth, ClientCredentialsAuth):
            self._auth.close()

    def restart_deadline(self) -> None:
        """Count the command's deadline from now (e.g. after the user answered a prompt)."""
        if self.deadline is not None:
            self._deadline_at = time.monotonic() + self.deadline

    @property
    def request_count(self) -> int:
        """HTTP requests sent so far, retries and auth re-sends included."""
        with self._count_lock:
            return self._request_count

    def _on_request(self, request: httpx.Request) -> None:
        with self._count_lock:
            self._request_count += 1

    def _on_response(self, response: httpx.Response) -> None:
        self.throttle.observe(response.headers)

    # ---------------------------------------------------------------- calls at once

    def _map(self, fn: Callable[[T], R], items: Sequence[T]) -> list[R]:
        """``[fn(x) for x in items]`` on the pool; the first failure cancels the rest and is raised."""
        if len(items) == 1 or self.parallelism == 1 or self._worker.inside:
            # Inline: one item needs no thread, and a pool task must not wait on the pool.
            return [fn(x) for x in items]
        pool = self._executor()
        calls: Completions[int, R] = Completions()
        futures = [calls.submit(pool, i, fn, x) for i, x in enumerate(items)]
        try:
            while calls.pending:
                fut = calls.next()
                assert fut is not None
                error = fut.exception()
                if error is not None:
                    # Let requests already in flight finish before the caller moves on.
                    for running, _ in calls.cancel():
                        running.exception()
                    raise error
                calls.done(fut)
        except KeyboardInterrupt:
            calls.cancel()
            raise
        return [fut.result() for fut in futures]

    def _executor(self) -> ThreadPoolExecutor:
        with self._pool_lock:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(
                    max_workers=self.parallelism,
                    thread_name_prefix="declsync-http",
                    initializer=self._mark_worker,
                )
            return self._pool

    def _mark_worker(self) -> None:
        self._worker.inside = True


    # ---------------------------------------------------------------- one call, with retries

    def _call(
        self,
        method: str,
        url: str,
        *,
        body: Mapping[str, Any] | None = None,
        params: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
        allow_404: bool = False,
    ) -> Answer:
        """Send with retries; return a 2xx answer (or a 404 when ``allow_404``), else raise."""
        path = urlsplit(url).path
        content = None
        all_headers = dict(headers or {})
        if body is not None:
            content = json.dumps(body, default=_json_default, separators=(",", ":")).encode()
            all_headers["Content-Type"] = "application/json"
        attempt = 0
        while True:
            delay = self.throttle.reserve()
            self._check_deadline(method, path, delay)
            if delay > 0:
                self._sleep(delay)
            attempt += 1
            try:
                answer = self._send_once(method, url, path, content, all_headers, params)
            except httpx.TransportError as exc:
                if is_tls(exc) or attempt > self.max_retries:
                    raise transport_error(self.origin, method, path, exc, attempt) from exc
                self._backoff_sleep(method, path, attempt)
                continue
            except ApiError as exc:
                # Raised by an auth flow (token endpoint); retry only what it marked transient.
                if not exc.retryable or attempt > self.max_retries:
                    raise
                self._backoff_sleep(method, path, attempt)
                continue
            if answer.status in RETRY_STATUSES and attempt <= self.max_retries:
                wait_for = self._backoff(attempt)
                if answer.status == 429:
                    wait_for = self._rate_limit_wait(answer.headers, wait_for)
                    # Everyone waits, not just this thread: the budget is shared.
                    self.throttle.pause(wait_for)
                else:
                    self._check_deadline(method, path, wait_for)
                    self._sleep(wait_for)
                continue
            if 200 <= answer.status < 300 or (allow_404 and answer.status == 404):
                return answer
            raise error_for(answer, attempt, self.base_url)

    def _send_once(
        self,
        method: str,
        url: str,
        path: str,
        content: bytes | None,
        headers: Mapping[str, str],
        params: Mapping[str, str] | None,
    ) -> Answer:
        request = self._http.build_request(method, url, content=content, headers=headers, params=params)
        ends = time.monotonic() + self.request_timeout
        by_command = self._deadline_at is not None and self._deadline_at < ends
        if self._deadline_at is not None:
            ends = min(ends, self._deadline_at)
        # The network backend enforces this on every connect, read and write (headers
        # included); the check between chunks covers other transports.
        try:
            with request_deadline(ends):
                try:
                    response = self._http.send(request, stream=True)
                except httpx.TransportError:
                    raise
                except httpx.HTTPError as exc:
                    raise ApiError(f"{method} {path}: {type(exc).__name__}: {exc}") from exc
                try:
                    body = self._read_body(response, method, path, ends)
                finally:
                    response.close()
        except DeadlineExceeded:
            # Not retried: a server this slow gets no second request-timeout of our time.
            raise self._deadline_error(method, path, by_command) from None
        return Answer(method, path, response.status_code, response.headers, body)

    def _read_body(self, response: httpx.Response, method: str, path: str, ends: float) -> bytes:
        """The decoded body, refused as soon as any Content-Encoding layer passes the size cap."""
        chunks: list[bytes] = []
        encodings = response.headers.get_list("content-encoding", split_commas=True)
        raw: Iterable[bytes] = response.iter_raw()
        if response.is_stream_consumed:
            # Built in memory (a test transport): httpx has decoded it already.
            raw, encodings = [response.content], []
        try:
            for chunk in decode_capped(raw, encodings, self.max_response_bytes):
                chunks.append(chunk)
                if time.monotonic() > ends:
                    raise DeadlineExceeded
        except TooLarge:
            cap = self.max_response_bytes
            limit = f"{cap / 1048576:g} MiB" if cap >= 1048576 else f"{cap} bytes"
            raise ApiError(
                f"unexpected response from API to {method} {path}: larger than {limit}"
                f"{' (decompressed)' if encodings else ''}; refusing to read it",
                status=response.status_code,
            ) from None
        except DecodeError as exc:
            raise ApiError(
                f"unexpected response from API to {method} {path}: undecodable body ({exc})",
                status=response.status_code,
            ) from None
        return b"".join(chunks)

    def _check_deadline(self, method: str, path: str, wait: float = 0.0) -> None:
        """Raise when the command's deadline has passed, or would during a ``wait``."""
        if self._deadline_at is not None and time.monotonic() + wait >= self._deadline_at:
            raise self._deadline_error(method, path, by_command=True)

    def _deadline_error(self, method: str, path: str, by_command: bool) -> ConnectError:
        if by_command:
            return ConnectError(
                f"the command's deadline ({self.deadline:g} s) passed at {method} {path}; "
                "raise --deadline (DECLSYNC_DEADLINE) for a larger run, or check the API's health"
            )
        return ConnectError(
            f"{self.origin} sent no complete answer to {method} {path} within {self.request_timeout:g} s; "
            "check the API, or raise --request-timeout (DECLSYNC_REQUEST_TIMEOUT)"
        )

    def _backoff_sleep(self, method: str, path: str, attempt: int) -> None:
        wait = self._backoff(attempt)
        self._check_deadline(method, path, wait)
        self._sleep(wait)

    def _backoff(self, attempt: int) -> float:
        # Full jitter: a uniform draw up to the exponential cap spreads retries of
        # many workers instead of sending them in synchronised waves.
        cap = min(self.backoff_max, self.backoff_base * 2 ** (attempt - 1))
        return self._rng.uniform(0, cap)

    def _rate_limit_wait(self, headers: httpx.Headers, fallback: float) -> float:
        now = self._clock()
        retry_after = parse_retry_after(headers.get("retry-after"), now)
        if retry_after is not None:
            return retry_after
        reset = parse_reset(headers.get("x-ratelimit-reset"), now)
        if reset is not None:
            return max(0.0, reset - now)
        return fallback
