"""Parse cache for manifests: a warm run skips YAML parsing and validation of files
whose bytes did not change.

One entry per manifest file under ``.declsync/cache/manifests/``, named by the
SHA-256 of (cache format, declsync version, profile fingerprint, limits, the file's
display name, the file's bytes): a changed file, profile, limit or declsync version
simply misses. Only files that produced no problem are stored, so every error
message still comes from a real parse (exact file:line). Entries are plain JSON
(never pickle: a cache is a file someone else could have written), checked on
read; anything unreadable, corrupt or foreign is ignored (a note says so, shown
under ``-v``) and the file is parsed again. Uniqueness across files and
references are checked after loading, on cached and fresh resources alike.
The directory is safe to delete at any time.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import stat
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from declsync import __version__
from declsync.manifests.resource import LazyLines, Resource
from declsync.manifests.yamlload import INTERN_MAX, Limits
from declsync.profile import codec
from declsync.profile.compiled import ensure_cache_root, write_atomically
from declsync.profile.model import Profile

__all__ = ["DEFAULT_CACHE_DIR", "ManifestCache"]

DEFAULT_CACHE_DIR = Path(".declsync") / "cache"
# Bumped whenever the entry layout, the meaning of a Resource field or what validation
# accepts changes. 2: manifests also checked against their kinds' JSON Schemas; 3: each
# resource's line map is one JSON string, decoded only when a message needs a line.
FORMAT = 3


def _canon(obj: Any) -> Any:
    """A deterministic, JSON-able picture of a profile (sets sorted: their order varies per process)."""
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return [type(obj).__name__, {f.name: _canon(getattr(obj, f.name)) for f in dataclasses.fields(obj)}]
    if isinstance(obj, Mapping):
        return [[repr(k), _canon(v)] for k, v in obj.items()]
    if isinstance(obj, list | tuple):
        return [_canon(v) for v in obj]
    if isinstance(obj, set | frozenset):
        return sorted((_canon(v) for v in obj), key=repr)
    return repr(obj)


def _profile_picture(profile: Profile) -> Any:
    """The profile as the compiled-profile codec writes it (exact, ordered, and a sixth of
    ``_canon``'s cost: ~10 ms a command), or ``_canon`` when JSON cannot hold it exactly.
    A string: ``sort_keys`` below must not reorder its kinds and fields."""
    try:
        return json.dumps(codec.encode(profile))
    except ValueError:
        return _canon(profile)


def _fingerprint(profile: Profile, limits: Limits) -> bytes:
    text = json.dumps([FORMAT, __version__, _profile_picture(profile), _canon(limits)], sort_keys=True)
    return hashlib.sha256(text.encode()).digest()


def _encode(res: Resource) -> dict[str, Any]:
    return {
        "kind": res.kind, "key": res.key, "spec": res.spec, "line": res.line,
        "lines": (res.lines if isinstance(res.lines, LazyLines) else LazyLines.of(res.lines)).encoded(),
        "sensitive": list(res.sensitive), "previous_keys": list(res.previous_keys),
        "prevent_destroy": res.prevent_destroy, "ignore_fields": list(res.ignore_fields),
        "top_lines": res.top_lines,
    }


def _strs(value: Any) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ValueError("expected a list of strings")
    return tuple(value)


def _interned(value: Any, depth: int = 0) -> None:
    """Share the short strings of ``value`` (freshly decoded; changed in place) as a parse shares
    them (``yamlload.INTERN_MAX``): a decoded entry has one copy per occurrence. Recurses into
    containers only: most of a spec is leaves."""
    if depth > 64:
        return  # deeper than any valid manifest: left as it is
    pairs = value.items() if type(value) is dict else enumerate(value)
    for k, v in list(pairs):
        t = type(v)
        if t is str:
            if len(v) <= INTERN_MAX:
                value[k] = sys.intern(v)
        elif t is dict or t is list:
            _interned(v, depth + 1)


def _decode(raw: Any, display: str) -> Resource:
    """One cached resource, every field type-checked (raises ValueError/TypeError/KeyError)."""
    if not isinstance(raw, dict):
        raise ValueError("resource is not an object")
    kind, key, spec, line = raw["kind"], raw["key"], raw["spec"], raw["line"]
    if not (isinstance(kind, str) and isinstance(key, str) and isinstance(spec, dict) and type(line) is int):
        raise ValueError("bad resource header")
    if not isinstance(raw["lines"], str):
        raise ValueError("bad line map")
    lines = LazyLines(raw["lines"])
    _interned(spec)
    top = raw["top_lines"]
    if not isinstance(top, dict) or not all(type(v) is int for v in top.values()):
        raise ValueError("bad top-level line map")
    if not isinstance(raw["prevent_destroy"], bool):
        raise ValueError("bad preventDestroy")
    return Resource(kind=kind, key=key, spec=spec, file=display, line=line, lines=lines,
                    sensitive=_strs(raw["sensitive"]), previous_keys=_strs(raw["previous_keys"]),
                    prevent_destroy=raw["prevent_destroy"], ignore_fields=_strs(raw["ignore_fields"]),
                    top_lines=top)


class ManifestCache:
    """Per-file parse results keyed by content; see the module docstring."""

    def __init__(self, directory: str | Path = DEFAULT_CACHE_DIR, *, deferred: bool = False) -> None:
        """``deferred``: ``put`` only remembers entries and ``flush`` writes them (the CLI flushes
        when a command succeeded, so a command that fails leaves no file behind)."""
        self.root = Path(directory)
        self.deferred = deferred
        self._pending: list[tuple[str, Path, str, Limits, list[Resource]]] = []
        self.dir = self.root / "manifests"
        # Why entries were ignored or not written (the CLI shows them under -v).
        self.notes: list[str] = []
        self.hits = 0
        self.misses = 0
        self._salt = b""
        self._writable = True

    def bind(self, profile: Profile, limits: Limits) -> None:
        """Set what every key depends on besides the file (called by load_manifests)."""
        self._salt = _fingerprint(profile, limits)

    def _digest(self, path: Path, display: str, limits: Limits) -> str | None:
        try:
            # Never open a FIFO or device (it could block or never end): regular files only,
            # checked again on the open descriptor.
            if not stat.S_ISREG(path.stat().st_mode):
                return None
            fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
            with os.fdopen(fd, "rb") as fh:
                if not stat.S_ISREG(os.fstat(fh.fileno()).st_mode):
                    return None
                data = fh.read(limits.max_file_bytes + 1)
        except (OSError, RuntimeError):
            return None  # the parse reports it
        if len(data) > limits.max_file_bytes:
            return None
        h = hashlib.sha256(self._salt)
        h.update(display.encode("utf-8", "surrogateescape") + b"\0")
        h.update(data)
        return h.hexdigest()

    def get(self, path: Path, display: str, limits: Limits) -> tuple[str | None, list[Resource] | None]:
        """(digest, resources) — resources None on a miss (digest None: not cacheable)."""
        digest = self._digest(path, display, limits)
        if digest is None:
            return None, None
        entry = self.dir / digest[:2] / f"{digest}.json"
        try:
            text = entry.read_text("utf-8")
        except FileNotFoundError:
            self.misses += 1
            return digest, None
        except (OSError, UnicodeDecodeError) as exc:
            self.notes.append(f"parse cache: ignored unreadable entry {entry} ({exc})")
            self.misses += 1
            return digest, None
        try:
            header_text, _, body = text.partition("\n")
            header = json.loads(header_text)
            if not isinstance(header, dict) or header.get("format") != FORMAT or header.get("digest") != digest:
                raise ValueError("not an entry of this cache")
            if header.get("check") != hashlib.sha256(body.encode("utf-8", "surrogateescape")).hexdigest():
                raise ValueError("checksum mismatch")
            raw = json.loads(body)
            if not isinstance(raw, list):
                raise ValueError("resources are not a list")
            resources = [_decode(r, display) for r in raw]
        except (ValueError, TypeError, KeyError, RecursionError) as exc:
            self.notes.append(f"parse cache: ignored corrupt or foreign entry {entry} ({exc}); parsed {display} again")
            self.misses += 1
            return digest, None
        self.hits += 1
        return digest, resources

    def put(self, digest: str, path: Path, display: str, limits: Limits, resources: list[Resource]) -> None:
        """Store the resources parsed from ``path`` if the file still has the bytes ``digest`` names."""
        if self.deferred:
            self._pending.append((digest, path, display, limits, resources))
            return
        self._store(digest, path, display, limits, resources)

    def flush(self) -> None:
        """Write the entries a deferred cache remembered."""
        pending, self._pending = self._pending, []
        for item in pending:
            self._store(*item)

    def _store(self, digest: str, path: Path, display: str, limits: Limits, resources: list[Resource]) -> None:
        if not self._writable or self._digest(path, display, limits) != digest:
            return  # edited while we parsed it: the next run parses it again
        try:
            body = json.dumps([_encode(r) for r in resources], separators=(",", ":"))
        except (TypeError, ValueError):
            return  # a value JSON cannot hold exactly (e.g. a date in a free-form field): never cached
        # A header line (what the entry is for, and a checksum of the rest: a truncated
        # or altered entry is detected, not believed), then the resources.
        check = hashlib.sha256(body.encode("utf-8", "surrogateescape")).hexdigest()
        text = json.dumps({"format": FORMAT, "digest": digest, "check": check}) + "\n" + body
        entry = self.dir / digest[:2] / f"{digest}.json"
        try:
            ensure_cache_root(self.root)
            entry.parent.mkdir(parents=True, exist_ok=True)
            write_atomically(entry, text)
        except OSError as exc:
            self._writable = False
            self.notes.append(f"parse cache: cannot write under {self.root} ({exc.strerror}); running without it")
