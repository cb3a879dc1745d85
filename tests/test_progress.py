"""Progress on stderr: silent off a terminal and for short runs; rate and ETA otherwise."""

from __future__ import annotations

import io

from hypothesis import given
from hypothesis import strategies as st

from declsync.render.progress import Eta, LineProgress, NullProgress, make_progress


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


# --------------------------------------------------------------- the ETA (issue 15 §3, H5)

@given(total=st.integers(1, 400), workers=st.integers(1, 32), wave=st.floats(0.01, 5.0),
       spread=st.floats(0, 0.1), fractions=st.lists(st.floats(0, 1), min_size=1, max_size=10))
def test_eta_is_right_from_the_first_completion_on(total: int, workers: int, wave: float, spread: float,
                                                   fractions: list[float]) -> None:
    """Writes in waves (``workers`` at a time, each taking ``wave``; a wave's answers arrive
    over ``spread`` of it): asked at any answer or in between, the ETA is exact but for the
    spread's share — also mid-wave, when a rate measured up to *now* would be low (it would say 50%
    too much half-way through the second wave), and at a wave's first answer, when counting
    only what has answered would make it jump up (``workers`` times too long at the first)."""
    eta = Eta(total, start=0.0, concurrency=workers)
    waves = -(-total // workers)
    finish = waves * wave + spread * wave
    assert eta.remaining(0.5 * wave) is None  # nothing finished: nothing to estimate from
    for k in range(1, waves + 1):
        size = min(workers, total - (k - 1) * workers)
        for i in range(size):
            answered = k * wave + spread * wave * (i + 1) / size
            eta.advance(1, now=answered)
            for f in (0.0, *fractions):
                now = answered + f * wave * (1 - spread) if i == size - 1 and k < waves else answered
                left = eta.remaining(now)
                assert left is not None
                # Exact but for the spread, extrapolated over the run (a wave's answers arriving
                # ``spread`` early or late make every wave look that much shorter or longer).
                bound = spread * wave * (waves + 2) + 1e-9 * finish
                assert abs(left - (finish - now)) <= bound, (k, i, f, left, finish - now)


def test_eta_counts_down_between_completions() -> None:
    eta = Eta(100, start=0.0)
    eta.advance(10, now=1.0)  # 10/s
    assert eta.remaining(1.0) == 9.0
    assert eta.remaining(1.5) == 8.5  # no completion since: still counting down, not growing
    assert eta.remaining(20.0) == 0.0  # late: never negative


def test_the_first_eta_counts_the_rest_of_the_first_wave() -> None:
    """4 writes at a time, 1 s each, 20 in all (done at about 5 s): the first wave's answers
    arrive a few milliseconds apart. At the first one, the ETA says 4 s, not 19 s (1 done in
    1 s would mean 1/s)."""
    eta = Eta(20, start=0.0, concurrency=4)
    eta.advance(1, now=1.00)
    left = eta.remaining(1.00)
    assert left is not None and abs(left - 4.0) <= 0.1, left
    for i, at in enumerate((1.01, 1.02, 1.03)):
        eta.advance(1, now=at)
        left = eta.remaining(at)
        # 0.15: the first wave took up to 1.03 s, and so, the ETA assumes, will the 4 left.
        assert left is not None and abs(left - (5.03 - at)) <= 0.15, (i, left)
    assert Eta(3, start=0.0, concurrency=16).remaining(0.5) is None  # fewer than a wave: nothing yet


class GoneTty(Tty):
    """A terminal that hung up once something was drawn."""

    def write(self, text: str) -> int:
        if self.getvalue():
            raise OSError(5, "Input/output error")
        return super().write(text)


def test_a_terminal_gone_at_the_end_does_not_lose_the_result() -> None:
    from declsync.render.live import LiveProgress

    for progress in (LineProgress(GoneTty(), delay=0.0), LiveProgress(GoneTty())):
        with progress.task("Applying", 2) as _tick:
            result = "the apply's result"
        assert result  # reached: leaving the task raised nothing
