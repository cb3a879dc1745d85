"""A plan document written a change at a time: the bytes of
``json.dump(doc, indent=2, ensure_ascii=False, default=str)`` plus a newline, without the
document of 100,000 changes (or its text) ever whole in memory.

The caller builds each change's document when it is written, and checks the whole plan
for secrets first (``declsync.planfile.redact``), so that a refused plan writes nothing.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterable, Mapping
from typing import Any

__all__ = ["dump_streamed"]


def _dumps(value: Any) -> str:
    return json.dumps(value, indent=2, ensure_ascii=False, default=str)


def dump_streamed(head: Mapping[str, Any], changes: Iterable[Mapping[str, Any]], write: Callable[[str], object]) -> None:
    """Write ``{**head, "changes": list(changes)}`` as indented JSON, ``changes`` in the place
    of ``head["changes"]``. Each change is dumped alone and indented to its depth: JSON text
    has no raw newline inside a string, so every newline in it is structure."""
    marker = f"changes-{uuid.uuid4()}"
    start, end = _dumps({k: marker if k == "changes" else v for k, v in head.items()}).split(_dumps(marker), 1)
    write(start)
    first = True
    for change in changes:
        # A change is an item of a list at depth 1: its lines are 4 spaces further in.
        write(("[\n    " if first else ",\n    ") + _dumps(change).replace("\n", "\n    "))
        first = False
    write(("[]" if first else "\n  ]") + end + "\n")
