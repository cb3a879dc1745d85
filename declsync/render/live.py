"""Apply's live display on a terminal (rich): spinner, bar, count, elapsed time, ETA.

Drawn as soon as the task starts and redrawn by rich's own thread a few times a second,
so the screen is never blank while the first writes are in flight (it says so, instead
of an ETA, until one finishes). The ETA is ``declsync.render.progress.Eta``'s: right from
the first completion on, not rich's average over the last 30 s. Imported only when an
apply draws on a terminal: ``--help``, validate and CI runs never load rich.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TextIO

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    SpinnerColumn,
    Task,
    TextColumn,
    TimeElapsedColumn,
)
from rich.text import Text

from declsync.render.progress import Eta, Tick, duration

__all__ = ["LiveProgress"]


class _EtaColumn(ProgressColumn):
    """``ETA 12s`` from the shared estimator; before any completion, what is going on."""

    def __init__(self, owner: LiveProgress) -> None:
        super().__init__()
        self.owner = owner

    def render(self, task: Task) -> Text:
        left = self.owner.remaining()
        if task.finished:
            return Text("done", style="green")
        if left is None:
            return Text("ETA: first writes in flight…", style="cyan")
        return Text(f"ETA {duration(left)}", style="cyan")


class LiveProgress:
    """One rich live task at a time, on ``stream`` (stderr: results go to stdout)."""

    def __init__(self, stream: TextIO, *, no_color: bool = False, refresh_per_second: float = 4,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.console = Console(file=stream, no_color=no_color or None, highlight=False)
        self.refresh_per_second = refresh_per_second
        self.clock = clock
        self._lock = threading.Lock()
        self._eta: Eta | None = None

    def remaining(self) -> float | None:
        with self._lock:
            return None if self._eta is None else self._eta.remaining(self.clock())

    @contextmanager
    def task(self, label: str, total: int, concurrency: int = 1) -> Iterator[Tick]:
        with self._lock:
            self._eta = Eta(total, self.clock(), concurrency)
        # Writes to stdout/stderr during the task (-v's outcome lines, a stop notice) are
        # printed above the display by rich, not through it.
        progress = Progress(SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                            TimeElapsedColumn(), _EtaColumn(self), console=self.console,
                            refresh_per_second=self.refresh_per_second, redirect_stdout=True, redirect_stderr=True)
        task_id = progress.add_task(label, total=total)
        first = True

        def tick(n: int) -> None:
            nonlocal first
            with self._lock:
                assert self._eta is not None
                self._eta.advance(n, self.clock())
                finished = self._eta.done >= total
            # The first completion and the last are drawn at once: the ETA appears as soon as
            # it is known, and the final count is on screen before the summary.
            progress.update(task_id, advance=n, refresh=first or finished)
            first = False

        try:
            # Drawn at once: the empty bar and "first writes in flight". A terminal that is gone
            # (hung up) must not lose the apply's result on the way out: drawing is best-effort
            # here; a tick that cannot draw stops the apply, as any broken output does.
            with contextlib.suppress(OSError, ValueError):
                progress.start()
            yield tick
        finally:
            with contextlib.suppress(OSError, ValueError):
                progress.stop()  # restores stdout/stderr whatever happens (rich: try/finally)

    def clear(self) -> None:
        """Nothing to clear: rich prints other writes above the display."""
