"""Runtime state around the API: tokens, rate limit window, injected faults, request stats.

All of it is in memory (tokens do not survive a restart, like a real token
service losing its cache would) and guarded by locks, because tests and
benchmarks turn these knobs from other threads while the server runs.
"""

from __future__ import annotations

import hmac
import math
import random
import secrets
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

__all__ = ["Faults", "RateLimiter", "RateVerdict", "Stats", "TokenIssuer"]

WRITE_METHODS = ("POST", "PATCH", "DELETE")


class TokenIssuer:
    """Bearer tokens: one static token and/or tokens issued to OAuth2 clients."""

    def __init__(
        self,
        static_token: str | None,
        clients: dict[str, str],
        ttl: int,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._static = static_token
        self._clients = dict(clients)
        self.ttl = ttl
        self._clock = clock
        self._issued: dict[str, float] = {}
        self._lock = threading.Lock()

    @property
    def enabled(self) -> bool:
        """Auth is off when nothing is configured (the open loopback sandbox)."""
        return bool(self._static) or bool(self._clients)

    def issue(self, client_id: str, client_secret: str) -> str | None:
        """A new token for valid client credentials, else None.

        With auth off any client gets a token: tokens are not checked then, and a
        client configured for credentials keeps working against an open sandbox.
        """
        if self.enabled:
            expected = self._clients.get(client_id)
            # compare_digest: the time taken must not tell how much of a secret matched.
            if expected is None or not hmac.compare_digest(expected.encode(), client_secret.encode()):
                return None
        token = secrets.token_urlsafe(32)
        now = self._clock()
        with self._lock:
            # Forget expired tokens so that a long-running sandbox does not grow.
            self._issued = {t: exp for t, exp in self._issued.items() if exp > now}
            self._issued[token] = now + self.ttl
        return token

    def valid(self, token: str) -> bool:
        if self._static and hmac.compare_digest(self._static.encode(), token.encode()):
            return True
        with self._lock:
            expires = self._issued.get(token)
        return expires is not None and self._clock() < expires


@dataclass(frozen=True)
class RateVerdict:
    allowed: bool
    limit: int
    remaining: int
    reset: int  # unix time the window ends
    retry_after: int  # seconds; meaningful when not allowed

    def headers(self) -> dict[str, str]:
        return {
            "X-RateLimit-Limit": str(self.limit),
            "X-RateLimit-Remaining": str(self.remaining),
            "X-RateLimit-Reset": str(self.reset),
        }


class RateLimiter:
    """Fixed windows (one minute unless told) aligned to the clock: at most ``limit`` requests each."""

    WINDOW = 60

    def __init__(self, limit: int, clock: Callable[[], float] = time.time, window: int = WINDOW) -> None:
        if window < 1:
            raise ValueError("the rate limit window must be at least 1 second")
        self.limit = limit
        self.WINDOW = window
        self._clock = clock
        self._window = -1
        self._used = 0
        self._lock = threading.Lock()
        # Requests refused (429) so far.
        self.refused = 0

    def check(self) -> RateVerdict:
        now = self._clock()
        window = int(now // self.WINDOW)
        with self._lock:
            if window != self._window:
                self._window, self._used = window, 0
            allowed = self._used < self.limit
            if allowed:
                self._used += 1
            else:
                self.refused += 1
            remaining = self.limit - self._used
        reset = (window + 1) * self.WINDOW
        return RateVerdict(allowed, self.limit, remaining, reset, max(1, math.ceil(reset - now)))


class Faults:
    """Injected failures: queued statuses, dropped answers after commit, and random
    ones: ``fail_rate`` of requests fail with 500/503 without running, ``drop_rate``
    of committed writes lose their answer."""

    def __init__(self, fail_rate: float = 0.0, seed: int | None = None, drop_rate: float = 0.0) -> None:
        self.fail_rate = fail_rate
        self.drop_rate = drop_rate
        self._rng = random.Random(seed)
        self._statuses: deque[int] = deque()
        self._drops = 0
        self._lock = threading.Lock()
        # What was injected so far, by status ("500", "503", "429" …) and "drop".
        self._injected: dict[str, int] = {}

    def fail_next(self, count: int, status: int = 503) -> None:
        with self._lock:
            self._statuses.extend([status] * count)

    def drop_after_commit(self, count: int) -> None:
        with self._lock:
            self._drops += count

    def clear(self) -> None:
        with self._lock:
            self._statuses.clear()
            self._drops = 0

    def pending(self) -> dict[str, int]:
        with self._lock:
            return {"failNext": len(self._statuses), "dropAfterCommit": self._drops}

    def take_failure(self) -> int | None:
        """The status this request must fail with, or None to run it."""
        with self._lock:
            status = None
            if self._statuses:
                status = self._statuses.popleft()
            elif self.fail_rate > 0 and self._rng.random() < self.fail_rate:
                status = self._rng.choice((500, 503))
            if status is not None:
                self._injected[str(status)] = self._injected.get(str(status), 0) + 1
            return status

    def take_drop(self) -> bool:
        """Whether to lose the answer of the write that just committed."""
        with self._lock:
            drop = self._drops > 0
            if drop:
                self._drops -= 1
            else:
                drop = self.drop_rate > 0 and self._rng.random() < self.drop_rate
            if drop:
                self._injected["drop"] = self._injected.get("drop", 0) + 1
            return drop

    def injected(self) -> dict[str, int]:
        """How many faults were injected so far: by HTTP status, and ``drop`` for lost answers."""
        with self._lock:
            return dict(self._injected)


class Stats:
    """How many ``/v1`` requests arrived, by method, and how many writes were committed."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._total = 0
        self._by_method: dict[str, int] = {}
        self._writes = 0

    def request(self, method: str) -> None:
        with self._lock:
            self._total += 1
            self._by_method[method] = self._by_method.get(method, 0) + 1

    def write(self) -> None:
        with self._lock:
            self._writes += 1

    def snapshot(self) -> dict[str, object]:
        with self._lock:
            by_method = {m: 0 for m in ("GET", *WRITE_METHODS)}
            by_method.update(self._by_method)
            return {"total": self._total, "by_method": by_method, "writes": self._writes}

    def reset(self) -> None:
        with self._lock:
            self._total = 0
            self._by_method = {}
            self._writes = 0
