"""Failures of the HTTP client, in words: every failed exchange becomes a
``declsync.errors.ApiError`` subclass with a one-line message naming method and path
(never a query string, never a token), and saying what to check.
"""

from __future__ import annotations

import json
import ssl
from typing import Any

import httpx

from declsync.errors import ApiError, AuthError, ConflictError, ConnectError, redact
from declsync.remote.answers import Answer

__all__ = ["RETRY_STATUSES", "error_for", "is_tls", "snippet", "transport_error", "unexpected"]

RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})


def snippet(content: bytes, limit: int = 200) -> str:
    text = " ".join(content.decode("utf-8", "replace").split())
    return text[:limit] + ("…" if len(text) > limit else "")


def is_tls(exc: BaseException) -> bool:
    seen: BaseException | None = exc
    for _ in range(10):
        if seen is None:
            break
        if isinstance(seen, ssl.SSLError):
            return True
        seen = seen.__cause__ or seen.__context__
    text = str(exc)
    return "CERTIFICATE_VERIFY_FAILED" in text or "SSL" in text or "TLS" in text


def transport_error(origin: str, method: str, path: str, exc: httpx.TransportError, attempts: int) -> ConnectError:
    reason = redact(str(exc)) or type(exc).__name__
    if isinstance(exc, httpx.TimeoutException):
        reason = f"timed out ({type(exc).__name__})"
    if is_tls(exc):
        return ConnectError(
            f"cannot reach {origin}: TLS error ({reason}) on {method} {path}; "
            "check DECLSYNC_API_URL and the server's certificate"
        )
    tries = f", {attempts} attempts" if attempts > 1 else ""
    # Failing to connect and losing an established connection call for different checks.
    connecting = isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout)
    verb = "cannot reach" if connecting else "lost the connection to"
    return ConnectError(
        f"{verb} {origin}: {reason} ({method} {path}{tries}); "
        "check DECLSYNC_API_URL and your network",
        retryable=True,
    )


def unexpected(answer: Answer, what: str) -> ApiError:
    return ApiError(
        f"unexpected response from API to {answer.method} {answer.path} ({answer.status}): {what}",
        status=answer.status,
    )


def error_for(answer: Answer, attempts: int, base_url: str) -> ApiError:
    """The ``ApiError`` for a non-2xx answer."""
    status, where = answer.status, f"{answer.method} {answer.path}"
    if 300 <= status < 400:
        location = answer.headers.get("location", "")
        target = httpx.URL(base_url).join(location).host if location else "another location"
        return ApiError(
            f"the API redirected {where} ({status}) to {target}; declsync does not follow redirects "
            "(credentials would leak); fix DECLSYNC_API_URL",
            status=status,
        )
    code, message, details = _error_body(answer.content)
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


def _error_body(content: bytes) -> tuple[str | None, str, list[dict[str, Any]]]:
    """``(code, message, details)`` from the flat spec envelope or the guide's nested one."""
    try:
        payload = json.loads(content)
    except (ValueError, RecursionError):
        return None, snippet(content), []
    if not isinstance(payload, dict):
        return None, snippet(content), []
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
