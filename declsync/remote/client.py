"""The HTTP client for the MVMNT API (and any API a profile describes).

One ``ApiClient`` owns one thread-safe ``httpx.Client`` and a small thread pool.
A call goes ``public method → _call (retries, throttle) → _send_once (one HTTP
exchange, size-capped read) → _decode / _error_for`` so that each concern lives in
one place:

- retries: connection errors, 429 and 500/502/503/504, with full-jitter exponential
  backoff. Writes are retried too; that is safe only because every write carries
  the caller's ``Idempotency-Key``, reused on every attempt.
- throttle: one ``Throttle`` (``throttle.py``) shared by all threads reads the
  ``X-RateLimit-*`` headers and spreads the last requests of a window instead of
  running into 429; a 429 pauses every thread until ``Retry-After``.
- bounds (``transport.py``): every request has a total deadline (``request_timeout``),
  every client an overall one (``deadline``), and bodies are inflated under the size
  cap layer by layer; a timed-out request is not retried.
- lookups are checked, never trusted: an answer for another key or resource, two
  live resources for one key, unread pages of a ``GET ?key=`` list, paging that
  does not end, and strings no output can encode (lone surrogates) are refused.
- errors: every failure becomes a ``declsync.errors.ApiError`` subclass with a
  one-line message naming method and path (never a query string, never a token).
- security: no plain http beyond loopback, no redirects (the ``Authorization``
  header would follow them), and responses are read up to a size cap.
"""

from __future__ import annotations

import json
import queue
import random
import ssl
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import date, datetime
from types import TracebackType
from typing import Any, TypeVar
from urllib.parse import quote, urlsplit

import httpx

from declsync.errors import ApiError, AuthError, ConflictError, ConnectError, redact
from declsync.profile.model import KindSpec
from declsync.remote.answers import answers_for, has_more, lone_surrogate_at, shown, twins
from declsync.remote.auth import ClientCredentialsAuth, StaticTokenAuth, check_url, default_token_url, origin
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

__all__ = [
    "ApiClient",
    "ClientCredentialsAuth",
    "StaticTokenAuth",
    "Throttle",
    "default_token_url",
]

MAX_RESPONSE_BYTES = 64 * 1024 * 1024
RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
# One HTTP exchange, headers and body, however slowly the server trickles it.
DEFAULT_REQUEST_TIMEOUT = 60.0
# All requests of one command (plan, apply after the prompt, import): an hour.
DEFAULT_DEADLINE = 3600.0
# A keyed lookup of N keys may follow at most N + this many pages: every page but
# the last should bring a key asked for, so more pages mean the paging never ends.
EXTRA_LOOKUP_PAGES = 2
# A listing (import) stops after this many pages in a row without a resource.
MAX_EMPTY_PAGES = 3

T = TypeVar("T")
R = TypeVar("R")


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
        # The client owns the token endpoint connection of the auth it was given.
        if isinstance(self._auth, ClientCredentialsAuth):
            self._auth.close()

    def restart_deadline(self) -> None:
        """Count the command's deadline from now (e.g. after the user answered a prompt)."""
        if self.deadline is not None:
            self._deadline_at = time.monotonic() + self.deadline

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
        return None if answer.status == 404 else self._answering(answer, ref)

    def get_with_etag(self, kind: KindSpec, ref: str) -> tuple[dict[str, Any] | None, str | None]:
        """``GET {path}/{ref}`` and the answer's ``ETag`` (None when the server sends none), for
        a conditional write (``If-Match``); ``(None, None)`` when the resource does not exist."""
        answer = self._call("GET", self._item_url(kind, ref), allow_404=True)
        if answer.status == 404:
            return None, None
        return self._answering(answer, ref), answer.headers.get("etag")

    def get_by_key(self, kind: KindSpec, key: str) -> dict[str, Any] | None:
        """``GET {path}?key=K`` (``GET {path}/K?by=key`` with ``kind.lookup_by_key``);
        None when no resource has that key.

        The answer is checked, never trusted: a resource for another key, two live
        resources for this one, or a list with unread pages is refused (ApiError)."""
        if kind.lookup_by_key:
            answer = self._call("GET", self._item_url(kind, key), params={"by": "key"}, allow_404=True)
        else:
            answer = self._call("GET", self._url(kind), params={"key": key}, allow_404=True)
        if answer.status == 404:
            return None
        payload = self._decode(answer)
        # The guide answers with the resource itself; a list envelope is accepted too.
        if isinstance(payload, dict) and isinstance(payload.get("data"), list):
            matches = [item for item in payload["data"] if isinstance(item, dict) and item.get("key") == key]
            if any(not _has_id(item) for item in matches):
                raise self._unexpected(answer, "a resource without a string 'id'")
            self._check_unique(kind, key, matches, answer)
            if has_more(payload):
                # An unread page may hold this key, or a second resource for it: "absent" would
                # create a duplicate, "found" might write the wrong one.
                raise self._unexpected(
                    answer, f"a list with more pages (hasNextPage) for {kind.name} {key!r}; declsync does not "
                    "guess what they hold (use lookup: {filter: true} for this kind in the profile)")
            return matches[0] if matches else None
        resource = self._resource(answer, payload)
        if resource.get("key") != key:
            raise self._unexpected(
                answer, f"asked for {kind.name} {key!r}, got the resource of key "
                f"{shown(resource.get('key'))} (id {shown(resource['id'])}); refusing to use it")
        return resource

    def create(self, kind: KindSpec, body: Mapping[str, Any], *, idempotency_key: str) -> dict[str, Any]:
        answer = self._call("POST", self._url(kind), body=body, headers={"Idempotency-Key": idempotency_key})
        created = self._resource(answer)
        if "key" in body and created.get("key") != body["key"]:
            # Recording this id under our key would point the key at another resource.
            raise self._unexpected(answer, f"created {shown(body['key'])} but the answer is the resource of key "
                                   f"{shown(created.get('key'))} (id {shown(created['id'])})")
        return created

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
        return self._answering(answer, id)

    def delete(self, kind: KindSpec, id: str, *, idempotency_key: str) -> None:
        self._call("DELETE", self._item_url(kind, id), headers={"Idempotency-Key": idempotency_key})

    def iter_all(self, kind: KindSpec, *, with_key_only: bool = True) -> Iterator[dict[str, Any]]:
        """Every (non-deleted) resource of a kind, page by page; only keyed ones by default."""
        flt: dict[str, Any] = {"key": {"isNull": False}} if with_key_only else {}
        for _, items in self._pages(kind, flt):
            yield from items

    # ---------------------------------------------------------------- lookups

    def _url(self, kind: KindSpec) -> str:
        return f"{self.base_url}/{kind.path}"

    def _item_url(self, kind: KindSpec, ref: str) -> str:
        # Keys are free text: a '/' or '?' in one must not change the path.
        return f"{self.base_url}/{kind.path}/{quote(ref, safe='')}"

    def _filter_keys(self, kind: KindSpec, chunk: Sequence[str]) -> dict[str, dict[str, Any]]:
        wanted = set(chunk)
        found: dict[str, list[dict[str, Any]]] = {}
        # Every page but the last should bring a key asked for: N keys take at most N pages.
        limit = len(chunk) + EXTRA_LOOKUP_PAGES
        pages = self._pages(kind, {"key": {"in": list(chunk)}}, max_pages=limit)
        for answer, items in pages:
            for item in items:
                key = item.get("key")
                if isinstance(key, str) and key in wanted:
                    # _pages yields each id once: a second item is a second live resource.
                    found.setdefault(key, []).append(item)
                    self._check_unique(kind, key, found[key], answer)
        return {key: items[0] for key, items in found.items()}

    def _pages(
        self, kind: KindSpec, flt: Mapping[str, Any], *, max_pages: int | None = None
    ) -> Iterator[tuple[_Answer, list[dict[str, Any]]]]:
        """``(answer, resources)`` page by page. Bounded: a repeated cursor, more than
        ``max_pages`` pages, or ``MAX_EMPTY_PAGES`` pages in a row without a resource not
        seen before is refused. A resource already seen (same id) is not yielded again."""
        url = f"{self._url(kind)}/filter"
        cursor: str | None = None
        seen: set[str] = set()
        ids: set[str] = set()
        pages = empty = 0
        while True:
            body: dict[str, Any] = {"filter": flt, "pageSize": kind.page_size}
            if cursor is not None:
                body["cursor"] = cursor
            answer = self._call("POST", url, body=body)
            pages += 1
            payload = self._decode(answer)
            data = payload.get("data") if isinstance(payload, dict) else None
            if not isinstance(data, list) or not all(isinstance(item, dict) for item in data):
                raise self._unexpected(answer, "no 'data' list of resources")
            if not all(_has_id(item) for item in data):
                raise self._unexpected(answer, "a resource without a string 'id'")
            fresh = [item for item in data if item["id"] not in ids]
            ids.update(item["id"] for item in fresh)
            yield answer, fresh
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
            empty = 0 if fresh else empty + 1
            if empty >= MAX_EMPTY_PAGES:
                raise self._unexpected(answer, f"{empty} pages in a row without a new resource, and still a next "
                                       "page; paging would never end")
            if max_pages is not None and pages >= max_pages:
                raise self._unexpected(answer, f"still a next page after {pages} pages for {max_pages - EXTRA_LOOKUP_PAGES} "
                                       "keys (pages of other keys?); paging would never end")

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
            self._check_deadline(method, path, delay)
            if delay > 0:
                self._sleep(delay)
            attempt += 1
            try:
                answer = self._send_once(method, url, path, content, all_headers, params)
            except httpx.TransportError as exc:
                if self._is_tls(exc) or attempt > self.max_retries:
                    raise self._transport_error(method, path, exc, attempt) from exc
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
        return _Answer(method, path, response.status_code, response.headers, body)

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
            payload = json.loads(answer.content)
        except (ValueError, RecursionError):  # RecursionError: nested too deeply to parse
            raise self._unexpected(answer, f"not JSON: {_snippet(answer.content, 80)!r}") from None
        # JSON may escape a lone surrogate ("\ud800"), which no output can encode: refuse it
        # here, naming where, instead of crashing later while printing or saving state.
        where = lone_surrogate_at(answer.content, payload)
        if where is not None:
            raise self._unexpected(answer, f"a string that is not valid Unicode (a lone surrogate) at {where}; "
                                   "fix that value in the API")
        return payload

    def _answering(self, answer: _Answer, ref: str) -> dict[str, Any]:
        """The resource of a ``GET {path}/{ref}`` answer, which must be the one asked for."""
        resource = self._resource(answer)
        if not answers_for(resource, ref):
            raise self._unexpected(answer, f"asked for {shown(ref)}, got the resource of id {shown(resource['id'])} "
                                   f"(key {shown(resource.get('key'))}); refusing to use it")
        return resource

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
    def _check_unique(kind: KindSpec, key: str, matches: Sequence[Mapping[str, Any]], answer: _Answer) -> None:
        """Two live resources for one key: refuse rather than guess which one to write."""
        ids = twins(matches)
        if len(ids) > 1:
            raise ApiError(
                f"{kind.name} {key!r}: {len(ids)} live resources answer for this key ({', '.join(ids)}) on "
                f"{answer.method} {answer.path}; declsync writes neither. Delete or re-key all but one "
                "(an API whose lookup also returns deleted resources does this)",
                status=answer.status,
            )

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
        def clean(text: str) -> str:
            # A lone surrogate cannot be printed: show it escaped instead of crashing the error path.
            return text.encode("utf-8", "backslashreplace").decode("utf-8")

        details = [{k: clean(v) for k, v in d.items()} for d in details]
        return (clean(str(code)) if isinstance(code, str | int) else None), clean(str(message)[:500]), details
