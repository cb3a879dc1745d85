"""Bounds on one HTTP exchange that httpx does not give: a total deadline, and a
decompressed-size cap across stacked ``Content-Encoding`` layers.

- Deadline: httpx's timeouts are per socket operation, so a server that trickles
  one byte every few seconds (in the headers or the body) never trips them. The
  ``DeadlineTransport`` is httpx's own transport over a network backend whose every
  connect, read and write is clipped to the deadline of the request running on the
  calling thread (``request_deadline``); past it, ``DeadlineExceeded`` is raised and
  the connection is dropped. A thread-local fits: the sync client sends and reads a
  request (and any token request its auth flow makes) on the caller's thread.
- Decoding: httpx inflates each raw chunk through every layer in one call, so
  ``gzip, gzip`` turns a few KB into GBs before any cap is checked. ``decode_capped``
  inflates layer by layer at most ``STEP`` bytes at a time and counts every layer.
"""

from __future__ import annotations

import ssl
import threading
import time
import urllib.request
import zlib
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import urlsplit

import httpcore
import httpx

__all__ = [
    "MAX_LAYERS",
    "DeadlineExceeded",
    "DeadlineTransport",
    "DecodeError",
    "TooLarge",
    "decode_capped",
    "default_transport",
    "request_deadline",
]

# Output of one inflate call: bounds the memory a hostile layer can claim at once.
STEP = 64 * 1024
# No real server stacks more encodings than this; more is refused before inflating anything.
MAX_LAYERS = 3
_WBITS = {"gzip": 16 + zlib.MAX_WBITS, "x-gzip": 16 + zlib.MAX_WBITS, "deflate": zlib.MAX_WBITS}
# What we can decode, and so all we advertise.
ACCEPT_ENCODING = "gzip, deflate"


class DeadlineExceeded(Exception):
    """The request's total deadline passed (raised from inside the network stream)."""


class TooLarge(Exception):
    """A layer of the body inflated beyond the cap."""


class DecodeError(Exception):
    """An unsupported or corrupt ``Content-Encoding``."""


# --------------------------------------------------------------------------- deadline

_local = threading.local()


@contextmanager
def request_deadline(when: float) -> Iterator[None]:
    """Every socket operation on this thread must finish by ``when`` (``time.monotonic``)."""
    outer = getattr(_local, "deadline", None)
    _local.deadline = when if outer is None else min(when, outer)
    try:
        yield
    finally:
        _local.deadline = outer


def _clip(timeout: float | None) -> float | None:
    deadline: float | None = getattr(_local, "deadline", None)
    if deadline is None:
        return timeout
    left = deadline - time.monotonic()
    if left <= 0:
        raise DeadlineExceeded
    return left if timeout is None else min(timeout, left)


class _Stream(httpcore.NetworkStream):
    def __init__(self, inner: httpcore.NetworkStream) -> None:
        self._inner = inner

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        clipped = _clip(timeout)
        try:
            return self._inner.read(max_bytes, clipped)
        except httpcore.ReadTimeout:
            # The clipped timeout expired: that is the deadline, not the per-read timeout.
            if clipped != timeout:
                raise DeadlineExceeded from None
            raise

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        clipped = _clip(timeout)
        try:
            self._inner.write(buffer, clipped)
        except httpcore.WriteTimeout:
            if clipped != timeout:
                raise DeadlineExceeded from None
            raise

    def close(self) -> None:
        self._inner.close()

    def start_tls(
        self, ssl_context: ssl.SSLContext, server_hostname: str | None = None, timeout: float | None = None
    ) -> httpcore.NetworkStream:
        return _Stream(self._inner.start_tls(ssl_context, server_hostname, _clip(timeout)))

    def get_extra_info(self, info: str) -> Any:
        return self._inner.get_extra_info(info)


class _Backend(httpcore.NetworkBackend):
    def __init__(self) -> None:
        self._inner = httpcore.SyncBackend()

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.NetworkStream:
        clipped = _clip(timeout)
        try:
            stream = self._inner.connect_tcp(host, port, clipped, local_address, socket_options)
        except httpcore.ConnectTimeout:
            if clipped != timeout:
                raise DeadlineExceeded from None
            raise
        return _Stream(stream)

    def connect_unix_socket(
        self, path: str, timeout: float | None = None, socket_options: Iterable[Any] | None = None
    ) -> httpcore.NetworkStream:
        return _Stream(self._inner.connect_unix_socket(path, _clip(timeout), socket_options))

    def sleep(self, seconds: float) -> None:
        self._inner.sleep(seconds)


def default_transport(url: str, limits: httpx.Limits) -> httpx.BaseTransport | None:
    """The transport for requests to ``url``: ``DeadlineTransport``, or None (httpx's own)
    when the environment names a proxy for its scheme. httpx ignores environment proxies
    once given a transport, and a proxy user must keep working; their requests then have
    the per-read timeout and the command deadline, not the total request deadline."""
    proxies = urllib.request.getproxies()
    if urlsplit(url).scheme in proxies or "all" in proxies:
        return None
    return DeadlineTransport(limits)


class DeadlineTransport(httpx.HTTPTransport):
    """httpx's default transport, over the deadline-enforcing network backend."""

    def __init__(self, limits: httpx.Limits) -> None:
        super().__init__(limits=limits)
        # The same pool httpx builds for a direct connection (verify=True, env CA
        # settings honoured), with our backend; httpx exposes no other way to set it.
        self._pool = httpcore.ConnectionPool(
            ssl_context=httpx.create_ssl_context(trust_env=True),
            max_connections=limits.max_connections,
            max_keepalive_connections=limits.max_keepalive_connections,
            keepalive_expiry=limits.keepalive_expiry,
            network_backend=_Backend(),
        )


# --------------------------------------------------------------------------- decoding


class _Layer:
    """One Content-Encoding layer, inflated at most ``STEP`` bytes per call."""

    def __init__(self, name: str, cap: int) -> None:
        self.name, self.cap, self.size = name, cap, 0
        self._z = zlib.decompressobj(_WBITS[name])
        self._first = True

    def feed(self, data: bytes) -> Iterator[bytes]:
        while True:
            try:
                out = self._z.decompress(data, STEP)
            except zlib.error:
                if not (self._first and self.name == "deflate"):
                    raise
                # 'deflate' is sent both zlib-wrapped (as specified) and raw.
                self._z = zlib.decompressobj(-zlib.MAX_WBITS)
                out = self._z.decompress(data, STEP)
            self._first = False
            data = self._z.unconsumed_tail
            self.size += len(out)
            if self.size > self.cap:
                raise TooLarge
            if out:
                yield out
            if self._z.eof or (not data and len(out) < STEP):
                return


def decode_capped(raw: Iterable[bytes], encodings: list[str], cap: int) -> Iterator[bytes]:
    """The body of ``raw`` chunks with ``encodings`` (in the order applied) undone;
    ``TooLarge`` as soon as the raw body or any layer's output exceeds ``cap`` bytes."""
    names = [e.strip().lower() for e in encodings if e.strip() and e.strip().lower() != "identity"]
    unknown = [n for n in names if n not in _WBITS]
    if unknown:
        raise DecodeError(f"unsupported Content-Encoding {unknown[0]!r}")
    if len(names) > MAX_LAYERS:
        raise DecodeError(f"{len(names)} stacked Content-Encodings (at most {MAX_LAYERS})")
    layers = [_Layer(name, cap) for name in reversed(names)]

    def through(data: bytes, depth: int) -> Iterator[bytes]:
        if depth == len(layers):
            yield data
            return
        for out in layers[depth].feed(data):
            yield from through(out, depth + 1)

    size = 0
    try:
        for chunk in raw:
            size += len(chunk)
            if size > cap:
                raise TooLarge
            yield from through(chunk, 0)
    except zlib.error as exc:
        raise DecodeError(f"corrupt {'/'.join(names)} body ({exc})") from None
