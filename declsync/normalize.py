"""Profile-aware value comparison, so that a server's representation never causes a
perpetual diff: ``1500`` equals ``1500.0``, ``2025-01-22T09:00:00-05:00`` equals
``2025-01-22T14:00:00.000Z``, a reference written ``{key: K}`` equals the server's
``{id: …, key: K}``, and an absent field equals ``null``.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from declsync.profile.model import FieldSpec

__all__ = ["canonical_datetime", "utc_now", "values_equal"]


def utc_now() -> str:
    """Now, to the second, as ``YYYY-MM-DDTHH:MM:SSZ`` (the stamps declsync writes)."""
    return datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def canonical_datetime(value: str) -> str:
    """The UTC form ``YYYY-MM-DDTHH:MM:SS.mmmZ`` of an ISO 8601 date-time with a timezone."""
    parsed = datetime.fromisoformat(value).astimezone(UTC)
    return parsed.strftime("%Y-%m-%dT%H:%M:%S.") + f"{parsed.microsecond // 1000:03d}Z"


def _instant(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else None


def values_equal(desired: Any, live: Any, spec: FieldSpec | None) -> bool:
    """True when ``live`` already satisfies ``desired`` for a field shaped like ``spec``.

    Inside objects only the fields ``desired`` declares are compared (the others are
    not ours); ``spec`` None means "no profile knowledge": plain equality.
    """
    if desired is None or live is None:
        return desired is None and live is None
    if desired == live and type(desired) is type(live):
        return True
    t = spec.type if spec is not None else None
    if t == "reference" and type(desired) is dict and type(live) is dict:
        return all(live.get(k) == v for k, v in desired.items())
    if t == "datetime":
        a, b = _instant(desired), _instant(live)
        return a is not None and a == b
    if t in ("number", "integer"):
        numeric = (int, float)
        if isinstance(desired, bool) or isinstance(live, bool):
            return False
        return isinstance(desired, numeric) and isinstance(live, numeric) and float(desired) == float(live)
    if t == "object" and type(desired) is dict and type(live) is dict:
        assert spec is not None
        return all(values_equal(v, live.get(k), spec.fields.get(k)) for k, v in desired.items())
    if t == "array" and type(desired) is list and type(live) is list:
        assert spec is not None
        return len(desired) == len(live) and all(
            values_equal(d, v, spec.items) for d, v in zip(desired, live, strict=True)
        )
    if t is None and type(desired) is dict and type(live) is dict:
        return desired.keys() == live.keys() and all(values_equal(v, live[k], None) for k, v in desired.items())
    if t is None and type(desired) is list and type(live) is list:
        return len(desired) == len(live) and all(
            values_equal(d, v, None) for d, v in zip(desired, live, strict=True)
        )
    return bool(desired == live) and isinstance(desired, bool) == isinstance(live, bool)
