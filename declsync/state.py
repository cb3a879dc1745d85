"""The state store: per (kind, key), the resource id and the last-applied spec.

The planner needs the last-applied spec to tell "a field I removed from the
manifest" (clear it) from "a field I never declared" (not mine, leave it). The
default backend is one JSON file::

    {"format_version": 1, "serial": 7, "lineage": "<uuid>",
     "resources": [{"kind", "key", "id", "spec", "updated_at", "applied_at", "source"}, ...]}

An entry may also carry ``"prevent_destroy": true`` (the manifest's
``lifecycle.preventDestroy`` when last applied); absent means false.

``resources`` is sorted by kind and key so that the file diffs well in version
control. ``serial`` grows by one per save; ``lineage`` identifies one state's
history (a saved plan made against another state file is refused). A state that
was never saved has serial 0 and an empty lineage; the first save assigns it.

Writers hold an exclusive lock: ``<state>.lock``, created with O_EXCL and also
``flock``-ed, so a lock left behind by a killed process can be recognised as stale
(on the same host). Saves are atomic: temp file in the same directory, fsync,
``os.replace``. The store never holds credentials; callers store specs as declared.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import socket
import tempfile
import time
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from declsync.errors import StateError, StateLockError
from declsync.normalize import utc_now

__all__ = ["FORMAT_VERSION", "LockedState", "State", "StateEntry", "StateStore"]

FORMAT_VERSION = 1
DEFAULT_PATH = Path(".declsync") / "state.json"
# How long a lock file without its holder's info is given to get it (it is written right after creation).
LOCK_INFO_WAIT = 1.0
_FIX = "restore it from a backup or version control, or move it aside to start empty " \
       "(the next plan re-adopts existing resources by key)"


@dataclass(frozen=True)
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


def _entry_from_json(raw: Any, where: str) -> StateEntry:
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
    # Each entry's JSON, kept until the entry is replaced: periodic saves of a large
    # state then only encode what changed since the last save.
    _encoded: dict[tuple[str, str], tuple[StateEntry, bytes]] = field(default_factory=dict, repr=False)

    def get(self, kind: str, key: str) -> StateEntry | None:
        return self._entries.get((kind, key))

    def put(self, entry: StateEntry) -> None:
        self._entries[(entry.kind, entry.key)] = entry

    def remove(self, kind: str, key: str) -> None:
        self._entries.pop((kind, key), None)
        self._encoded.pop((kind, key), None)

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

    def to_bytes(self) -> bytes:
        """``to_json()`` as compact JSON, one resource per line (stable, diff-friendly, fast)."""
        head = json.dumps({"format_version": FORMAT_VERSION, "serial": self.serial, "lineage": self.lineage})
        parts: list[bytes] = []
        for k in sorted(self._entries):
            entry = self._entries[k]
            cached = self._encoded.get(k)
            if cached is None or cached[0] is not entry:
                text = json.dumps(entry.to_json(), ensure_ascii=False, separators=(",", ":"))
                cached = (entry, text.encode())
                self._encoded[k] = cached
            parts.append(cached[1])
        body = b",\n".join(parts)
        return head[:-1].encode() + b', "resources": [\n' + body + (b"\n" if parts else b"") + b"]}\n"

    @classmethod
    def from_json(cls, data: Any, source: str) -> State:
        if not isinstance(data, Mapping):
            raise StateError(f"state file {source} is not a JSON object; {_FIX}")
        version = data.get("format_version")
        if not isinstance(version, int):
            raise StateError(
                f"state file {source} has no format_version; is it a declsync state file? {_FIX}"
            )
        if version > FORMAT_VERSION:
            raise StateError(
                f"state file {source} has format_version {version}, newer than this declsync understands "
                f"({FORMAT_VERSION}); upgrade declsync"
            )
        serial, lineage, resources = data.get("serial"), data.get("lineage"), data.get("resources")
        if not isinstance(serial, int) or serial < 0:
            raise StateError(f"state file {source}: 'serial' must be a non-negative integer; {_FIX}")
        if not isinstance(lineage, str):
            raise StateError(f"state file {source}: 'lineage' must be a string; {_FIX}")
        if not isinstance(resources, list):
            raise StateError(f"state file {source}: 'resources' must be a list; {_FIX}")
        state = cls(serial=serial, lineage=lineage)
        for raw in resources:
            entry = _entry_from_json(raw, f"state file {source}")
            if state.get(entry.kind, entry.key) is not None:
                raise StateError(f"state file {source}: {entry.kind}/{entry.key} appears twice; {_FIX}")
            state.put(entry)
        return state


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # exists, owned by someone else
    except OSError:
        return True
    return True


def _flock_free(path: Path) -> bool:
    """True when nobody holds the flock on ``path`` (probed without keeping it)."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        return False
    else:
        fcntl.flock(fd, fcntl.LOCK_UN)
        return True
    finally:
        os.close(fd)


class LockedState:
    """The state read under the lock, and ``save`` to write it back atomically."""

    def __init__(self, store: StateStore, state: State) -> None:
        self.store = store
        self.state = state

    def save(self) -> None:
        self.store._write(self.state)


class StateStore:
    """A JSON state file plus its lock file ``<path>.lock``."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.lock_path = self.path.with_name(self.path.name + ".lock")

    # ---------------------------------------------------------------- reading

    def read(self) -> State:
        """The current state, without locking; an empty state when the file does not exist."""
        try:
            text = self.path.read_bytes()
        except FileNotFoundError:
            return State()
        except OSError as exc:
            raise StateError(f"cannot read state file {self.path}: {exc.strerror}") from None
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise StateError(
                f"state file {self.path} is not valid JSON "
                f"(line {exc.lineno} column {exc.colno}: {exc.msg}); {_FIX}"
            ) from None
        except ValueError as exc:  # undecodable bytes
            raise StateError(f"state file {self.path} is not valid JSON ({exc}); {_FIX}") from None
        return State.from_json(data, str(self.path))

    # ---------------------------------------------------------------- writing

    def _write(self, state: State) -> None:
        """Atomically replace the file with ``state`` (serial + 1, lineage assigned if new)."""
        old_serial, old_lineage = state.serial, state.lineage
        state.serial += 1
        if not state.lineage:
            state.lineage = str(uuid.uuid4())
        try:
            # Serialise before touching the disk: a failure here leaves the old file as it was.
            self._replace(state.to_bytes())
        except BaseException:
            state.serial, state.lineage = old_serial, old_lineage
            raise

    def _replace(self, data: bytes) -> None:
        directory = self.path.parent
        try:
            directory.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(prefix=f".{self.path.name}.", suffix=".tmp", dir=directory)
        except OSError as exc:
            raise StateError(f"cannot write state file {self.path}: {exc.strerror}") from None
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, self.path)
        except BaseException as exc:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            if isinstance(exc, OSError):
                raise StateError(f"cannot write state file {self.path}: {exc.strerror}") from None
            raise
        # Make the rename itself durable.
        try:
            dir_fd = os.open(directory, os.O_RDONLY)
        except OSError:
            return
        try:
            os.fsync(dir_fd)
        except OSError:
            pass
        finally:
            os.close(dir_fd)

    # ---------------------------------------------------------------- locking

    @contextmanager
    def locked(self, *, operation: str = "apply") -> Iterator[LockedState]:
        """Hold the exclusive state lock (failing fast if taken) and yield the state read under it."""
        fd, lock_id = self._acquire(operation)
        try:
            yield LockedState(self, self.read())
        finally:
            self._release(fd, lock_id)

    def _acquire(self, operation: str) -> tuple[int, str]:
        try:
            self.lock_path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.lock_path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            raise self._held_error() from None
        except OSError as exc:
            raise StateError(f"cannot create the state lock {self.lock_path}: {exc.strerror}") from None
        lock_id = str(uuid.uuid4())
        try:
            # flock before writing the info, so a readable lock file always has a live flock
            # unless its holder died.
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            info = {
                "id": lock_id,
                "pid": os.getpid(),
                "host": socket.gethostname(),
                "operation": operation,
                "created_at": utc_now(),
            }
            os.write(fd, json.dumps(info).encode())
            os.fsync(fd)
        except BaseException:
            os.close(fd)
            with contextlib.suppress(OSError):
                os.unlink(self.lock_path)
            raise
        return fd, lock_id

    def _release(self, fd: int, lock_id: str) -> None:
        try:
            # Only remove the lock if it is still ours (it may have been force-unlocked and retaken).
            if self._lock_info().get("id") == lock_id:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(self.lock_path)
        finally:
            os.close(fd)

    def _lock_info(self) -> dict[str, Any]:
        try:
            data = json.loads(self.lock_path.read_bytes())
        except (OSError, ValueError):
            return {}
        return data if isinstance(data, dict) else {}

    def _held_error(self) -> StateLockError:
        info = self._lock_info()
        # Two applies started together: the holder may not have written its info yet
        # (create, flock, then write). Give it a moment before calling the lock damaged.
        deadline = time.monotonic() + LOCK_INFO_WAIT
        while not info.get("id") and time.monotonic() < deadline and self.lock_path.exists():
            time.sleep(0.01)
            info = self._lock_info()
        if not info.get("id"):
            return StateLockError(
                f"state {self.path} is locked ({self.lock_path} exists but is being written or is damaged); "
                f"another declsync may be running. If none is, delete {self.lock_path}"
            )
        pid, host = info.get("pid"), info.get("host")
        holder = (f"state is locked by {info.get('operation', '?')} (pid {pid} on host {host} "
                  f"since {info.get('created_at', '?')})")
        state_opt = "" if self.path == DEFAULT_PATH else f" --state {self.path}"
        unlock = f"`declsync force-unlock{state_opt} {info['id']}`"
        if host == socket.gethostname() and isinstance(pid, int) and (
            not _pid_alive(pid) or _flock_free(self.lock_path)
        ):
            return StateLockError(f"{holder} (the holder process no longer exists: the lock is stale); "
                                  f"run {unlock} to remove it")
        return StateLockError(f"{holder}; another declsync is running. If that process is gone, run {unlock}")

    def force_unlock(self, lock_id: str) -> None:
        """Remove the lock whose id is ``lock_id`` (from the lock error message)."""
        if not self.lock_path.exists():
            raise StateError(f"state {self.path} is not locked; nothing to unlock")
        current = self._lock_info().get("id")
        if current != lock_id:
            raise StateError(
                f"lock id {lock_id} does not match the lock on {self.path} ({current or 'unreadable'}); "
                "nothing was unlocked"
            )
        try:
            os.unlink(self.lock_path)
        except FileNotFoundError:
            pass
        except OSError as exc:
            raise StateError(f"cannot remove the state lock {self.lock_path}: {exc.strerror}") from None
