"""Which API a command talks to: a configured URL, or the embedded sandbox.

Production is only ever reached when a URL is given (``--api-url`` /
``DECLSYNC_API_URL``). Without one, the command starts the bundled sandbox on a
free loopback port, persisted in ``.declsync/sandbox.sqlite``, and stops it when
done: real HTTP, real SQLite, no credentials.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import httpx

from declsync.errors import ConfigError
from declsync.profile.model import Profile
from declsync.remote.auth import clean_credential
from declsync.remote.client import (
    DEFAULT_DEADLINE,
    DEFAULT_REQUEST_TIMEOUT,
    ApiClient,
    ClientCredentialsAuth,
    StaticTokenAuth,
    default_token_url,
)

__all__ = ["EMBEDDED_DB", "Settings", "Target", "open_target", "public_url"]

EMBEDDED_DB = Path(".declsync") / "sandbox.sqlite"


@dataclass(frozen=True)
class Settings:
    api_url: str | None = None
    token: str | None = None
    client_id: str | None = None
    client_secret: str | None = None
    token_url: str | None = None
    parallelism: int = 16
    timeout: float = 30.0
    request_timeout: float = DEFAULT_REQUEST_TIMEOUT
    # Every API request of one command, counted from when it connects (None: no limit).
    deadline: float | None = DEFAULT_DEADLINE
    insecure_http: bool = False
    sandbox_db: Path = EMBEDDED_DB

    def __post_init__(self) -> None:
        # Whitespace around a credential (a token file's trailing newline) is dropped
        # here, so an all-blank one counts as not given; control characters are refused.
        object.__setattr__(self, "token", clean_credential(self.token, "the API token (DECLSYNC_TOKEN / --token)"))
        object.__setattr__(self, "client_secret", clean_credential(
            self.client_secret, "the client secret (DECLSYNC_CLIENT_SECRET / --client-secret)"))
        object.__setattr__(self, "client_id", clean_credential(
            self.client_id, "the client id (DECLSYNC_CLIENT_ID / --client-id)", secret=False))


@dataclass(frozen=True)
class Target:
    client: ApiClient
    # A credential-free description for output and saved plans.
    description: str
    embedded: bool


def public_url(url: str) -> str:
    """``url`` without user info, query or fragment (they may carry secrets)."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    return urlunsplit((parts.scheme, host, parts.path, "", ""))


def _auth(settings: Settings, base_url: str) -> httpx.Auth | None:
    if settings.token and (settings.client_id or settings.client_secret):
        raise ConfigError("give either a token (DECLSYNC_TOKEN) or client credentials "
                          "(DECLSYNC_CLIENT_ID/DECLSYNC_CLIENT_SECRET), not both")
    if settings.token:
        return StaticTokenAuth(settings.token)
    if settings.client_id or settings.client_secret:
        if not (settings.client_id and settings.client_secret):
            raise ConfigError("client credentials need both DECLSYNC_CLIENT_ID and DECLSYNC_CLIENT_SECRET")
        token_url = settings.token_url or default_token_url(base_url)
        return ClientCredentialsAuth(token_url, settings.client_id, settings.client_secret)
    return None


@contextmanager
def open_target(settings: Settings, profile: Profile, say: Callable[[str], None]) -> Iterator[Target]:
    """Yield a client for the configured API, or for a freshly started embedded sandbox."""
    if settings.api_url:
        url = settings.api_url.rstrip("/")
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ConfigError(f"invalid API URL {public_url(url)!r}: expected e.g. https://api.mvmnt.io/v1")
        client = ApiClient(
            url,
            auth=_auth(settings, url),
            parallelism=settings.parallelism,
            timeout=settings.timeout,
            request_timeout=settings.request_timeout,
            deadline=settings.deadline,
            insecure_http=settings.insecure_http,
        )
        with client:
            yield Target(client, public_url(url), embedded=False)
        return
    # Imported here: the server stack is only needed when no API is configured.
    from declsync.sandbox import SandboxConfig, SandboxServer

    db = settings.sandbox_db
    try:
        db.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(f"cannot create {db.parent} for the embedded sandbox: {exc.strerror}") from None
    real = "MVMNT" if profile.name == "mvmnt" else f"the {profile.name}"
    say(f"target: embedded sandbox ({db}); set DECLSYNC_API_URL to target {real}")
    with SandboxServer(SandboxConfig(db_path=str(db), profile=profile)) as server:
        client = ApiClient(server.base_url, parallelism=settings.parallelism, timeout=settings.timeout,
                           request_timeout=settings.request_timeout, deadline=settings.deadline)
        with client:
            yield Target(client, f"embedded sandbox ({db})", embedded=True)
