"""An OpenAPI document as read from a file: local ``$ref`` resolution and error locations.

Only local references (``#/components/...``) are followed: a profile is compiled from
one self-contained document, never from the network. Lines for error messages are
found on demand (``where``), so compiling a valid document never pays for them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import yaml

from declsync.errors import ProfileError

__all__ = ["Document", "as_map", "is_openapi", "pointer"]


_TYPE_WORDS: dict[Any, str] = {Mapping: "a mapping", list: "a list", str: "a string"}


def as_map(value: Any) -> Mapping[str, Any]:
    """``value`` when it is a mapping, else an empty one (for optional members)."""
    return value if isinstance(value, Mapping) else {}


def is_openapi(data: Any) -> bool:
    """A parsed file is an OpenAPI document (not a declsync profile) by its ``openapi`` key."""
    return isinstance(data, Mapping) and "openapi" in data and "kinds" not in data


def _unescape(part: str) -> str:
    return part.replace("~1", "/").replace("~0", "~")


def pointer(*parts: str | int) -> str:
    """``("paths", "/books", "post")`` → ``#/paths/~1books/post`` (RFC 6901)."""
    return "#/" + "/".join(str(p).replace("~", "~0").replace("/", "~1") for p in parts)


@dataclass
class Document:
    """The parsed document, its file name, and its text (for line numbers in errors)."""

    data: Mapping[str, Any]
    source: str
    text: str = ""
    _lines: dict[str, int] | None = field(default=None, repr=False)
    # shapes.flatten's memory: (id(schema), at, stack, expand) -> (schema, Shape).
    shapes: dict[tuple[int, str, tuple[str, ...], bool], tuple[Any, Any]] = field(
        default_factory=dict, repr=False, compare=False)

    @property
    def version(self) -> str:
        return str(self.data.get("openapi", ""))

    def resolve(self, ref: str, at: str) -> Any:
        """The value ``ref`` (``#/components/schemas/X``) points at."""
        if not ref.startswith("#/"):
            raise self.error(at, f"$ref {ref!r} is not a local reference (#/components/...); "
                                 "bundle the document into one file first")
        node: Any = self.data
        for part in ref[2:].split("/"):
            key = _unescape(part)
            if isinstance(node, list) and key.isdigit() and int(key) < len(node):
                node = node[int(key)]
            elif isinstance(node, Mapping) and key in node:
                node = node[key]
            else:
                raise self.error(at, f"$ref {ref!r} points at nothing in the document")
        return node

    def member(self, node: Mapping[str, Any], name: str, expected: type, at: str) -> Any:
        """``node[name]``, None when absent, an error naming the place when it has the wrong type."""
        value = node.get(name)
        if value is None or isinstance(value, expected):
            return value
        what = _TYPE_WORDS.get(expected, expected.__name__)
        raise self.error(at, f"{name} must be {what}, not {value!r:.40}")

    def error(self, at: str, message: str) -> ProfileError:
        return ProfileError(f"{self.where(at)}: {message}")

    def where(self, at: str) -> str:
        """``file:line`` of the JSON pointer ``at`` (its nearest located ancestor), or ``file (at)``."""
        lines = self._line_map()
        probe = at
        while probe and probe != "#":
            if probe in lines:
                return f"{self.source}:{lines[probe]} ({at})"
            probe = probe.rsplit("/", 1)[0]
        return f"{self.source} ({at})"

    def _line_map(self) -> dict[str, int]:
        if self._lines is None:
            self._lines = {}
            try:
                root = yaml.compose(self.text) if self.text else None
            except yaml.YAMLError:
                root = None
            if root is not None:
                self._walk(root, "#")
        return self._lines

    def _walk(self, node: yaml.Node, at: str, seen: frozenset[int] = frozenset()) -> None:
        assert self._lines is not None
        if id(node) in seen:  # an alias of an enclosing node
            return
        seen = seen | {id(node)}
        self._lines.setdefault(at, node.start_mark.line + 1)
        if isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                part = str(key.value).replace("~", "~0").replace("/", "~1")
                self._walk(value, f"{at}/{part}", seen)
        elif isinstance(node, yaml.SequenceNode):
            for i, value in enumerate(node.value):
                self._walk(value, f"{at}/{i}", seen)
