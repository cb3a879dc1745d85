"""Loading and validating manifests: YAML files → ``Resource`` objects.

Every problem in every file is collected and raised together as one
``ManifestError`` (``file:line: message`` each), before anything touches the
network. YAML is read with PyYAML's safe loader (its C version when available);
Python object tags are refused, duplicate mapping keys are errors, and alias bombs,
deep nesting and oversized files are bounded.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any

import yaml

from declsync.errors import ManifestError, Problem
from declsync.profile import (
    FieldSpec,
    KindSpec,
    Profile,
    suggest,
    validate_body,
    validate_key,
)

__all__ = ["Limits", "Resource", "discover", "load_manifests", "parse_file"]

TOP_LEVEL_FIELDS = ("kind", "key", "spec")
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
        size = path.stat().st_size
        if size > limits.max_file_bytes:
            problems.append(Problem(display, 1, f"file is {size} bytes; manifests are limited to {limits.max_file_bytes} bytes"))
            return []
        raw = path.read_bytes()
    except OSError as exc:
        problems.append(Problem(display, 1, f"cannot read file: {exc.strerror}"))
        return []
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        problems.append(Problem(display, line, f"file is not valid UTF-8 (byte 0x{raw[exc.start]:02x}); save it as UTF-8"))
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
        real = p.resolve()
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
                    if name.lower().endswith((".yaml", ".yml")) and not name.startswith("."):
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
    lines: dict[PathT, int] = {}
    _lines_for(doc.get("spec") or {}, key_lines, (), lines)
    non_str = [k for k in spec if not isinstance(k, str)]
    for k in non_str:
        problems.append(Problem(display, lines.get((k,), at("spec")), f"field name {k!r} must be a string"))
        ok = False
    if non_str:
        return None
    for v in validate_body(kind, spec, "manifest"):
        message = f"{v.field}: {v.message}" if v.path else v.message
        original = _value_at(doc.get("spec"), v.path)
        surprise = _yaml_type(original)
        if surprise and message.split(": ", 1)[-1].startswith("expected a string"):
            message += f" (YAML read the unquoted value as {surprise}; quote it)"
        line_no = lines.get(tuple(v.path)) or _closest(lines, tuple(v.path), at("spec"))
        problems.append(Problem(display, line_no, message))
        ok = False
    if not ok:
        return None
    assert isinstance(key, str)
    # Keep only the lines later stages can ask for (fields, and the references inside
    # them); line_of() falls back to the closest ancestor for anything else.
    kept = {p: n for p, n in lines.items() if len(p) == 1 or (len(p) <= 3 and p[0] in kind.ref_fields)}
    return Resource(kind=kind.name, key=key, spec=spec, file=display, line=line, lines=kept)


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
    with ProcessPoolExecutor(max_workers=workers) as pool:
        return list(pool.map(_load_file, *zip(*files, strict=True), [profile] * len(files), [limits] * len(files)))


def load_manifests(
    paths: Sequence[str | Path], profile: Profile, limits: Limits | None = None
) -> list[Resource]:
    """Load and validate every manifest under ``paths``; raise ``ManifestError`` with
    all problems if there is any (so nothing is planned from a partly valid set)."""
    limits = limits or Limits()
    problems: list[Problem] = []
    files = discover(paths, problems)
    resources: list[Resource] = []
    first_seen: dict[tuple[str, str], Resource] = {}
    for file_resources, file_problems in _load_all(files, profile, limits):
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
    if not files and not problems:
        shown = ", ".join(str(p) for p in paths)
        problems.append(Problem(shown, 0, "no manifest files (*.yaml, *.yml) found"))
    if problems:
        raise ManifestError(problems)
    return resources
