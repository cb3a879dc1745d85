"""Request bodies: raw bytes to a JSON object, or the 400 that says why not.

A body is either absent (zero bytes) or JSON: whitespace alone is neither, so it
is refused rather than read as "no body". Every string in the body, field names
included, must be valid Unicode: JSON can carry a lone surrogate (``"\\ud800"``)
that no UTF-8 encoder (SQLite's, ours) accepts, so such a body is refused here
with the field that holds it, before it can reach the store.
"""

from __future__ import annotations

import json
from typing import Any

from declsync.profile.model import PathPart, Violation
from declsync.sandbox.replies import Reply, bad_request, validation_error

__all__ = ["MAX_REPORTED", "BadInput", "parse_object", "surrogate_violations"]

# A body full of lone surrogates would otherwise get one detail per string.
MAX_REPORTED = 100


class BadInput(Exception):
    """Input refused before it reaches the service; ``reply`` is the 4xx to send."""

    def __init__(self, reply: Reply) -> None:
        super().__init__(reply.status)
        self.reply = reply


def _no_constants(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def parse_object(raw: bytes, *, empty_ok: bool = False) -> dict[str, Any]:
    """The JSON object in ``raw``; ``{}`` for zero bytes when ``empty_ok``; else ``BadInput``."""
    if not raw and empty_ok:
        return {}
    try:
        value = json.loads(raw, parse_constant=_no_constants)
    except (ValueError, RecursionError) as exc:
        reason = str(exc) if isinstance(exc, json.JSONDecodeError) else "not valid JSON"
        raise BadInput(bad_request(f"The request body must be a JSON object: {reason}")) from None
    if not isinstance(value, dict):
        raise BadInput(bad_request("The request body must be a JSON object"))
    problems = surrogate_violations(value)
    if problems:
        raise BadInput(validation_error(problems))
    return value


def _encodable(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _printable(name: str) -> str:
    """A field name safe to echo back in a UTF-8 answer."""
    return name.encode("utf-8", "backslashreplace").decode("utf-8")


def surrogate_violations(value: Any) -> list[Violation]:
    """One violation per string (or field name) in ``value`` that UTF-8 cannot encode."""
    try:
        # Fast path, in C: a body UTF-8 can encode whole has no lone surrogate anywhere.
        json.dumps(value, ensure_ascii=False).encode("utf-8")
        return []
    except (UnicodeEncodeError, RecursionError):
        pass
    problems: list[Violation] = []
    # An explicit stack: the body may be nested as deep as the JSON parser allows.
    stack: list[tuple[tuple[PathPart, ...], Any]] = [((), value)]
    while stack and len(problems) < MAX_REPORTED:
        path, node = stack.pop()
        if isinstance(node, str):
            if not _encodable(node):
                problems.append(Violation(path, "must be valid Unicode: it holds a lone surrogate"))
        elif isinstance(node, dict):
            for name, item in reversed(node.items()):
                if _encodable(name):
                    stack.append(((*path, name), item))
                else:
                    problems.append(Violation((*path, _printable(name)), "field names must be valid Unicode"))
        elif isinstance(node, list):
            stack.extend(((*path, i), item) for i, item in reversed(list(enumerate(node))))
    return problems
