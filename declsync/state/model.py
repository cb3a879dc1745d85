"""The state's data: per (kind, key), the resource id and the last-applied spec.

The planner needs the last-applied spec to tell "a field I removed from the
manifest" (clear it) from "a field I never declared" (not mine, leave it). Every
backend (``file``, ``postgres``) holds these entries; ``State`` is the in-memory view
one command works on. The JSON encoding (the file backend's format, and what
``state migrate`` carries) is::

    {"format_version": 1, "serial": 7, "lineage": "<uuid>",
     "resources": [{"kind", "key", "id", "spec", "updated_at", "applied_at", "source"}, ...]}

An entry may also carry ``"prevent_destroy": true`` (the manifest's
``lifecycle.preventDestroy`` when last applied); absent means false.

``serial`` grows by one per save; ``lineage`` identifies one state's history (a saved
plan made against another state is refused). A state that was never saved has serial
0 and an empty lineage; the first save assigns it. ``State`` remembers which entries
were put or removed since the last save (``dirty``), so that a backend storing one row
per resource writes only those.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, BinaryIO

from declsync.errors import StateError

__all__ = ["FIX", "FORMAT_VERSION", "KNOWN_VERSIONS", "State", "StateEntry", "entry_from_json"]

FORMAT_VERSION = 1
# The format versions this declsync reads. Anything else (0, -5, true, 1.5) is refused:
# rewriting an unknown document as version 1 could silently drop what it meant.
KNOWN_VERSIONS = frozenset({1})
FIX = "restore it from a backup or version control, or move it aside to start empty " \
      "(the next plan re-adopts existing resources by key)"
_FIX = FIX
# The line that opens the entries in the layout ``to_bytes`` writes (one entry per line).
_RESOURCES_OPEN = b', "resources": [\n'
_BATCH = 2000


# Slots: a state holds one per resource (100,000 and more).
@dataclass(frozen=True, slots=True)
class StateEntry:
    """What declsync last applied to one resource. A value: replace it with ``put``, never mutate it."""

    kind: str
    key: str
    id: str
    # The manifest spec as last applied (declared fields only).
    spec: dict[str, Any]
    # The live updatedAt observed right after the write.
    updated_at: str | None = None
    applied_at: str | None = None
    # "file:line" of the manifest that declared it.
    source: str | None = None
    # The manifest's lifecycle.preventDestroy when last applied: prune refuses to delete it.
    prevent_destroy: bool = False

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "kind": self.kind,
            "key": self.key,
            "id": self.id,
            "spec": self.spec,
            "updated_at": self.updated_at,
            "applied_at": self.applied_at,
            "source": self.source,
        }
        # Written only when set, so that state files without protection stay as they were.
        if self.prevent_destroy:
            out["prevent_destroy"] = True
        return out


def entry_from_json(raw: Any, where: str) -> StateEntry:
    if not isinstance(raw, Mapping):
        raise StateError(f"{where}: a resource entry is not an object; {_FIX}")
    for name in ("kind", "key", "id"):
        if not isinstance(raw.get(name), str):
            raise StateError(f"{where}: a resource entry has no string {name!r}; {_FIX}")
    spec = raw.get("spec")
    if not isinstance(spec, dict):
        raise StateError(f"{where}: entry {raw['kind']}/{raw['key']} has no 'spec' object; {_FIX}")
    optional: dict[str, str | None] = {}
    for name in ("updated_at", "applied_at", "source"):
        value = raw.get(name)
        if value is not None and not isinstance(value, str):
            raise StateError(f"{where}: entry {raw['kind']}/{raw['key']} has a non-string {name!r}; {_FIX}")
        optional[name] = value
    protect = raw.get("prevent_destroy", False)
    if not isinstance(protect, bool):
        raise StateError(f"{where}: entry {raw['kind']}/{raw['key']} has a non-boolean 'prevent_destroy'; {_FIX}")
    return StateEntry(kind=raw["kind"], key=raw["key"], id=raw["id"], spec=spec, prevent_destroy=protect, **optional)


@dataclass
class State:
    """All entries, indexed by (kind, key). Not thread-safe: record from one thread."""

    serial: int = 0
    lineage: str = ""
    _entries: dict[tuple[str, str], StateEntry] = field(default_factory=dict, repr=False)
    # Entries put or removed since the last save (``mark_saved``): what a row-per-resource backend writes.
    _dirty: set[tuple[str, str]] = field(default_factory=set, repr=False)

    def get(self, kind: str, key: str) -> StateEntry | None:
        return self._entries.get((kind, key))

    def put(self, entry: StateEntry) -> None:
        if self._entries.get((entry.kind, entry.key)) != entry:
            self._dirty.add((entry.kind, entry.key))
        self._entries[(entry.kind, entry.key)] = entry

    def remove(self, kind: str, key: str) -> None:
        if self._entries.pop((kind, key), None) is not None:
            self._dirty.add((kind, key))

    def share_spec(self, kind: str, key: str, spec: dict[str, Any]) -> None:
        """Let the entry hold ``spec`` when it equals its own (a manifest's, unchanged since the
        last apply): one copy in memory instead of two. Not a change: not dirty."""
        entry = self._entries.get((kind, key))
        if entry is None or entry.spec is spec or entry.spec != spec:
            return
        self._entries[(kind, key)] = dataclasses.replace(entry, spec=spec)

    def dirty(self) -> set[tuple[str, str]]:
        """The (kind, key) of entries put or removed since the last save."""
        return set(self._dirty)

    def mark_saved(self, keys: set[tuple[str, str]] | None = None) -> None:
        """Forget that ``keys`` (default: all) changed: they were saved."""
        if keys is None:
            self._dirty.clear()
        else:
            self._dirty -= keys

    def entries(self) -> Iterator[StateEntry]:
        return iter(list(self._entries.values()))

    def __len__(self) -> int:
        return len(self._entries)

    def to_json(self) -> dict[str, Any]:
        return {
            "format_version": FORMAT_VERSION,
            "serial": self.serial,
            "lineage": self.lineage,
            "resources": [self._entries[k].to_json() for k in sorted(self._entries)],
        }

    def to_bytes(self) -> bytes:  # read back by ``from_lines``
        """``to_json()`` as compact JSON, one resource per line (stable, diff-friendly, fast)."""
        return b"".join(self.encoded())

    def write_to(self, fh: BinaryIO) -> None:
        """``to_bytes()`` written to ``fh`` an entry at a time (see ``encoded``)."""
        for piece in self.encoded():
            fh.write(piece)

    def encoded(self) -> Iterator[bytes]:
        """``to_bytes()`` in pieces, an entry at a time: a state file of 100,000 entries is
        written without its bytes (or a cache of each entry's) ever whole in memory. Raises
        ``TypeError``/``ValueError`` for an unencodable spec, possibly after some pieces."""
        head = json.dumps({"format_version": FORMAT_VERSION, "serial": self.serial, "lineage": self.lineage})
        yield head[:-1].encode() + _RESOURCES_OPEN
        sep = b""
        for k in sorted(self._entries):
            yield sep + json.dumps(self._entries[k].to_json(), ensure_ascii=False, separators=(",", ":")).encode()
            sep = b",\n"
        yield (b"\n" if sep else b"") + b"]}\n"

    @classmethod
    def from_json(cls, data: Any, source: str) -> State:
        if not isinstance(data, Mapping):
            raise StateError(f"state file {source} is not a JSON object; {_FIX}")
        version = data.get("format_version")
        if "format_version" not in data:
            raise StateError(
                f"state file {source} has no format_version; is it a declsync state file? {_FIX}"
            )
        # bool is an int in Python: `true` must not pass for version 1.
        if type(version) is int and version > FORMAT_VERSION:
            raise StateError(
                f"state file {source} has format_version {version}, newer than this declsync understands "
                f"({FORMAT_VERSION}); upgrade declsync"
            )
        if type(version) is not int or version not in KNOWN_VERSIONS:
            raise StateError(
                f"state file {source} has format_version {json.dumps(version)}, which is not a known "
                f"declsync state format (known: {', '.join(map(str, sorted(KNOWN_VERSIONS)))}); {_FIX}"
            )
        serial, lineage, resources = data.get("serial"), data.get("lineage"), data.get("resources")
        if type(serial) is not int or serial < 0:
            raise StateError(f"state file {source}: 'serial' must be a non-negative integer; {_FIX}")
        if not isinstance(lineage, str):
            raise StateError(f"state file {source}: 'lineage' must be a string; {_FIX}")
        if not isinstance(resources, list):
            raise StateError(f"state file {source}: 'resources' must be a list; {_FIX}")
        state = cls(serial=serial, lineage=lineage)
        state._add_raw(resources, source)
        state.mark_saved()
        return state

    def _add_raw(self, resources: list[Any], source: str) -> None:
        for raw in resources:
            entry = entry_from_json(raw, f"state file {source}")
            if self.get(entry.kind, entry.key) is not None:
                raise StateError(f"state file {source}: {entry.kind}/{entry.key} appears twice; {_FIX}")
            self.put(entry)

    @classmethod
    def from_lines(cls, lines: Iterator[bytes], source: str) -> State | None:
        """The state from a file laid out as ``to_bytes`` writes it, decoded a batch of entries at a
        time; None when it is laid out otherwise (the caller then decodes it whole, which also words
        any error). Why: decoding a 100,000-resource file whole held its bytes and every parsed
        entry at once, the largest transient of a plan."""
        head = next(lines, b"")
        if not head.endswith(_RESOURCES_OPEN):
            return None
        try:
            header = json.loads(head[: -len(_RESOURCES_OPEN)] + b"}")
        except ValueError:
            return None
        if not isinstance(header, dict) or "resources" in header:
            return None
        state = cls.from_json({**header, "resources": []}, source)
        batch: list[bytes] = []
        closed = False
        comma = True  # whether the line before may be followed by another entry
        seen = False
        for line in lines:
            if closed or not line.endswith(b"\n"):
                return None  # anything after the closing line, or a cut-off last line
            if line == b"]}\n":
                if comma and seen:
                    return None  # a comma before the closing line is not JSON
                closed = True
            elif not comma:
                return None  # two entries without a comma between them
            else:
                comma, seen = line.endswith(b",\n"), True
                batch.append(line[:-2] if comma else line[:-1])
            if batch and (closed or len(batch) >= _BATCH):
                try:
                    # One decode per batch: its field names are shared, as in a whole-file decode.
                    raws = json.loads(b"[" + b",".join(batch) + b"]")
                except (ValueError, RecursionError):
                    return None
                state._add_raw(raws, source)
                batch = []
        if not closed:
            return None
        state.mark_saved()
        return state
