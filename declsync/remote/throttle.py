"""The client-side rate budget shared by all worker threads of one ``ApiClient``,
learnt from the server's ``X-RateLimit-*`` / ``Retry-After`` headers. Any header
value that is not a finite number ('inf', 'nan', '1e999') is ignored."""

from __future__ import annotations

import email.utils
import math
import threading
import time
from collections.abc import Callable, Mapping

__all__ = ["DEFAULT_WINDOW", "MAX_WAIT", "Throttle", "parse_reset", "parse_retry_after"]

# No single wait, whatever a header says, lasts longer than this: a bogus
# Retry-After or reset time must not hang a run for hours.
MAX_WAIT = 120.0
# X-RateLimit-Limit is per minute: the window assumed when a server sends
# X-RateLimit-Remaining without X-RateLimit-Reset.
DEFAULT_WINDOW = 60.0


def _number(value: str | None) -> float | None:
    """A header's finite number; None for anything else ('inf', 'nan', '1e999', text)."""
    if value is None:
        return None
    try:
        number = float(value)
    except ValueError:
        return None
    return number if math.isfinite(number) else None


def parse_reset(value: str | None, now: float) -> float | None:
    """X-RateLimit-Reset as a unix time; small numbers are read as seconds from now."""
    number = _number(value)
    if number is None:
        return None
    # The spec says unix timestamp; some servers send seconds-until-reset instead.
    return number if number > 1e9 else now + max(0.0, number)


def parse_retry_after(value: str | None, now: float) -> float | None:
    """Retry-After in seconds (delta-seconds or an HTTP date)."""
    if value is None:
        return None
    number = _number(value)
    if number is not None:
        return max(0.0, number)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, OverflowError, IndexError):
        return None
    return max(0.0, when.timestamp() - now)


class Throttle:
    """A client-side rate budget shared by every worker thread.

    ``observe`` learns the server's window from response headers; ``reserve`` is
    called before each request and returns how long to wait first. While the
    remaining budget is above ``low_water`` requests go out at once; at or below
    it, the remaining requests are spaced evenly until the window resets (a
    budget of zero waits for the reset). ``pause`` (after a 429) holds back
    everyone. ``clock`` is wall time because X-RateLimit-Reset is a unix time.
    """

    def __init__(self, low_water: int, *, clock: Callable[[], float] = time.time) -> None:
        self.low_water = max(1, low_water)
        self._clock = clock
        self._lock = threading.Lock()
        self._remaining: int | None = None
        self._reset: float | None = None
        self._paused_until = 0.0
        self._next_slot = 0.0

    def observe(self, headers: Mapping[str, str]) -> None:
        number = _number(headers.get("x-ratelimit-remaining"))
        if number is None:
            return
        remaining = int(number)
        now = self._clock()
        reset = parse_reset(headers.get("x-ratelimit-reset"), now)
        with self._lock:
            if reset is None:
                reset = self._reset if self._reset is not None and self._reset > now else now + DEFAULT_WINDOW
            # Relative resets drift by a second or so between answers; a later window is further off.
            if self._remaining is None or self._reset is None or reset > self._reset + 2.0:
                # A new window: its budget replaces the old one.
                self._remaining, self._reset = remaining, reset
            else:
                # Same window: answers arrive out of order, the lowest count is the freshest.
                self._remaining = min(self._remaining, remaining)

    def pause(self, seconds: float) -> None:
        with self._lock:
            self._paused_until = max(self._paused_until, self._clock() + min(seconds, MAX_WAIT))

    def reserve(self) -> float:
        """Claim a slot for one request; the seconds to sleep before sending it."""
        with self._lock:
            now = self._clock()
            start = max(now, self._paused_until)
            if self._reset is not None and self._reset <= start:
                # The window is over and its successor unknown until the next answer.
                self._remaining = self._reset = None
            if self._remaining is not None and self._reset is not None and self._remaining <= self.low_water:
                if self._remaining <= 0:
                    start = self._reset
                else:
                    start = max(start, self._next_slot)
                    interval = max(0.0, self._reset - start) / self._remaining
                    self._next_slot = start + interval
                    self._remaining -= 1
            return min(max(0.0, start - now), MAX_WAIT)
