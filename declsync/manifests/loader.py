"""Loading and validating manifests: YAML files → ``Resource`` objects.

Every problem in every file is collected and raised together as one
``ManifestError`` (``file:line: message`` each), before anything touches the
network. YAML is read with PyYAML's safe loader (its C version when available);
Python object tags are refused, duplicate mapping keys are errors, and alias bombs,
deep nesting and oversized files are bounded.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from declsync.errors import ManifestError, Problem
from declsync.planning.sensitive import field_paths
from declsync.profile.model import (
    FieldSpec,
    KindSpec,
    Profile,
    suggest,
    validate_body,
    validate_key,
)

if TYPE_CHECKING:
    from declsync.manifests.cache import ManifestCache

__all__ = ["Limits", "Resource", "discover", "load_manifests", "parse_file"]

TOP_LEVEL_FIELDS = ("kind", "key", "spec", "sensitive", "previousKeys", "lifecycle")
LIFECYCLE_FIELDS = ("preventDestroy", "ignoreFields")
# The optional settings file of a working directory (``declsync.config``); never read as a manifest.
CONFIG_FILE_NAMES = ("declsync.yaml", "declsync.yml")
_SafeLoader: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

PathT = tuple[str | int, ...]


@dataclass(frozen=True)
class Limits:
    """Bounds that keep hostile or broken input cheap to reject."""

    max_file_bytes: int = 16 * 1024 * 1024
    max_nodes_per_document: int = 200_000
    max_depth: int = 64
    max_documents_per_file: int = 100_000


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


# --------------------------------------------------------------------------- YAML with line numbers


class _LineLoader(_SafeLoader):  # type: ignore[misc,valid-type]
    """Safe loader that remembers the line of every mapping key and rejects duplicates."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self.key_lines: dict[int, dict[Any, int]] = {}
        self.duplicates: list[tuple[int, str]] = []

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        if not isinstance(node, yaml.MappingNode):
            raise yaml.constructor.ConstructorError(
                None, None, f"expected a mapping, found {node.id}", node.start_mark
            )
        self.flatten_mapping(node)
        mapping: dict[Any, Any] = {}
        lines: dict[Any, int] = {}
        for key_node, value_node in node.value:
            key = self.construct_object(key_node, deep=deep)
            try:
                hash(key)
            except TypeError:
                raise yaml.constructor.ConstructorError(
                    None, None, "a mapping key must be a plain value", key_node.start_mark
                ) from None
            line = key_node.start_mark.line + 1
            if key in mapping:
                self.duplicates.append((line, f"field {key!r} appears twice in one mapping (first on line {lines[key]})"))
            mapping[key] = self.construct_object(value_node, deep=deep)
            lines[key] = line
        self.key_lines[id(mapping)] = lines
        return mapping


_LineLoader.add_constructor("tag:yaml.org,2002:map", _LineLoader.construct_mapping)

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
            docs.append(_Document(data, node.start_mark.line + 1, loader.key_lines))
    # The documents before a syntax error are still checked, so one run reports all it can.
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else 1
        what = exc.problem or str(exc)
        if "could not determine a constructor" in str(exc):
            what = f"{what.strip()}; tags that create objects are not allowed in manifests"
        problems.append(Problem(display, line, f"invalid YAML: {what}"))
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


# --------------------------------------------------------------------------- discovery


def discover(paths: Sequence[str | Path], problems: list[Problem]) -> list[tuple[Path, str]]:
    """``*.yaml``/``*.yml`` files under ``paths`` (recursively, sorted, symlinked
    directories not followed so loops are impossible), with their display names."""
    found: list[tuple[Path, str]] = []
    seen: set[Path] = set()

    def add(p: Path) -> None:
        try:
            real = p.resolve()
        except (OSError, RuntimeError):  # a symlink loop (RuntimeError before Python 3.13)
            real = p.absolute()  # parse_file reports it
        if real not in seen:
            seen.add(real)
            found.append((p, str(p)))

    for raw in paths:
        p = Path(raw)
        if p.is_file():
            if p.suffix.lower() not in (".yaml", ".yml"):
                problems.append(Problem(str(p), 1, "not a manifest: expected a .yaml or .yml file"))
            else:
                add(p)
        elif p.is_dir():
            for root, dirs, files in os.walk(p, followlinks=False):
                dirs[:] = sorted(d for d in dirs if not d.startswith("."))
                for name in sorted(files):
                    if not name.lower().endswith((".yaml", ".yml")) or name.startswith("."):
                        continue
                    if name in CONFIG_FILE_NAMES and Path(root).resolve() == Path.cwd().resolve():
                        continue  # the working directory's settings file, not a manifest
                    add(Path(root) / name)
        else:
            problems.append(Problem(str(p), 0, "no such file or directory"))
    return found


# --------------------------------------------------------------------------- validation


def _lines_for(data: Any, key_lines: dict[int, dict[Any, int]], prefix: PathT, out: dict[PathT, int]) -> None:
    if isinstance(data, dict):
        lines = key_lines.get(id(data), {})
        for k, v in data.items():
            path = (*prefix, k)
            if k in lines:
                out[path] = lines[k]
            _lines_for(v, key_lines, path, out)
    elif isinstance(data, list):
        for i, v in enumerate(data):
            item_lines = key_lines.get(id(v)) if isinstance(v, dict) else None
            if item_lines:
                # A list item has no key of its own: point at its first field.
                out[(*prefix, i)] = min(item_lines.values())
            _lines_for(v, key_lines, (*prefix, i), out)


def _kept_lines(spec: Any, key_lines: dict[int, dict[Any, int]], ref_fields: Sequence[str]) -> dict[PathT, int]:
    """The lines of the spec's fields, and of paths up to 3 deep inside reference fields."""
    out: dict[PathT, int] = {}
    if not isinstance(spec, dict):
        return out
    top = key_lines.get(id(spec), {})
    for k, v in spec.items():
        if k in top:
            out[(k,)] = top[k]
        if k in ref_fields and isinstance(v, dict | list):
            inner: dict[PathT, int] = {}
            _lines_for(v, key_lines, (k,), inner)
            out.update((p, n) for p, n in inner.items() if len(p) <= 3)
    return out


def _yaml_type(value: Any) -> str | None:
    """What YAML turned an unquoted scalar into, when that is a likely surprise."""
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, datetime):
        return "a date-time"
    if isinstance(value, date):
        return "a date"
    if isinstance(value, int | float):
        return "a number"
    return None


def _to_json_values(value: Any, spec: FieldSpec | None) -> Any:
    """Turn YAML date-times in date-time fields into ISO strings (what the API speaks)."""
    if spec is None:
        return value
    if spec.type == "datetime" and isinstance(value, datetime):
        # A naive date-time stays naive here so validation can say "add a timezone".
        return value.isoformat()
    if spec.type == "object" and isinstance(value, dict):
        return {k: _to_json_values(v, spec.fields.get(k)) for k, v in value.items()}
    if spec.type == "array" and isinstance(value, list):
        return [_to_json_values(v, spec.items) for v in value]
    return value


def _value_at(data: Any, path: PathT) -> Any:
    for part in path:
        try:
            data = data[part]
        except (KeyError, IndexError, TypeError):
            return None
    return data


def _check_document(
    doc: Any, line: int, display: str, key_lines: dict[int, dict[Any, int]], profile: Profile, problems: list[Problem]
) -> Resource | None:
    if not isinstance(doc, dict):
        problems.append(Problem(display, line, "a manifest document must be a mapping with kind, key and spec"))
        return None
    top = key_lines.get(id(doc), {})

    def at(name: str) -> int:
        return top.get(name, line)

    ok = True
    for name in doc:
        if name not in TOP_LEVEL_FIELDS:
            problems.append(
                Problem(display, at(name), f"unknown top-level field {name!r}{suggest(str(name), TOP_LEVEL_FIELDS)}; "
                        f"allowed: {', '.join(TOP_LEVEL_FIELDS)}")
            )
            ok = False
    kind_name = doc.get("kind")
    kind: KindSpec | None = None
    if kind_name is None:
        problems.append(Problem(display, line, f"missing 'kind' (one of: {', '.join(profile.kinds)})"))
    elif not isinstance(kind_name, str) or kind_name not in profile.kinds:
        problems.append(
            Problem(display, at("kind"), f"unknown kind {kind_name!r}{suggest(str(kind_name), profile.kinds)}; "
                    f"known kinds: {', '.join(profile.kinds)}")
        )
    else:
        kind = profile.kinds[kind_name]
    key = doc.get("key")
    if "key" not in doc:
        problems.append(Problem(display, line, "missing 'key' (the client key that identifies this resource)"))
        ok = False
    else:
        problem = validate_key(key)
        if problem:
            surprise = _yaml_type(key)
            if surprise:
                problem += f" (YAML read the unquoted value as {surprise}; quote it)"
            problems.append(Problem(display, at("key"), problem))
            ok = False
    spec = doc.get("spec", {})
    if spec is None:
        spec = {}
    if not isinstance(spec, dict):
        problems.append(Problem(display, at("spec"), "'spec' must be a mapping of field names to values"))
        return None
    if kind is None:
        return None
    spec = {k: _to_json_values(v, kind.fields.get(k)) if isinstance(k, str) else v for k, v in spec.items()}
    # Only the lines later stages can ask for (fields, and the references inside them;
    # line_of() falls back to the closest ancestor for anything else): the full map is
    # built only when there is a problem to place.
    kept = _kept_lines(doc.get("spec") or {}, key_lines, kind.ref_fields)
    lines: Mapping[PathT, int] = kept
    non_str = [k for k in spec if not isinstance(k, str)]
    for k in non_str:
        problems.append(Problem(display, lines.get((k,), at("spec")), f"field name {k!r} must be a string"))
        ok = False
    if non_str:
        return None
    violations = validate_body(kind, spec, "manifest")
    if violations:
        full: dict[PathT, int] = {}
        _lines_for(doc.get("spec") or {}, key_lines, (), full)
        lines = full
    for v in violations:
        message = f"{v.field}: {v.message}" if v.path else v.message
        original = _value_at(doc.get("spec"), v.path)
        surprise = _yaml_type(original)
        if surprise and message.split(": ", 1)[-1].startswith("expected a string"):
            message += f" (YAML read the unquoted value as {surprise}; quote it)"
        line_no = lines.get(tuple(v.path)) or _closest(lines, tuple(v.path), at("spec"))
        problems.append(Problem(display, line_no, message))
        ok = False
    sensitive = _check_sensitive(doc.get("sensitive"), kind, display, at("sensitive"), problems)
    previous = _check_previous_keys(doc.get("previousKeys"), key, display, at("previousKeys"), problems)
    lifecycle = _check_lifecycle(doc.get("lifecycle"), kind, display, at("lifecycle"), key_lines, problems)
    if not ok or sensitive is None or previous is None or lifecycle is None:
        return None
    assert isinstance(key, str)
    return Resource(kind=kind.name, key=key, spec=spec, file=display, line=line, lines=kept, sensitive=sensitive,
                    previous_keys=previous, prevent_destroy=lifecycle[0], ignore_fields=lifecycle[1],
                    top_lines={str(k): v for k, v in top.items()})


def _check_previous_keys(
    value: Any, key: Any, display: str, line: int, problems: list[Problem]
) -> tuple[str, ...] | None:
    """The manifest's ``previousKeys:`` (keys the resource had before; None after reporting a problem)."""
    if value is None:
        return ()
    if not isinstance(value, list):
        problems.append(Problem(display, line, "'previousKeys' must be a list of the keys this resource had before, "
                                "e.g. [OLD-KEY]"))
        return None
    out: list[str] = []
    ok = True
    for item in value:
        problem = validate_key(item)
        if problem:
            surprise = _yaml_type(item)
            if surprise:
                problem += f" (YAML read the unquoted value as {surprise}; quote it)"
            problems.append(Problem(display, line, f"previousKeys: {problem}"))
            ok = False
        elif item == key:
            problems.append(Problem(display, line, f"previousKeys: {item!r} is this resource's key; "
                                    "list only the keys it had before"))
            ok = False
        elif item in out:
            problems.append(Problem(display, line, f"previousKeys: {item!r} is listed twice"))
            ok = False
        else:
            out.append(item)
    return tuple(out) if ok else None


def _ignore_path_problem(kind: KindSpec, path: str) -> str | None:
    """Why ``path`` (dotted, e.g. ``freight.weight``) cannot be an ignored field of ``kind``; None if it can."""
    parts = path.split(".")
    if not path or any(not p for p in parts):
        return f"{path!r} is not a field path (dotted field names, e.g. 'internalNotes' or 'freight.weight')"
    if parts[0] == "key":
        return "'key' identifies the resource and cannot be ignored"
    fields: Mapping[str, FieldSpec] = kind.fields
    for i, part in enumerate(parts):
        shown = ".".join(parts[: i + 1])
        spec = fields.get(part)
        if spec is None:
            if i == 0 and part in kind.read_only:
                return f"{shown!r} is read-only: declsync never compares or sends it, so it needs no ignoring"
            where = f"a field of {kind.name}" if i == 0 else f"a field of {'.'.join(parts[:i])}"
            return f"{shown!r} is not {where}{suggest(part, fields)}"
        if i == len(parts) - 1:
            return None
        if spec.type == "array":
            return f"{shown!r} is an array, which is always sent whole; ignore the whole array ({shown!r})"
        if spec.type != "object":
            return f"{shown!r} is not an object, so it has no field {parts[i + 1]!r}"
        fields = spec.fields
    return None  # pragma: no cover - the loop always returns


def _check_lifecycle(
    value: Any, kind: KindSpec, display: str, line: int,
    key_lines: dict[int, dict[Any, int]], problems: list[Problem],
) -> tuple[bool, tuple[str, ...]] | None:
    """The manifest's ``lifecycle:`` as (preventDestroy, ignoreFields); None after reporting a problem."""
    if value is None:
        return (False, ())
    if not isinstance(value, dict):
        problems.append(Problem(display, line, "'lifecycle' must be a mapping, e.g. "
                                "{preventDestroy: true, ignoreFields: [internalNotes]}"))
        return None
    lines = key_lines.get(id(value), {})
    ok = True
    for name in value:
        if name not in LIFECYCLE_FIELDS:
            problems.append(Problem(display, lines.get(name, line),
                                    f"unknown lifecycle field {name!r}{suggest(str(name), LIFECYCLE_FIELDS)}; "
                                    f"allowed: {', '.join(LIFECYCLE_FIELDS)}"))
            ok = False
    prevent = value.get("preventDestroy", False)
    if not isinstance(prevent, bool):
        problems.append(Problem(display, lines.get("preventDestroy", line),
                                f"lifecycle.preventDestroy must be true or false, not {prevent!r}"))
        ok = False
    raw = value.get("ignoreFields")
    ignored: list[str] = []
    at = lines.get("ignoreFields", line)
    if raw is not None and not isinstance(raw, list):
        problems.append(Problem(display, at, "lifecycle.ignoreFields must be a list of dotted field paths, "
                                "e.g. [internalNotes, freight.weight]"))
        ok = False
    for item in raw if isinstance(raw, list) else ():
        problem = (f"{item!r} is not a field path (a string such as 'internalNotes')" if not isinstance(item, str)
                   else _ignore_path_problem(kind, item))
        if problem:
            problems.append(Problem(display, at, f"lifecycle.ignoreFields: {problem}"))
            ok = False
        elif item not in ignored:
            ignored.append(item)
    return (bool(prevent), tuple(ignored)) if ok else None


def _check_sensitive(
    value: Any, kind: KindSpec, display: str, line: int, problems: list[Problem]
) -> tuple[str, ...] | None:
    """The manifest's ``sensitive:`` list of field paths (None after reporting a problem)."""
    if value is None:
        return ()
    if not isinstance(value, list):
        problems.append(Problem(display, line, "'sensitive' must be a list of field paths, e.g. [notes, freight.weight]"))
        return None
    known = field_paths(kind)
    out: list[str] = []
    ok = True
    for item in value:
        if not isinstance(item, str):
            problems.append(Problem(display, line, f"sensitive: {item!r} is not a field path (a string such as 'notes')"))
            ok = False
        elif item not in known:
            problems.append(Problem(display, line, f"sensitive: {item!r} is not a field of {kind.name}"
                                    f"{suggest(item, known)}"))
            ok = False
        else:
            out.append(item)
    return tuple(dict.fromkeys(out)) if ok else None


def _closest(lines: Mapping[PathT, int], path: PathT, default: int) -> int:
    p = path
    while p:
        if p in lines:
            return lines[p]
        p = p[:-1]
    return default


def _load_file(path: Path, display: str, profile: Profile, limits: Limits) -> tuple[list[Resource], list[Problem]]:
    """Parse and validate one file (runs in a worker process for large manifest sets)."""
    problems: list[Problem] = []
    resources: list[Resource] = []
    for doc in parse_file(path, display, limits, problems):
        if doc.data is None:
            continue  # an empty document, e.g. a trailing '---'
        res = _check_document(doc.data, doc.line, display, doc.key_lines, profile, problems)
        if res is not None:
            resources.append(res)
    return resources, problems


# Below this many bytes of YAML, starting worker processes costs more than it saves.
PARALLEL_MIN_BYTES = 2 * 1024 * 1024


def _load_all(files: list[tuple[Path, str]], profile: Profile, limits: Limits) -> list[tuple[list[Resource], list[Problem]]]:
    workers = min(os.cpu_count() or 1, 8, len(files))
    try:
        total = sum(p.stat().st_size for p, _ in files)
    except OSError:
        total = 0
    if workers < 2 or total < PARALLEL_MIN_BYTES:
        return [_load_file(p, d, profile, limits) for p, d in files]
    # YAML parsing is CPU-bound Python: spread files over processes, keep file order.
    # (Imported here: multiprocessing is only worth its import time for large manifest sets.)
    from concurrent.futures import ProcessPoolExecutor

    with ProcessPoolExecutor(max_workers=workers) as pool:
        return list(pool.map(_load_file, *zip(*files, strict=True), [profile] * len(files), [limits] * len(files)))


def _check_renames(resources: Sequence[Resource], declared: Mapping[tuple[str, str], Resource]) -> list[Problem]:
    """A previous key may be claimed by one manifest only, and may not still be declared."""
    problems: list[Problem] = []
    claimed: dict[tuple[str, str], Resource] = {}
    for res in resources:
        line = res.top_lines.get("previousKeys", res.line)
        for old in res.previous_keys:
            ident = (res.kind, old)
            other = declared.get(ident)
            if other is not None:
                problems.append(Problem(res.file, line, f"previousKeys: {res.kind}/{old} is still declared at "
                                        f"{other.source}; a key cannot be renamed and kept"))
            elif ident in claimed:
                first = claimed[ident]
                problems.append(Problem(res.file, line, f"previousKeys: {res.kind}/{old} is also a previous key of "
                                        f"{first.address} at {first.source}; only one resource can be renamed from it"))
            else:
                claimed[ident] = res
    return problems


def _load_cached(
    files: list[tuple[Path, str]], profile: Profile, limits: Limits, cache: ManifestCache | None
) -> list[tuple[list[Resource], list[Problem]]]:
    """Per file (in order): its resources and problems, from ``cache`` where it has them."""
    if cache is None:
        return _load_all(files, profile, limits)
    cache.bind(profile, limits)
    results: list[tuple[list[Resource], list[Problem]] | None] = []
    misses: list[tuple[int, str | None]] = []
    for i, (path, display) in enumerate(files):
        digest, cached = cache.get(path, display, limits)
        results.append(None if cached is None else (cached, []))
        if cached is None:
            misses.append((i, digest))
    parsed = _load_all([files[i] for i, _ in misses], profile, limits)
    for (i, digest), result in zip(misses, parsed, strict=True):
        results[i] = result
        if digest is not None and not result[1]:  # only clean files: errors always come from a real parse
            cache.put(digest, files[i][0], files[i][1], limits, result[0])
    return [r for r in results if r is not None]


def load_manifests(
    paths: Sequence[str | Path], profile: Profile, limits: Limits | None = None, *,
    cache: ManifestCache | None = None,
) -> list[Resource]:
    """Load and validate every manifest under ``paths``; raise ``ManifestError`` with
    all problems if there is any (so nothing is planned from a partly valid set).
    ``cache``: reuse per-file results of earlier runs (``declsync.manifests.cache``);
    cross-file checks (uniqueness, renames) always run on the whole set."""
    limits = limits or Limits()
    problems: list[Problem] = []
    files = discover(paths, problems)
    resources: list[Resource] = []
    first_seen: dict[tuple[str, str], Resource] = {}
    for file_resources, file_problems in _load_cached(files, profile, limits, cache):
        problems.extend(file_problems)
        for res in file_resources:
            ident = (res.kind, res.key)
            if ident in first_seen:
                other = first_seen[ident]
                problems.append(
                    Problem(res.file, res.line, f"{res.address} is declared twice: here and at {other.source}; "
                            "keys must be unique per kind")
                )
                continue
            first_seen[ident] = res
            resources.append(res)
    problems.extend(_check_renames(resources, first_seen))
    if not files and not problems:
        shown = ", ".join(str(p) for p in paths)
        problems.append(Problem(shown, 0, "no manifest files (*.yaml, *.yml) found"))
    if problems:
        raise ManifestError(problems)
    return resources
