"""Live state for a plan, fetched a chunk at a time and released as it is used.

Holding the live body of every resource of a large repository at once was, with the
manifests themselves, most of a plan's memory (100,000 orders: about 0.7 GB of JSON
objects). ``LiveState`` is the planner's ``live`` mapping: a chunk of keys (whole
lookup pages of one kind) is fetched when one of its keys is first asked for, and
``release`` drops a resource's body once the planner has compared it, keeping only
its id, which is all that references, renames and prune still ask of it. The planner
visits resources in manifest order and the lookup keys are in that order too, so the
bodies held at once are about one chunk's, whatever the size of the repository.

Embedded references are shared: an API answers a reference with the referenced resource's
summary (``customer: {id, key, name, status, …}``), the same summary in every order of
that customer. What the plan keeps of each unchanged resource (its ``before``, the live
managed fields) would otherwise hold one copy per order; equal summaries are one object.
The plan treats its values as immutable, so sharing them changes nothing it shows.

Fetching stays concurrent inside a chunk (``fetch_by_keys``), and chunks start on page
boundaries, so the requests are the same as fetching everything first.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any, Protocol

from declsync.profile.model import FieldSpec, KindSpec, Profile
from declsync.profile.types import field_type, ref_members

__all__ = ["CHUNK_PAGES", "LiveState", "ResourceKey"]

ResourceKey = tuple[str, str]

# Lookup pages per chunk: enough to keep every connection of the pool busy.
CHUNK_PAGES = 16


class _Fetcher(Protocol):
    def fetch_by_keys(self, kind: KindSpec, keys: Sequence[str]) -> dict[str, dict[str, Any]]: ...


class LiveState(Mapping[ResourceKey, Mapping[str, Any]]):
    """Live resources by (kind, key) for the keys of ``lookups`` (see the module docstring).

    A key the API does not have is absent, as in a plain dict. ``add`` puts resources
    fetched by other means (prune candidates) beside them."""

    def __init__(self, client: _Fetcher, profile: Profile, lookups: Mapping[str, Sequence[str]],
                 progress: Callable[[int], None] | None = None, *, chunk_pages: int = CHUNK_PAGES) -> None:
        self._client = client
        self._profile = profile
        self._progress = progress
        self._chunks: list[tuple[str, Sequence[str]]] = []
        self._chunk_of: dict[ResourceKey, int] = {}
        for kind_name, keys in lookups.items():
            size = max(1, profile.kinds[kind_name].page_size) * chunk_pages
            for start in range(0, len(keys), size):
                part = keys[start : start + size]
                for key in part:
                    self._chunk_of.setdefault((kind_name, key), len(self._chunks))
                self._chunks.append((kind_name, part))
        self._done = [False] * len(self._chunks)
        self._found: dict[ResourceKey, Mapping[str, Any]] = {}
        self._summaries: dict[tuple[tuple[Any, ...], tuple[type, ...]], dict[str, Any]] = {}

    def _fetch(self, ident: ResourceKey) -> None:
        n = self._chunk_of.get(ident)
        if n is not None and not self._done[n]:
            self._fetch_chunk(n)

    def _fetch_chunk(self, n: int) -> None:
        kind_name, keys = self._chunks[n]
        self._done[n] = True
        kind = self._profile.kinds[kind_name]
        for key, resource in self._client.fetch_by_keys(kind, keys).items():
            for name in kind.ref_fields:
                if name in resource:
                    resource[name] = self._shared(resource[name], kind.fields[name])
            self._found.setdefault((kind_name, key), resource)
        if self._progress is not None:
            self._progress(len(keys))

    def _shared(self, value: Any, spec: FieldSpec | None) -> Any:
        """``value`` (a fresh answer's, rebuilt in place) with each flat reference object
        replaced by the first equal one seen."""
        if spec is None or value is None:
            return value
        ftype = field_type(spec)
        if type(value) is dict:
            if ftype.is_reference:
                # Typed: 1, 1.0 and True are equal in Python but not the same JSON value.
                signature = (tuple(value.items()), tuple(map(type, value.values())))
                try:
                    return self._summaries.setdefault(signature, value)
                except TypeError:  # a nested member (not hashable): kept as it is
                    return value
            if ftype.merges:
                for name in ref_members(spec):
                    if name in value:
                        value[name] = self._shared(value[name], spec.fields.get(name))
        elif type(value) is list and spec.items is not None:
            for i, item in enumerate(value):
                value[i] = self._shared(item, spec.items)
        return value

    def fetch_all(self) -> None:
        """Fetch every chunk not fetched yet (what a caller that needs everything at once asks)."""
        for n, done in enumerate(self._done):
            if not done:
                self._fetch_chunk(n)

    def release(self, ident: ResourceKey) -> None:
        """Forget ``ident``'s body, keeping its id (it was compared and is not needed again)."""
        body = self._found.get(ident)
        if body is not None:
            self._found[ident] = {"id": body.get("id")}

    def add(self, ident: ResourceKey, resource: Mapping[str, Any]) -> None:
        self._found[ident] = resource

    def __getitem__(self, ident: ResourceKey) -> Mapping[str, Any]:
        self._fetch(ident)
        return self._found[ident]

    def __contains__(self, ident: object) -> bool:
        if not isinstance(ident, tuple):
            return False
        self._fetch(ident)
        return ident in self._found

    def __iter__(self) -> Iterator[ResourceKey]:
        self.fetch_all()
        return iter(self._found)

    def __len__(self) -> int:
        self.fetch_all()
        return len(self._found)
