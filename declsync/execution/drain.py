"""Draining a set of futures as they finish, interruptibly: the one concurrency helper
behind the HTTP client's ``_map`` and apply's levels.

Completions arrive on a queue filled by each future's done-callback, not through
``concurrent.futures.wait()``: a ``KeyboardInterrupt`` raised inside ``wait()`` can leave
the futures' locks held, and the pool's shutdown then hangs for ever (seen with SIGINT
from a terminal).
"""

from __future__ import annotations

import queue
from collections.abc import Callable
from concurrent.futures import Executor, Future
from typing import Any, Generic, TypeVar

__all__ = ["Completions"]

K = TypeVar("K")
R = TypeVar("R")


class Completions(Generic[K, R]):
    """Futures submitted with a tag (``K``), handed back in the order they finish.

    A finished future stays ``pending`` until the caller calls ``done(fut)``: an interrupt
    that comes before then finds it in ``cancel()``'s answer, so nothing is lost between
    "finished" and "handled"."""

    def __init__(self) -> None:
        self.pending: dict[Future[R], K] = {}
        self._finished: queue.SimpleQueue[Future[R]] = queue.SimpleQueue()

    def submit(self, pool: Executor, tag: K, fn: Callable[..., R], *args: Any) -> Future[R]:
        fut = pool.submit(fn, *args)
        self.pending[fut] = tag
        fut.add_done_callback(self._finished.put)
        return fut

    def next(self, timeout: float | None = None) -> Future[R] | None:
        """The next future to finish (blocking up to ``timeout``; None when it passes first)."""
        try:
            return self._finished.get(timeout=timeout)
        except queue.Empty:
            return None

    def done(self, fut: Future[R]) -> None:
        """``fut`` has been handled: it is no longer pending."""
        del self.pending[fut]

    def cancel(self) -> list[tuple[Future[R], K]]:
        """Cancel every pending future not started yet; the others (running or finished but
        not handled), with their tags, in submission order."""
        for fut in self.pending:
            fut.cancel()
        return [(fut, tag) for fut, tag in self.pending.items() if not fut.cancelled()]
