"""Validating one parsed manifest document against the profile → a ``Resource`` (or
problems with file:line)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date, datetime
from typing import Any

from declsync.errors import Problem
from declsync.manifests.resource import LazyLines, PathT, Resource
from declsync.manifests.schemacheck import schema_violations
from declsync.profile.model import (
    FieldSpec,
    KindSpec,
    Profile,
    suggest,
    validate_body,
    validate_key,
)
from declsync.profile.paths import field_paths
from declsync.profile.types import field_type, from_yaml

__all__ = ["LIFECYCLE_FIELDS", "TOP_LEVEL_FIELDS", "check_document"]

TOP_LEVEL_FIELDS = ("kind", "key", "spec", "sensitive", "previousKeys", "lifecycle")
LIFECYCLE_FIELDS = ("preventDestroy", "ignoreFields")


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


def _quote_hint(value: Any) -> str:
    """The hint added to a problem with a value YAML did not read as the string it was meant to be."""
    surprise = _yaml_type(value)
    return f" (YAML read the unquoted value as {surprise}; quote it)" if surprise else ""


def _value_at(data: Any, path: PathT) -> Any:
    for part in path:
        try:
            data = data[part]
        except (KeyError, IndexError, TypeError):
            return None
    return data


def check_document(
    doc: Any, line: int, display: str, key_lines: dict[int, dict[Any, int]], profile: Profile, problems: list[Problem],
    key_columns: dict[int, dict[Any, int]] | None = None,
) -> Resource | None:
    """Check one parsed document; problems at file:line, and :column where the key's is known."""
    columns = key_columns or {}
    if not isinstance(doc, dict):
        problems.append(Problem(display, line, "a manifest document must be a mapping with kind, key and spec"))
        return None
    top = key_lines.get(id(doc), {})

    top_columns = columns.get(id(doc), {})

    def at(name: str) -> int:
        return top.get(name, line)

    def col(name: str) -> int:
        return top_columns.get(name, 0) if name in top else 0

    ok = True
    for name in doc:
        if name not in TOP_LEVEL_FIELDS:
            problems.append(
                Problem(display, at(name), f"unknown top-level field {name!r}{suggest(str(name), TOP_LEVEL_FIELDS)}; "
                        f"allowed: {', '.join(TOP_LEVEL_FIELDS)}", col(name))
            )
            ok = False
    kind_name = doc.get("kind")
    kind: KindSpec | None = None
    if kind_name is None:
        problems.append(Problem(display, line, f"missing 'kind' (one of: {', '.join(profile.kinds)})"))
    elif not isinstance(kind_name, str) or kind_name not in profile.kinds:
        problems.append(
            Problem(display, at("kind"), f"unknown kind {kind_name!r}{suggest(str(kind_name), profile.kinds)}; "
                    f"known kinds: {', '.join(profile.kinds)}", col("kind"))
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
            problem += _quote_hint(key)
            problems.append(Problem(display, at("key"), problem, col("key")))
            ok = False
    spec = doc.get("spec", {})
    if spec is None:
        spec = {}
    if not isinstance(spec, dict):
        problems.append(Problem(display, at("spec"), "'spec' must be a mapping of field names to values", col("spec")))
        return None
    if kind is None:
        return None
    spec = {k: from_yaml(kind.fields.get(k), v) if isinstance(k, str) else v for k, v in spec.items()}
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
    violations += schema_violations(kind, spec, [tuple(v.path) for v in violations])
    spec_columns: dict[PathT, int] = {}
    if violations:
        full: dict[PathT, int] = {}
        _lines_for(doc.get("spec") or {}, key_lines, (), full)
        lines = full
        _lines_for(doc.get("spec") or {}, columns, (), spec_columns)
    for v in violations:
        message = f"{v.field}: {v.message}" if v.path else v.message
        if message.split(": ", 1)[-1].startswith("expected a string"):
            message += _quote_hint(_value_at(doc.get("spec"), v.path))
        exact = lines.get(tuple(v.path))
        line_no = exact or _closest(lines, tuple(v.path), at("spec"))
        # A column only where the line is the field's own (not an ancestor's, for a missing field).
        problems.append(Problem(display, line_no, message, spec_columns.get(tuple(v.path), 0) if exact else 0))
        ok = False
    sensitive = _check_sensitive(doc.get("sensitive"), kind, display, at("sensitive"), problems)
    previous = _check_previous_keys(doc.get("previousKeys"), key, display, at("previousKeys"), problems)
    lifecycle = _check_lifecycle(doc.get("lifecycle"), kind, display, at("lifecycle"), key_lines, problems)
    if not ok or sensitive is None or previous is None or lifecycle is None:
        return None
    assert isinstance(key, str)
    return Resource(kind=kind.name, key=key, spec=spec, file=display, line=line, lines=LazyLines.of(kept),
                    sensitive=sensitive,
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
            problem += _quote_hint(item)
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
        if field_type(spec).whole:
            return f"{shown!r} is an array, which is always sent whole; ignore the whole array ({shown!r})"
        if not field_type(spec).merges:
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
