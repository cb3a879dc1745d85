"""Team-state scale: a 100-change apply on a 100,000-entry state, PostgreSQL vs file.

    python bench/state_scale.py [--entries 100000] [--changes 100]

Starts a throwaway PostgreSQL cluster (``tests/pgcluster.py``; or uses
``DECLSYNC_TEST_POSTGRES``) and a sandbox, fills a state with ENTRIES entries of
resources the manifests do not declare, then runs ``declsync apply`` of CHANGES new
Customers (a real subprocess, real HTTP). Reports the rows PostgreSQL wrote
(``pg_stat_user_tables`` inserts + updates + deletes of ``declsync_entries``) and the
bytes the file backend rewrote for the same apply, and the apply's wall time.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests"))

import psycopg  # noqa: E402
from pgcluster import cluster  # noqa: E402

from declsync.sandbox import SandboxServer  # noqa: E402
from declsync.state import State, StateEntry, open_backend  # noqa: E402


def _filler(entries: int) -> State:
    state = State(serial=1, lineage=str(uuid.uuid4()))
    for i in range(entries):
        state.put(StateEntry(kind="Customer", key=f"OLD-{i:06d}", id=str(uuid.UUID(int=i + 1)),
                             spec={"name": f"Old {i}", "status": "ACTIVE", "notes": "x" * 120},
                             applied_at="2025-01-01T00:00:00Z", source=f"old/{i}.yaml:1"))
    return state


def _writes(dsn: str) -> int:
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("SELECT pg_stat_clear_snapshot()")
        row = conn.execute("SELECT coalesce(n_tup_ins + n_tup_upd + n_tup_del, 0) FROM pg_stat_user_tables "
                           "WHERE relname = 'declsync_entries'").fetchone()
        return int(row[0]) if row else 0


def _apply(server: SandboxServer, cwd: Path, state: str, changes: int) -> tuple[float, str]:
    manifests = cwd / "manifests"
    manifests.mkdir(exist_ok=True)
    docs = [f"kind: Customer\nkey: NEW-{i:05d}\nspec:\n  name: New {i}\n  status: ACTIVE\n" for i in range(changes)]
    (manifests / "c.yaml").write_text("---\n".join(docs))
    env = {k: v for k, v in os.environ.items() if not k.startswith("DECLSYNC_")}
    env["DECLSYNC_STATE"] = state
    started = time.monotonic()
    proc = subprocess.run([sys.executable, "-m", "declsync", "apply", "--auto-approve", "--api-url",
                           server.base_url, str(manifests)], cwd=cwd, env=env, capture_output=True, text=True)
    if proc.returncode != 0:
        raise SystemExit(proc.stderr[-2000:])
    return time.monotonic() - started, proc.stdout.strip().splitlines()[-1]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--entries", type=int, default=100_000)
    parser.add_argument("--changes", type=int, default=100)
    args = parser.parse_args()
    out: dict[str, Any] = {"entries": args.entries, "changes": args.changes}
    filler = _filler(args.entries)
    with cluster() as pg, SandboxServer() as server, tempfile.TemporaryDirectory() as tmp:
        url = pg.dsn(workspace="bench")
        started = time.monotonic()
        open_backend(url).import_state(filler)
        out["pg_fill_s"] = round(time.monotonic() - started, 2)
        started = time.monotonic()
        out["pg_read_all_s"] = (len(open_backend(url).read()), round(time.monotonic() - started, 2))[1]
        time.sleep(1)  # statistics are flushed about once a second
        before = _writes(pg.dsn())
        out["pg_apply_s"], out["summary"] = _apply(server, Path(tmp), url, args.changes)
        time.sleep(1.5)
        out["pg_rows_written"] = _writes(pg.dsn()) - before
        server.reset()
        path = Path(tmp) / "file" / "state.json"
        open_backend(str(path)).import_state(filler)
        size = path.stat().st_size
        out["file_apply_s"], _ = _apply(server, Path(tmp), str(path), args.changes)
        out["file_bytes_rewritten_per_save"] = path.stat().st_size
        out["file_size_before"] = size
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
