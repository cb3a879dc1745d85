"""String formats the validator checks (OpenAPI's names: uuid, email, date, date-time).

One checker per format, in a table: each answers why a string is not in its format, or
None. Formats not in the table are accepted as they are (``float``, ``int64``, …).
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable, Mapping
from datetime import UTC, date, datetime
from typing import Any

__all__ = ["FORMATS", "canonical_datetime", "datetime_instant", "datetime_problem", "format_problem", "type_name"]


def type_name(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int):
        return "an integer"
    if isinstance(value, float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, Mapping):
        return "a mapping"
    return type(value).__name__


def format_problem(fmt: str | None, value: str) -> str | None:
    """Why ``value`` is not in format ``fmt`` (e.g. "expected a UUID"), or None."""
    check = FORMATS.get(fmt or "")
    return check(value) if check is not None else None


def _uuid_problem(value: str) -> str | None:
    try:
        uuid.UUID(value)
    except ValueError:
        return "expected a UUID"
    return None


# Deliberately plain: one '@', no spaces, a dot in the domain. Deliverability is the API's business.
_EMAIL = re.compile(r"[^@\s]+@[^@\s.]+(\.[^@\s.]+)+")
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


def _email_problem(value: str) -> str | None:
    return None if _EMAIL.fullmatch(value) else "expected an email address such as ops@example.com"


def _date_problem(value: str) -> str | None:
    try:
        if _DATE.fullmatch(value):
            date.fromisoformat(value)
            return None
    except ValueError:
        pass
    return "expected a date YYYY-MM-DD such as 2025-01-22"


def _datetime_format_problem(value: str) -> str | None:
    problem = datetime_problem(value)
    return None if problem is None else "expected an ISO 8601 date-time with a timezone such as 2025-01-22T14:00:00Z"


# String formats the validator checks (OpenAPI's names); other formats are accepted as they are.
FORMATS: dict[str, Callable[[str], str | None]] = {
    "uuid": _uuid_problem,
    "email": _email_problem,
    "date": _date_problem,
    "date-time": _datetime_format_problem,
}


def datetime_problem(value: Any) -> str | None:
    """Why ``value`` is not an ISO 8601 date-time with a timezone, or None."""
    if not isinstance(value, str):
        return f"expected an ISO 8601 date-time string such as 2025-01-22T14:00:00Z, got {type_name(value)}"
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return f"expected an ISO 8601 date-time such as 2025-01-22T14:00:00Z, got {value!r}"
    if parsed.tzinfo is None:
        return f"date-time {value!r} has no timezone; add Z or an offset such as -05:00"
    return None


def canonical_datetime(value: str) -> str:
    """The UTC form ``YYYY-MM-DDTHH:MM:SS.mmmZ`` of an ISO 8601 date-time with a timezone."""
    parsed = datetime.fromisoformat(value).astimezone(UTC)
    return parsed.strftime("%Y-%m-%dT%H:%M:%S.") + f"{parsed.microsecond // 1000:03d}Z"


def datetime_instant(value: Any) -> datetime | None:
    """The instant an ISO 8601 date-time string with a timezone names, or None."""
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else None
