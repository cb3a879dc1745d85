"""Issue 15 §3, what was left (H5): apply's live progress on a terminal (drawn before the first
write finishes, an ETA from the first completion on, the final count and summary), and its
log off a terminal (one line per resource with the duration of its own writes)."""

from __future__ import annotations

import re
import time
from pathlib import Path

from .conftest import run
from .ptyrun import run_pty

ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
LOG_LINE = re.compile(r"^([+~-]) (\S+/\S+) (created|updated|deleted) \((\d+\.\d) s\)$")


def carriers(n: int) -> None:
    """``n`` independent Carrier manifests (no references: one level, as wide as --parallelism)."""
    for old in Path("manifests").glob("*.yaml"):
        old.unlink()
    Path("manifests/carriers.yaml").write_text("".join(
        f"---\nkind: Carrier\nkey: C-{i:02d}\nspec:\n  name: Carrier {i}\n  type: TRUCKLOAD\n" for i in range(n)))


def frames(output: str) -> list[str]:
    """The progress display's successive frames, colour codes removed."""
    return [f.strip() for f in re.split(r"\r|\n|\x1b\[2K", ANSI.sub(lambda m: "\r" if m.group() == "\x1b[2K" else "",
                                                                  output)) if "Applying" in f]


def test_apply_on_a_terminal_draws_progress_before_the_first_write_finishes(sandbox, workdir: Path) -> None:
    carriers(20)
    sandbox.set_latency(0.3)  # every write takes at least this: the first batch is visibly in flight
    try:
        result = run_pty(["apply", "--auto-approve", "--parallelism", "4", "--api-url", sandbox.base_url],
                         env={"TERM": "xterm"})
    finally:
        sandbox.set_latency(0)
    assert result.code == 0, result.out
    shown = frames(result.out)
    counts = [int(m.group(1)) for f in shown for m in [re.search(r"(\d+)/20", f)] if m]
    # Drawn while nothing had finished: the count 0 and what is going on, not a blank screen.
    assert counts[0] == 0 and "first writes in flight" in shown[0], shown[:3]
    # From the first completion on, an ETA (in seconds or minutes), while resources remain.
    midway = [f for f in shown if re.search(r"\b([1-9]|1\d)/20\b", f)]
    assert midway and all(re.search(r"ETA \d+(s|m\d\ds)", f) for f in midway), midway
    assert counts == sorted(counts)  # it only moves forward
    assert re.search(r"20/20 .*done", shown[-1]), shown[-1]
    plain = ANSI.sub("", result.out)
    assert plain.rstrip().splitlines()[-1] == "Apply complete: 20 created, 0 updated."
    # On a terminal the display replaces the per-resource log.
    assert not [line for line in plain.splitlines() if LOG_LINE.match(line.strip())]


def test_a_dumb_terminal_gets_the_one_line_display(sandbox, workdir: Path) -> None:
    carriers(3)
    result = run_pty(["apply", "--auto-approve", "--api-url", sandbox.base_url], env={"TERM": "dumb"})
    assert result.code == 0, result.out
    assert "\x1b[" not in result.out.split("Plan: 3 to create")[1]  # no cursor control it cannot do
    assert "Applying: 0/3" in result.out  # before anything finished
    assert "Applying: 3/3" in result.out and "Apply complete: 3 created, 0 updated." in result.out


def test_off_a_terminal_each_resource_is_logged_with_the_duration_of_its_own_write(sandbox, workdir: Path) -> None:
    carriers(8)
    latency = 0.2
    sandbox.set_latency(latency)
    try:
        began = time.monotonic()
        result = run(["apply", "--auto-approve", "--parallelism", "1", "--api-url", sandbox.base_url])
        wall = time.monotonic() - began
    finally:
        sandbox.set_latency(0)
    assert result.code == 0, result.all
    logged = [m for line in result.out.splitlines() for m in [LOG_LINE.match(line)] if m]
    assert sorted(m.group(2) for m in logged) == [f"Carrier/C-{i:02d}" for i in range(8)]
    took = [float(m.group(4)) for m in logged]
    # Each covers its write (the server waited `latency` before answering) ...
    assert all(t >= latency for t in took), took
    # ... and only its write: one at a time, so they cannot add up to more than the whole run
    # (times since the start would: 0.2 + 0.4 + … ≫ the run). 0.05 s: the rounding of each.
    assert sum(took) <= wall + 0.05 * len(took), (took, wall)
    assert result.out.splitlines()[-1] == "Apply complete: 8 created, 0 updated."
    assert "Applying" not in result.all  # no progress display off a terminal
