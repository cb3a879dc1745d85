"""The dotted field paths a kind declares (``stops.notes``): what a manifest's
``sensitive:`` list may name, and what the manifest JSON Schema offers for it.

Here, under ``profile/``, because it reads only the profile: the manifest loader and
the schema use it without depending on the planning stage (and without the old
``manifests`` ↔ ``sensitive`` import cycle).
"""

from __future__ import annotations

from collections.abc import Mapping

from declsync.profile.model import FieldSpec, KindSpec
from declsync.profile.types import field_type

__all__ = ["field_paths"]


def field_paths(kind: KindSpec) -> list[str]:
    """Every dotted field path of a kind, in profile order: fields, the fields of nested
    objects, and the fields of array items (``stops.notes``)."""
    out: list[str] = []

    def walk(fields: Mapping[str, FieldSpec], prefix: str) -> None:
        for name, spec in fields.items():
            path = f"{prefix}.{name}" if prefix else name
            out.append(path)
            walk(field_type(spec).nested(spec), path)

    walk(kind.fields, "")
    return out
