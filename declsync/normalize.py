"""Profile-aware value comparison, so that a server's representation never causes a
perpetual diff: ``1500`` equals ``1500.0``, ``2025-01-22T09:00:00-05:00`` equals
``2025-01-22T14:00:00.000Z``, a reference written ``{key: K}`` equals the server's
``{id: …, key: K}``, and an absent field equals ``null``.
"""

from __future__ import annotations

from datetime import UTC, datetime

from declsync.profile.formats import canonical_datetime
from declsync.profile.types import values_equal

__all__ = ["canonical_datetime", "utc_now", "values_equal"]


def utc_now() -> str:
    """Now, to the second, as ``YYYY-MM-DDTHH:MM:SSZ`` (the stamps declsync writes)."""
    return datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
