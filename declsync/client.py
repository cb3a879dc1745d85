"""The HTTP client for the MVMNT API (and any API a profile describes).

One ``ApiClient`` owns one thread-safe ``httpx.Client`` and a small thread pool.
A call goes ``public method → _call (retries, throttle) → _send_once (one HTTP
exchange, size-capped read) → _decode / _error_for`` so that each concern lives in
one place:

- retries: connection errors, 429 and 500/502/503/504, with full-jitter exponential
  backoff. Writes are retried too; that is safe only because every write carries
  the caller's ``Idempotency-Key``, reused on every attempt.
- throttle: one ``Throttle`` shared by all threads reads the ``X-RateLimit-*``
  headers and spreads the last requests of a window instead of running into 429;
  a 429 pauses every thread until ``Retry-After``.
- errors: every failure becomes a ``declsync.errors.ApiError`` subclass with a
  one-line message naming method and path (never a query string, never a token).
- security: no plain http beyond loopback, no redirects (the ``Authorization``
  header would follow them), and responses are read up to a size cap.
"""

from __future__ import annotations

import email.utils
import json
import queue
import random
import ssl
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import date, datetime
from types import TracebackType
from typing import Any, TypeVar
from urllib.parse import quote, urlsplit

import httpx

from declsync.auth import ClientCredentialsAuth, StaticTokenAuth, check_url, default_token_url, origin
from declsync.errors import ApiError, AuthError, ConflictError, ConnectError, redact
from declsync.profile import KindSpec

__all__ = [
    "ApiClient",
    "ClientCredentialsAuth",
    "StaticTokenAuth",
    "Throttle",
    "default_token_url",
]

MAX_RESPONSE_BYTES = 64 * 1024 * 1024
RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
# No single wait, whatever a header says, lasts longer than this: a bogus
# Retry-After or reset time must not hang a run for hours.
MAX_WAIT = 120.0
# X-RateLimit-Limit is per minute: the window assumed when a server sends
# X-RateLimit-Remaining without X-RateLimit-Reset.
DEFAULT_WINDOW = 60.0

T = TypeVar("T")
R = TypeVar("R")


# --------------------------------------------------------------------------- throttle


def _parse_reset(value: str | None, now: float) -> float | None:
    """X-RateLimit-Reset as a unix time; small numbers are read as seconds from now."""
    if value is None:
        return None
    try:
        number = float(value)
    except ValueError:
        return None
    # The spec says unix timestamp; some servers send seconds-until-reset instead.
    return number if number > 1e9 else now + max(0.0, number)


def _parse_retry_after(value: str | None, now: float) -> float | None:
    """Retry-After in seconds (delta-seconds or an HTTP date)."""
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - now)


class Throttle:
    """A client-side rate budget shared by every worker thread.

    ``observe`` learns the server's window from response headers; ``reserve`` is
    called before each request and returns how long to wait first. While the
    remaining budget is above ``low_water`` requests go out at once; at or below
    it, the remaining requests are spaced evenly until the window resets (a
    budget of zero waits for the reset). ``pause`` (after a 429) holds back
    everyone. ``clock`` is wall time because X-RateLimit-Reset is a unix time.
    """

    def __init__(self, low_water: int, *, clock: Callable[[], float] = time.time) -> None:
        self.low_water = max(1, low_water)
        self._clock = clock
        self._lock = threading.Lock()
        self._remaining: int | None = None
        self._reset: float | None = None
        self._paused_until = 0.0
        self._next_slot = 0.0

    def observe(self, headers: Mapping[str, str]) -> None:
        raw = headers.get("x-ratelimit-remaining")
        if raw is None:
            return
        try:
            remaining = int(float(raw))
        except ValueError:
            return
        now = self._clock()
        reset = _parse_reset(headers.get("x-ratelimit-reset"), now)
        with self._lock:
            if reset is None:
                reset = self._reset if self._reset is not None and self._reset > now else now + DEFAULT_WINDOW
            # Relative resets drift by a second or so between answers; a later window is further off.
            if self._remaining is None or self._reset is None or reset > self._reset + 2.0:
                # A new window: its budget replaces the old one.
                self._remaining, self._reset = remaining, reset
            else:
                # Same window: answers arrive out of order, the lowest count is the freshest.
                self._remaining = min(self._remaining, remaining)

    def pause(self, seconds: float) -> None:
        with self._lock:
            self._paused_until = max(self._paused_until, self._clock() + min(seconds, MAX_WAIT))

    def reserve(self) -> float:
        """Claim a slot for one request; the seconds to sleep before sending it."""
        with self._lock:
            now = self._clock()
            start = max(now, self._paused_until)
            if self._reset is not None and self._reset <= start:
                # The window is over and its successor unknown until the next answer.
                self._remaining = self._reset = None
            if self._remaining is not None and self._reset is not None and self._remaining <= self.low_water:
                if self._remaining <= 0:
                    start = self._reset
                else:
                    start = max(start, self._next_slot)
                    interval = max(0.0, self._reset - start) / self._remaining
                    self._next_slot = start + interval
                    self._remaining -= 1
            return min(max(0.0, start - now), MAX_WAIT)


# --------------------------------------------------------------------------- client


@dataclass(frozen=True)
class _Answer:
    """One HTTP answer, fully read."""

    method: str
    path: str
    status: int
    headers: httpx.Headers
    content: bytes


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    raise TypeError(f"cannot send a {type(value).__name__} as JSON")


def _has_id(resource: Mapping[str, Any]) -> bool:
    ident = resource.get("id")
    return isinstance(ident, str) and bool(ident)


def _snippet(content: bytes, limit: int = 200) -> str:
    text = " ".join(content.decode("utf-8", "replace").split())
    return text[:limit] + ("…" if len(text) > limit else "")


class _WorkerLocal(threading.local):
    inside = False


class ApiClient:
    """Synchronous, thread-safe client for one API base URL (including ``/v1``)."""

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
    ) -> None:
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
        self._http = httpx.Client(
            auth=auth,
            transport=transport,
            timeout=httpx.Timeout(timeout),
            limits=httpx.Limits(max_connections=self.parallelism, max_keepalive_connections=self.parallelism),
            follow_redirects=False,
            headers={"Accept": "application/json", "User-Agent": user_agent},
            event_hooks={"request": [self._on_request], "response": [self._on_response]},
        )

    # ---------------------------------------------------------------- lifecycle

    def close(self) -> None:
        with self._pool_lock:
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)
        self._http.close()
        # The client owns the token endpoint connection of the auth it was given.
        if isinstance(self._auth, ClientCredentialsAuth):
            self._auth.close()

    def __enter__(self) -> ApiClient:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

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

    # ---------------------------------------------------------------- public API

    def fetch_by_keys(self, kind: KindSpec, keys: Sequence[str]) -> dict[str, dict[str, Any]]:
        """The live resources for ``keys`` (absent keys are left out), fetched concurrently.

        With ``kind.lookup_filter`` the keys go in batches of ``kind.page_size`` to
        ``POST {path}/filter``; otherwise one ``get_by_key`` each.
        """
        unique = list(dict.fromkeys(keys))
        if not unique:
            return {}
        found: dict[str, dict[str, Any]] = {}
        if kind.lookup_filter:
            size = max(1, kind.page_size)
            chunks = [unique[i : i + size] for i in range(0, len(unique), size)]
            for part in self._map(lambda chunk: self._filter_keys(kind, chunk), chunks):
                found.update(part)
        else:
            answers = self._map(lambda k: self.get_by_key(kind, k), unique)
            for key, resource in zip(unique, answers, strict=True):
                if resource is not None:
                    found[key] = resource
        return found

    def get(self, kind: KindSpec, ref: str) -> dict[str, Any] | None:
        """``GET {path}/{ref}`` (ref: id, friendlyId or key); None when it does not exist."""
        answer = self._call("GET", self._item_url(kind, ref), allow_404=True)
        return None if answer.status == 404 else self._resource(answer)

    def get_with_etag(self, kind: KindSpec, ref: str) -> tuple[dict[str, Any] | None, str | None]:
        """``GET {path}/{ref}`` and the answer's ``ETag`` (None when the server sends none), for
        a conditional write (``If-Match``); ``(None, None)`` when the resource does not exist."""
        answer = self._call("GET", self._item_url(kind, ref), allow_404=True)
        if answer.status == 404:
            return None, None
        return self._resource(answer), answer.headers.get("etag")

    def get_by_key(self, kind: KindSpec, key: str) -> dict[str, Any] | None:
        """``GET {path}?key=K`` (``GET {path}/K?by=key`` with ``kind.lookup_by_key``);
        None when no resource has that key."""
        if kind.lookup_by_key:
            answer = self._call("GET", self._item_url(kind, key), params={"by": "key"}, allow_404=True)
        else:
            answer = self._call("GET", self._url(kind), params={"key": key}, allow_404=True)
        if answer.status == 404:
            return None
        payload = self._decode(answer)
        # The guide answers with the resource itself; a list envelope is accepted too.
        if isinstance(payload, dict) and isinstance(payload.get("data"), list):
            for item in payload["data"]:
                if isinstance(item, dict) and item.get("key") == key:
                    return item
            return None
        resource = self._resource(answer, payload)
        if resource.get("key") != key:
            # A server that ignored ?by=key (or ?key=) answered for another resource: never plan against it.
            raise self._unexpected(answer, f"asked for key {key!r}, got a resource with key {resource.get('key')!r}")
        return resource

    def create(self, kind: KindSpec, body: Mapping[str, Any], *, idempotency_key: str) -> dict[str, Any]:
        answer = self._call("POST", self._url(kind), body=body, headers={"Idempotency-Key": idempotency_key})
        return self._resource(answer)

    def update(
        self,
        kind: KindSpec,
        id: str,
        body: Mapping[str, Any],
        *,
        idempotency_key: str,
        if_match: str | None = None,
    ) -> dict[str, Any]:
        headers = {"Idempotency-Key": idempotency_key}
        if if_match is not None:
            headers["If-Match"] = if_match
        answer = self._call("PATCH", self._item_url(kind, id), body=body, headers=headers)
        return self._resource(answer)

    def delete(self, kind: KindSpec, id: str, *, idempotency_key: str) -> None:
        self._call("DELETE", self._item_url(kind, id), headers={"Idempotency-Key": idempotency_key})

    def iter_all(self, kind: KindSpec, *, with_key_only: bool = True) -> Iterator[dict[str, Any]]:
        """Every (non-deleted) resource of a kind, page by page; only keyed ones by default."""
        flt: dict[str, Any] = {"key": {"isNull": False}} if with_key_only else {}
        yield from self._pages(kind, flt)

    # ---------------------------------------------------------------- lookups

    def _url(self, kind: KindSpec) -> str:
        return f"{self.base_url}/{kind.path}"

    def _item_url(self, kind: KindSpec, ref: str) -> str:
        # Keys are free text: a '/' or '?' in one must not change the path.
        return f"{self.base_url}/{kind.path}/{quote(ref, safe='')}"

    def _filter_keys(self, kind: KindSpec, chunk: Sequence[str]) -> dict[str, dict[str, Any]]:
        wanted = set(chunk)
        found: dict[str, dict[str, Any]] = {}
        for item in self._pages(kind, {"key": {"in": list(chunk)}}):
            key = item.get("key")
            if isinstance(key, str) and key in wanted:
                found[key] = item
        return found

    def _pages(self, kind: KindSpec, flt: Mapping[str, Any]) -> Iterator[dict[str, Any]]:
        url = f"{self._url(kind)}/filter"
        cursor: str | None = None
        seen: set[str] = set()
        while True:
            body: dict[str, Any] = {"filter": flt, "pageSize": kind.page_size}
            if cursor is not None:
                body["cursor"] = cursor
            answer = self._call("POST", url, body=body)
            payload = self._decode(answer)
            data = payload.get("data") if isinstance(payload, dict) else None
            if not isinstance(data, list) or not all(isinstance(item, dict) for item in data):
                raise self._unexpected(answer, "no 'data' list of resources")
            if not all(_has_id(item) for item in data):
                raise self._unexpected(answer, "a resource without a string 'id'")
            yield from data
            assert isinstance(payload, dict)
            # The public API names the page info 'pageInfo' on some kinds, 'pagination' on others.
            info = payload.get("pageInfo", payload.get("pagination"))
            if info is None:
                return
            if not isinstance(info, dict):
                raise self._unexpected(answer, "page info is not an object")
            if not info.get("hasNextPage"):
                return
            cursor = info.get("endCursor", info.get("cursor"))
            if not isinstance(cursor, str) or not cursor:
                raise self._unexpected(answer, "hasNextPage without an endCursor")
            if cursor in seen:
                raise self._unexpected(answer, "the page cursor repeats; paging would never end")
            seen.add(cursor)

    def _map(self, fn: Callable[[T], R], items: Sequence[T]) -> list[R]:
        """``[fn(x) for x in items]`` on the pool; the first failure cancels the rest and is raised."""
        if len(items) == 1 or self.parallelism == 1 or self._worker.inside:
            # Inline: one item needs no thread, and a pool task must not wait on the pool.
            return [fn(x) for x in items]
        pool = self._executor()
        futures: list[Future[R]] = [pool.submit(fn, x) for x in items]
        # Completions arrive on a queue, not through concurrent.futures.wait(): a
        # KeyboardInterrupt raised inside wait() can leave the futures' locks held, and
        # close() (the pool's shutdown) then hangs for ever.
        finished: queue.SimpleQueue[Future[R]] = queue.SimpleQueue()
        for fut in futures:
            fut.add_done_callback(finished.put)
        try:
            for _ in futures:
                error = finished.get().exception()
                if error is not None:
                    for fut in futures:
                        fut.cancel()
                    for fut in futures:  # let requests already in flight finish before the caller moves on
                        if not fut.cancelled():
                            fut.exception()
                    raise error
        except KeyboardInterrupt:
            for fut in futures:
                fut.cancel()
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
    ) -> _Answer:
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
            if delay > 0:
                self._sleep(delay)
            attempt += 1
            try:
                answer = self._send_once(method, url, path, content, all_headers, params)
            except httpx.TransportError as exc:
                if self._is_tls(exc) or attempt > self.max_retries:
                    raise self._transport_error(method, path, exc, attempt) from exc
                self._sleep(self._backoff(attempt))
                continue
            except ApiError as exc:
                # Raised by an auth flow (token endpoint); retry only what it marked transient.
                if not exc.retryable or attempt > self.max_retries:
                    raise
                self._sleep(self._backoff(attempt))
                continue
            if answer.status in RETRY_STATUSES and attempt <= self.max_retries:
                wait_for = self._backoff(attempt)
                if answer.status == 429:
                    wait_for = self._rate_limit_wait(answer.headers, wait_for)
                    # Everyone waits, not just this thread: the budget is shared.
                    self.throttle.pause(wait_for)
                else:
                    self._sleep(wait_for)
                continue
            if 200 <= answer.status < 300 or (allow_404 and answer.status == 404):
                return answer
            raise self._error_for(answer, attempt)

    def _send_once(
        self,
        method: str,
        url: str,
        path: str,
        content: bytes | None,
        headers: Mapping[str, str],
        params: Mapping[str, str] | None,
    ) -> _Answer:
        request = self._http.build_request(method, url, content=content, headers=headers, params=params)
        try:
            response = self._http.send(request, stream=True)
        except httpx.TransportError:
            raise
        except httpx.HTTPError as exc:
            raise ApiError(f"{method} {path}: {type(exc).__name__}: {exc}") from exc
        try:
            chunks: list[bytes] = []
            size = 0
            for chunk in response.iter_bytes():
                size += len(chunk)
                if size > self.max_response_bytes:
                    cap = self.max_response_bytes
                    limit = f"{cap / 1048576:g} MiB" if cap >= 1048576 else f"{cap} bytes"
                    raise ApiError(
                        f"unexpected response from API to {method} {path}: larger than {limit}; "
                        "refusing to read it",
                        status=response.status_code,
                    )
                chunks.append(chunk)
        except httpx.DecodingError as exc:
            raise ApiError(
                f"unexpected response from API to {method} {path}: undecodable body ({exc})",
                status=response.status_code,
            ) from exc
        finally:
            response.close()
        return _Answer(method, path, response.status_code, response.headers, b"".join(chunks))

    def _backoff(self, attempt: int) -> float:
        # Full jitter: a uniform draw up to the exponential cap spreads retries of
        # many workers instead of sending them in synchronised waves.
        cap = min(self.backoff_max, self.backoff_base * 2 ** (attempt - 1))
        return self._rng.uniform(0, cap)

    def _rate_limit_wait(self, headers: httpx.Headers, fallback: float) -> float:
        now = self._clock()
        retry_after = _parse_retry_after(headers.get("retry-after"), now)
        if retry_after is not None:
            return retry_after
        reset = _parse_reset(headers.get("x-ratelimit-reset"), now)
        if reset is not None:
            return max(0.0, reset - now)
        return fallback

    # ---------------------------------------------------------------- decoding and errors

    @staticmethod
    def _is_tls(exc: BaseException) -> bool:
        seen: BaseException | None = exc
        for _ in range(10):
            if seen is None:
                break
            if isinstance(seen, ssl.SSLError):
                return True
            seen = seen.__cause__ or seen.__context__
        text = str(exc)
        return "CERTIFICATE_VERIFY_FAILED" in text or "SSL" in text or "TLS" in text

    def _transport_error(
        self, method: str, path: str, exc: httpx.TransportError, attempts: int
    ) -> ConnectError:
        reason = redact(str(exc)) or type(exc).__name__
        if isinstance(exc, httpx.TimeoutException):
            reason = f"timed out ({type(exc).__name__})"
        if self._is_tls(exc):
            return ConnectError(
                f"cannot reach {self.origin}: TLS error ({reason}) on {method} {path}; "
                "check DECLSYNC_API_URL and the server's certificate"
            )
        tries = f", {attempts} attempts" if attempts > 1 else ""
        # Failing to connect and losing an established connection call for different checks.
        connecting = isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout)
        verb = "cannot reach" if connecting else "lost the connection to"
        return ConnectError(
            f"{verb} {self.origin}: {reason} ({method} {path}{tries}); "
            "check DECLSYNC_API_URL and your network",
            retryable=True,
        )

    def _decode(self, answer: _Answer) -> Any:
        try:
            return json.loads(answer.content)
        except (ValueError, RecursionError):  # RecursionError: nested too deeply to parse
            raise self._unexpected(answer, f"not JSON: {_snippet(answer.content, 80)!r}") from None

    def _resource(self, answer: _Answer, payload: Any = None) -> dict[str, Any]:
        if payload is None:
            payload = self._decode(answer)
        if not isinstance(payload, dict):
            raise self._unexpected(answer, "expected a resource object")
        if not _has_id(payload):
            # Apply writes by id: a resource without one must stop here, not half-way through apply.
            raise self._unexpected(answer, "a resource without a string 'id'")
        return payload

    @staticmethod
    def _unexpected(answer: _Answer, what: str) -> ApiError:
        return ApiError(
            f"unexpected response from API to {answer.method} {answer.path} ({answer.status}): {what}",
            status=answer.status,
        )

    def _error_for(self, answer: _Answer, attempts: int) -> ApiError:
        """The ``ApiError`` for a non-2xx answer."""
        status, where = answer.status, f"{answer.method} {answer.path}"
        if 300 <= status < 400:
            location = answer.headers.get("location", "")
            target = httpx.URL(self.base_url).join(location).host if location else "another location"
            return ApiError(
                f"the API redirected {where} ({status}) to {target}; declsync does not follow redirects "
                "(credentials would leak); fix DECLSYNC_API_URL",
                status=status,
            )
        code, message, details = self._error_body(answer.content)
        if status in (401, 403):
            server = f": {message}" if message else ""
            return AuthError(
                f"authentication failed ({status}) on {where}{server}; "
                "check DECLSYNC_TOKEN or DECLSYNC_CLIENT_ID/DECLSYNC_CLIENT_SECRET",
                status=status,
                code=code,
            )
        text = f"{where}: {status}"
        if code:
            text += f" {code}"
        if message:
            text += f": {message}"
        if details:
            text += " (" + "; ".join(f"{d.get('field', '?')}: {d.get('message', '')}" for d in details) + ")"
        if status == 409:
            return ConflictError(text, status=status, code=code, details=details)
        if status in RETRY_STATUSES:
            text += f" (gave up after {attempts} attempts)"
            if status == 429:
                text += "; lower --parallelism or retry later"
        return ApiError(text, status=status, code=code, details=details, retryable=status in RETRY_STATUSES)

    @staticmethod
    def _error_body(content: bytes) -> tuple[str | None, str, list[dict[str, Any]]]:
        """``(code, message, details)`` from the flat spec envelope or the guide's nested one."""
        try:
            payload = json.loads(content)
        except (ValueError, RecursionError):
            return None, _snippet(content), []
        if not isinstance(payload, dict):
            return None, _snippet(content), []
        body: dict[str, Any] = payload
        if isinstance(payload.get("error"), dict):
            body = {**payload, **payload["error"]}
        code = body.get("code") or body.get("error")
        message = body.get("message") or body.get("error_description") or ""
        raw_details = body.get("details")
        details = [
            {"field": str(d.get("field", "")), "message": str(d.get("message", ""))}
            for d in (raw_details if isinstance(raw_details, list) else [])
            if isinstance(d, dict)
        ]
        return (str(code) if isinstance(code, str | int) else None), str(message)[:500], details
