"""Promise 6b: a hostile or buggy server never makes declsync write the wrong
resource, create twice, hang, or crash (issue 10, sections 2 and 3).

A small raw HTTP server (``RawServer`` from ``test_hostile_servers``) plays the API
for one declared Customer; each test gives it one hostile habit. Every server here
is bounded in time, so that a client without the fix fails the test instead of
hanging it.
"""

from __future__ import annotations

import gzip
import json
import re
import time
import tracemalloc
import zlib
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

import pytest

from declsync.errors import ApiError
from declsync.profile.model import default_profile
from declsync.remote.client import ApiClient

from .conftest import REPO, run
from .test_hostile_servers import RawServer, Reply, answer, raw_server

__all__ = ["raw_server"]

KEY = "CUST-ACME"
MANIFEST = f"kind: Customer\nkey: {KEY}\nspec:\n  name: Acme Foods\n  status: ACTIVE\n"
WRITES = ("PATCH", "DELETE")


def _customer(key: str = KEY, ident: str = "cus-1", **extra: Any) -> dict[str, Any]:
    return {"id": ident, "key": key, "name": "Acme Foods", "status": "ACTIVE",
            "updatedAt": "2025-01-01T00:00:00.000Z", **extra}


@pytest.fixture
def one_customer(workdir: Path) -> Path:
    """One declared Customer; ``get.yaml`` is the bundled profile with GET ?key= lookups."""
    (workdir / "manifests").mkdir()
    (workdir / "manifests" / "customers.yaml").write_text(MANIFEST)
    profile = (REPO / "tests" / "fixtures" / "handwritten-mvmnt.yaml").read_text()
    (workdir / "get.yaml").write_text(profile.replace("lookup: {filter: true, pageSize: 250}", "lookup: {filter: false}"))
    return workdir


def _wrote(server: RawServer) -> list[str]:
    """Writes the server saw: PATCH/DELETE, and POSTs that are not lookups."""
    return [f"{r.method} {r.path}" for r in server.requests
            if r.method in WRITES or (r.method == "POST" and not r.path.split("?")[0].endswith("/filter"))]


def _refused(server: RawServer, *args: str, timeout_env: dict[str, str] | None = None) -> str:
    """``apply --auto-approve`` is refused: exit 1, one clear error, nothing written or recorded."""
    result = run(["apply", "--auto-approve", "--api-url", server.url + "/v1", *args], env=timeout_env)
    assert result.code == 1, result.all
    assert "Traceback" not in result.all and "internal error" not in result.all, result.all
    assert _wrote(server) == [], _wrote(server)
    state = Path(".declsync/state.json")
    assert not state.exists() or KEY not in state.read_text()
    return result.all


# --------------------------------------------------------------------------- the wrong resource


def test_get_by_key_answer_for_another_key_is_refused(one_customer: Path,
                                                     raw_server: Callable[[Reply], RawServer]) -> None:
    """GET ?key=CUST-ACME answered with another customer: never PATCHed with our spec, never recorded."""
    server = raw_server(answer(200, json.dumps(_customer("CUST-OTHER", "cus-other", name="Other")).encode()))
    out = _refused(server, "--profile", "get.yaml")
    assert "asked for Customer 'CUST-ACME', got the resource of key 'CUST-OTHER' (id 'cus-other')" in out


def _two_for_one_key(h: BaseHTTPRequestHandler, body: bytes) -> None:
    twins = [_customer(ident="cus-live", name="Old name"), _customer(ident="cus-deleted", deletedAt="2025-02-01")]
    answer(200, json.dumps({"data": twins, "pageInfo": {"hasNextPage": False}}).encode())(h, body)


@pytest.mark.parametrize("profile", ["filter", "get"])
def test_two_live_resources_for_one_key_are_refused(one_customer: Path, raw_server: Callable[[Reply], RawServer],
                                                    profile: str) -> None:
    server = raw_server(_two_for_one_key)
    out = _refused(server, *(["--profile", "get.yaml"] if profile == "get" else []))
    assert "Customer 'CUST-ACME': 2 live resources answer for this key ('cus-live', 'cus-deleted')" in out
    assert "writes neither" in out


@pytest.mark.parametrize("first_page", [[], [_customer(ident="cus-1")]])
def test_get_list_with_unread_pages_is_not_absent(one_customer: Path, raw_server: Callable[[Reply], RawServer],
                                                  first_page: list[dict[str, Any]]) -> None:
    """A GET ?key= list with hasNextPage: the key may be on the next page; no POST of a duplicate."""
    page = {"data": first_page, "pageInfo": {"hasNextPage": True, "endCursor": "c2"}}
    server = raw_server(answer(200, json.dumps(page).encode()))
    out = _refused(server, "--profile", "get.yaml")
    assert "hasNextPage" in out


# --------------------------------------------------------------------------- paging that never ends


def _endless(kind: str) -> Reply:
    """Every page has a fresh endCursor and hasNextPage; the server gives up after 300 pages."""
    served = [0]

    def reply(h: BaseHTTPRequestHandler, body: bytes) -> None:
        served[0] += 1
        if served[0] > 300:
            answer(400, b'{"error": "enough"}')(h, body)
            return
        items = {"empty": [],
                 "other keys": [_customer(f"OTHER-{served[0]}", f"cus-{served[0]}")],
                 "same resource": [_customer()]}[kind]
        page = {"data": items, "pageInfo": {"hasNextPage": True, "endCursor": f"cursor-{served[0]}"}}
        answer(200, json.dumps(page).encode())(h, body)

    return reply


@pytest.mark.parametrize("kind", ["empty", "other keys", "same resource"])
def test_paging_that_never_ends_is_bounded(one_customer: Path, raw_server: Callable[[Reply], RawServer],
                                           figures: dict[str, Any], kind: str) -> None:
    server = raw_server(_endless(kind))
    result = run(["plan", "--api-url", server.url + "/v1"])
    assert result.code == 1 and "Traceback" not in result.all, result.all
    assert "paging would never end" in result.err, result.err
    # One key: the first page, and at most two more.
    assert len(server.requests) <= 3, len(server.requests)
    figures.setdefault("endless paging: pages read for one key", {})[kind] = len(server.requests)


# --------------------------------------------------------------------------- never hang


def _trickle(where: str, limit: float = 40.0) -> Reply:
    """Send the answer one byte every 0.5 s, in the headers or the body (for at most ``limit`` s)."""
    def reply(h: BaseHTTPRequestHandler, _: bytes) -> None:
        body = json.dumps({"data": [], "pageInfo": {"hasNextPage": False}}).encode() + b" " * 1000
        head = (f"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {len(body)}\r\n"
                "X-Padding: " + "x" * 200 + "\r\n\r\n").encode()
        if where == "body":
            h.wfile.write(head)
            h.wfile.flush()
        slow = head + body if where == "headers" else body
        started = time.monotonic()
        for i in range(len(slow)):
            if time.monotonic() - started > limit:
                break
            h.wfile.write(slow[i:i + 1])
            h.wfile.flush()
            time.sleep(0.5)
        h.close_connection = True

    return reply


def _silent(limit: float = 35.0) -> Reply:
    """Read the request and never answer (until ``limit`` s)."""
    def reply(h: BaseHTTPRequestHandler, _: bytes) -> None:
        time.sleep(limit)
        h.close_connection = True

    return reply


@pytest.mark.parametrize("kind", ["headers", "body", "silent"])
def test_slow_server_is_refused_after_the_request_timeout(one_customer: Path,
                                                          raw_server: Callable[[Reply], RawServer],
                                                          figures: dict[str, Any], kind: str) -> None:
    server = raw_server(_silent() if kind == "silent" else _trickle(kind))
    started = time.monotonic()
    result = run(["plan", "--api-url", server.url + "/v1"], env={"DECLSYNC_REQUEST_TIMEOUT": "2"})
    took = time.monotonic() - started
    assert result.code == 1 and "Traceback" not in result.all, result.all
    assert "sent no complete answer to POST /v1/customers/filter within 2 s" in result.err, result.err
    assert "--request-timeout" in result.err
    # Not retried: one request, refused once its 2 s are up (generous bound against a hang).
    assert len(server.requests) == 1 and took < 15, (len(server.requests), took)
    figures.setdefault("slow server refused after (s), --request-timeout 2", {})[kind] = round(took, 1)


def test_command_deadline_bounds_retries(one_customer: Path, raw_server: Callable[[Reply], RawServer],
                                         figures: dict[str, Any]) -> None:
    """A server that answers 503 after 1 s, for ever: the command's deadline stops the retries."""
    def slow_503(h: BaseHTTPRequestHandler, body: bytes) -> None:
        time.sleep(1.0)
        answer(503, b'{"error": "busy"}', {"Retry-After": "1"})(h, body)

    server = raw_server(slow_503)
    started = time.monotonic()
    result = run(["plan", "--api-url", server.url + "/v1", "--deadline", "2.5"])
    took = time.monotonic() - started
    assert result.code == 1 and "Traceback" not in result.all, result.all
    assert "the command's deadline (2.5 s) passed at POST /v1/customers/filter" in result.err, result.err
    assert took < 15, took
    figures["command deadline 2.5 s: refused after (s)"] = round(took, 1)


# --------------------------------------------------------------------------- never blow up


def _bomb(mebibytes: int, layers: int) -> bytes:
    """``mebibytes`` of spaces, gzip-compressed ``layers`` times."""
    z = zlib.compressobj(9, zlib.DEFLATED, 31)
    block = b" " * (1 << 20)
    data = b"".join(z.compress(block) for _ in range(mebibytes)) + z.flush()
    for _ in range(layers - 1):
        data = gzip.compress(data, 9)
    return data


def test_stacked_gzip_is_capped_while_streaming(raw_server: Callable[[Reply], RawServer],
                                                figures: dict[str, Any]) -> None:
    """``Content-Encoding: gzip, gzip``: refused once a layer passes the cap, in bounded memory."""
    bomb = _bomb(192, layers=2)
    server = raw_server(answer(200, bomb, {"Content-Encoding": "gzip, gzip"}))
    customers = default_profile().kind("Customer")
    tracemalloc.start()
    try:
        with ApiClient(server.url + "/v1", max_response_bytes=1 << 20) as client, \
                pytest.raises(ApiError, match=re.escape("larger than 1 MiB")):
            client.fetch_by_keys(customers, [KEY])
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    # 192 MiB if inflated before the cap is checked; a few MiB when streamed.
    assert peak < 24 << 20, peak
    figures["gzip, gzip bomb"] = {"compressed bytes": len(bomb), "inflates to MiB": 192,
                                  "peak traced MiB (cap 1 MiB)": round(peak / 1048576, 1)}


def test_stacked_gzip_through_the_cli(one_customer: Path, raw_server: Callable[[Reply], RawServer]) -> None:
    bomb = _bomb(80, layers=2)
    server = raw_server(answer(200, bomb, {"Content-Encoding": "gzip, gzip"}))
    result = run(["plan", "--api-url", server.url + "/v1"])
    assert result.code == 1 and "Traceback" not in result.all, result.all
    assert "larger than 64 MiB (decompressed); refusing to read it" in result.err
    ok = raw_server(answer(200, gzip.compress(gzip.compress(json.dumps({"data": []}).encode())),
                           {"Content-Encoding": "gzip, gzip"}))
    assert run(["plan", "--api-url", ok.url + "/v1"]).code == 0


@pytest.mark.parametrize("value", ["inf", "-inf", "nan", "1e999", "9" * 400])
def test_absurd_rate_limit_headers_are_ignored(one_customer: Path, raw_server: Callable[[Reply], RawServer],
                                               value: str) -> None:
    calls = [0]
    page = json.dumps({"data": [_customer()], "pageInfo": {"hasNextPage": False}}).encode()

    def reply(h: BaseHTTPRequestHandler, body: bytes) -> None:
        calls[0] += 1
        status = 429 if calls[0] == 1 else 200
        answer(status, page, {"X-RateLimit-Remaining": value, "X-RateLimit-Reset": value,
                              "Retry-After": value})(h, body)

    server = raw_server(reply)
    started = time.monotonic()
    result = run(["plan", "--api-url", server.url + "/v1"])
    assert result.code == 0 and "Traceback" not in result.all, result.all
    # A bogus Retry-After is not read as "wait the longest allowed".
    assert time.monotonic() - started < 30


@pytest.mark.parametrize("command", ["plan", "apply", "import"])
def test_lone_surrogate_in_an_answer_is_refused_naming_the_resource(
        one_customer: Path, raw_server: Callable[[Reply], RawServer], command: str) -> None:
    page = b'{"data": [{"id": "cus-1", "key": "CUST-ACME", "name": "bad \\ud800 name", "status": "ACTIVE"}]}'
    server = raw_server(answer(200, page))
    args = {"plan": ["plan"], "apply": ["apply", "--auto-approve"],
            "import": ["import", "Customer", KEY, "--out-dir", "imported"]}[command]
    result = run([*args, "--api-url", server.url + "/v1"])
    assert result.code == 1 and "Traceback" not in result.all and "internal error" not in result.all, result.all
    assert "a lone surrogate" in result.err and "data[0] (id cus-1).name" in result.err, result.err
    assert _wrote(server) == [] and not Path("imported").exists()


def test_lone_surrogate_in_an_error_body(one_customer: Path, raw_server: Callable[[Reply], RawServer]) -> None:
    server = raw_server(answer(400, b'{"error": "bad", "message": "no \\udfff here"}'))
    result = run(["plan", "--api-url", server.url + "/v1"])
    assert result.code == 1 and "Traceback" not in result.all and "internal error" not in result.all, result.all
    assert "POST /v1/customers/filter: 400 bad: no \\udfff here" in result.err, result.err
