"""``Resource``: one declared resource, as the later stages see it."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = ["PathT", "Resource"]

PathT = tuple[str | int, ...]


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
