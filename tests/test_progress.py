"""Progress on stderr: silent off a terminal and for short runs; rate and ETA otherwise."""

from __future__ import annotations

import io

from declsync.render.progress import LineProgress, NullProgress, make_progress


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


class Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_not_a_terminal_means_no_output() -> None:
    stream = io.StringIO()
    progress = make_progress(stream)
    assert isinstance(progress, NullProgress)
    with progress.task("Fetching", 10) as tick:
        tick(10)
    assert stream.getvalue() == ""
    assert isinstance(make_progress(Tty()), LineProgress)


def test_short_runs_print_nothing() -> None:
    stream, clock = Tty(), Clock()
    with LineProgress(stream, clock=clock).task("Fetching", 100) as tick:
        clock.now += 0.5
        tick(100)
    assert stream.getvalue() == ""


def test_long_runs_show_count_rate_and_eta() -> None:
    stream, clock = Tty(), Clock()
    progress = LineProgress(stream, clock=clock)
    with progress.task("Applying", 1000) as tick:
        clock.now += 2
        tick(200)
        assert stream.getvalue().endswith("Applying: 200/1000 (100/s, ETA 8s)")
        clock.now += 0.05
        tick(1)  # throttled: no redraw within the interval
        assert stream.getvalue().count("\r") == 1
        clock.now += 8
        tick(799)
    out = stream.getvalue()
    assert out.endswith("\rApplying: 1000/1000 (100/s, 10s)\n"), repr(out)
    progress.clear()  # nothing drawn any more: no-op
    assert stream.getvalue() == out
