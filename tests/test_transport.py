"""``declsync.remote.transport``: capped multi-layer decoding and the per-request deadline."""

from __future__ import annotations

import gzip
import socket
import threading
import time
import zlib
from collections.abc import Iterator

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from declsync.remote.transport import (
    MAX_LAYERS,
    DeadlineExceeded,
    DeadlineTransport,
    DecodeError,
    TooLarge,
    decode_capped,
    default_transport,
    request_deadline,
)

ENCODERS = {
    "gzip": lambda b: gzip.compress(b, 6),
    "deflate": zlib.compress,
    "identity": lambda b: b,
}


def _encode(data: bytes, encodings: list[str]) -> bytes:
    for name in encodings:
        data = ENCODERS[name](data)
    return data


def _chunks(data: bytes, sizes: list[int]) -> Iterator[bytes]:
    at = 0
    for size in sizes:
        yield data[at:at + size]
        at += size
    yield data[at:]


@settings(max_examples=150, deadline=None)
@given(
    data=st.one_of(st.binary(max_size=3000), st.integers(0, 300_000).map(lambda n: b"a" * n)),
    encodings=st.lists(st.sampled_from(["gzip", "deflate", "identity"]), max_size=MAX_LAYERS),
    sizes=st.lists(st.integers(1, 700), max_size=8),
    cap=st.integers(1, 400_000),
)
def test_decode_capped_round_trips_or_refuses(data: bytes, encodings: list[str], sizes: list[int], cap: int) -> None:
    """Any chunking of any stack of layers: the original bytes, or TooLarge exactly when
    the raw body or some layer's output is larger than the cap."""
    raw = _encode(data, encodings)
    sizes_of_layers = [len(_encode(data, encodings[:i])) for i in range(len(encodings) + 1)]
    try:
        out = b"".join(decode_capped(_chunks(raw, sizes), encodings, cap))
    except TooLarge:
        assert max(sizes_of_layers) > cap
    else:
        assert out == data and max(sizes_of_layers) <= cap


def test_unknown_corrupt_and_too_many_encodings_are_decode_errors() -> None:
    with pytest.raises(DecodeError, match="unsupported Content-Encoding 'br'"):
        list(decode_capped([b"x"], ["br"], 100))
    with pytest.raises(DecodeError, match="corrupt gzip body"):
        list(decode_capped([b"not gzip"], ["gzip"], 100))
    with pytest.raises(DecodeError, match="4 stacked"):
        list(decode_capped([b""], ["gzip"] * 4, 100))


def test_raw_deflate_is_accepted() -> None:
    z = zlib.compressobj(6, zlib.DEFLATED, -zlib.MAX_WBITS)
    raw = z.compress(b"hello" * 100) + z.flush()
    assert b"".join(decode_capped([raw], ["deflate"], 1000)) == b"hello" * 100


def test_deadline_covers_slow_headers_over_a_real_socket() -> None:
    """A server that sends one header byte every 0.2 s is cut off at the deadline."""
    listener = socket.create_server(("127.0.0.1", 0))
    stop = threading.Event()

    def serve() -> None:
        conn, _ = listener.accept()
        with conn:
            conn.recv(65536)
            for byte in b"HTTP/1.1 200 OK\r\nX-Slow: " + b"x" * 1000:
                if stop.is_set():
                    break
                try:
                    conn.sendall(bytes([byte]))
                except OSError:
                    break
                time.sleep(0.2)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    client = httpx.Client(transport=DeadlineTransport(httpx.Limits()), timeout=30)
    started = time.monotonic()
    try:
        with request_deadline(time.monotonic() + 1.0), pytest.raises(DeadlineExceeded):
            client.get(f"http://127.0.0.1:{listener.getsockname()[1]}/")
    finally:
        stop.set()
        client.close()
        listener.close()
        thread.join(timeout=5)
    assert time.monotonic() - started < 10


def test_environment_proxies_keep_httpx_transport(monkeypatch: pytest.MonkeyPatch) -> None:
    """httpx ignores HTTPS_PROXY once given a transport: with a proxy configured, declsync
    leaves the transport to httpx so that the proxy is still used."""
    for var in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"):
        monkeypatch.delenv(var, raising=False)
    assert isinstance(default_transport("https://api.example.com/v1", httpx.Limits()), DeadlineTransport)
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.internal:3128")
    assert default_transport("https://api.example.com/v1", httpx.Limits()) is None
    assert isinstance(default_transport("http://127.0.0.1:8080/v1", httpx.Limits()), DeadlineTransport)
