"""Scalar field types: strings (formats, ``{$ref}`` ids), numbers, booleans, enums, date-times."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

from declsync.profile.fieldtypes.base import FieldType, Path, SubSchema, register
from declsync.profile.formats import canonical_datetime, datetime_instant, datetime_problem, format_problem, type_name
from declsync.profile.spec import FieldSpec, Mode, Violation, is_ref_marker, suggest

__all__ = ["BooleanType", "DateTimeType", "EnumType", "IntegerType", "NumberType", "StringType"]


@register
class StringType(FieldType):
    name = "string"

    def check(self, spec: FieldSpec, value: Any, path: Path, mode: Mode, out: list[Violation]) -> None:
        marker = f"{{$ref: {spec.ref_kind}/KEY}}" if spec.ref_kind and mode == "manifest" else ""
        if marker and is_ref_marker(value):
            ref = value["$ref"]
            if not isinstance(ref, str) or "/" not in ref:
                out.append(Violation(path, f"$ref must be 'Kind/KEY', e.g. '{spec.ref_kind}/MY-KEY'"))
            elif ref.split("/", 1)[0] != spec.ref_kind:
                out.append(Violation(path, f"$ref must point at a {spec.ref_kind}, not {ref.split('/', 1)[0]!r}"))
            return
        if not isinstance(value, str):
            out.append(Violation(path, f"expected a string{', or ' + marker if marker else ''}, got {type_name(value)}"))
            return
        if spec.max_length is not None and len(value) > spec.max_length:
            out.append(Violation(path, f"is {len(value)} characters long; at most {spec.max_length} are allowed"))
        problem = format_problem(spec.format, value)
        if problem:
            out.append(Violation(path, f"{problem}{' (or ' + marker + ')' if marker else ''}, got {value!r}"))

    def json_schema(self, spec: FieldSpec, mode: str, item: bool, sub: SubSchema) -> dict[str, Any]:
        schema: dict[str, Any] = {"type": "string"}
        if spec.max_length is not None:
            schema["maxLength"] = spec.max_length
        if spec.format in ("uuid", "email", "date", "date-time"):
            schema["format"] = spec.format
        if spec.ref_kind and mode != "manifest":
            schema["description"] = f"Id of a {spec.ref_kind}"
        elif spec.ref_kind:
            marker = {
                "type": "object",
                "properties": {"$ref": {"type": "string", "pattern": f"^{re.escape(spec.ref_kind)}/.+"}},
                "required": ["$ref"],
                "additionalProperties": False,
                "description": f"the id of a {spec.ref_kind}, by client key: {{$ref: {spec.ref_kind}/KEY}}",
            }
            schema = {"anyOf": [schema, marker]}
        return schema


class _Numeric(FieldType):
    def equal(self, spec: FieldSpec, desired: Any, live: Any) -> bool:
        # 1500 equals 1500.0: a server's representation never causes a perpetual diff.
        if isinstance(desired, bool) or isinstance(live, bool):
            return False
        numeric = (int, float)
        return isinstance(desired, numeric) and isinstance(live, numeric) and float(desired) == float(live)

    def normalise(self, spec: FieldSpec, value: Any) -> Any:
        return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else value


@register
class IntegerType(_Numeric):
    name = "integer"

    def check(self, spec: FieldSpec, value: Any, path: Path, mode: Mode, out: list[Violation]) -> None:
        if isinstance(value, bool) or not isinstance(value, int):
            out.append(Violation(path, f"expected an integer, got {type_name(value)}"))


@register
class NumberType(_Numeric):
    name = "number"

    def check(self, spec: FieldSpec, value: Any, path: Path, mode: Mode, out: list[Violation]) -> None:
        if isinstance(value, bool) or not isinstance(value, int | float):
            out.append(Violation(path, f"expected a number, got {type_name(value)}"))
        elif value != value or value in (float("inf"), float("-inf")):
            out.append(Violation(path, "expected a finite number"))


@register
class BooleanType(FieldType):
    name = "boolean"

    def check(self, spec: FieldSpec, value: Any, path: Path, mode: Mode, out: list[Violation]) -> None:
        if not isinstance(value, bool):
            out.append(Violation(path, f"expected true or false, got {type_name(value)}"))


@register
class EnumType(FieldType):
    name = "enum"
    needs = "values"

    def check(self, spec: FieldSpec, value: Any, path: Path, mode: Mode, out: list[Violation]) -> None:
        if not isinstance(value, str) or value not in spec.values:
            shown = value if isinstance(value, str) else type_name(value)
            out.append(Violation(
                path, f"Must be one of: {', '.join(spec.values)}; got {shown!r}{suggest(str(value), spec.values)}"
            ))

    def json_schema(self, spec: FieldSpec, mode: str, item: bool, sub: SubSchema) -> dict[str, Any]:
        return {"type": "string", "enum": list(spec.values)}


@register
class DateTimeType(FieldType):
    name = "datetime"
    stored_canonical = True

    def check(self, spec: FieldSpec, value: Any, path: Path, mode: Mode, out: list[Violation]) -> None:
        problem = datetime_problem(value)
        if problem:
            out.append(Violation(path, problem))

    def equal(self, spec: FieldSpec, desired: Any, live: Any) -> bool:
        # The same instant in any offset or precision.
        a, b = datetime_instant(desired), datetime_instant(live)
        return a is not None and a == b

    def canonical(self, spec: FieldSpec, value: Any) -> Any:
        return canonical_datetime(value)

    def normalise(self, spec: FieldSpec, value: Any) -> Any:
        # The instant in UTC at full precision (``canonical`` keeps milliseconds, as the API stores).
        instant = datetime_instant(value)
        try:
            return value if instant is None else instant.astimezone(UTC).isoformat()
        except (ValueError, OverflowError):
            return value

    def from_yaml(self, spec: FieldSpec, value: Any) -> Any:
        # A naive date-time stays naive here so validation can say "add a timezone".
        return value.isoformat() if isinstance(value, datetime) else value

    def json_schema(self, spec: FieldSpec, mode: str, item: bool, sub: SubSchema) -> dict[str, Any]:
        return {"type": "string", "format": "date-time",
                "description": "ISO 8601 with a timezone, e.g. 2025-01-22T14:00:00Z"}
