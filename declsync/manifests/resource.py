"""``Resource``: one declared resource, as the later stages see it."""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = ["LazyLines", "PathT", "Resource"]

PathT = tuple[str | int, ...]


class LazyLines(Mapping[PathT, int]):
    """A resource's line map kept as one compact JSON string and decoded on first use: only
    messages need lines. As a dict of tuples it was a third of every loaded resource's memory
    (about 3.6 KB of 11.8 KB for a typical order), and most of what a warm run decoded."""

    __slots__ = ("_map", "_text")

    def __init__(self, text: str) -> None:
        self._text: str | None = text
        self._map: dict[PathT, int] = {}

    @classmethod
    def of(cls, lines: Mapping[PathT, int]) -> LazyLines:
        return cls(json.dumps([[list(p), n] for p, n in lines.items()], separators=(",", ":")))

    def encoded(self) -> str:
        """The JSON text (without decoding it when it was never used)."""
        if self._text is not None:
            return self._text
        return json.dumps([[list(p), n] for p, n in self._map.items()], separators=(",", ":"))

    def _decoded(self) -> dict[PathT, int]:
        if self._text is not None:
            text, self._text = self._text, None
            try:
                for path, n in json.loads(text):
                    if type(path) is list and type(n) is int:
                        self._map[tuple(path)] = n
            except (ValueError, TypeError, RecursionError):
                # Only a foreign cache entry gets here (entries are checksummed): lines then
                # fall back to the resource's own.
                self._map.clear()
        return self._map

    def __getitem__(self, path: PathT) -> int:
        return self._decoded()[path]

    def __contains__(self, path: object) -> bool:
        return path in self._decoded()

    def __iter__(self) -> Iterator[PathT]:
        return iter(self._decoded())

    def __len__(self) -> int:
        return len(self._decoded())


@dataclass(frozen=True)
class Resource:
    """One declared resource: kind + client key + desired fields, and where it came from."""

    kind: str
    key: str
    spec: dict[str, Any]
    file: str
    line: int
    # Line of each field path inside ``spec`` (for errors found later, e.g. by the planner).
    lines: Mapping[PathT, int] = field(default_factory=dict, compare=False, repr=False)
    # Field paths the manifest marks sensitive (top-level ``sensitive: [path, …]``).
    sensitive: tuple[str, ...] = ()
    # Keys this resource had before (``previousKeys``): found live under one of them, it is renamed.
    previous_keys: tuple[str, ...] = ()
    # ``lifecycle.preventDestroy``: recorded in the state so that prune refuses to delete it.
    prevent_destroy: bool = False
    # ``lifecycle.ignoreFields``: dotted field paths never compared nor patched (sent on create only).
    ignore_fields: tuple[str, ...] = ()
    # Line of each top-level field of the document (``previousKeys``, ``lifecycle`` …).
    top_lines: Mapping[str, int] = field(default_factory=dict, compare=False, repr=False)

    @property
    def address(self) -> str:
        return f"{self.kind}/{self.key}"

    @property
    def source(self) -> str:
        return f"{self.file}:{self.line}"

    def line_of(self, path: PathT) -> int:
        """The line of the closest enclosing field of ``path`` that has one."""
        p = tuple(path)
        while p:
            if p in self.lines:
                return self.lines[p]
            p = p[:-1]
        return self.line
