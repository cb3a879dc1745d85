"""The overlay: what an OpenAPI document cannot say, in a few checked settings.

It is the document's ``x-declsync`` member, or a file beside the document
(``their-api.declsync.yaml`` for ``their-api.yaml``; ``declsync.yaml`` in a directory
of documents), the file winning::

    name: library
    kinds:
      Book:
        friendlyIdPrefix: BK-
        delete: {method: refuse}      # or {patch: {status: withdrawn}}
        sensitive: [isbn]
        refKinds: {editorId: Author}  # bare id fields whose kind the name does not tell
        readOnly: [rating]
        pageSize: 100
        path: books                   # names a kind whose GET answers with an inline schema
        computed: {total: items.price}  # read-only number the server sums over an array's field
        defaults: {status: ACTIVE}    # what the server fills in when a create leaves a field out
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from declsync.errors import ProfileError
from declsync.profile.model import suggest

__all__ = ["Overlay", "merge_overlays", "overlay_path", "read_overlay"]

# Setting -> (the type it must have, how to say it).
_KIND_SETTINGS: dict[str, tuple[type | tuple[type, ...], str]] = {
    "path": (str, "a collection path such as books"),
    "friendlyIdPrefix": (str, "a string"),
    "delete": (Mapping, "{method: delete}, {method: refuse} or {patch: {...}}"),
    "sensitive": (list, "a list of field names"),
    "refKinds": (Mapping, "a mapping of field name to kind"),
    "readOnly": (list, "a list of field names"),
    "pageSize": (int, "an integer between 1 and 1000"),
    "computed": (Mapping, "a mapping of field name to ARRAY.FIELD (the number field it sums)"),
    "defaults": (Mapping, "a mapping of field name to the value the server fills in on create"),
}
_TOP = frozenset({"name", "kinds"})


@dataclass(frozen=True)
class Overlay:
    name: str | None = None
    kinds: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    source: str = ""

    def of(self, kind: str) -> Mapping[str, Any]:
        return self.kinds.get(kind, {})


def overlay_path(document: Path) -> Path:
    """``api.yaml`` → ``api.declsync.yaml`` (the overlay file beside a document)."""
    return document.with_name(f"{document.stem}.declsync.yaml")


def read_overlay(path: Path) -> Mapping[str, Any]:
    """The overlay file ``path`` (empty when there is none)."""
    if not path.is_file():
        return {}
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise ProfileError(f"overlay {path}: cannot read it: {exc}") from None
    if not isinstance(data, Mapping):
        raise ProfileError(f"overlay {path}: expected a mapping with 'name' and/or 'kinds'")
    return data


def merge_overlays(parts: list[tuple[Mapping[str, Any], str]]) -> Overlay:
    """Checked overlays merged in order (a later one wins, setting by setting)."""
    name: str | None = None
    kinds: dict[str, dict[str, Any]] = {}
    sources = []
    for raw, where in parts:
        if not raw:
            continue
        sources.append(where)
        _check_keys(raw, _TOP, where)
        if raw.get("name") is not None:
            name = str(raw["name"])
        raw_kinds = raw.get("kinds") or {}
        if not isinstance(raw_kinds, Mapping):
            raise ProfileError(f"{where}: kinds must be a mapping of kind name to settings")
        for kname, spec in raw_kinds.items():
            if not isinstance(spec, Mapping):
                raise ProfileError(f"{where}: kinds.{kname} must be a mapping of settings")
            _check_keys(spec, frozenset(_KIND_SETTINGS), f"{where}: kinds.{kname}")
            for setting, value in spec.items():
                expected, words = _KIND_SETTINGS[setting]
                if isinstance(value, bool) or not isinstance(value, expected):
                    raise ProfileError(f"{where}: kinds.{kname}.{setting} must be {words}, not {value!r:.40}")
            kinds.setdefault(str(kname), {}).update(spec)
    return Overlay(name=name, kinds=kinds, source=", ".join(sources))


def _check_keys(raw: Mapping[str, Any], allowed: frozenset[str], where: str) -> None:
    for key in raw:
        if key not in allowed:
            raise ProfileError(f"{where}: unknown overlay setting {key!r}{suggest(str(key), allowed)}; "
                               f"allowed: {', '.join(sorted(allowed))}")
