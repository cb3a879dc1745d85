"""The sandbox's ``POST {path}/filter`` requests: page size, cursor and filter checked and
turned into store conditions (keyset pagination over the insertion order)."""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Mapping
from typing import Any

from declsync.profile.model import Violation
from declsync.sandbox.store import Column, Condition

__all__ = ["DEFAULT_PAGE_SIZE", "MAX_FILTER_VALUES", "MAX_PAGE_SIZE", "decode_cursor", "encode_cursor", "page_request"]

MAX_PAGE_SIZE = 250
DEFAULT_PAGE_SIZE = 50
MAX_FILTER_VALUES = 10_000

# Filterable fields: the column each maps to and the operators it takes.
_FILTERS: Mapping[str, tuple[Column, frozenset[str]]] = {
    "key": ("key", frozenset({"equalTo", "in", "isNull"})),
    "id": ("id", frozenset({"equalTo", "in"})),
    "friendlyId": ("friendly_id", frozenset({"equalTo", "in"})),
    "deletedAt": ("deleted_ms", frozenset({"isNull"})),
}
_CURSOR = re.compile(r"seq:(\d{1,18})")


def encode_cursor(seq: int) -> str:
    return base64.urlsafe_b64encode(f"seq:{seq}".encode()).decode()


def decode_cursor(cursor: Any) -> int | None:
    """The ``seq`` a cursor stands for, or None when it is not one of ours."""
    if not isinstance(cursor, str) or len(cursor) > 64:
        return None
    try:
        raw = base64.b64decode(cursor.encode(), altchars=b"-_", validate=True).decode()
    except (binascii.Error, ValueError):
        return None
    match = _CURSOR.fullmatch(raw)
    return int(match.group(1)) if match else None


def _integer(value: Any) -> Any:
    """``value`` with an integral float (``5.0``) as the int JSON Schema counts it as."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def page_request(payload: Mapping[str, Any]) -> tuple[int, int, list[Condition], list[Violation]]:
    """``(page size, the seq to start after, conditions, problems)`` of a filter request."""
    problems: list[Violation] = []
    for name in payload:
        if name not in ("filter", "pageSize", "cursor"):
            problems.append(Violation((name,), f"unknown field {name!r}; use filter, pageSize and cursor"))
    size = _integer(payload.get("pageSize"))
    if size is None:
        size = DEFAULT_PAGE_SIZE
    elif isinstance(size, bool) or not isinstance(size, int) or not 1 <= size <= MAX_PAGE_SIZE:
        problems.append(Violation(("pageSize",), f"must be an integer from 1 to {MAX_PAGE_SIZE}"))
    after = 0
    # An empty cursor, like null, asks for the first page (the document allows any string).
    if payload.get("cursor") not in (None, ""):
        decoded = decode_cursor(payload["cursor"])
        if decoded is None:
            problems.append(Violation(("cursor",), "not a cursor of this API; pass the previous page's endCursor"))
        else:
            after = decoded
    conditions = _conditions(payload.get("filter"), problems)
    return size, after, conditions, problems


def _conditions(flt: Any, problems: list[Violation]) -> list[Condition]:
    out: list[Condition] = []
    if flt is None:
        flt = {}
    if not isinstance(flt, dict):
        problems.append(Violation(("filter",), "must be an object such as {\"key\": {\"in\": [...]}}"))
        return out
    for name, ops in flt.items():
        if name not in _FILTERS:
            problems.append(Violation(("filter", name), f"cannot filter on {name!r}; use one of {', '.join(_FILTERS)}"))
            continue
        column, allowed = _FILTERS[name]
        if not isinstance(ops, dict) or not ops:
            problems.append(Violation(("filter", name), f"must be an object with one of: {', '.join(sorted(allowed))}"))
            continue
        for op, value in ops.items():
            where = ("filter", name, op)
            if op not in allowed:
                problems.append(Violation(where, f"unknown operator; use one of: {', '.join(sorted(allowed))}"))
            elif op == "equalTo":
                if not isinstance(value, str):
                    problems.append(Violation(where, "must be a string"))
                else:
                    out.append(Condition(column, "eq", value))
            elif op == "in":
                if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                    problems.append(Violation(where, "must be a list of strings"))
                elif len(value) > MAX_FILTER_VALUES:
                    problems.append(Violation(where, f"at most {MAX_FILTER_VALUES} values are allowed"))
                else:
                    out.append(Condition(column, "in", value))
            elif not isinstance(value, bool):
                problems.append(Violation(where, "must be true or false"))
            else:
                out.append(Condition(column, "is_null", value))
    if "deletedAt" not in flt:
        # Deleted resources are hidden unless asked for with deletedAt: {isNull: false}.
        out.append(Condition("deleted_ms", "is_null", True))
    return out
