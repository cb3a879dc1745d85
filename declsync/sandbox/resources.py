"""Profile-driven shaping of resource bodies: no I/O, no HTTP, no kind special-cased.

The sandbox stores the writable fields of a resource as given (after
validation), with date-times in canonical UTC form, profile defaults filled in
and references reduced to ``{"id": …}``. These helpers do that, apply PATCH
merge semantics, and expand a stored body into the full resource a client sees
(every profile field present, ``null`` when unset, references as
``{"id", "key"}``, computed fields evaluated).
"""

from __future__ import annotations

import copy
import json
import math
from collections.abc import Callable, Collection, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from declsync.profile.model import FieldSpec, KindSpec, Violation
from declsync.profile.types import field_type

__all__ = [
    "Slot",
    "body_fingerprint",
    "canonicalise_datetimes",
    "compute",
    "expand",
    "fill_defaults",
    "format_ms",
    "merge",
    "reference_ids",
    "reference_slots",
]

PathPart = str | int


@dataclass(frozen=True)
class Slot:
    """A place in a body holding a value of interest: ``container[name]`` at ``path``."""

    spec: FieldSpec
    container: dict[str, Any] | list[Any]
    name: str | int
    path: tuple[PathPart, ...]

    @property
    def value(self) -> Any:
        return self.container[self.name]  # type: ignore[index]

    def set(self, value: Any) -> None:
        self.container[self.name] = value  # type: ignore[index]


def _slots(
    fields: Mapping[str, FieldSpec],
    obj: dict[str, Any],
    path: tuple[PathPart, ...],
    wanted: Callable[[FieldSpec], bool],
) -> Iterator[Slot]:
    """Every non-null value in ``obj`` (recursively) whose spec ``wanted`` accepts."""
    for name, spec in fields.items():
        if obj.get(name) is not None:
            yield from _spec_slots(spec, obj, name, (*path, name), wanted)


def _spec_slots(
    spec: FieldSpec,
    container: dict[str, Any] | list[Any],
    name: str | int,
    path: tuple[PathPart, ...],
    wanted: Callable[[FieldSpec], bool],
) -> Iterator[Slot]:
    value = container[name]  # type: ignore[index]
    if value is None:
        return
    if wanted(spec):
        yield Slot(spec, container, name, path)
    elif field_type(spec).merges and type(value) is dict:
        yield from _slots(spec.fields, value, path, wanted)
    elif field_type(spec).whole and spec.items is not None and type(value) is list:
        for i in range(len(value)):
            yield from _spec_slots(spec.items, value, i, (*path, i), wanted)


def _is_reference(spec: FieldSpec) -> bool:
    return field_type(spec).is_reference or spec.ref_kind is not None


def reference_slots(kind: KindSpec, body: dict[str, Any]) -> list[Slot]:
    """Reference fields (``{id}``/``{key}`` objects) and id strings with a ``refKind`` in ``body``."""
    fields = {name: kind.fields[name] for name in kind.ref_fields}
    return list(_slots(fields, body, (), _is_reference))


def canonicalise_datetimes(kind: KindSpec, body: dict[str, Any]) -> list[Violation]:
    """Rewrite every date-time in ``body`` to canonical UTC, in place.

    The validator accepted them as ISO 8601 with a timezone; a value whose UTC
    form falls outside years 1..9999 is still refused here.
    """
    out: list[Violation] = []
    for slot in _slots(kind.fields, body, (), lambda s: field_type(s).stored_canonical):
        try:
            slot.set(field_type(slot.spec).canonical(slot.spec, slot.value))
        except (ValueError, OverflowError):
            out.append(Violation(slot.path, f"date-time {slot.value!r} is out of range once converted to UTC"))
    return out


def with_defaults(spec: FieldSpec, value: Any) -> Any:
    """``value`` with profile defaults filled into its objects (and array items' objects)."""
    if field_type(spec).merges and type(value) is dict:
        fill_defaults(spec.fields, value)
    elif field_type(spec).whole and spec.items is not None and type(value) is list:
        for i, item in enumerate(value):
            value[i] = with_defaults(spec.items, item)
    return value


def fill_defaults(fields: Mapping[str, FieldSpec], obj: dict[str, Any]) -> dict[str, Any]:
    """Fill omitted fields that have a profile default, recursively, in place."""
    for name, spec in fields.items():
        if name not in obj:
            if spec.has_default:
                obj[name] = with_defaults(spec, copy.deepcopy(spec.default))
        else:
            obj[name] = with_defaults(spec, obj[name])
    return obj


def merge(fields: Mapping[str, FieldSpec], current: Mapping[str, Any], patch: Mapping[str, Any]) -> dict[str, Any]:
    """The seed's PATCH semantics: omitted stays, a value replaces, null clears,
    objects merge field by field, arrays are replaced whole. Returns a new dict."""
    out = dict(current)
    for name, value in patch.items():
        spec = fields.get(name)
        if spec is None:  # 'key' and anything else the caller did not take out
            continue
        present = out.get(name)
        if value is None:
            out[name] = None
        elif field_type(spec).merges and type(present) is dict and type(value) is dict:
            out[name] = merge(spec.fields, present, value)
        else:
            # A replaced array or an object set where there was none gets its defaults.
            out[name] = with_defaults(spec, copy.deepcopy(value))
    return out


def reference_ids(kind: KindSpec, known: Collection[str], body: Mapping[str, Any]) -> Iterator[str]:
    """Ids of the resources that ``body``'s references to profile kinds point at."""
    fields = {name: kind.fields[name] for name in kind.ref_fields}

    def wanted(spec: FieldSpec) -> bool:
        return field_type(spec).is_reference and spec.kind in known

    for slot in _slots(fields, dict(body), (), wanted):
        ref = slot.value
        if type(ref) is dict and isinstance(ref.get("id"), str):
            yield ref["id"]


Refs = Mapping[str, Mapping[str, Any]]
"""Referenced resources' summaries by id (``summary``): what an answer embeds for a reference."""


def summary(row: Any) -> dict[str, Any]:
    """A referenced resource as MVMNT answers embed it (``CustomerReference``: id, key, name,
    friendlyId, status, createdAt, updatedAt, …): its key, friendly id, timestamps and every
    top-level scalar it has. Nested objects and arrays stay out; the contract's reference
    schemas list scalars only."""
    out: dict[str, Any] = {n: v for n, v in row.body.items() if isinstance(v, str | int | float | bool)}
    out.update(key=row.key, friendlyId=row.friendly_id, createdAt=format_ms(row.created_ms),
               updatedAt=format_ms(row.updated_ms))
    return out


def reference_answer(ref_id: Any, refs: Refs) -> dict[str, Any]:
    """``{"id": …}`` with the referenced resource's summary; the key is null once it is deleted
    (its key is free again)."""
    found = refs.get(ref_id) if isinstance(ref_id, str) else None
    return {"id": ref_id, **(found if found is not None else {"key": None})}


def _shape(spec: FieldSpec, value: Any, known: Collection[str], keys: Refs) -> Any:
    if value is None:
        return None
    t = field_type(spec)
    if t.is_reference and type(value) is dict:
        ref_id = value.get("id")
        if spec.kind in known:
            return reference_answer(ref_id, keys)
        return {"id": ref_id, "key": value.get("key")}
    if t.merges and type(value) is dict:
        return _fields(spec.fields, value, known, keys)
    if t.whole and spec.items is not None and type(value) is list:
        return [_shape(spec.items, item, known, keys) for item in value]
    return value


def _fields(
    fields: Mapping[str, FieldSpec], body: Mapping[str, Any], known: Collection[str], keys: Refs
) -> dict[str, Any]:
    # An unset field is null only where the contract lets it be null; a non-nullable one is
    # left out, since answering null there is an answer the response schema refuses.
    out = {}
    for name, spec in fields.items():
        value = _shape(spec, body.get(name), known, keys)
        if value is not None or spec.answers_null:
            out[name] = value
    return out


def expand(
    kind: KindSpec, known: Collection[str], body: Mapping[str, Any], keys: Refs
) -> dict[str, Any]:
    """Every field of ``kind`` (unset ones as null, or left out when not nullable), references
    with their current keys."""
    return _fields(kind.fields, body, known, keys)


def _pluck(value: Any, parts: list[str]) -> Iterator[Any]:
    """Values at a dotted path, fanning out over arrays."""
    if type(value) is list:
        for item in value:
            yield from _pluck(item, parts)
    elif not parts:
        yield value
    elif type(value) is dict:
        yield from _pluck(value.get(parts[0]), parts[1:])


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def compute(kind: KindSpec, body: Mapping[str, Any]) -> dict[str, Any]:
    """The kind's computed fields. ``sum: ARRAY.FIELD`` adds that number field over the
    items (null when there are none), in decimal so that 100.1 + 200.2 is 300.3."""
    out: dict[str, Any] = {}
    for name, spec in kind.computed.items():
        if not spec.sum:
            out[name] = None
            continue
        parts = spec.sum.split(".")
        values = [v for v in _pluck(body.get(parts[0]), parts[1:]) if _number(v)]
        if not values:
            out[name] = None
        elif all(type(v) is int for v in values):
            out[name] = sum(values)
        else:
            total = float(sum((Decimal(repr(v)) for v in values), Decimal(0)))
            # Huge integers mixed with floats can overflow a double; JSON has no Infinity.
            out[name] = total if math.isfinite(total) else None
    return out


def format_ms(ms: int) -> str:
    """Epoch milliseconds in ``normalize.canonical_datetime`` form: ``2025-01-22T14:00:00.000Z``."""
    seconds, millis = divmod(ms, 1000)
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{millis:03d}Z"


def body_fingerprint(body: Mapping[str, Any]) -> str:
    """A representation in which 1 and 1.0, or true and 1, differ (Python's == says equal)."""
    return json.dumps(body, sort_keys=True, separators=(",", ":"))
