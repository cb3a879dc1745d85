"""How right is apply's ETA? Runs ``declsync apply`` on a pseudo-terminal against the sandbox
with a fixed latency, timestamps every frame of the live display as it arrives, and compares
the ETA shown with the time that was in fact left (known once the display says ``done``).

    python bench/eta.py --resources 100 --latency 1.0 --parallelism 16

Prints one row per frame with an ETA (also what ``done / elapsed`` would have said), then the
error's median and maximum after the first second and after 3 s. README.md, "Terminal output",
quotes a run. The ETA is shown in whole seconds: up to 0.5 s of every error is that rounding.
"""

from __future__ import annotations

import argparse
import os
import pty
import re
import select
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from declsync.sandbox import SandboxConfig, SandboxServer

ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
FRAME = re.compile(r"Applying .* (\d+)/(\d+) \S+ (ETA (\d+)s|ETA: first|done)")
CODE = "import sys\nfrom declsync.cli.main import main\nsys.argv = ['declsync', *sys.argv[1:]]\nmain()"


def capture(base_url: str, parallelism: int, cwd: Path) -> list[tuple[float, str]]:
    master, slave = pty.openpty()
    proc = subprocess.Popen([sys.executable, "-c", CODE, "apply", "--auto-approve", "--parallelism", str(parallelism),
                             "--api-url", base_url], stdin=slave, stdout=slave, stderr=slave, cwd=cwd,
                            env={**os.environ, "COLUMNS": "200", "TERM": "xterm"})
    os.close(slave)
    chunks: list[tuple[float, str]] = []
    while True:
        ready, _, _ = select.select([master], [], [], 0.2)
        if ready:
            try:
                data = os.read(master, 65536)
            except OSError:
                break
            if not data:
                break
            chunks.append((time.monotonic(), data.decode(errors="replace")))
        elif proc.poll() is not None:
            break
    os.close(master)
    proc.wait()
    return chunks


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--resources", type=int, default=100)
    ap.add_argument("--latency", type=float, default=1.0, help="seconds the sandbox waits before each answer")
    ap.add_argument("--parallelism", type=int, default=16)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp, SandboxServer(SandboxConfig(db_path=":memory:",
                                                                           latency=args.latency)) as server:
        (Path(tmp) / "manifests").mkdir()
        (Path(tmp) / "manifests" / "carriers.yaml").write_text("".join(
            f"---\nkind: Carrier\nkey: C-{i:05d}\nspec:\n  name: Carrier {i}\n  type: TRUCKLOAD\n"
            for i in range(args.resources)))
        chunks = capture(server.base_url, args.parallelism, Path(tmp))
    start = end = None
    shown: list[tuple[float, int, int]] = []  # (when, ETA shown, done)
    for at, text in chunks:
        for frame in re.split(r"\r|\n", ANSI.sub("", text.replace("\x1b[2K", "\r"))):
            match = FRAME.search(frame)
            if not match:
                continue
            start = at if start is None else start
            if match.group(3) == "done":
                end = at if end is None else end
            elif match.group(4) is not None:
                shown.append((at, int(match.group(4)), int(match.group(1))))
    if start is None or end is None or not shown:
        raise SystemExit("no progress frames seen")
    n = args.resources
    print(f"{n} resources, latency {args.latency} s, parallelism {args.parallelism}: {end - start:.1f} s on screen")
    for at, eta, done in shown:
        naive = (n - done) / (done / (at - start))
        print(f"  t={at - start:6.2f}  done={done:5d}  ETA shown {eta:4d}s  left {end - at:7.2f}s  "
              f"done/elapsed would say {naive:8.2f}s")
    for after in (1.0, 3.0):
        errors = [abs(eta - (end - at)) for at, eta, _ in shown if at - start >= after]
        if errors:
            print(f"after {after:.0f} s: |error| median {statistics.median(errors):.2f} s, max {max(errors):.2f} s")


if __name__ == "__main__":
    main()
