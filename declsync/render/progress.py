"""Progress on stderr for long runs: ``Fetching live state: 1200/5000 (850/s, ETA 5s)``.

Only on a terminal and only once a task has run for a second, so short runs, pipes,
CI logs and tests see nothing. Results never go here: they go to stdout. Apply asks for
the live display instead (``make_progress(live=True)``: ``declsync.render.live``, drawn
at once and redrawn while nothing finishes, so the first batch in flight is never a
blank screen).
"""

from __future__ import annotations

import contextlib
import os
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import Protocol, TextIO

__all__ = ["Eta", "LineProgress", "NullProgress", "Progress", "make_progress"]

Tick = Callable[[int], None]


class Eta:
    """Time left, from the rate measured up to the latest completion (not up to now).

    Parallel writes finish in waves: nothing for a round trip, then a batch at once.
    ``done / (now - start)`` falls between waves and over-estimates by half again when
    asked mid-wave; measured to the latest completion, the rate stays the steady one, and
    the estimate counts down smoothly in between. A wave's answers do not arrive at the same
    instant, though: at the first of them the other ``concurrency - 1`` are about to, so the
    wave in progress counts as done (else the first ETA would be ``concurrency`` times too
    long, and each new wave's first answer would make the ETA jump up); and what is left is
    whole waves (the last one takes a round trip however few writes it holds). With waves of
    equal duration it is exact from the first completion on (``tests/test_progress.py``);
    README.md's "Terminal output" has measurements against the sandbox."""

    def __init__(self, total: int, start: float, concurrency: int = 1) -> None:
        self.total = total
        self.start = start
        self.concurrency = max(1, concurrency)
        self.done = 0
        self.last = start

    def advance(self, n: int, now: float) -> None:
        self.done += n
        self.last = now

    def remaining(self, now: float) -> float | None:
        """Seconds left; None before the first completion (nothing to measure yet)."""
        if self.done >= self.total:
            return 0.0
        if self.done <= 0 or self.last <= self.start:
            return None
        # The wave in progress, rounded up: its other writes are answering now.
        waves = -(-self.done // self.concurrency)
        counted = min(self.total, waves * self.concurrency)
        # Whole waves left: the last one takes a round trip however few writes it holds.
        per_wave = (self.last - self.start) / waves
        waves_left = -(-(self.total - counted) // self.concurrency)
        return max(0.0, self.last + waves_left * per_wave - now)


class NullProgress:
    """Used when stderr is not a terminal: reports nothing. ``task`` yields the tick
    function (``tick(n)``: n more items done), as ``LineProgress.task`` does."""

    @contextmanager
    def task(self, label: str, total: int, concurrency: int = 1) -> Iterator[Tick]:
        yield lambda n: None

    def clear(self) -> None:
        pass


def duration(seconds: float) -> str:
    seconds = max(0, round(seconds))
    if seconds < 60:
        return f"{seconds}s"
    minutes, secs = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes}m{secs:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m"


class LineProgress:
    """One self-overwriting line with count, rate and ETA."""

    def __init__(
        self,
        stream: TextIO,
        *,
        delay: float = 1.0,
        interval: float = 0.2,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.stream = stream
        self.delay = delay
        self.interval = interval
        self.clock = clock
        self._lock = threading.Lock()
        self._width = 0
        self._label = ""
        self._total = 0
        self._done = 0
        self._start = 0.0
        self._last = 0.0
        self._eta = Eta(0, 0.0)

    @contextmanager
    def task(self, label: str, total: int, concurrency: int = 1) -> Iterator[Tick]:
        with self._lock:
            self._label, self._total, self._done = label, total, 0
            self._start = self._last = self.clock()
            self._eta = Eta(total, self._start, concurrency)
            if self.delay <= 0:
                self._draw()  # asked to show at once: the count before anything finishes
        try:
            yield self._tick
        finally:
            with self._lock, contextlib.suppress(OSError, ValueError):  # a gone terminal: the result still counts
                if self._width:
                    self._draw(final=True)
                    self.stream.write("\n")
                    self.stream.flush()
                    self._width = 0

    def _tick(self, n: int) -> None:
        with self._lock:
            self._done += n
            now = self.clock()
            self._eta.advance(n, now)
            if now - self._start >= self.delay and (now - self._last >= self.interval or self._done >= self._total):
                self._last = now
                self._draw()

    def line(self, final: bool = False) -> str:
        elapsed = max(self.clock() - self._start, 1e-9)
        rate = self._done / elapsed
        text = f"{self._label}: {self._done}/{self._total} ({rate:.0f}/s"
        if final:
            return text + f", {duration(elapsed)})"
        left = self._eta.remaining(self.clock())
        if left is not None and self._total > self._done:
            text += f", ETA {duration(left)}"
        return text + ")"

    def _draw(self, final: bool = False) -> None:
        text = self.line(final)
        pad = max(0, self._width - len(text))
        self.stream.write("\r" + text + " " * pad)
        self.stream.flush()
        self._width = len(text)

    def clear(self) -> None:
        """Blank the line before something else is written to the stream."""
        with self._lock:
            if self._width:
                self.stream.write("\r" + " " * self._width + "\r")
                self.stream.flush()
                self._width = 0


class Progress(Protocol):
    """What every progress display offers: a task yielding its tick, and ``clear`` before
    something else is written to the same stream."""

    def task(self, label: str, total: int, concurrency: int = 1) -> AbstractContextManager[Tick]:
        """``concurrency``: how many items are worked on at once (the ETA's first-wave hint)."""
        ...

    def clear(self) -> None: ...


def make_progress(stream: TextIO | None = None, enabled: bool | None = None, *, live: bool = False,
                  no_color: bool = False) -> Progress:
    """A ``LineProgress`` on ``stream`` (default stderr) when it is a terminal, else a no-op.
    ``live``: rich's live display instead, shown at once (a dumb terminal, which cannot
    redraw in place, gets the line, also at once)."""
    stream = stream if stream is not None else sys.stderr
    if enabled is None:
        try:
            enabled = stream.isatty()
        except (AttributeError, ValueError):
            enabled = False
    if not enabled:
        return NullProgress()
    if live and os.environ.get("TERM", "") not in ("dumb", "unknown"):
        # Imported here: rich loads only when an apply draws on a terminal (start-up stays light).
        from declsync.render.live import LiveProgress

        return LiveProgress(stream, no_color=no_color)
    return LineProgress(stream, delay=0.0) if live else LineProgress(stream)
