"""Credentials for the API: a static bearer token, or OAuth2 client credentials.

Both are ``httpx.Auth`` flows plugged into the one shared ``httpx.Client`` of
``ApiClient``. Every token and client secret seen here is passed to
``register_secret`` so that no error message can ever show it.

Credentials are cleaned by ``clean_credential`` wherever they enter (flags, the
environment, a file read into a variable, a token endpoint's answer): surrounding
whitespace is stripped (a token read from a mounted file ends in ``\\n``), and a
control character left inside is a configuration error that names the setting,
never the value. Without this, ``Bearer tok\\n`` is an illegal header that an HTTP
library reports with the token in clear, and retries as if the network had failed.

``ClientCredentialsAuth`` performs its own (blocking) token request from inside the
auth flow, so it serves sync clients only, which is all declsync uses.
"""

from __future__ import annotations

import ipaddress
import json
import threading
import time
from collections.abc import Callable, Generator
from typing import Any
from urllib.parse import urlsplit

import httpx

from declsync.errors import AuthError, ConfigError, ConnectError, register_secret
from declsync.remote.transport import default_transport
from declsync.scrub import install_log_filter

__all__ = [
    "ClientCredentialsAuth",
    "StaticTokenAuth",
    "check_url",
    "clean_credential",
    "default_token_url",
    "origin",
]

# httpx/httpcore log URLs and connection errors; whatever they say is scrubbed first.
install_log_filter()

# A token is renewed this long before the server says it expires, so a request
# never leaves with a token that dies in flight.
EXPIRY_MARGIN = 60.0


def _bad_character(value: str) -> tuple[int, str] | None:
    """The first character of ``value`` no credential may hold: ``(position, description)``."""
    for position, ch in enumerate(value):
        if (ch.isspace() and ch != " ") or not ch.isprintable():
            return position, f"U+{ord(ch):04X}"
    return None


def clean_credential(value: str | None, what: str, *, secret: bool = True) -> str | None:
    """``value`` without surrounding whitespace; ``None`` when that leaves nothing.
    Raise ``ConfigError`` (naming ``what``, never the value) when a control or other
    non-printable character remains inside it. A ``secret`` is registered before
    anything else, so even a refused one is never shown; a client id is not a secret
    (registering it would blank every word it shares 8 characters with)."""
    if value is None:
        return None
    cleaned = value.strip()
    if secret:
        register_secret(value)
        register_secret(cleaned)
    bad = _bad_character(cleaned)
    if bad is not None:
        position, char = bad
        raise ConfigError(
            f"{what} contains a control character ({char} at position {position + 1} of {len(cleaned)}); "
            "credentials are single-line text: check how it was read (e.g. a file with Windows line "
            "endings, or several lines)"
        )
    return cleaned or None


def origin(url: str) -> str:
    """``scheme://host[:port]`` of ``url``: no user info, path, query or fragment."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:  # IPv6 literal
        host = f"[{host}]"
    if parts.port:
        host = f"{host}:{parts.port}"
    return f"{parts.scheme}://{host}"


def default_token_url(base_url: str) -> str:
    """The OAuth2 token endpoint beside an API base URL: ``{scheme}://{host[:port]}/oauth2/token``."""
    return origin(base_url) + "/oauth2/token"


def _is_loopback(host: str) -> bool:
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_url(url: str, *, insecure_http: bool = False, what: str = "API URL") -> None:
    """Refuse URLs that would expose credentials: plain http beyond loopback, odd schemes,
    credentials or a query inside the URL (sent as is and logged by HTTP libraries)."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(f"invalid {what} {origin(url)!r}: expected e.g. https://api.mvmnt.io/v1")
    if parts.username is not None or parts.password is not None or parts.query or parts.fragment:
        register_secret(parts.password)
        raise ConfigError(
            f"invalid {what} for {origin(url)}: it must not carry user:password@, a ?query or a #fragment; "
            "give credentials with DECLSYNC_TOKEN or DECLSYNC_CLIENT_ID/DECLSYNC_CLIENT_SECRET"
        )
    if parts.scheme == "http" and not insecure_http and not _is_loopback(parts.hostname):
        raise ConfigError(
            f"refusing to send credentials over plain http to {origin(url)}; use https or --insecure-http"
        )


class StaticTokenAuth(httpx.Auth):
    """``Authorization: Bearer <token>`` on every request."""

    def __init__(self, token: str) -> None:
        cleaned = clean_credential(token, "the API token (DECLSYNC_TOKEN / --token)")
        if not cleaned:
            raise ConfigError("the API token is empty; set DECLSYNC_TOKEN")
        token = cleaned
        self._header = f"Bearer {token}"

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        request.headers["Authorization"] = self._header
        yield request


class ClientCredentialsAuth(httpx.Auth):
    """OAuth2 client-credentials grant with a cached token.

    The token is fetched on first use and reused until ``expires_in`` minus a
    60 s margin (half the lifetime for tokens shorter than two minutes). One thread
    refreshes at a time; the others wait and reuse its token. A 401 from the API
    means the token was revoked or expired early: refresh once and resend.
    """

    def __init__(
        self,
        token_url: str,
        client_id: str,
        client_secret: str,
        transport: httpx.BaseTransport | None = None,
        *,
        timeout: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        client_secret = clean_credential(client_secret, "the client secret (DECLSYNC_CLIENT_SECRET / --client-secret)") or ""
        client_id = clean_credential(client_id, "the client id (DECLSYNC_CLIENT_ID / --client-id)", secret=False) or ""
        if not client_id or not client_secret:
            raise ConfigError("client credentials need both DECLSYNC_CLIENT_ID and DECLSYNC_CLIENT_SECRET")
        self.token_url = token_url
        self._client_id = client_id
        self._client_secret = client_secret
        self._clock = clock
        self._lock = threading.Lock()
        self._token: str | None = None
        self._expires_at = 0.0
        self.fetch_count = 0
        # default_transport: a token request made inside an API request's auth flow
        # shares that request's total deadline (--request-timeout).
        transport = transport or default_transport(token_url, httpx.Limits())
        self._http = httpx.Client(transport=transport, timeout=timeout, follow_redirects=False)

    def close(self) -> None:
        self._http.close()

    def token(self, *, stale: str | None = None) -> str:
        """A valid access token; ``stale`` is one the API just refused (refreshed unless already done)."""
        with self._lock:
            if self._token is None or self._token == stale or self._clock() >= self._expires_at:
                self._token, lifetime = self._fetch()
                margin = min(EXPIRY_MARGIN, lifetime / 2)
                self._expires_at = self._clock() + lifetime - margin
            return self._token

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        token = self.token()
        request.headers["Authorization"] = f"Bearer {token}"
        response = yield request
        if response.status_code == 401:
            request.headers["Authorization"] = f"Bearer {self.token(stale=token)}"
            yield request

    def _fetch(self) -> tuple[str, float]:
        where = origin(self.token_url) + urlsplit(self.token_url).path
        form = {
            "grant_type": "client_credentials",
            "client_id": self._client_id,
            "client_secret": self._client_secret,
        }
        try:
            response = self._http.post(self.token_url, data=form, headers={"Accept": "application/json"})
        except httpx.HTTPError as exc:
            reason = str(exc) or type(exc).__name__
            raise ConnectError(
                f"cannot reach the token endpoint {where}: {reason}; "
                "check DECLSYNC_TOKEN_URL / DECLSYNC_API_URL and your network",
                retryable=isinstance(exc, httpx.TransportError),
            ) from exc
        self.fetch_count += 1
        payload: Any
        try:
            payload = json.loads(response.content)
        except (ValueError, RecursionError):  # RecursionError: nested too deeply to parse
            payload = None
        if response.status_code != 200:
            detail = ""
            if isinstance(payload, dict):
                parts = [str(payload[k]) for k in ("error", "error_description", "message") if payload.get(k)]
                detail = ": " + " ".join(parts)[:300] if parts else ""
            raise AuthError(
                f"the token endpoint {where} refused the client credentials "
                f"({response.status_code}{detail}); "
                "check DECLSYNC_CLIENT_ID/DECLSYNC_CLIENT_SECRET",
                status=response.status_code,
                retryable=response.status_code == 429 or response.status_code >= 500,
            )
        token = payload.get("access_token") if isinstance(payload, dict) else None
        if isinstance(token, str):
            register_secret(token)
            token = token.strip()
            register_secret(token)
        if not isinstance(token, str) or not token:
            raise AuthError(f"unexpected response from the token endpoint {where}: no access_token",
                            status=response.status_code)
        if _bad_character(token) is not None:
            # Not retried: the same endpoint would hand out the same kind of token.
            raise AuthError(f"unexpected response from the token endpoint {where}: the access_token holds a "
                            "control character and cannot be sent in a header", status=response.status_code)
        try:
            lifetime = float(payload.get("expires_in", 3600))
        except (TypeError, ValueError):
            lifetime = 3600.0
        # A missing or nonsensical lifetime: assume the documented hour.
        return token, lifetime if lifetime > 0 else 3600.0
