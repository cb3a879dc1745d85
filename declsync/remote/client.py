"""The HTTP client for the MVMNT API (and any API a profile describes).

One ``ApiClient`` owns one thread-safe HTTP session and a small thread pool. A call
goes ``public method → HttpSession._call (retries, throttle; declsync.remote.session)
→ _send_once (one HTTP exchange, size-capped read) → the dialect's checks
(declsync.remote.dialect) or an error in words (declsync.remote.failures)``, so that
each concern lives in one place:

- the session: retries (writes too, safe because each carries the caller's
  ``Idempotency-Key``), the shared throttle, per-request and per-command deadlines,
  no plain http beyond loopback, no redirects, a response size cap;
- the dialect: lookups are checked, never trusted (an answer for another key or
  resource, two live resources for one key, unread pages, paging that does not end,
  lone surrogates are refused);
- failures: every one becomes a ``declsync.errors.ApiError`` subclass with a one-line
  message naming method and path (never a query string, never a token).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from types import TracebackType
from typing import Any
from urllib.parse import quote

from declsync.profile.model import KindSpec
from declsync.remote import dialect
from declsync.remote.answers import Answer, shown
from declsync.remote.auth import ClientCredentialsAuth, StaticTokenAuth, default_token_url
from declsync.remote.failures import unexpected
from declsync.remote.session import DEFAULT_DEADLINE, DEFAULT_REQUEST_TIMEOUT, HttpSession
from declsync.remote.throttle import Throttle

__all__ = [
    "DEFAULT_DEADLINE",
    "DEFAULT_REQUEST_TIMEOUT",
    "ApiClient",
    "ClientCredentialsAuth",
    "StaticTokenAuth",
    "Throttle",
    "default_token_url",
]

class ApiClient(HttpSession):
    """Synchronous, thread-safe client for one API base URL (including ``/v1``)."""

    def __enter__(self) -> ApiClient:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

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
                found.update({key: dialect.with_ids(kind, resource) for key, resource in part.items()})
        else:
            answers = self._map(lambda k: self.get_by_key(kind, k), unique)
            for key, resource in zip(unique, answers, strict=True):
                if resource is not None:
                    found[key] = resource
        return found

    def get(self, kind: KindSpec, ref: str) -> dict[str, Any] | None:
        """``GET {path}/{ref}`` (ref: id, friendlyId or key); None when it does not exist."""
        answer = self._call("GET", self._item_url(kind, ref), allow_404=True)
        return None if answer.status == 404 else dialect.with_ids(kind, dialect.answering(answer, ref))

    def get_with_etag(self, kind: KindSpec, ref: str) -> tuple[dict[str, Any] | None, str | None]:
        """``GET {path}/{ref}`` and the answer's ``ETag`` (None when the server sends none), for
        a conditional write (``If-Match``); ``(None, None)`` when the resource does not exist."""
        answer = self._call("GET", self._item_url(kind, ref), allow_404=True)
        if answer.status == 404:
            return None, None
        return dialect.with_ids(kind, dialect.answering(answer, ref)), answer.headers.get("etag")

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
        found = dialect.key_answer(kind, key, answer)
        return None if found is None else dialect.with_ids(kind, found)

    def create(self, kind: KindSpec, body: Mapping[str, Any], *, idempotency_key: str) -> dict[str, Any]:
        answer = self._call("POST", self._url(kind), body=body, headers={"Idempotency-Key": idempotency_key})
        created = dialect.with_ids(kind, dialect.resource_of(answer))
        if "key" in body and created.get("key") != body["key"]:
            # Recording this id under our key would point the key at another resource.
            raise unexpected(answer, f"created {shown(body['key'])} but the answer is the resource of key "
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
        return dialect.with_ids(kind, dialect.answering(answer, id))

    def delete(self, kind: KindSpec, id: str, *, idempotency_key: str) -> None:
        self._call("DELETE", self._item_url(kind, id), headers={"Idempotency-Key": idempotency_key})

    def iter_all(self, kind: KindSpec, *, with_key_only: bool = True) -> Iterator[dict[str, Any]]:
        """Every (non-deleted) resource of a kind, page by page; only keyed ones by default."""
        flt: dict[str, Any] = {"key": {"isNull": False}} if with_key_only else {}
        for _, items in dialect.pages(self._post, f"{self._url(kind)}/filter", kind, flt):
            yield from (dialect.with_ids(kind, item) for item in items)

    # ---------------------------------------------------------------- lookups


    def _url(self, kind: KindSpec) -> str:
        return f"{self.base_url}/{kind.path}"

    def _item_url(self, kind: KindSpec, ref: str) -> str:
        # Keys are free text: a '/' or '?' in one must not change the path.
        return f"{self.base_url}/{kind.path}/{quote(ref, safe='')}"

    def _post(self, url: str, body: Mapping[str, Any]) -> Answer:
        return self._call("POST", url, body=body)

    def _filter_keys(self, kind: KindSpec, chunk: Sequence[str]) -> dict[str, dict[str, Any]]:
        return dialect.filter_keys(self._post, f"{self._url(kind)}/filter", kind, chunk)
