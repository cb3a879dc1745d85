"""Promise 6: a hostile or broken server gives a clear error, never a traceback.

Small raw HTTP servers answer the CLI (``plan``/``apply`` over real sockets) with
bodies that are not JSON, truncated, deeply nested, huge, of the wrong shape,
redirects to another host, or no TLS where TLS is expected. Every case: exit 1,
one clear ``Error:`` line, no traceback, and credentials never reach another host.
"""

from __future__ import annotations

import contextlib
import gzip
import json
import re
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from .conftest import run

TOKEN = "tok-HOSTILE-5d8e1f2a"
CLIENT_SECRET = "cs-HOSTILE-9a0b7c6d"

Reply = Callable[[BaseHTTPRequestHandler, bytes], None]


@dataclass
class Seen:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class RawServer:
    """A threaded HTTP/1.1 server whose every answer is written by ``reply``."""

    reply: Reply
    host: str = "127.0.0.1"
    requests: list[Seen] = field(default_factory=list)

    def __post_init__(self) -> None:
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def _any(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                body = self.rfile.read(length) if length else b""
                outer.requests.append(Seen(self.command, self.path, dict(self.headers), body))
                with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                    outer.reply(self, body)

            do_GET = do_POST = do_PATCH = do_DELETE = _any

        self.httpd = ThreadingHTTPServer((self.host, 0), Handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.httpd.server_address[1]}"

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def raw_server() -> Iterator[Callable[[Reply], RawServer]]:
    servers: list[RawServer] = []

    def start(reply: Reply) -> RawServer:
        server = RawServer(reply)
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.close()


def answer(status: int, body: bytes, headers: dict[str, str] | None = None) -> Reply:
    def reply(h: BaseHTTPRequestHandler, _: bytes) -> None:
        h.send_response(status)
        for name, value in {"Content-Type": "application/json", "Content-Length": str(len(body)),
                            **(headers or {})}.items():
            h.send_header(name, value)
        h.end_headers()
        h.wfile.write(body)

    return reply


def _plan(url: str, *extra: str, env: dict[str, str] | None = None) -> Any:
    result = run(["-v", "plan", "--api-url", url + "/v1", *extra], env=env)
    assert result.code == 1, result.all
    assert "Traceback" not in result.all and "internal error" not in result.all, result.all
    assert result.err.startswith("Error: "), result.err
    assert TOKEN not in result.all and CLIENT_SECRET not in result.all
    return result


def _page(*items: dict[str, Any], **info: Any) -> bytes:
    return json.dumps({"data": list(items), "pageInfo": {"hasNextPage": False, **info}}).encode()


@pytest.mark.parametrize(("body", "message"), [
    (b"<html><body>Service Unavailable</body></html>", "not JSON: '<html><body>Service Unavailable</body></html>'"),
    (b"\xff\xfe{not utf-8", "not JSON"),
    (b"[" * 100_000 + b"]" * 100_000, "not JSON"),
    (b'{"data": 1' + b"0" * 5000 + b"}", "not JSON"),
    (b'{"data": "nope"}', "no 'data' list of resources"),
    (b'{"data": [1, 2]}', "no 'data' list of resources"),
    (b"[]", "no 'data' list of resources"),
    (b'{"data": [], "pageInfo": "x"}', "page info is not an object"),
    (b'{"data": [], "pageInfo": {"hasNextPage": true}}', "hasNextPage without an endCursor"),
    (b'{"data": [], "pageInfo": {"hasNextPage": true, "endCursor": "c1"}}', "the page cursor repeats"),
])
def test_bad_answers_to_the_live_lookup(examples: Path, raw_server: Callable[[Reply], RawServer],
                                        body: bytes, message: str) -> None:
    server = raw_server(answer(200, body))
    result = _plan(server.url, env={"DECLSYNC_TOKEN": TOKEN})
    assert "unexpected response from API to POST /v1/" in result.err and message in result.err, result.err


def test_deeply_nested_error_body(examples: Path, raw_server: Callable[[Reply], RawServer]) -> None:
    server = raw_server(answer(400, b"[" * 100_000 + b"]" * 100_000))
    result = _plan(server.url)
    assert "POST /v1/" in result.err and ": 400" in result.err


def test_resources_of_the_wrong_shape(examples: Path, raw_server: Callable[[Reply], RawServer]) -> None:
    """The lookup answers our key with something that is not a usable resource (no id, odd types)."""
    def reply(h: BaseHTTPRequestHandler, body: bytes) -> None:
        wanted = json.loads(body)["filter"]["key"]["in"]
        items = [{"key": k, "id": None, "name": ["x"], "updatedAt": 5, "status": {"a": 1}} for k in wanted]
        answer(200, _page(*items))(h, body)

    server = raw_server(reply)
    run_plan = run(["plan", "--api-url", server.url + "/v1"])
    assert "Traceback" not in run_plan.all and "internal error" not in run_plan.all, run_plan.all
    applied = run(["apply", "--auto-approve", "--api-url", server.url + "/v1"])
    assert applied.code == 1 and "Traceback" not in applied.all and "internal error" not in applied.all, applied.all
    assert not any(r.method in ("PATCH", "DELETE") or (r.method == "POST" and not r.path.endswith("/filter"))
                   for r in server.requests), "wrote to resources without a usable id"


def test_truncated_answers_are_retried_then_a_clear_error(examples: Path,
                                                          raw_server: Callable[[Reply], RawServer]) -> None:
    def truncated(h: BaseHTTPRequestHandler, _: bytes) -> None:
        h.send_response(200)
        h.send_header("Content-Type", "application/json")
        h.send_header("Content-Length", "1000")
        h.end_headers()
        h.wfile.write(b'{"data": [')
        h.wfile.flush()
        h.close_connection = True
        h.connection.shutdown(socket.SHUT_RDWR)

    server = raw_server(truncated)
    result = _plan(server.url)
    assert "lost the connection to" in result.err and "6 attempts" in result.err
    assert len(server.requests) == 6


def test_huge_answer_is_refused_without_reading_it_all(examples: Path,
                                                       raw_server: Callable[[Reply], RawServer]) -> None:
    sent = [0]

    def huge(h: BaseHTTPRequestHandler, _: bytes) -> None:
        h.send_response(200)
        h.send_header("Content-Type", "application/json")
        h.send_header("Content-Length", str(1 << 32))
        h.end_headers()
        chunk = b" " * (1 << 20)
        for _ in range(1 << 12):  # 4 GiB if the client kept reading
            h.wfile.write(chunk)
            sent[0] += len(chunk)

    server = raw_server(huge)
    started = time.monotonic()
    result = _plan(server.url)
    assert "larger than 64 MiB; refusing to read it" in result.err
    assert time.monotonic() - started < 30 and sent[0] < 512 << 20


def test_undecodable_compressed_body(examples: Path, raw_server: Callable[[Reply], RawServer]) -> None:
    server = raw_server(answer(200, b"this is not gzip", {"Content-Encoding": "gzip"}))
    result = _plan(server.url)
    assert "undecodable body" in result.err
    ok = raw_server(answer(200, gzip.compress(_page()), {"Content-Encoding": "gzip"}))
    assert run(["plan", "--api-url", ok.url + "/v1"]).code == 0


@pytest.mark.parametrize("status", [301, 302, 307, 308])
def test_redirect_to_another_host_is_not_followed(examples: Path, raw_server: Callable[[Reply], RawServer],
                                                  status: int) -> None:
    elsewhere = raw_server(answer(200, _page()))
    target = elsewhere.url.replace("127.0.0.1", "localhost") + "/v1/stolen"
    api = raw_server(answer(status, b"", {"Location": target}))
    for env in ({"DECLSYNC_TOKEN": TOKEN},
                {"DECLSYNC_CLIENT_ID": "bot", "DECLSYNC_CLIENT_SECRET": CLIENT_SECRET,
                 "DECLSYNC_TOKEN_URL": elsewhere.url.replace("127.0.0.1", "localhost") + "/oauth2/token"}):
        result = _plan(api.url, env=env)
        if "DECLSYNC_TOKEN" in env:
            assert re.search(rf"the API redirected POST /v1/\w+/filter \({status}\) to localhost", result.err)
            assert "does not follow redirects" in result.err
    # The other host saw only the token request we configured it for, never the API token.
    for seen in elsewhere.requests:
        assert seen.path == "/oauth2/token", seen
        assert TOKEN not in json.dumps(seen.headers)
    assert all(TOKEN not in json.dumps(s.headers) for s in elsewhere.requests)


def test_token_endpoint_redirect_is_not_followed(examples: Path, raw_server: Callable[[Reply], RawServer]) -> None:
    elsewhere = raw_server(answer(200, json.dumps({"access_token": "t", "expires_in": 60}).encode()))
    token = raw_server(answer(307, b"", {"Location": elsewhere.url + "/oauth2/token"}))
    api = raw_server(answer(200, _page()))
    env = {"DECLSYNC_CLIENT_ID": "bot", "DECLSYNC_CLIENT_SECRET": CLIENT_SECRET,
           "DECLSYNC_TOKEN_URL": token.url + "/oauth2/token"}
    result = _plan(api.url, env=env)
    assert "token endpoint" in result.err and "307" in result.err
    assert elsewhere.requests == [] and api.requests == []


@pytest.mark.parametrize("body", [b"[" * 100_000 + b"]" * 100_000, b"<html>", b'{"access_token": 5}',
                                  b'{"access_token": ""}'])
def test_bad_token_endpoint_answers(examples: Path, raw_server: Callable[[Reply], RawServer], body: bytes) -> None:
    token = raw_server(answer(200, body))
    api = raw_server(answer(200, _page()))
    env = {"DECLSYNC_CLIENT_ID": "bot", "DECLSYNC_CLIENT_SECRET": CLIENT_SECRET,
           "DECLSYNC_TOKEN_URL": token.url + "/oauth2/token"}
    result = _plan(api.url, env=env)
    assert "token endpoint" in result.err and api.requests == []


def test_tls_failure_is_a_clear_error(examples: Path, raw_server: Callable[[Reply], RawServer]) -> None:
    """https:// to a server that does not speak TLS (and to a closed port)."""
    plain = raw_server(answer(200, _page()))
    result = _plan(plain.url.replace("http://", "https://"), env={"DECLSYNC_TOKEN": TOKEN})
    assert "TLS error" in result.err and "check DECLSYNC_API_URL and the server's certificate" in result.err
    # Nothing readable reached the server: the TLS handshake failed first.
    assert plain.requests == []


def test_plain_http_to_a_remote_host_needs_insecure_http(examples: Path) -> None:
    refused = _plan("http://203.0.113.7", env={"DECLSYNC_TOKEN": TOKEN})
    assert "refusing to send credentials over plain http to http://203.0.113.7" in refused.err
    assert "--insecure-http" in refused.err
    refused_cc = _plan("https://api.example.invalid", env={"DECLSYNC_CLIENT_ID": "bot",
                                                         "DECLSYNC_CLIENT_SECRET": CLIENT_SECRET,
                                                         "DECLSYNC_TOKEN_URL": "http://203.0.113.7/oauth2/token"})
    assert "refusing to send credentials over plain http to http://203.0.113.7" in refused_cc.err

def _own_address() -> str | None:
    """This machine's address on a non-loopback interface, if it has one."""
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
            probe.connect(("192.0.2.1", 9))  # no packet is sent: this only picks the route
            address = str(probe.getsockname()[0])
    except OSError:
        return None
    return None if address.startswith("127.") or address == "0.0.0.0" else address


def test_insecure_http_flag_allows_a_remote_plain_http_api(examples: Path) -> None:
    address = _own_address()
    if address is None:
        pytest.skip("no non-loopback interface to serve on")
    server = RawServer(answer(200, _page()), host=address)
    try:
        env = {"DECLSYNC_TOKEN": TOKEN}
        refused = _plan(server.url, env=env)
        assert "--insecure-http" in refused.err and server.requests == []
        allowed = run(["plan", "--api-url", server.url + "/v1", "--insecure-http"], env=env)
        assert allowed.code == 0, allowed.all
        assert server.requests and TOKEN not in allowed.all
    finally:
        server.close()
