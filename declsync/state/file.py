"""The file backend: the whole state in one JSON file (default ``.declsync/state.json``).

``resources`` is sorted by kind and key so that the file diffs well in version
control (format: ``declsync.state.model``).

Writers hold an exclusive lock on the whole file: ``<state>.lock``, created with O_EXCL
and also ``flock``-ed, so a lock left behind by a killed process can be recognised as
stale (on the same host). Saves are atomic: the first save of a new state file writes it
whole (temp file in the same directory, fsync, ``os.replace``); later saves append what
changed to the journal beside it (``journal.py``: one fsynced record per save, replayed on
read), and the session writes the file whole once at its end, under the lock. A state path that is a symlink is locked and saved at its target, so
that every path to one shared file takes the same lock and the link stays a link. Temp
files that a killed save left behind are removed by the next session that holds the
lock (nobody else can be writing them then). The store never holds credentials.
"""

from __future__ import annotations

import contextlib
import fcntl
import fnmatch
import json
import os
import socket
import time
import uuid
from collections.abc import Collection, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from declsync.errors import StateError, StateLockError
from declsync.normalize import utc_now
from declsync.state.atomic import Content, replace_file, sync_directory, temp_pattern
from declsync.state.journal import encode_record, journal_path, replay
from declsync.state.model import FIX, State, StateEntry

__all__ = ["DEFAULT_PATH", "LockedState", "StateStore"]

DEFAULT_PATH = Path(".declsync") / "state.json"
# How long a lock file without its holder's info is given to get it (it is written right after creation).
LOCK_INFO_WAIT = 1.0
# How often a waiting session (--lock-timeout) retries the lock.
LOCK_POLL = 0.05


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
    """The state read under the file lock, and ``save`` to record it durably."""

    def __init__(self, store: StateStore, state: State, journal_end: int) -> None:
        self.store = store
        self.state = state
        # The journal, opened at this session's first append; where its complete records end.
        self._journal_fd: int | None = None
        self._journal_end = journal_end
        # A failed append whose bytes could not be cut off again: save whole from now on.
        self._journal_broken = False

    def lock(self, addresses: Collection[tuple[str, str]]) -> set[tuple[str, str]]:
        # The whole file is locked for the session: nothing else can have changed.
        return set()

    def save(self) -> None:
        if self._journal_broken or not self.store.path.exists():
            self.store._write(self.state)
        else:
            self.store._append(self)

    def written_since(self, addresses: Collection[tuple[str, str]], serial: int) -> set[tuple[str, str]]:
        # A file has one serial: any save since may have changed any entry.
        return set(addresses) if self.state.serial != serial else set()

    def _append(self, record: bytes) -> None:
        """Write ``record`` after the journal's complete records and fsync it; on failure,
        cut the journal back so that the next record starts on a clean line."""
        if self._journal_fd is None:
            path = journal_path(self.store.path)
            self._journal_fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o644)
            # A torn last line of a killed session is cut off before anything follows it.
            os.ftruncate(self._journal_fd, self._journal_end)
            sync_directory(path.parent)
        fd, start = self._journal_fd, self._journal_end
        try:
            view = memoryview(record)
            while view:
                written = os.pwrite(fd, view, start + len(record) - len(view))
                view = view[written:]
            os.fsync(fd)
        except BaseException:
            try:
                os.ftruncate(fd, start)
            except OSError:
                self._journal_broken = True
            raise
        self._journal_end = start + len(record)

    def _close_journal(self) -> bool:
        """Close the journal; True when this session appended to it."""
        if self._journal_fd is None:
            return False
        with contextlib.suppress(OSError):
            os.close(self._journal_fd)
        self._journal_fd = None
        return True


class StateStore:
    """A JSON state file plus its lock file ``<path>.lock``."""

    per_resource_locks = False

    def __init__(self, path: str | Path) -> None:
        self.given = Path(path)
        self.description = str(path)
        # Lock and save the real file: a lock beside a symlink would not exclude a writer
        # using another path, and os.replace would turn the link into a private copy.
        self.path = Path(os.path.realpath(self.given)) if self.given.is_symlink() else self.given
        self.lock_path = self.path.with_name(self.path.name + ".lock")

    # ---------------------------------------------------------------- reading

    def read(self) -> State:
        """The current state (the file, then its journal), without locking; an empty state
        when the file does not exist."""
        return self._read()[0]

    def _read(self) -> tuple[State, int, bool]:
        """The state, the length of the journal's complete records, and whether a journal exists."""
        journal = journal_path(self.path)
        # The journal before the file: a compaction in between gives the newer file and
        # journal records it already holds (skipped), never a file missing saved records.
        try:
            records: bytes | None = journal.read_bytes()
        except FileNotFoundError:
            records = None
        except OSError as exc:
            raise StateError(f"cannot read state journal {journal}: {exc.strerror}") from None
        state = self._read_file()
        end = replay(state, records, journal, self.path) if records else 0
        return state, end, records is not None

    def _read_file(self) -> State:
        try:
            with self.path.open("rb") as fh:
                streamed = State.from_lines(iter(fh), str(self.path))
                if streamed is not None:
                    return streamed
                fh.seek(0)
                text = fh.read()
        except FileNotFoundError:
            return State()
        except OSError as exc:
            raise StateError(f"cannot read state file {self.path}: {exc.strerror}") from None
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise StateError(
                f"state file {self.path} is not valid JSON "
                f"(line {exc.lineno} column {exc.colno}: {exc.msg}); {FIX}"
            ) from None
        except ValueError as exc:  # undecodable bytes
            raise StateError(f"state file {self.path} is not valid JSON ({exc}); {FIX}") from None
        except RecursionError:
            raise StateError(f"state file {self.path} is nested too deeply to be a declsync state file; {FIX}") \
                from None
        return State.from_json(data, str(self.path))

    def read_entries(self, keys: Collection[tuple[str, str]]) -> dict[tuple[str, str], StateEntry]:
        state = self.read()
        return {k: e for k in keys if (e := state.get(*k)) is not None}

    def list(self, pattern: str | None = None) -> Iterator[StateEntry]:
        entries = sorted(self.read().entries(), key=lambda e: (e.kind, e.key))
        return (e for e in entries if pattern is None or fnmatch.fnmatchcase(f"{e.kind}/{e.key}", pattern))

    def lineage(self) -> str:
        return self.read().lineage

    def import_state(self, state: State, *, force: bool = False) -> None:
        with self.locked(operation="state migrate") as locked:
            if len(locked.state) and not force:
                raise StateError(f"state {self.description} already has {len(locked.state)} entries; "
                                 "pass --force to replace them")
            self._replace(state.write_to)

    # ---------------------------------------------------------------- writing

    def _write(self, state: State) -> None:
        """Atomically replace the file with ``state`` (serial + 1, lineage assigned if new)."""
        old_serial, old_lineage = state.serial, state.lineage
        state.serial += 1
        if not state.lineage:
            state.lineage = str(uuid.uuid4())
        try:
            # Serialise before touching the disk: a failure here leaves the old file as it was.
            # Streamed to a temp file: a failure (an unencodable spec, a full disk) leaves the old
            # file as it was.
            self._replace(state.write_to)
        except BaseException:
            state.serial, state.lineage = old_serial, old_lineage
            raise
        state.mark_saved()

    def _append(self, locked: LockedState) -> None:
        """Save what changed since the last save as one journal record (serial + 1)."""
        state = locked.state
        keys = state.dirty()
        old_serial, old_lineage = state.serial, state.lineage
        state.serial += 1
        if not state.lineage:
            state.lineage = str(uuid.uuid4())
        try:
            locked._append(encode_record(state, keys))
        except OSError as exc:
            state.serial, state.lineage = old_serial, old_lineage
            raise StateError(f"cannot write state file {self.path} (its journal "
                             f"{journal_path(self.path).name}): {exc.strerror}") from None
        except BaseException:
            state.serial, state.lineage = old_serial, old_lineage
            raise
        state.mark_saved(keys)

    def _replace(self, data: Content) -> None:
        """The whole file replaced by ``data``; the journal (all of it in ``data``) then goes."""
        try:
            replace_file(self.path, data)
        except OSError as exc:
            raise StateError(f"cannot write state file {self.path}: {exc.strerror}") from None
        journal = journal_path(self.path)
        with contextlib.suppress(FileNotFoundError):
            journal.unlink()
            sync_directory(journal.parent)

    def _compact(self, state: State) -> bool:
        """Write ``state`` (already saved) whole and drop the journal. A failure is not an
        error: the journal stays, is replayed by every read and compacted by the next session."""
        try:
            self._replace(state.write_to)
        except (OSError, StateError, ValueError, TypeError):
            return False
        return True

    # ---------------------------------------------------------------- locking

    @contextmanager
    def locked(self, *, operation: str = "apply", lock_timeout: float = 0.0) -> Iterator[LockedState]:
        """Hold the exclusive state lock (waiting up to ``lock_timeout`` seconds) and yield the
        state read under it."""
        fd, lock_id = self._acquire(operation, lock_timeout)
        try:
            self._remove_stale_temp_files()
            state, journal_end, journal = self._read()
            # A journal left by a killed session: folded into the file first, if it can be.
            if journal and journal_end and self._compact(state):
                journal_end = 0
            locked = LockedState(self, state, journal_end)
            try:
                yield locked
            finally:
                if locked._close_journal():
                    # Saved and unchanged since: the session's state is the saved one; otherwise
                    # (a failed save) what is on disk is.
                    self._compact(locked.state if not locked.state.dirty() else self.read())
        finally:
            self._release(fd, lock_id)

    def _remove_stale_temp_files(self) -> None:
        """Temp files of this state file left by a killed save: under the lock, none is in use."""
        pattern = temp_pattern(self.path)
        with contextlib.suppress(OSError):
            for leftover in self.path.parent.glob(pattern):
                with contextlib.suppress(OSError):
                    leftover.unlink()

    def _acquire(self, operation: str, lock_timeout: float = 0.0) -> tuple[int, str]:
        deadline = time.monotonic() + max(0.0, lock_timeout)
        while True:
            try:
                self.lock_path.parent.mkdir(parents=True, exist_ok=True)
                fd = os.open(self.lock_path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
                break
            except FileExistsError:
                if time.monotonic() >= deadline:
                    raise self._held_error(waited=lock_timeout) from None
                time.sleep(LOCK_POLL)
            except OSError as exc:
                raise StateError(f"cannot create the state lock {self.lock_path}: {exc.strerror}") from None
        return self._claim(fd, operation)

    def _claim(self, fd: int, operation: str) -> tuple[int, str]:
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

    def _held_error(self, waited: float = 0.0) -> StateLockError:
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
        if waited:
            holder += f"; waited {waited:g}s (--lock-timeout)"
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
