"""The sandbox's ASGI application: HTTP in, ``ResourceService`` calls, HTTP out.

Routing is done on the raw (still percent-encoded) path, segment by segment, so
that a client key containing ``/`` (sent as ``%2F``) stays one path segment.

Every ``/v1`` request goes through, in order: request stats, added latency, the
rate limit (429), an injected fault (fails without running), the bearer token
check (401), then the handler. The rate-limit headers are on every ``/v1``
answer. A committed write may then lose its answer on purpose
(``drop_after_commit``), to let clients prove their retries are idempotent.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import logging
from collections.abc import Coroutine, Mapping
from typing import Any
from urllib.parse import parse_qs, unquote, unquote_to_bytes

from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from declsync.profile.model import KindSpec, default_profile
from declsync.sandbox.bodies import BadInput, parse_object
from declsync.sandbox.config import SandboxConfig
from declsync.sandbox.controls import Faults, RateLimiter, Stats, TokenIssuer
from declsync.sandbox.openapi import build_openapi
from declsync.sandbox.replies import Reply, bad_request, error, json_bytes, not_found, ok
from declsync.sandbox.service import Idempotency, Lookup, ResourceService
from declsync.sandbox.store import Store

__all__ = ["MAX_BODY_BYTES", "SandboxApp"]

log = logging.getLogger("declsync.sandbox")

MAX_BODY_BYTES = 8 * 1024 * 1024
MAX_IDEMPOTENCY_KEY = 255
_LOOKUPS: tuple[Lookup, ...] = ("id", "friendlyId", "key")


def _segments(scope: Scope) -> list[str]:
    raw: bytes = scope.get("raw_path") or scope["path"].encode()
    raw = raw.split(b"?", 1)[0]
    parts = raw.split(b"/")[1:]
    if len(parts) > 1 and parts[-1] == b"":
        parts.pop()  # a trailing slash names the same resource
    return [unquote_to_bytes(p).decode("utf-8", "replace") for p in parts]


def _injected(status: int) -> Reply:
    if status >= 500:
        return error(status, "internal_server_error", "Injected fault (sandbox)")
    if status == 429:
        return error(429, "rate_limit_exceeded", "Injected fault (sandbox)", {"Retry-After": "1"})
    return error(status, "injected_fault", "Injected fault (sandbox)")


class SandboxApp:
    """An ASGI app serving the profile's kinds from a ``Store``."""

    def __init__(self, config: SandboxConfig | None = None, store: Store | None = None) -> None:
        self.config = config or SandboxConfig()
        self.profile = self.config.profile or default_profile()
        self.store = store if store is not None else Store(self.config.db_path)
        self.service = ResourceService(self.profile, self.store)
        self.tokens = TokenIssuer(self.config.token, self.config.clients, self.config.token_ttl)
        self.limiter = RateLimiter(self.config.rate_limit) if self.config.rate_limit else None
        self.faults = Faults(self.config.fail_rate, self.config.seed, self.config.drop_rate)
        self.stats = Stats()
        self.latency = self.config.latency
        self._kinds: dict[str, KindSpec] = {k.path: k for k in self.profile.kinds.values()}
        self._openapi: bytes | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            if scope["type"] == "websocket":
                await send({"type": "websocket.close", "code": 1000})
            return
        request = Request(scope, receive)
        parts = _segments(scope)
        if parts and parts[0] == "v1":
            await self._api(request, parts[1:], send)
            return
        reply = await self._guarded(self._other(request, parts), request)
        await self._send(reply, request, send)

    @staticmethod
    async def _guarded(handler: Coroutine[Any, Any, Reply], request: Request) -> Reply:
        """The handler's reply; bad input its 4xx; a bug a JSON 500 (traceback logged)."""
        try:
            return await handler
        except BadInput as bad:
            return bad.reply
        except Exception:
            log.exception("sandbox handler failed on %s %s", request.method, request.url.path)
            return error(500, "internal_server_error", "Unexpected sandbox error")

    # ------------------------------------------------------------------ /v1

    async def _api(self, request: Request, parts: list[str], send: Send) -> None:
        method = request.method
        self.stats.request(method)
        if self.latency > 0:
            # asyncio.sleep, not time.sleep: concurrent requests wait side by side.
            await asyncio.sleep(self.latency)
        extra: dict[str, str] = {}
        verdict = self.limiter.check() if self.limiter else None
        if verdict is not None:
            extra.update(verdict.headers())
        if verdict is not None and not verdict.allowed:
            reply = error(
                429, "rate_limit_exceeded",
                f"At most {verdict.limit} requests a minute; retry in {verdict.retry_after} s",
                {"Retry-After": str(verdict.retry_after)},
            )
        elif (failure := self.faults.take_failure()) is not None:
            reply = _injected(failure)
        elif not self._authorized(request):
            reply = error(401, "unauthorized", "A valid bearer token is required (Authorization: Bearer …)")
        else:
            reply = await self._guarded(self._route(request, parts), request)
        if reply.wrote:
            self.stats.write()
        is_write = method in ("PATCH", "DELETE") or (method == "POST" and len(parts) == 1)
        if is_write and 200 <= reply.status < 300 and not reply.replayed and self.faults.take_drop():
            await self._drop(reply, send)
            return
        await self._send(reply, request, send, extra)

    def _authorized(self, request: Request) -> bool:
        if not self.tokens.enabled:
            return True
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        return scheme.lower() == "bearer" and bool(token.strip()) and self.tokens.valid(token.strip())

    async def _route(self, request: Request, parts: list[str]) -> Reply:
        method = request.method
        kind = self._kinds.get(parts[0]) if parts else None
        if kind is None or len(parts) > 2:
            return not_found(f"No route for {method} {request.url.path}")
        if len(parts) == 1:
            if method == "GET":
                key = request.query_params.get("key")
                if key is None:
                    return bad_request(f"Pass ?key=K, or list with POST /v1/{kind.path}/filter", "key")
                return self.service.get_by_key(kind, key)
            if method == "POST":
                body, raw = await self._json_object(request)
                return self.service.create(kind, body, self._idempotency(request, raw))
            return self._not_allowed("GET, POST")
        ref = parts[1]
        if ref == "filter":
            # The filter path is an operation, never an item: a resource whose key is
            # "filter" is reached by id, friendlyId or ?key=filter instead.
            if method != "POST":
                return self._not_allowed("POST")
            body, _ = await self._json_object(request, empty_ok=True)
            return self.service.filter(kind, body)
        by = self._lookup(request)
        if method == "GET":
            return self.service.get(kind, ref, by)
        if method == "PATCH":
            body, raw = await self._json_object(request)
            return self.service.patch(
                kind, ref, body, by=by, if_match=request.headers.get("if-match"),
                idem=self._idempotency(request, raw),
            )
        if method == "DELETE":
            return self.service.delete(
                kind, ref, by=by, if_match=request.headers.get("if-match"), idem=self._idempotency(request, b""),
            )
        return self._not_allowed("GET, PATCH, DELETE")

    @staticmethod
    def _not_allowed(allow: str) -> Reply:
        return error(405, "method_not_allowed", f"Allowed methods: {allow}", {"Allow": allow})

    @staticmethod
    def _lookup(request: Request) -> Lookup | None:
        by = request.query_params.get("by")
        if by is None:
            return None
        for how in _LOOKUPS:
            if by == how:
                return how
        raise BadInput(bad_request(f"by must be one of: {', '.join(_LOOKUPS)}", "by"))

    @staticmethod
    def _idempotency(request: Request, raw: bytes) -> Idempotency | None:
        key = request.headers.get("idempotency-key")
        if key is None:
            return None
        if not 1 <= len(key) <= MAX_IDEMPOTENCY_KEY:
            raise BadInput(bad_request(f"Idempotency-Key must be 1 to {MAX_IDEMPOTENCY_KEY} characters", "Idempotency-Key"))
        digest = hashlib.sha256()
        raw_path: bytes = request.scope.get("raw_path") or request.url.path.encode()
        for part in (request.method.encode(), raw_path, request.scope.get("query_string", b"")):
            digest.update(part + b"\n")
        digest.update(raw)
        return Idempotency(key, digest.hexdigest())

    # ------------------------------------------------------------------ bodies

    @staticmethod
    async def _read(request: Request) -> bytes:
        declared = request.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > MAX_BODY_BYTES:
            raise BadInput(error(413, "payload_too_large", f"Bodies are limited to {MAX_BODY_BYTES} bytes"))
        chunks: list[bytes] = []
        size = 0
        async for chunk in request.stream():
            size += len(chunk)
            if size > MAX_BODY_BYTES:
                raise BadInput(error(413, "payload_too_large", f"Bodies are limited to {MAX_BODY_BYTES} bytes"))
            chunks.append(chunk)
        return b"".join(chunks)

    async def _json_object(self, request: Request, *, empty_ok: bool = False) -> tuple[dict[str, Any], bytes]:
        raw = await self._read(request)
        return parse_object(raw, empty_ok=empty_ok), raw

    # ------------------------------------------------------------------ the rest

    async def _other(self, request: Request, parts: list[str]) -> Reply:
        method = request.method
        route = "/" + "/".join(parts)
        if route == "/oauth2/token":
            return await self._token(request) if method == "POST" else self._not_allowed("POST")
        if route == "/openapi.json" and method == "GET":
            if self._openapi is None:
                self._openapi = json_bytes(build_openapi(self.profile, auth=self.tokens.enabled))
            return Reply(200, self._openapi)
        if route == "/healthz" and method == "GET":
            return ok({"status": "ok"})
        if parts and parts[0] == "_admin":
            if not self._authorized(request):
                return error(401, "unauthorized", "A valid bearer token is required (Authorization: Bearer …)")
            return await self._admin(request, route)
        return not_found(f"No route for {method} {request.url.path}")

    async def _token(self, request: Request) -> Reply:
        raw = await self._read(request)
        form = {k: v[-1] for k, v in parse_qs(raw.decode("utf-8", "replace"), keep_blank_values=True).items()}
        grant = form.get("grant_type")
        if grant != "client_credentials":
            return error(400, "unsupported_grant_type", "Only grant_type=client_credentials is supported")
        client_id, client_secret = form.get("client_id", ""), form.get("client_secret", "")
        scheme, _, encoded = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() == "basic" and not client_id:
            client_id, client_secret = self._basic(encoded.strip())
        no_store = {"Cache-Control": "no-store"}
        token = self.tokens.issue(client_id, client_secret) if client_id else None
        if token is None:
            return error(401, "invalid_client", "Unknown client or wrong secret", no_store)
        answer = {"access_token": token, "token_type": "Bearer", "expires_in": self.tokens.ttl}
        return ok(answer, headers=no_store)

    @staticmethod
    def _basic(encoded: str) -> tuple[str, str]:
        try:
            decoded = base64.b64decode(encoded, validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            return "", ""
        client_id, _, secret = decoded.partition(":")
        return unquote(client_id), unquote(secret)

    async def _admin(self, request: Request, route: str) -> Reply:
        method = request.method
        if route == "/_admin/stats" and method == "GET":
            return ok(self.stats.snapshot())
        if route == "/_admin/reset-stats" and method == "POST":
            self.stats.reset()
            return ok(self.stats.snapshot())
        if route == "/_admin/faults" and method == "GET":
            return ok(self.faults.pending())
        if route == "/_admin/faults" and method == "POST":
            body, _ = await self._json_object(request)
            return self._set_faults(body)
        return not_found(f"No route for {method} {request.url.path}")

    def _set_faults(self, body: Mapping[str, Any]) -> Reply:
        count = body.get("count")
        if isinstance(count, bool) or not isinstance(count, int) or not 0 <= count <= 100_000:
            return bad_request("count must be an integer from 0 to 100000", "count")
        mode = body.get("mode", "fail")
        if mode == "drop_after_commit":
            self.faults.drop_after_commit(count)
        elif mode == "fail":
            status = body.get("status", 503)
            if isinstance(status, bool) or not isinstance(status, int) or not 400 <= status <= 599:
                return bad_request("status must be an HTTP error status from 400 to 599", "status")
            self.faults.fail_next(count, status)
        else:
            return bad_request("mode must be 'fail' (with a status) or 'drop_after_commit'", "mode")
        return ok(self.faults.pending())

    # ------------------------------------------------------------------ sending

    @staticmethod
    async def _send(reply: Reply, request: Request, send: Send, extra: Mapping[str, str] | None = None) -> None:
        headers = {**reply.headers, **(extra or {})}
        media = "application/json" if reply.content else None
        response = Response(reply.content, reply.status, headers, media_type=media)
        await response(request.scope, request.receive, send)

    @staticmethod
    async def _drop(reply: Reply, send: Send) -> None:
        """Announce the whole answer, send half of it, and return: the server then
        closes the connection, so the client gets a protocol error, not a response."""
        content = reply.content or b"{}"
        status = reply.status if reply.content else 200  # a 204 cannot carry the partial body
        headers = [(b"content-type", b"application/json"), (b"content-length", str(len(content)).encode())]
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": content[: len(content) // 2], "more_body": True})
