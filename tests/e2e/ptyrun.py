"""The CLI in a subprocess on a pseudo-terminal, as a user at a terminal runs it."""

from __future__ import annotations

import os
import pty
import select
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass

CODE = "import sys\nfrom declsync.cli.main import main\nsys.argv = ['declsync', *sys.argv[1:]]\nmain()"


@dataclass
class PtyResult:
    code: int
    out: str


def run_pty(args: Sequence[str], answers: Sequence[tuple[str, bytes]] = (), env: dict[str, str] | None = None,
            limit: float = 120.0) -> PtyResult:
    """Run ``declsync ARGS`` with stdin, stdout and stderr on one pseudo-terminal; when the
    output so far contains an answer's text, type its bytes. ``limit`` only guards against a hang."""
    master, slave = pty.openpty()
    proc = subprocess.Popen([sys.executable, "-c", CODE, *args], stdin=slave, stdout=slave, stderr=slave,
                            env={**os.environ, "COLUMNS": "200", **(env or {})}, close_fds=True)
    os.close(slave)
    pending = list(answers)
    seen = b""
    deadline = time.monotonic() + limit
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([master], [], [], 0.2)
            if ready:
                try:
                    chunk = os.read(master, 65536)
                except OSError:  # EIO: the child closed the terminal
                    break
                if not chunk:
                    break
                seen += chunk
            while pending and pending[0][0].encode() in seen:
                os.write(master, pending.pop(0)[1])
            if not ready and proc.poll() is not None:
                break
        else:
            proc.kill()
            raise AssertionError(f"declsync {' '.join(args)} hung; output so far:\n{seen.decode(errors='replace')}")
    finally:
        os.close(master)
    return PtyResult(proc.wait(timeout=30), seen.decode(errors="replace").replace("\r\n", "\n"))
