"""Progress on stderr for long runs: ``Fetching live state: 1200/5000 (850/s, ETA 5s)``.

Only on a terminal and only once a task has run for a second, so short runs, pipes,
CI logs and tests see nothing. Results never go here: they go to stdout.
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TextIO

__all__ = ["LineProgress", "NullProgress", "Progress", "make_progress"]

Tick = Callable[[int], None]


class NullProgress:
    """Used when stderr is not a terminal: reports nothing. ``task`` yields the tick
    function (``tick(n)``: n more items done), as ``LineProgress.task`` does."""

    @contextmanager
    def task(self, label: str, total: int) -> Iterator[Tick]:
        yield lambda n: None

    def clear(self) -> None:
        pass


def _duration(seconds: float) -> str:
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

    @contextmanager
    def task(self, label: str, total: int) -> Iterator[Tick]:
        with self._lock:
            self._label, self._total, self._done = label, total, 0
            self._start = self._last = self.clock()
        try:
            yield self._tick
        finally:
            with self._lock:
                if self._width:
                    self._draw(final=True)
                    self.stream.write("\n")
                    self.stream.flush()
                    self._width = 0

    def _tick(self, n: int) -> None:
        with self._lock:
            self._done += n
            now = self.clock()
            if now - self._start >= self.delay and (now - self._last >= self.interval or self._done >= self._total):
                self._last = now
                self._draw()

    def line(self, final: bool = False) -> str:
        elapsed = max(self.clock() - self._start, 1e-9)
        rate = self._done / elapsed
        text = f"{self._label}: {self._done}/{self._total} ({rate:.0f}/s"
        if final:
            return text + f", {_duration(elapsed)})"
        if rate > 0 and self._total > self._done:
            text += f", ETA {_duration((self._total - self._done) / rate)}"
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


Progress = LineProgress | NullProgress


def make_progress(stream: TextIO | None = None, enabled: bool | None = None) -> Progress:
    """A ``LineProgress`` on ``stream`` (default stderr) when it is a terminal, else a no-op."""
    stream = stream if stream is not None else sys.stderr
    if enabled is None:
        try:
            enabled = stream.isatty()
        except (AttributeError, ValueError):
            enabled = False
    return LineProgress(stream) if enabled else NullProgress()
