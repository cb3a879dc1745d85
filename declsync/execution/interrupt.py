"""Signals that ask declsync to stop: SIGINT (Ctrl-C), SIGTERM and SIGHUP.

CI systems cancel a job, or end one that ran out of time, with SIGTERM (a closed
terminal sends SIGHUP); Python's default for both is to die on the spot, which
leaves writes unrecorded and the state lock behind. declsync treats all three alike:

* outside apply's writes (``interrupts_raise``): the signal raises ``KeyboardInterrupt``,
  so every ``with`` block (the state lock, the sandbox, the HTTP client) unwinds and
  the CLI exits 130 ("Interrupted.");
* while apply writes (``graceful_stop``): the first signal only sets a flag that the
  apply loop checks — no new write starts, the ones in flight finish and are
  recorded — and a second one raises ``KeyboardInterrupt`` as usual (stop at once).

A handler someone else installed (or an ignored SIGHUP, as under ``nohup``) is left alone.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

__all__ = ["STOP_SIGNALS", "graceful_stop", "interrupts_raise"]

STOP_SIGNALS: tuple[signal.Signals, ...] = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
_DEFAULTS = (signal.default_int_handler, signal.SIG_DFL)


def _ours(signum: signal.Signals) -> bool:
    """Whether the handler of ``signum`` is a default we may replace."""
    return threading.current_thread() is threading.main_thread() and signal.getsignal(signum) in _DEFAULTS


@contextmanager
def interrupts_raise() -> Iterator[None]:
    """SIGTERM and SIGHUP raise ``KeyboardInterrupt``, as SIGINT does, while inside."""
    saved = {s: signal.getsignal(s) for s in STOP_SIGNALS[1:] if _ours(s)}
    for signum in saved:
        signal.signal(signum, signal.default_int_handler)
    try:
        yield
    finally:
        for signum, handler in saved.items():
            signal.signal(signum, handler)


@contextmanager
def graceful_stop(on_signal: Callable[[signal.Signals], None]) -> Iterator[None]:
    """While inside, a first stop signal calls ``on_signal(signum)`` (which should only set a
    flag: it runs between two bytecodes of the main thread) and restores the previous
    handlers, so that a second signal acts as before. Only default handlers are replaced,
    and only in the main thread (the only one Python delivers signals to)."""
    saved = {s: signal.getsignal(s) for s in STOP_SIGNALS if _ours(s)}

    def restore() -> None:
        for signum, handler in saved.items():
            signal.signal(signum, handler)

    def first(signum: int, frame: Any) -> None:
        restore()
        on_signal(signal.Signals(signum))

    for signum in saved:
        signal.signal(signum, first)
    try:
        yield
    finally:
        restore()
