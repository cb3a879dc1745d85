"""Checking a JSON document against the subset of JSON Schema that declsync's own
shipped schemas use, with errors that name the place (``changes[3].action``).

``jsonschema`` would do, but it is a heavy import for every ``apply PLANFILE``; this
subset keeps the shipped schema the single source of truth at a fraction of the cost.
Supported keywords: ``type`` (one or a list), ``const``, ``enum``, ``properties``,
``required``, ``additionalProperties: false``, ``items``, ``minimum``, ``minLength``
and ``$ref`` to ``#/$defs/NAME``. A test checks that ``jsonschema`` agrees.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any

__all__ = ["ShapeError", "check", "describe"]


class ShapeError(ValueError):
    """The first place where ``document`` does not have the shape ``schema`` asks for."""

    def __init__(self, location: str, problem: str) -> None:
        self.location = location
        self.problem = problem
        super().__init__(f"{location}: {problem}" if location else problem)


def _is_integer(value: Any) -> bool:
    # As JSON Schema says: a number with no fractional part (1.0 is an integer), never a boolean.
    if isinstance(value, float):
        return value.is_integer()
    return isinstance(value, int) and not isinstance(value, bool)


_TYPES: dict[str, Callable[[Any], bool]] = {
    "object": lambda v: isinstance(v, dict),
    "array": lambda v: isinstance(v, list),
    "string": lambda v: isinstance(v, str),
    "integer": _is_integer,
    "number": lambda v: isinstance(v, int | float) and not isinstance(v, bool),
    "boolean": lambda v: isinstance(v, bool),
    "null": lambda v: v is None,
}

_NAMES = {"object": "an object", "array": "a list", "string": "a string", "integer": "an integer",
          "number": "a number", "boolean": "true or false", "null": "null"}


def describe(value: Any) -> str:
    """A short, safe description of a wrong value (never the whole of a large one)."""
    text = json.dumps(value, ensure_ascii=False, default=str)
    return text if len(text) <= 60 else text[:59] + "…"


def _child(location: str, name: str | int) -> str:
    if isinstance(name, int):
        return f"{location}[{name}]"
    return f"{location}.{name}" if location else name


def check(document: Any, schema: Mapping[str, Any], root: Mapping[str, Any] | None = None, location: str = "") -> None:
    """Raise ``ShapeError`` at the first place ``document`` breaks ``schema``."""
    root = schema if root is None else root
    ref = schema.get("$ref")
    if isinstance(ref, str):
        name = ref.removeprefix("#/$defs/")
        check(document, root["$defs"][name], root, location)
        return
    for keyword, checker in _KEYWORDS.items():
        if keyword in schema:
            checker(document, schema, root, location)


def _type(value: Any, schema: Mapping[str, Any], root: Mapping[str, Any], location: str) -> None:
    allowed = schema["type"] if isinstance(schema["type"], list) else [schema["type"]]
    if not any(_TYPES[t](value) for t in allowed):
        raise ShapeError(location, f"expected {' or '.join(_NAMES[t] for t in allowed)}, found {describe(value)}")


def _const(value: Any, schema: Mapping[str, Any], root: Mapping[str, Any], location: str) -> None:
    const = schema["const"]
    if isinstance(value, bool) != isinstance(const, bool) or value != const:
        raise ShapeError(location, f"expected {describe(schema['const'])}, found {describe(value)}")


def _enum(value: Any, schema: Mapping[str, Any], root: Mapping[str, Any], location: str) -> None:
    if not isinstance(value, str) or value not in schema["enum"]:
        raise ShapeError(location, f"{describe(value)} is not one of {', '.join(schema['enum'])}")


def _properties(value: Any, schema: Mapping[str, Any], root: Mapping[str, Any], location: str) -> None:
    if not isinstance(value, dict):
        return
    for name in schema.get("required", ()):
        if name not in value:
            raise ShapeError(location, f"required field {name!r} is missing")
    known = schema["properties"]
    for name, item in value.items():
        if name in known:
            check(item, known[name], root, _child(location, name))
        elif schema.get("additionalProperties") is False:
            raise ShapeError(_child(location, str(name)), "unknown field")


def _items(value: Any, schema: Mapping[str, Any], root: Mapping[str, Any], location: str) -> None:
    if isinstance(value, list):
        for i, item in enumerate(value):
            check(item, schema["items"], root, _child(location, i))


def _minimum(value: Any, schema: Mapping[str, Any], root: Mapping[str, Any], location: str) -> None:
    if _TYPES["number"](value) and value < schema["minimum"]:
        raise ShapeError(location, f"must be at least {schema['minimum']}, found {describe(value)}")


def _min_length(value: Any, schema: Mapping[str, Any], root: Mapping[str, Any], location: str) -> None:
    if isinstance(value, str) and len(value) < schema["minLength"]:
        raise ShapeError(location, "must not be empty")


# Checked in this order: the type first, so later keywords see a value of the right type.
_KEYWORDS: dict[str, Callable[[Any, Mapping[str, Any], Mapping[str, Any], str], None]] = {
    "type": _type,
    "const": _const,
    "enum": _enum,
    "properties": _properties,
    "items": _items,
    "minimum": _minimum,
    "minLength": _min_length,
}
