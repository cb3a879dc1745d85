"""YAML with line numbers and limits: one manifest file → its documents.

Read with PyYAML's safe loader (its C version when available); Python object tags are
refused, duplicate mapping keys are errors, and alias bombs, deep nesting and
oversized files are bounded. Problems are appended with file:line, never raised.
"""

from __future__ import annotations

import stat
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from declsync.errors import Problem
from declsync.manifests.yaml_errors import syntax_problem

__all__ = ["Limits", "parse_file"]

_SafeLoader: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


@dataclass(frozen=True)
class Limits:
    """Bounds that keep hostile or broken input cheap to reject."""

    max_file_bytes: int = 16 * 1024 * 1024
    max_nodes_per_document: int = 200_000
    max_depth: int = 64
    max_documents_per_file: int = 100_000


# --------------------------------------------------------------------------- YAML with line numbers


class _LineLoader(_SafeLoader):  # type: ignore[misc,valid-type]
    """Safe loader that remembers the line and column of every mapping key and rejects duplicates."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self.key_lines: dict[int, dict[Any, int]] = {}
        # 1-based columns of the same keys (problems point at the key, caret and all).
        self.key_columns: dict[int, dict[Any, int]] = {}
        self.duplicates: list[tuple[int, str]] = []

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        if not isinstance(node, yaml.MappingNode):
            raise yaml.constructor.ConstructorError(
                None, None, f"expected a mapping, found {node.id}", node.start_mark
            )
        self.flatten_mapping(node)
        mapping: dict[Any, Any] = {}
        lines: dict[Any, int] = {}
        columns: dict[Any, int] = {}
        for key_node, value_node in node.value:
            key = self.construct_object(key_node, deep=deep)
            try:
                hash(key)
            except TypeError:
                raise yaml.constructor.ConstructorError(
                    None, None, "a mapping key must be a plain value", key_node.start_mark
                ) from None
            if type(key) is str:
                # One object per distinct field name, not one per occurrence: 100,000 manifests
                # repeat the same few dozen names (and pickling a file's resources keeps the sharing).
                key = sys.intern(key)
            line = key_node.start_mark.line + 1
            if key in mapping:
                self.duplicates.append((line, f"field {key!r} appears twice in one mapping (first on line {lines[key]})"))
            mapping[key] = self.construct_object(value_node, deep=deep)
            lines[key] = line
            columns[key] = key_node.start_mark.column + 1
        self.key_lines[id(mapping)] = lines
        self.key_columns[id(mapping)] = columns
        return mapping


_LineLoader.add_constructor("tag:yaml.org,2002:map", _LineLoader.construct_mapping)

# Short strings (enum values, reference keys, codes) recur across manifests: shared, not copied.
INTERN_MAX = 64


def _construct_str(loader: _LineLoader, node: yaml.ScalarNode) -> str:
    value: str = loader.construct_scalar(node)
    return sys.intern(value) if len(value) <= INTERN_MAX else value


_LineLoader.add_constructor("tag:yaml.org,2002:str", _construct_str)

# PyYAML's scalar constructors raise ValueError, IndexError, KeyError … on values
# such as a 5000-digit number, 2025-13-45 or ``!!bool maybe``: make those YAML errors
# with a line, like every other problem.
_BAD_SCALAR = (ValueError, TypeError, LookupError, AttributeError, ArithmeticError)


def _checked(construct: Callable[[Any, Any], Any]) -> Callable[[Any, Any], Any]:
    def construct_checked(loader: Any, node: Any) -> Any:
        value = str(node.value)
        shown = value if len(value) <= 40 else value[:40] + "…"
        try:
            result = construct(loader, node)
        except _BAD_SCALAR as exc:
            raise yaml.constructor.ConstructorError(
                None, None, f"invalid {str(node.tag).rsplit(':', 1)[-1]} value {shown!r} ({exc})", node.start_mark
            ) from None
        # A 0x… number of any length is accepted by int(), but not printable (repr has a
        # digit limit) nor sendable as JSON: no API takes integers beyond double range.
        if isinstance(result, int) and result.bit_length() > 1024:
            raise yaml.constructor.ConstructorError(
                None, None, f"number {shown!r} is too large", node.start_mark
            )
        return result

    return construct_checked


for _tag in ("int", "float", "bool", "timestamp", "binary"):
    _LineLoader.add_constructor(
        f"tag:yaml.org,2002:{_tag}", _checked(getattr(yaml.constructor.SafeConstructor, f"construct_yaml_{_tag}"))
    )

# The C parser builds nodes recursively in C: nesting tens of thousands of levels deep
# overflows the C stack and kills the process. Input that cannot nest deeper than this
# is parsed directly; anything else is first checked on the (flat) event stream.
SAFE_NESTING = 1000


def _too_deep(text: str, limits: Limits) -> tuple[int, str] | None:
    """``(line, message)`` when a document nests deeper than ``limits.max_depth``."""
    # Each flow level needs a '[' or '{' (plus an implicit one-pair mapping at most);
    # each block level is indented further than its parent every second level at least.
    longest = max(map(len, text.split("\n")), default=0)
    if 2 * (text.count("[") + text.count("{")) + 2 * (longest + 1) + 2 <= SAFE_NESTING:
        return None
    events = _SafeLoader(text)
    depth = 0
    try:
        while events.check_event():
            event = events.get_event()  # type: ignore[no-untyped-call]
            if isinstance(event, yaml.SequenceStartEvent | yaml.MappingStartEvent):
                depth += 1
                if depth > limits.max_depth:
                    line = event.start_mark.line + 1 if event.start_mark is not None else 1
                    return line, f"document is nested more than {limits.max_depth} levels deep"
            elif isinstance(event, yaml.SequenceEndEvent | yaml.MappingEndEvent):
                depth -= 1
    except yaml.YAMLError as exc:
        # Newer libyaml scanners refuse deep flow nesting themselves, before emitting a
        # single event (they read every '[' ahead looking for a simple key). Report that
        # in our own terms when the error sits that deep; anything else the parse proper
        # reports, and stops there too.
        mark = getattr(exc, "problem_mark", None)
        if mark is not None and _flow_depth(text[: mark.index]) > limits.max_depth:
            return mark.line + 1, f"document is nested more than {limits.max_depth} levels deep"
        return None
    finally:
        events.dispose()
    return None


def _flow_depth(text: str) -> int:
    """Open flow brackets at the end of *text* (quotes ignored: only used to word an
    error the scanner already raised)."""
    return text.count("[") + text.count("{") - text.count("]") - text.count("}")


@dataclass
class _Document:
    data: Any
    line: int
    key_lines: dict[int, dict[Any, int]]
    key_columns: dict[int, dict[Any, int]] = field(default_factory=dict)


def _count_nodes(data: Any, limits: Limits) -> str | None:
    """Walk a document once, counting nodes as seen through aliases (so alias bombs
    are caught before anything else walks them) and bounding depth."""
    budget = limits.max_nodes_per_document
    stack: list[tuple[Any, int]] = [(data, 0)]
    count = 0
    while stack:
        item, depth = stack.pop()
        count += 1
        if count > budget:
            return (
                f"document expands to more than {budget} values (YAML aliases/anchors used as a "
                "'billion laughs' bomb?); split it or remove the aliases"
            )
        if depth > limits.max_depth:
            return f"document is nested more than {limits.max_depth} levels deep"
        if isinstance(item, dict):
            stack.extend((v, depth + 1) for v in item.values())
        elif isinstance(item, list):
            stack.extend((v, depth + 1) for v in item)
    return None


def parse_file(path: Path, display: str, limits: Limits, problems: list[Problem]) -> list[_Document]:
    """Parse every YAML document of one file; problems are appended, never raised."""
    try:
        info = path.stat()
        if not stat.S_ISREG(info.st_mode):
            # A FIFO would block for ever, a device (/dev/zero) never end.
            problems.append(Problem(display, 1, "not a regular file"))
            return []
        size = info.st_size
        if size > limits.max_file_bytes:
            problems.append(Problem(display, 1, f"file is {size} bytes; manifests are limited to {limits.max_file_bytes} bytes"))
            return []
        with path.open("rb") as fh:
            raw = fh.read(limits.max_file_bytes + 1)  # bounded even if the file grows meanwhile
        if len(raw) > limits.max_file_bytes:
            problems.append(Problem(display, 1, f"file is larger than {limits.max_file_bytes} bytes, "
                                                "the limit for manifests"))
            return []
    except OSError as exc:
        problems.append(Problem(display, 1, f"cannot read file: {exc.strerror}"))
        return []
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        problems.append(Problem(display, line, f"file is not valid UTF-8 (byte 0x{raw[exc.start]:02x}); save it as UTF-8"))
        return []
    deep = _too_deep(text, limits)
    if deep is not None:
        problems.append(Problem(display, *deep))
        return []
    loader = _LineLoader(text)
    docs: list[_Document] = []
    try:
        while loader.check_node():
            if len(docs) >= limits.max_documents_per_file:
                problems.append(Problem(display, 1, f"more than {limits.max_documents_per_file} documents in one file; split it"))
                return []
            node = loader.get_node()
            if node is None:  # pragma: no cover - check_node() said there is one
                break
            data = loader.construct_document(node)
            docs.append(_Document(data, node.start_mark.line + 1, loader.key_lines, loader.key_columns))
    # The documents before a syntax error are still checked, so one run reports all it can.
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else 1
        what = exc.problem or str(exc)
        if "could not determine a constructor" in str(exc):
            what = f"{what.strip()}; tags that create objects are not allowed in manifests"
            problems.append(Problem(display, line, f"invalid YAML: {what}"))
        else:  # line, column, the line with a caret and a hint: declsync.manifests.yaml_errors
            problems.append(syntax_problem(display, text, exc))
    except yaml.YAMLError as exc:
        problems.append(Problem(display, 1, f"invalid YAML: {exc}"))
    except RecursionError:
        problems.append(Problem(display, 1, f"document is nested too deeply (more than {limits.max_depth} levels)"))
    except _BAD_SCALAR as exc:  # a constructor error not caught above: still a problem, not a crash
        problems.append(Problem(display, 1, f"invalid YAML: {type(exc).__name__}: {exc}"))
    finally:
        loader.dispose()
    for line, message in loader.duplicates:
        problems.append(Problem(display, line, message))
    good: list[_Document] = []
    for doc in docs:
        problem = _count_nodes(doc.data, limits)
        if problem:
            problems.append(Problem(display, doc.line, problem))
        else:
            good.append(doc)
    return good
