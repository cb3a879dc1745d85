"""Recovery files: what an apply recorded when the state file could not be written.

When every attempt to save the state fails (disk full, read-only directory, quota),
apply writes what it recorded since its last successful save — the entries it put
and the ones it removed — to a recovery file, first next to the state
(``<state>.recovery-<time>-<pid>.json``), else in the working directory, else in the
temporary directory, and says where. Nothing it knows is lost:

* the next ``apply`` or ``import`` merges every recovery file next to the state first,
  under the lock, saves, and deletes them (``pending_files``, ``pick_up``);
* ``declsync merge-recovery FILE`` merges one from anywhere (``merge_file``).

Merging is per entry and never moves the state backwards: an entry is put unless
the state holds a more recent one for that kind and key (``applied_at``), and an
entry is removed only while the state still holds the same resource id, applied no
later than the removal. So a recovery file merged late, after other applies, is safe.

Format (``format_version`` 1)::

    {"format": "declsync-state-recovery", "format_version": 1, "state": "<state path>",
     "created_at": "...", "error": "<why the save failed>",
     "put": [<state entries, as in the state file>],
     "removed": [{"kind": ..., "key": ..., "id": ..., "removed_at": ...}]}
"""

from __future__ import annotations

import json
import os
import re
import tempfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from declsync.errors import StateError
from declsync.normalize import utc_now
from declsync.state import State, StateEntry
from declsync.state.atomic import create_file
from declsync.state.backend import StateSession

__all__ = ["FORMAT", "Delta", "Removal", "merge", "merge_file", "pending_files", "pick_up", "read_file",
           "write_recovery"]

FORMAT = "declsync-state-recovery"
FORMAT_VERSION = 1


@dataclass(frozen=True)
class Removal:
    kind: str
    key: str
    id: str
    removed_at: str


@dataclass
class Delta:
    """State entries put and removed since the last successful save."""

    put: list[StateEntry] = field(default_factory=list)
    removed: list[Removal] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.put) + len(self.removed)


def _pattern(state_path: Path) -> str:
    return f"{state_path.name}.recovery-*.json"


def pending_files(state_path: Path) -> list[Path]:
    """Recovery files next to the state, oldest first (their names sort by time)."""
    return sorted(state_path.parent.glob(_pattern(state_path)))


def _encode(delta: Delta, state_path: Path, error: str) -> bytes:
    data = {
        "format": FORMAT, "format_version": FORMAT_VERSION, "state": str(state_path), "created_at": utc_now(),
        "error": error, "put": [e.to_json() for e in delta.put],
        "removed": [{"kind": r.kind, "key": r.key, "id": r.id, "removed_at": r.removed_at} for r in delta.removed],
    }
    # Compact, like the state itself: the file must fit where the state no longer did.
    return (json.dumps(data, ensure_ascii=False, separators=(",", ":")) + "\n").encode()


def write_recovery(state_path: Path, delta: Delta, error: str) -> Path | None:
    """Write ``delta`` next to the state, else in the working directory, else in the
    temporary directory; the path written, or None when every place refused."""
    stamp = utc_now().replace(":", "").replace("-", "")
    data = _encode(delta, state_path, error)
    places = [state_path.parent / f"{state_path.name}.recovery-{stamp}-{os.getpid()}.json",
              Path.cwd() / f"declsync-recovery-{stamp}-{os.getpid()}.json",
              Path(tempfile.gettempdir()) / f"declsync-recovery-{stamp}-{os.getpid()}.json"]
    for path in places:
        try:
            create_file(path, data)
        except OSError:
            continue
        return path
    return None


def read_file(path: Path) -> Delta:
    """A recovery file's delta; ``StateError`` when it is not one."""
    if not path.exists():
        raise StateError(f"recovery file {path} does not exist")
    try:
        return _read(path, f"recovery file {path}")
    except StateError as exc:
        raise StateError(f"{exc}. Move it away from {path.parent} to go on without it (the next apply "
                         "re-adopts resources it wrote by key)") from None


def _read(path: Path, where: str) -> Delta:
    try:
        data = json.loads(path.read_bytes())
    except FileNotFoundError:
        raise StateError(f"{where} does not exist") from None
    except (OSError, ValueError) as exc:
        raise StateError(f"cannot read {where}: {exc}") from None
    if not isinstance(data, Mapping) or data.get("format") != FORMAT or data.get("format_version") != FORMAT_VERSION:
        raise StateError(f"{where} is not a declsync recovery file (format {FORMAT!r}, version {FORMAT_VERSION})")
    put, removed = data.get("put"), data.get("removed")
    if not isinstance(put, list) or not isinstance(removed, list):
        raise StateError(f"{where}: 'put' and 'removed' must be lists")
    # The entries have the state file's shape: let the state check them.
    entries = State.from_json({"format_version": 1, "serial": 0, "lineage": "", "resources": put}, where)
    out = Delta(put=list(entries.entries()))
    for raw in removed:
        fields = [raw.get(n) for n in ("kind", "key", "id", "removed_at")] if isinstance(raw, Mapping) else []
        if not fields or not all(isinstance(v, str) for v in fields):
            raise StateError(f"{where}: a 'removed' item needs string kind, key, id and removed_at")
        out.removed.append(Removal(*map(str, fields)))
    return out


def merge(state: State, delta: Delta) -> int:
    """Merge ``delta`` into ``state`` without moving it backwards; the number of entries changed."""
    changed = 0
    for entry in delta.put:
        current = state.get(entry.kind, entry.key)
        newer = current is None or (current.applied_at or "") <= (entry.applied_at or "")
        if newer and current != entry:
            state.put(entry)
            changed += 1
    for gone in delta.removed:
        current = state.get(gone.kind, gone.key)
        if current is not None and current.id == gone.id and (current.applied_at or "") <= gone.removed_at:
            state.remove(gone.kind, gone.key)
            changed += 1
    return changed


def merge_file(locked: StateSession, path: Path) -> int:
    """Merge one recovery file into the locked state, save, then delete the file."""
    changed = merge(locked.state, read_file(path))
    if changed:
        locked.save()
    path.unlink()
    return changed


def base_for(store: Any) -> Path:
    """The path recovery files of ``store`` are named after: the state file itself, or, for a
    database backend, a name in the working directory's ``.declsync/`` derived from its
    description (which carries no credentials)."""
    path = getattr(store, "path", None)
    if isinstance(path, Path):
        return path
    slug = re.sub(r"[^A-Za-z0-9._-]+", "_", str(getattr(store, "description", "state")))[:80]
    return Path(".declsync") / f"state-{slug}"


def pick_up(locked: StateSession, base: Path, say: Callable[[str], None]) -> Sequence[Path]:
    """Merge every recovery file of the state at ``base`` (``base_for``) into the locked state
    (``apply`` and ``import`` call this first): a failed save of an earlier apply is completed
    before anything else is recorded."""
    files = pending_files(base)
    for path in files:
        changed = merge_file(locked, path)
        say(f"Merged the recovery file {path} into the state ({changed} entr{'y' if changed == 1 else 'ies'} "
            "updated); it is removed.")
    return files


def describe(path: Path | None, state_path: Path, delta: Delta, error: str) -> str:
    """What the user reads when the state could not be saved."""
    head = f"Error: the state could not be saved ({error}); {len(delta)} recorded change(s) are not in {state_path}."
    if path is None:
        keys = ", ".join(f"{e.kind}/{e.key}" for e in delta.put[:20]) + (", …" if len(delta.put) > 20 else "")
        return (f"{head}\nNo recovery file could be written either. The next apply adopts what was written by key "
                f"(created or updated: {keys or 'none'}); free some space first.")
    beside = path.parent == state_path.parent
    how = ("The next `declsync apply` (or `import`) merges it automatically; or run "
           if beside else "Merge it once the state can be written again: ")
    state_opt = "" if str(state_path) == str(Path(".declsync") / "state.json") else f" --state {state_path}"
    return (f"{head}\nThey were written to the recovery file {path}.\n"
            f"{how}`declsync merge-recovery{state_opt} {path}`.")


def relative(path: Path) -> Path:
    """``path`` relative to the working directory when inside it (shorter messages)."""
    try:
        return path.resolve().relative_to(Path.cwd().resolve())
    except ValueError:
        return path

