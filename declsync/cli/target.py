"""``open_target`` with the command line's hints: a plain-http refusal that names its real
reason when no credentials were given, and a base-path hint when collections answer 404."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import urlsplit

from declsync.cli.output import err
from declsync.errors import ApiError, ConfigError
from declsync.profile.model import Profile
from declsync.remote.auth import _is_loopback
from declsync.remote.target import Settings, Target, open_target, public_url

__all__ = ["target"]

_REQUEST = re.compile(r"^[A-Z]+ /([^\s:?]*?)(?:/filter)?: 404\b")
_VERSION = re.compile(r"/v\d+(?:/|$)")


def _refuse_plain_http(settings: Settings) -> None:
    """Without credentials there is none to leak; plain http is refused because every
    request and answer could be read or changed on the way (a tampered answer is planned
    and applied from). With credentials the client refuses it itself."""
    if not settings.api_url or settings.insecure_http or settings.token or settings.client_id \
            or settings.client_secret:
        return
    parts = urlsplit(settings.api_url)
    if parts.scheme == "http" and parts.hostname and not _is_loopback(parts.hostname):
        raise ConfigError(f"refusing plain http to {public_url(settings.api_url)}: no credentials are sent, but "
                          "anyone on the way could read or change what declsync reads and writes; use https, "
                          "or --insecure-http on a network you trust")


def _base_path_hint(exc: ApiError, api_url: str, profile: Profile) -> str | None:
    match = _REQUEST.match(str(exc))
    collections = {k.path.strip("/") for k in profile.kinds.values()}
    if exc.status != 404 or match is None or match.group(1).strip("/") not in collections:
        return None
    url = public_url(api_url).rstrip("/")
    if not _VERSION.search(urlsplit(url).path + "/"):
        return f"the API has no /{match.group(1)} at {url}: did you forget /v1? (try --api-url {url}/v1)"
    return f"the API has no /{match.group(1)} at {url}: check the API URL's base path"


@contextmanager
def target(settings: Settings, profile: Profile) -> Iterator[Target]:
    _refuse_plain_http(settings)
    try:
        with open_target(settings, profile, err) as opened:
            yield opened
    except ApiError as exc:
        hint = _base_path_hint(exc, settings.api_url or "", profile) if settings.api_url else None
        if hint is None:
            raise
        raise ApiError(f"{exc}; {hint}", status=exc.status, code=exc.code, details=exc.details) from exc
