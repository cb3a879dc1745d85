"""The API's dialect: what an answer must look like before declsync uses it.

Lookups are checked, never trusted: an answer for another key or resource, two live
resources for one key, unread pages of a ``GET ?key=`` list, paging that does not end,
a resource without a string ``id`` (apply writes by id) and strings no output can
encode (lone surrogates) are refused with an ``ApiError`` naming the request.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

from declsync.errors import ApiError
from declsync.profile.model import KindSpec
from declsync.remote.answers import Answer, answers_for, has_more, lone_surrogate_at, shown, twins
from declsync.remote.failures import snippet, unexpected

__all__ = ["EXTRA_LOOKUP_PAGES", "MAX_EMPTY_PAGES", "answering", "decode", "filter_keys", "key_answer", "pages",
           "resource_of", "with_ids"]

# A keyed lookup of N keys may follow at most N + this many pages: every page but the
# last should bring a key asked for, so more pages mean the paging never ends.
EXTRA_LOOKUP_PAGES = 2
# A listing (import) stops after this many pages in a row without a resource.
MAX_EMPTY_PAGES = 3

# ``POST url`` with a JSON body: the session's call, retries included.
Post = Callable[[str, Mapping[str, Any]], Answer]


def has_id(resource: Mapping[str, Any]) -> bool:
    ident = resource.get("id")
    return isinstance(ident, str) and bool(ident)


def with_ids(kind: KindSpec, resource: dict[str, Any]) -> dict[str, Any]:
    """``resource`` with the id fields its answer holds only as objects filled in
    (``customerId`` from ``customer.id``, per ``kind.id_from``), so that a live resource
    shows what its manifest declares. An answer that has the field itself wins."""
    for name, member in kind.id_from.items():
        if name in resource or member not in resource:
            continue
        value = resource[member]
        if value is None:
            resource[name] = None
        elif isinstance(value, dict) and isinstance(value.get("id"), str):
            resource[name] = value["id"]
    return resource


def decode(answer: Answer) -> Any:
    try:
        payload = json.loads(answer.content)
    except (ValueError, RecursionError):  # RecursionError: nested too deeply to parse
        raise unexpected(answer, f"not JSON: {snippet(answer.content, 80)!r}") from None
    # JSON may escape a lone surrogate ("\ud800"), which no output can encode: refuse it
    # here, naming where, instead of crashing later while printing or saving state.
    where = lone_surrogate_at(answer.content, payload)
    if where is not None:
        raise unexpected(answer, f"a string that is not valid Unicode (a lone surrogate) at {where}; "
                         "fix that value in the API")
    return payload


def resource_of(answer: Answer, payload: Any = None) -> dict[str, Any]:
    if payload is None:
        payload = decode(answer)
    if not isinstance(payload, dict):
        raise unexpected(answer, "expected a resource object")
    if not has_id(payload):
        # Apply writes by id: a resource without one must stop here, not half-way through apply.
        raise unexpected(answer, "a resource without a string 'id'")
    return payload


def answering(answer: Answer, ref: str) -> dict[str, Any]:
    """The resource of a ``GET {path}/{ref}`` answer, which must be the one asked for."""
    resource = resource_of(answer)
    if not answers_for(resource, ref):
        raise unexpected(answer, f"asked for {shown(ref)}, got the resource of id {shown(resource['id'])} "
                         f"(key {shown(resource.get('key'))}); refusing to use it")
    return resource


def check_unique(kind: KindSpec, key: str, matches: Sequence[Mapping[str, Any]], answer: Answer) -> None:
    """Two live resources for one key: refuse rather than guess which one to write."""
    ids = twins(matches)
    if len(ids) > 1:
        raise ApiError(
            f"{kind.name} {key!r}: {len(ids)} live resources answer for this key ({', '.join(ids)}) on "
            f"{answer.method} {answer.path}; declsync writes neither. Delete or re-key all but one "
            "(an API whose lookup also returns deleted resources does this)",
            status=answer.status,
        )


def key_answer(kind: KindSpec, key: str, answer: Answer) -> dict[str, Any] | None:
    """The resource of key ``key`` in the (2xx) answer to a keyed lookup; None when absent."""
    payload = decode(answer)
    # The guide answers with the resource itself; a list envelope is accepted too.
    if isinstance(payload, dict) and isinstance(payload.get("data"), list):
        matches = [item for item in payload["data"] if isinstance(item, dict) and item.get("key") == key]
        if any(not has_id(item) for item in matches):
            raise unexpected(answer, "a resource without a string 'id'")
        check_unique(kind, key, matches, answer)
        if has_more(payload):
            # An unread page may hold this key, or a second resource for it: "absent" would
            # create a duplicate, "found" might write the wrong one.
            raise unexpected(
                answer, f"a list with more pages (hasNextPage) for {kind.name} {key!r}; declsync does not "
                "guess what they hold (use lookup: {filter: true} for this kind in the profile)")
        return matches[0] if matches else None
    resource = resource_of(answer, payload)
    if resource.get("key") != key:
        raise unexpected(
            answer, f"asked for {kind.name} {key!r}, got the resource of key "
            f"{shown(resource.get('key'))} (id {shown(resource['id'])}); refusing to use it")
    return resource


def filter_keys(post: Post, url: str, kind: KindSpec, chunk: Sequence[str]) -> dict[str, dict[str, Any]]:
    """The resources of the keys in ``chunk`` (one ``POST {path}/filter`` listing), each checked unique."""
    wanted = set(chunk)
    found: dict[str, list[dict[str, Any]]] = {}
    # Every page but the last should bring a key asked for: N keys take at most N pages.
    limit = len(chunk) + EXTRA_LOOKUP_PAGES
    for answer, items in pages(post, url, kind, {"key": {"in": list(chunk)}}, max_pages=limit):
        for item in items:
            key = item.get("key")
            if isinstance(key, str) and key in wanted:
                # pages() yields each id once: a second item is a second live resource.
                found.setdefault(key, []).append(item)
                check_unique(kind, key, found[key], answer)
    return {key: items[0] for key, items in found.items()}


def pages(
    post: Post, url: str, kind: KindSpec, flt: Mapping[str, Any], *, max_pages: int | None = None
) -> Iterator[tuple[Answer, list[dict[str, Any]]]]:
    """``(answer, resources)`` page by page of ``POST url`` (``{path}/filter``). Bounded: a
    repeated cursor, more than ``max_pages`` pages, or ``MAX_EMPTY_PAGES`` pages in a row
    without a resource not seen before is refused. A resource already seen (same id) is not
    yielded again."""
    cursor: str | None = None
    seen: set[str] = set()
    ids: set[str] = set()
    count = empty = 0
    while True:
        body: dict[str, Any] = {"filter": flt, "pageSize": kind.page_size}
        if cursor is not None:
            body["cursor"] = cursor
        answer = post(url, body)
        count += 1
        payload = decode(answer)
        data = payload.get("data") if isinstance(payload, dict) else None
        if not isinstance(data, list) or not all(isinstance(item, dict) for item in data):
            raise unexpected(answer, "no 'data' list of resources")
        if not all(has_id(item) for item in data):
            raise unexpected(answer, "a resource without a string 'id'")
        fresh = [item for item in data if item["id"] not in ids]
        ids.update(item["id"] for item in fresh)
        yield answer, fresh
        assert isinstance(payload, dict)
        # The public API names the page info 'pageInfo' on some kinds, 'pagination' on others.
        info = payload.get("pageInfo", payload.get("pagination"))
        if info is None:
            return
        if not isinstance(info, dict):
            raise unexpected(answer, "page info is not an object")
        if not info.get("hasNextPage"):
            return
        cursor = info.get("endCursor", info.get("cursor"))
        if not isinstance(cursor, str) or not cursor:
            raise unexpected(answer, "hasNextPage without an endCursor")
        if cursor in seen:
            raise unexpected(answer, "the page cursor repeats; paging would never end")
        seen.add(cursor)
        empty = 0 if fresh else empty + 1
        if empty >= MAX_EMPTY_PAGES:
            raise unexpected(answer, f"{empty} pages in a row without a new resource, and still a next "
                             "page; paging would never end")
        if max_pages is not None and count >= max_pages:
            raise unexpected(answer, f"still a next page after {count} pages for {max_pages - EXTRA_LOOKUP_PAGES} "
                             "keys (pages of other keys?); paging would never end")
