"""Checking a JSON document against a JSON Schema (``jsonschema``, draft 2020-12), with
errors in declsync's words that name the place (``changes[3].action: "destroy" is not
one of create, update, noop, delete``).

``jsonschema`` is imported here, on first use, and only this module imports it: reading
a plan file pays for it, ``declsync --help`` and ``import declsync`` do not
(``tests/e2e/test_startup.py``).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from jsonschema.exceptions import ValidationError

__all__ = ["ShapeError", "check", "describe"]


class ShapeError(ValueError):
    """The first place where ``document`` does not have the shape ``schema`` asks for."""

    def __init__(self, location: str, problem: str) -> None:
        self.location = location
        self.problem = problem
        super().__init__(f"{location}: {problem}" if location else problem)


_NAMES = {"object": "an object", "array": "a list", "string": "a string", "integer": "an integer",
          "number": "a number", "boolean": "true or false", "null": "null"}


def describe(value: Any) -> str:
    """A short, safe description of a wrong value (never the whole of a large one)."""
    text = json.dumps(value, ensure_ascii=False, default=str)
    return text if len(text) <= 60 else text[:59] + "…"


def place(path: Sequence[str | int]) -> str:
    """``("changes", 3, "action")`` → ``changes[3].action``."""
    out = ""
    for name in path:
        if isinstance(name, int):
            out += f"[{name}]"
        else:
            out = f"{out}.{name}" if out else name
    return out


def check(document: Any, schema: Mapping[str, Any]) -> None:
    """Raise ``ShapeError`` at the first place ``document`` breaks ``schema``."""
    from jsonschema import Draft202012Validator

    error = next(iter(Draft202012Validator(schema).iter_errors(document)), None)
    if error is not None:
        raise _in_words(error)


def _in_words(error: ValidationError) -> ShapeError:
    path: list[str | int] = list(error.absolute_path)
    words = _WORDS.get(str(error.validator))
    if words is None:
        return ShapeError(place(path), error.message)
    schema: Any = error.schema
    return words(_Failed(error.validator_value, error.instance, schema, path))


class _Failed:
    """One keyword's failure: its value in the schema, the value it refused, and where."""

    def __init__(self, rule: Any, instance: Any, schema: Any, path: list[str | int]) -> None:
        self.rule, self.instance, self.schema, self.path = rule, instance, schema, path

    def error(self, problem: str) -> ShapeError:
        return ShapeError(place(self.path), problem)


def _type(f: _Failed) -> ShapeError:
    allowed = f.rule if isinstance(f.rule, list) else [f.rule]
    return f.error(f"expected {' or '.join(_NAMES[t] for t in allowed)}, found {describe(f.instance)}")


def _const(f: _Failed) -> ShapeError:
    return f.error(f"expected {describe(f.rule)}, found {describe(f.instance)}")


def _enum(f: _Failed) -> ShapeError:
    return f.error(f"{describe(f.instance)} is not one of {', '.join(map(str, f.rule))}")


def _required(f: _Failed) -> ShapeError:
    missing = next(name for name in f.rule if name not in f.instance)
    return f.error(f"required field {missing!r} is missing")


def _additional(f: _Failed) -> ShapeError:
    known = f.schema.get("properties", {}) if isinstance(f.schema, Mapping) else {}
    extra = next(str(name) for name in f.instance if name not in known)
    return ShapeError(place([*f.path, extra]), "unknown field")


def _minimum(f: _Failed) -> ShapeError:
    return f.error(f"must be at least {f.rule}, found {describe(f.instance)}")


def _min_length(f: _Failed) -> ShapeError:
    return f.error("must not be empty")


# jsonschema's keyword → declsync's words; another keyword keeps jsonschema's message.
_WORDS: dict[str, Callable[[_Failed], ShapeError]] = {
    "type": _type,
    "const": _const,
    "enum": _enum,
    "required": _required,
    "additionalProperties": _additional,
    "minimum": _minimum,
    "minLength": _min_length,
}
