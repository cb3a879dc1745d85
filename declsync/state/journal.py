"""The file backend's journal: saves during a session append what changed, not the whole file.

Rewriting a 100,000-entry state file (128 MB) once per save made apply's periodic saves
cost more than its writes. Instead, while a session holds the lock, every save after the
state file exists appends one record to ``<state>.journal`` beside it and fsyncs it::

    {"serial": 8, "lineage": "<uuid>", "put": [<entry>, ...], "remove": [["Order", "K1"], ...]}\\n

The session compacts at its end (the whole state written once, atomically, then the
journal removed), still under the lock. A reader replays the journal over the file, so
what a save wrote is never lost, also when the process is killed before compacting:

* a record is only complete with its newline: a killed append leaves a torn last line,
  which is ignored (that save never returned) and cut off by the next session;
* a record whose serial the file already has is skipped (a compaction that was killed
  before removing the journal);
* a record that does not continue the file (another lineage, a serial gap) means the
  journal belongs to another state file: refused with a clear error, never guessed at.

Readers read the journal before the file, so a compaction between the two reads gives
the newer file and skipped records: always one saved generation.
"""

from __future__ import annotations

import json
from collections.abc import Collection
from pathlib import Path
from typing import Any

from declsync.errors import StateError
from declsync.state.model import State, entry_from_json

__all__ = ["encode_record", "journal_path", "replay"]


def journal_path(state_path: Path) -> Path:
    return state_path.with_name(state_path.name + ".journal")


def encode_record(state: State, keys: Collection[tuple[str, str]]) -> bytes:
    """One journal line: ``state``'s serial and lineage, and the entries ``keys`` now have
    (put) or no longer have (remove). Raises ``TypeError``/``ValueError`` for unencodable specs."""
    put: list[dict[str, Any]] = []
    remove: list[list[str]] = []
    for kind, key in sorted(keys):
        entry = state.get(kind, key)
        if entry is None:
            remove.append([kind, key])
        else:
            put.append(entry.to_json())
    record = {"serial": state.serial, "lineage": state.lineage, "put": put, "remove": remove}
    # Encoded like the state file's entries (State.to_bytes), so a replayed entry reads back the same.
    return json.dumps(record, ensure_ascii=False, separators=(",", ":")).encode() + b"\n"


def _refuse(path: Path, state_path: Path, why: str) -> StateError:
    return StateError(
        f"state journal {path} {why}; it does not continue the state file {state_path}. If the state "
        f"file was restored or replaced, move {path.name} aside (it holds saves made after that file)"
    )


def replay(state: State, data: bytes, path: Path, state_path: Path) -> int:
    """Apply the journal ``data`` to ``state`` (read from ``state_path``); returns the length
    of its complete records (a torn last line is left out)."""
    end = data.rfind(b"\n") + 1
    offset = 0
    for number, line in enumerate(data[:end].split(b"\n")[:-1], start=1):
        offset += len(line) + 1
        try:
            record = json.loads(line)
        except (ValueError, RecursionError):
            raise _refuse(path, state_path, f"line {number} is not a journal record") from None
        if not isinstance(record, dict) or type(record.get("serial")) is not int \
                or not isinstance(record.get("lineage"), str) or not isinstance(record.get("put"), list) \
                or not isinstance(record.get("remove"), list):
            raise _refuse(path, state_path, f"line {number} is not a journal record")
        serial, lineage = record["serial"], record["lineage"]
        if serial <= state.serial and lineage == state.lineage:
            continue  # already in the file: a compaction was stopped before removing the journal
        if serial != state.serial + 1 or (state.lineage and lineage != state.lineage):
            raise _refuse(path, state_path, f"line {number} has serial {serial} of lineage {lineage or '?'} "
                                            f"(the file: serial {state.serial}, lineage {state.lineage or '?'})")
        where = f"state journal {path} line {number}"
        for raw in record["put"]:
            state.put(entry_from_json(raw, where))
        for pair in record["remove"]:
            if not (isinstance(pair, list) and len(pair) == 2 and all(isinstance(p, str) for p in pair)):
                raise _refuse(path, state_path, f"line {number} has a malformed removal")
            state.remove(pair[0], pair[1])
        state.serial, state.lineage = serial, lineage
    state.mark_saved()
    return offset
