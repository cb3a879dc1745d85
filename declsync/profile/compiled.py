"""Compiled profiles without compiling: the bundled profile precompiled into the package, and a
cache for the others.

Compiling the bundled MVMNT contract (8 OpenAPI documents, 270 KB of YAML) took a third of a
second of every command. Both stores below hold ``profile/codec.py``'s JSON (never pickle),
content-addressed by the SHA-256 of (entry format, declsync version, the compiler's own code,
what compiling reads: each file's name and bytes, the overlay included), so an edited
document, overlay, compiler or declsync simply misses and is compiled again; a result never
changes.

* ``declsync/profiles/mvmnt.compiled.json``: the bundled profile, written at development time
  by ``python -m declsync.profile.compiled`` and checked against a fresh compile by
  ``tests/openapi/test_compiled_profile.py``. It is used only when its digest matches the
  documents actually installed beside it (hashed on every load, about a millisecond).
* ``ProfileCache``: ``--profile FILE|DIR`` compiled once per content, under
  ``.declsync/cache/profiles/`` beside the parse cache, by CLI commands unless ``--no-cache``.
  Same rules as the parse cache: an entry is a header line (format, digest, checksum of the
  rest) and the profile; anything unreadable, truncated, altered or foreign is ignored (a
  note, shown under ``-v``) and the profile compiled again; entries are written atomically,
  and not at all when the directory cannot be written. Safe to delete at any time.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import stat
import sys
import tempfile
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

from declsync import __version__
from declsync.profile import codec
from declsync.profile.spec import Profile

__all__ = ["BUNDLED_COMPILED", "BUNDLED_PROFILE", "DEFAULT_CACHE_DIR", "ProfileCache", "bundled_profile",
           "cached", "ensure_cache_root", "sources_digest", "write_atomically"]

DEFAULT_CACHE_DIR = Path(".declsync") / "cache"
BUNDLED_PROFILE = Path(__file__).parent.parent / "profiles" / "mvmnt"
# Beside the documents, not among them: a directory profile reads every *.json in it.
BUNDLED_COMPILED = BUNDLED_PROFILE.parent / "mvmnt.compiled.json"
# Bumped whenever the entry layout or codec changes meaning.
FORMAT = 1
# What a profile directory's compile reads (profile/openapi/compile.py: load_openapi_dir).
_SUFFIXES = (".yaml", ".yml", ".json")
# A profile entry is tens of kilobytes; anything far larger is not one of ours.
_MAX_ENTRY_BYTES = 32 * 1024 * 1024
_BUNDLED_LABEL = "bundled:mvmnt"
# What a compiled profile depends on besides its documents: the compiler, the profile's
# dataclasses and their JSON form (not, say, validation.py: it reads profiles, never makes one).
_PROFILE_PACKAGE = Path(__file__).parent
_COMPILER_PARTS = ("openapi/*.py", "model.py", "spec.py", "codec.py")


# --------------------------------------------------------------------------- keys


def _read_regular(path: Path) -> bytes | None:
    """The bytes of ``path`` if it is a regular file (never a FIFO or device: it could block)."""
    try:
        if not stat.S_ISREG(path.stat().st_mode):
            return None
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
        with os.fdopen(fd, "rb") as fh:
            if not stat.S_ISREG(os.fstat(fh.fileno()).st_mode):
                return None
            return fh.read()
    except (OSError, RuntimeError):
        return None  # compiling reports it


def _sources(path: Path) -> list[tuple[str, bytes]] | None:
    """(name, bytes) of every file compiling ``path`` may read; None: not cacheable."""
    if path.is_dir():
        try:
            names = sorted(p.name for p in path.iterdir() if p.suffix in _SUFFIXES)
        except OSError:
            return None
        files = [(name, path / name) for name in names]
    else:
        # openapi.overlay.overlay_path, spelled here: importing the compiler would cost a hit
        # what it saves (tests/openapi/test_compiled_profile.py edits an overlay to see a miss).
        beside = path.with_name(f"{path.stem}.declsync.yaml")
        files = [(path.name, path)] + ([("overlay:" + beside.name, beside)] if beside.exists() else [])
    out = []
    for name, file in files:
        data = _read_regular(file)
        if data is None:
            return None
        out.append((name, data))
    return out


@functools.cache
def compiler_digest() -> str | None:
    """SHA-256 of the code a compiled profile depends on: a checkout whose compiler was edited
    (same declsync version) must not be served what the old one compiled. None: the sources
    are not there to read (then nothing is stored or believed)."""
    h = hashlib.sha256()
    parts = sorted({path for pattern in _COMPILER_PARTS for path in _PROFILE_PACKAGE.glob(pattern)})
    if not parts:
        return None
    for path in parts:
        data = _read_regular(path)
        if data is None:
            return None
        h.update(f"{path.relative_to(_PROFILE_PACKAGE).as_posix()}\0{len(data)}\0".encode())
        h.update(data)
    return h.hexdigest()


def sources_digest(path: Path, label: str) -> str | None:
    """SHA-256 of (format, declsync version, the compiler's code, ``label``, each source's name
    and bytes)."""
    sources = _sources(path)
    compiler = compiler_digest()
    if sources is None or compiler is None:
        return None
    h = hashlib.sha256(json.dumps([FORMAT, __version__, compiler, label, len(sources)]).encode())
    for name, data in sources:
        # Lengths first: no two different lists of files hash alike.
        h.update(f"\0{len(name.encode('utf-8', 'surrogateescape'))}:{len(data)}\0".encode())
        h.update(name.encode("utf-8", "surrogateescape"))
        h.update(data)
    return h.hexdigest()


# --------------------------------------------------------------------------- entries


def entry_text(digest: str, profile: Profile, indent: int | None = None) -> str:
    """A header line (what the entry is for, a checksum of the rest: a truncated or altered entry
    is detected, not believed), then the profile (ValueError: JSON cannot hold it exactly)."""
    separators = (",", ":") if indent is None else (",", ": ")
    body = json.dumps(codec.encode(profile), indent=indent, separators=separators, ensure_ascii=False,
                      allow_nan=False)
    check = hashlib.sha256(body.encode("utf-8")).hexdigest()
    return json.dumps({"format": FORMAT, "digest": digest, "check": check}) + "\n" + body


def read_entry(path: Path, digest: str) -> Profile:
    """The profile stored in entry ``path`` for ``digest`` (OSError, ValueError, TypeError,
    KeyError or RecursionError when there is none, or it is not one of ours)."""
    data = _read_regular(path)
    if data is None:
        raise FileNotFoundError(path)
    if len(data) > _MAX_ENTRY_BYTES:
        raise ValueError("too large to be a profile entry")
    header_text, _, body = data.decode("utf-8").partition("\n")
    header = json.loads(header_text)
    if not isinstance(header, dict) or header.get("format") != FORMAT or header.get("digest") != digest:
        raise ValueError("not an entry of this cache")
    if header.get("check") != hashlib.sha256(body.encode("utf-8")).hexdigest():
        raise ValueError("checksum mismatch")
    return codec.decode(json.loads(body))


# Everything a foreign, truncated or altered entry can raise while read and decoded.
_BAD_ENTRY = (OSError, UnicodeDecodeError, ValueError, TypeError, KeyError, RecursionError)


class ProfileCache:
    """Compiled profiles keyed by content; see the module docstring."""

    def __init__(self, directory: str | Path = DEFAULT_CACHE_DIR) -> None:
        self.root = Path(directory)
        self.dir = self.root / "profiles"
        # Why entries were ignored or not written (the CLI shows them under -v).
        self.notes: list[str] = []
        self.hits = 0
        self.misses = 0
        self._writable = True

    def _entry(self, digest: str) -> Path:
        return self.dir / f"{digest}.json"

    def get(self, digest: str, source: str) -> Profile | None:
        entry = self._entry(digest)
        try:
            profile = read_entry(entry, digest)
        except FileNotFoundError:
            self.misses += 1
            return None
        except _BAD_ENTRY as exc:
            self.notes.append(f"profile cache: ignored corrupt or foreign entry {entry} ({exc}); "
                              f"compiled {source} again")
            self.misses += 1
            return None
        self.hits += 1
        return profile

    def put(self, digest: str, profile: Profile) -> None:
        if not self._writable:
            return
        try:
            text = entry_text(digest, profile)
        except ValueError:
            return  # a value JSON cannot hold exactly (e.g. a date default): compiled every time
        try:
            ensure_cache_root(self.root)
            self.dir.mkdir(parents=True, exist_ok=True)
            write_atomically(self._entry(digest), text)
        except OSError as exc:
            self._writable = False
            self.notes.append(f"profile cache: cannot write under {self.root} ({exc.strerror}); running without it")


def ensure_cache_root(root: Path) -> None:
    """Create a cache directory that git never commits (the parse cache shares it)."""
    if not root.is_dir():
        root.mkdir(parents=True, exist_ok=True)
        # Never committed, wherever the cache lives.
        (root / ".gitignore").write_text("*\n")


def write_atomically(path: Path, text: str) -> None:
    """``path`` holds ``text`` or what it held before, never a part (a temporary file renamed)."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def cached(path: Path, cache: ProfileCache, build: Callable[[], Profile]) -> Profile:
    """The profile ``build`` compiles from ``path``, from ``cache`` when its sources are unchanged."""
    # The yaml library reads the documents: its version is part of what a result depends on.
    import yaml

    label = f"{path}\0pyyaml {yaml.__version__}"
    digest = sources_digest(path, label)
    if digest is not None:
        hit = cache.get(digest, str(path))
        if hit is not None:
            return hit
    profile = build()
    # Stored only if the sources did not change while they were compiled.
    if digest is not None and sources_digest(path, label) == digest:
        cache.put(digest, profile)
    return profile


# --------------------------------------------------------------------------- the bundled profile


def bundled_profile() -> Profile:
    """The bundled MVMNT profile: the precompiled file when it matches the installed documents,
    else compiled from them (a development checkout whose documents were just edited)."""
    digest = sources_digest(BUNDLED_PROFILE, _BUNDLED_LABEL)
    if digest is not None:
        try:
            profile = read_entry(BUNDLED_COMPILED, digest)
        except _BAD_ENTRY:
            pass
        else:
            # Stored without the directory it was built in (write_bundled checks nothing else
            # names it); the installed one is what a fresh compile would name.
            return replace(profile, source=str(BUNDLED_PROFILE))
    return compile_bundled()


def compile_bundled() -> Profile:
    """The bundled profile compiled from its documents (what the precompiled file must equal)."""
    from declsync.profile.openapi import load_openapi_dir

    return load_openapi_dir(BUNDLED_PROFILE)


def write_bundled(target: Path = BUNDLED_COMPILED) -> Path:
    """Compile the bundled documents and write ``target`` (run after editing them)."""
    profile = replace(compile_bundled(), source="")
    digest = sources_digest(BUNDLED_PROFILE, _BUNDLED_LABEL)
    assert digest is not None, f"cannot read {BUNDLED_PROFILE}"
    # Indented: the file is reviewed in diffs when the documents change.
    text = entry_text(digest, profile, indent=1)
    # The file is shipped: nothing in it may name the directory it was built in.
    assert str(BUNDLED_PROFILE) not in text, "the compiled profile names its build directory"
    write_atomically(target, text)
    target.chmod(0o644)
    return target


if __name__ == "__main__":  # python -m declsync.profile.compiled
    sys.stdout.write(f"wrote {write_bundled()}\n")
