"""Unit tests of the HTTP client against ``httpx.MockTransport`` (no network)."""

from __future__ import annotations

import dataclasses
import json
import math
import random
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from declsync.errors import ApiError, AuthError, ConfigError, ConflictError, ConnectError
from declsync.profile.model import KindSpec, default_profile
from declsync.remote.client import ApiClient, ClientCredentialsAuth, StaticTokenAuth, Throttle, default_token_url

BASE = "http://127.0.0.1:8080/v1"
ORDER = default_profile().kind("Order")
ORDER_GET = dataclasses.replace(ORDER, lookup_filter=False)
TOKEN = "tok-SECRET-7f3a9c1e2b"
Handler = Callable[[httpx.Request], httpx.Response]


class FakeClock:
    """Wall clock that only moves when the client sleeps."""

    def __init__(self, now: float = 1_700_000_000.0) -> None:
        self.now = now
        self.sleeps: list[float] = []
        self._lock = threading.Lock()

    def time(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        with self._lock:
            self.sleeps.append(seconds)
            self.now += seconds


def make_client(handler: Handler, *, clock: FakeClock | None = None, **kw: Any) -> ApiClient:
    clock = clock or FakeClock()
    kw.setdefault("parallelism", 4)
    return ApiClient(
        BASE,
        transport=httpx.MockTransport(handler),
        sleep=clock.sleep,
        clock=clock.time,
        rng=random.Random(0),
        **kw,
    )


def body_of(request: httpx.Request) -> Any:
    return json.loads(request.content)


class FilterServer:
    """A fake ``POST /v1/orders/filter`` and ``GET /v1/orders?key=`` over a dict of resources."""

    def __init__(self, keys: list[str], *, page_key: str = "pageInfo",
                 server_page: int | None = None) -> None:
        self.resources = {k: {"id": f"id-{k}", "key": k, "status": "draft"} for k in keys}
        self.page_key = page_key
        self.server_page = server_page
        self.requests: list[httpx.Request] = []
        self._lock = threading.Lock()

    def __call__(self, request: httpx.Request) -> httpx.Response:
        with self._lock:
            self.requests.append(request)
        if request.method == "GET" and request.url.path == "/v1/orders":
            found = self.resources.get(request.url.params["key"])
            if found is None:
                return httpx.Response(404, json={"error": "not_found"})
            return httpx.Response(200, json=found)
        assert request.method == "POST" and request.url.path == "/v1/orders/filter"
        body = body_of(request)
        wanted = body["filter"]["key"]["in"]
        assert len(wanted) <= ORDER.page_size
        matches = [self.resources[k] for k in wanted if k in self.resources]
        size = min(body["pageSize"], self.server_page or body["pageSize"])
        start = int(body.get("cursor") or 0)
        page = matches[start : start + size]
        more = start + size < len(matches)
        info = {"pageSize": size, "hasNextPage": more, "hasPreviousPage": start > 0,
                "endCursor": str(start + size) if more else None}
        return httpx.Response(200, json={"data": page, self.page_key: info})


# --------------------------------------------------------------------------- batching


def test_fetch_10000_keys_batches_filter_requests() -> None:
    keys = [f"O-{i}" for i in range(10_000)]
    server = FilterServer(keys[::2])
    started = time.perf_counter()
    with make_client(server, parallelism=8) as client:
        found = client.fetch_by_keys(ORDER, keys)
        assert client.request_count == math.ceil(10_000 / 250)
    assert time.perf_counter() - started < 10
    assert len(server.requests) == 40
    assert set(found) == set(keys[::2])
    assert found["O-0"]["id"] == "id-O-0"
    sent = [k for r in server.requests for k in body_of(r)["filter"]["key"]["in"]]
    assert sorted(sent) == sorted(keys)  # every key asked exactly once
    assert all(body_of(r)["pageSize"] == 250 for r in server.requests)


@pytest.mark.parametrize("page_key", ["pageInfo", "pagination"])
def test_fetch_follows_pagination_in_either_envelope(page_key: str) -> None:
    keys = [f"O-{i}" for i in range(600)]
    server = FilterServer(keys, page_key=page_key, server_page=100)
    with make_client(server) as client:
        found = client.fetch_by_keys(ORDER, keys)
    assert set(found) == set(keys)
    # 3 chunks of ≤250 keys, each answered in pages of 100: 3 + 3 + 1 pages.
    assert len(server.requests) == 7
    cursors = sorted(str(body_of(r).get("cursor")) for r in server.requests)
    assert cursors.count("None") == 3


def test_fetch_dedupes_keys_and_ignores_empty_input() -> None:
    server = FilterServer(["A"])
    with make_client(server) as client:
        assert client.fetch_by_keys(ORDER, []) == {}
        assert client.request_count == 0
        assert set(client.fetch_by_keys(ORDER, ["A", "A", "B", "A"])) == {"A"}
    assert body_of(server.requests[0])["filter"]["key"]["in"] == ["A", "B"]


def test_fetch_ignores_resources_the_server_sends_for_other_keys() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json={"data": [{"id": "1", "key": "A"}, {"id": "2", "key": "Z"}]})

    with make_client(handler) as client:
        assert set(client.fetch_by_keys(ORDER, ["A", "B"])) == {"A"}


def test_fetch_falls_back_to_get_per_key_without_lookup_filter() -> None:
    server = FilterServer(["A", "C"])
    with make_client(server) as client:
        found = client.fetch_by_keys(ORDER_GET, ["A", "B", "C"])
    assert set(found) == {"A", "C"}
    assert {r.method for r in server.requests} == {"GET"}
    assert sorted(r.url.params["key"] for r in server.requests) == ["A", "B", "C"]


def test_fetch_runs_chunks_concurrently_up_to_parallelism() -> None:
    inflight = 0
    peak = 0
    lock = threading.Lock()

    def handler(request: httpx.Request) -> httpx.Response:
        nonlocal inflight, peak
        with lock:
            inflight += 1
            peak = max(peak, inflight)
        time.sleep(0.02)
        with lock:
            inflight -= 1
        return httpx.Response(200, json={"data": []})

    with make_client(handler, parallelism=4) as client:
        client.fetch_by_keys(ORDER, [f"K{i}" for i in range(250 * 12)])
    assert 1 < peak <= 4


def test_fetch_failure_in_one_chunk_raises() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if "K0" in body_of(request)["filter"]["key"]["in"]:
            return httpx.Response(400, json={"error": "bad_request", "message": "bad filter"})
        return httpx.Response(200, json={"data": []})

    with make_client(handler) as client, pytest.raises(ApiError, match="bad filter"):
        client.fetch_by_keys(ORDER, [f"K{i}" for i in range(1000)])


def test_iter_all_pages_with_key_filter() -> None:
    bodies: list[Any] = []

    def handler(request: httpx.Request) -> httpx.Response:
        body = body_of(request)
        bodies.append(body)
        if body.get("cursor") is None:
            return httpx.Response(200, json={"data": [{"id": "i-a", "key": "a"}], "pagination": {"hasNextPage": True,
                                                                                     "endCursor": "c1"}})
        return httpx.Response(200, json={"data": [{"id": "i-b", "key": "b"}], "pagination": {"hasNextPage": False}})

    with make_client(handler) as client:
        assert [r["key"] for r in client.iter_all(ORDER)] == ["a", "b"]
        assert bodies[0]["filter"] == {"key": {"isNull": False}}
        assert bodies[1]["cursor"] == "c1"
        list(client.iter_all(ORDER, with_key_only=False))
        assert bodies[-1]["filter"] == {}


# --------------------------------------------------------------------------- requests


def test_writes_send_headers_and_json() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        if request.method == "DELETE":
            return httpx.Response(204)
        return httpx.Response(201 if request.method == "POST" else 200, json={"id": "1", "key": "k/1"})

    with make_client(handler, auth=StaticTokenAuth(TOKEN), user_agent="declsync/test") as client:
        assert client.create(ORDER, {"key": "k/1"}, idempotency_key="idem-1")["id"] == "1"
        client.update(ORDER, "k/1", {"status": "booked"}, idempotency_key="idem-2", if_match='"v3"')
        client.delete(ORDER, "k/1", idempotency_key="idem-3")
    post, patch, delete = seen
    assert post.method == "POST" and post.url.path == "/v1/orders"
    assert post.headers["Idempotency-Key"] == "idem-1"
    assert post.headers["Content-Type"] == "application/json"
    assert post.headers["Accept"] == "application/json"
    assert post.headers["User-Agent"] == "declsync/test"
    assert post.headers["Authorization"] == f"Bearer {TOKEN}"
    assert body_of(post) == {"key": "k/1"}
    # A key with a slash stays one path segment.
    assert patch.url.raw_path == b"/v1/orders/k%2F1"
    assert patch.headers["If-Match"] == '"v3"' and patch.headers["Idempotency-Key"] == "idem-2"
    assert "If-Match" not in post.headers
    assert delete.headers["Idempotency-Key"] == "idem-3"


def test_get_and_get_by_key_return_none_on_404() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/present") or request.url.params.get("key") == "present":
            return httpx.Response(200, json={"id": "1", "key": "present"})
        return httpx.Response(404, json={"error": "not_found", "message": "Resource not found"})

    with make_client(handler) as client:
        assert client.get(ORDER, "missing") is None
        assert client.get(ORDER, "present") == {"id": "1", "key": "present"}
        assert client.get_by_key(ORDER, "missing") is None
        assert client.get_by_key(ORDER, "present") == {"id": "1", "key": "present"}


def test_get_by_key_accepts_list_envelope() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json={"data": [{"id": "1", "key": "A"}]})

    with make_client(handler) as client:
        assert client.get_by_key(ORDER, "A") == {"id": "1", "key": "A"}
        assert client.get_by_key(ORDER, "B") is None


# --------------------------------------------------------------------------- retries


def sequence(*responses: httpx.Response | Exception) -> tuple[Handler, list[httpx.Request]]:
    """A handler answering with ``responses`` in order (exceptions are raised)."""
    seen: list[httpx.Request] = []
    todo = list(responses)

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        item = todo.pop(0) if len(todo) > 1 else todo[0]
        if isinstance(item, Exception):
            raise item
        return item

    return handler, seen


def test_retries_503_then_succeeds_with_backoff() -> None:
    handler, _ = sequence(httpx.Response(503), httpx.Response(503), httpx.Response(200, json={"id": "1"}))
    clock = FakeClock()
    with make_client(handler, clock=clock, backoff_base=0.5) as client:
        assert client.get(ORDER, "1") == {"id": "1"}
        assert client.request_count == 3
    assert len(clock.sleeps) == 2
    assert 0 <= clock.sleeps[0] <= 0.5 and 0 <= clock.sleeps[1] <= 1.0


@pytest.mark.parametrize(
    "failure",
    [httpx.ConnectError("connection refused"), httpx.RemoteProtocolError("peer closed connection"),
     httpx.ReadError("connection reset"), httpx.ReadTimeout("timed out")],
)
def test_write_retried_after_connection_error_reuses_idempotency_key(failure: Exception) -> None:
    handler, seen = sequence(failure, httpx.Response(201, json={"id": "1", "key": "A"}))
    with make_client(handler) as client:
        assert client.create(ORDER, {"key": "A"}, idempotency_key="idem-xyz") == {"id": "1", "key": "A"}
    assert len(seen) == 2
    assert [r.headers["Idempotency-Key"] for r in seen] == ["idem-xyz", "idem-xyz"]
    assert seen[0].content == seen[1].content


def test_truncated_body_is_retried() -> None:
    class Truncated(httpx.SyncByteStream):
        def __iter__(self) -> Iterator[bytes]:
            yield b'{"id": "1", "ke'
            raise httpx.RemoteProtocolError("peer closed connection without sending complete message body")

    handler, seen = sequence(httpx.Response(200, stream=Truncated()), httpx.Response(200, json={"id": "1"}))
    with make_client(handler) as client:
        assert client.update(ORDER, "1", {}, idempotency_key="k") == {"id": "1"}
    assert len(seen) == 2


def test_429_honours_retry_after_for_all_workers() -> None:
    handler, _ = sequence(
        httpx.Response(429, headers={"Retry-After": "7"}, json={"error": "rate_limit_exceeded"}),
        httpx.Response(200, json={"id": "1"}),
    )
    clock = FakeClock()
    with make_client(handler, clock=clock) as client:
        assert client.get(ORDER, "1") == {"id": "1"}
        assert clock.sleeps == [7.0]
        # The pause is shared: another request right now would wait as well.
        clock.now -= 3
        assert client.throttle.reserve() == pytest.approx(3.0)


def test_429_without_retry_after_waits_for_rate_limit_reset() -> None:
    clock = FakeClock()
    handler, _ = sequence(
        httpx.Response(429, headers={"X-RateLimit-Reset": str(int(clock.now) + 12),
                                     "X-RateLimit-Remaining": "0"}),
        httpx.Response(200, json={"id": "1"}),
    )
    with make_client(handler, clock=clock) as client:
        client.get(ORDER, "1")
    assert sum(clock.sleeps) == pytest.approx(12.0)


def test_gives_up_after_max_retries() -> None:
    handler, seen = sequence(httpx.Response(503, json={"error": "unavailable", "message": "maintenance"}))
    with make_client(handler, max_retries=3) as client, pytest.raises(ApiError) as info:
        client.get(ORDER, "1")
    assert len(seen) == 4
    assert info.value.status == 503
    assert "GET /v1/orders/1: 503 unavailable: maintenance (gave up after 4 attempts)" in str(info.value)


def test_no_retry_on_400() -> None:
    handler, seen = sequence(httpx.Response(400, json={"error": "bad_request", "message": "nope"}))
    with make_client(handler) as client, pytest.raises(ApiError):
        client.create(ORDER, {}, idempotency_key="k")
    assert len(seen) == 1


def test_connection_refused_exhausted_is_connect_error() -> None:
    handler, seen = sequence(httpx.ConnectError("[Errno 111] Connection refused"))
    with make_client(handler, max_retries=2) as client, pytest.raises(ConnectError) as info:
        client.fetch_by_keys(ORDER, ["A"])
    assert len(seen) == 3
    msg = str(info.value)
    assert msg.startswith("cannot reach http://127.0.0.1:8080: [Errno 111] Connection refused")
    assert "POST /v1/orders/filter" in msg and "check DECLSYNC_API_URL and your network" in msg
    assert info.value.status == 0


def test_lost_connection_exhausted_is_connect_error() -> None:
    handler, seen = sequence(httpx.RemoteProtocolError("peer closed connection"))
    with make_client(handler, max_retries=1) as client, pytest.raises(ConnectError) as info:
        client.delete(ORDER, "x", idempotency_key="k")
    assert len(seen) == 2
    assert str(info.value).startswith("lost the connection to http://127.0.0.1:8080: peer closed connection "
                                      "(DELETE /v1/orders/x, 2 attempts)")


def test_tls_error_is_not_retried_and_says_tls() -> None:
    handler, seen = sequence(httpx.ConnectError("[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed"))
    with make_client(handler) as client, pytest.raises(ConnectError, match="TLS"):
        client.get(ORDER, "1")
    assert len(seen) == 1


def test_real_closed_port_gives_connect_error() -> None:
    with ApiClient("http://127.0.0.1:9/v1", max_retries=0, timeout=2) as client, \
            pytest.raises(ConnectError, match=r"cannot reach http://127\.0\.0\.1:9"):
        client.get(ORDER, "1")


# --------------------------------------------------------------------------- error mapping


def fail_with(status: int, body: Any = None, **kw: Any) -> ApiError:
    def handler(request: httpx.Request) -> httpx.Response:
        if body is None:
            return httpx.Response(status, **kw)
        if isinstance(body, bytes):
            return httpx.Response(status, content=body, **kw)
        return httpx.Response(status, json=body, **kw)

    with make_client(handler, auth=StaticTokenAuth(TOKEN), max_retries=0) as client, \
            pytest.raises(ApiError) as info:
        client.update(ORDER, "ORD-1", {"status": "booked"}, idempotency_key="k")
    return info.value


def test_401_is_auth_error() -> None:
    err = fail_with(401, {"error": "unauthorized", "message": f"token {TOKEN} expired"})
    assert isinstance(err, AuthError) and err.status == 401
    assert str(err).startswith("authentication failed (401) on PATCH /v1/orders/ORD-1")
    assert "check DECLSYNC_TOKEN or DECLSYNC_CLIENT_ID/DECLSYNC_CLIENT_SECRET" in str(err)
    assert TOKEN not in str(err)


def test_403_is_auth_error() -> None:
    assert isinstance(fail_with(403, {"error": "forbidden"}), AuthError)


def test_409_duplicate_key_is_conflict_with_code() -> None:
    err = fail_with(409, {"error": "conflict", "code": "DUPLICATE_KEY", "message": "key 'A' already exists"})
    assert isinstance(err, ConflictError)
    assert err.code == "DUPLICATE_KEY" and err.status == 409
    assert str(err) == "PATCH /v1/orders/ORD-1: 409 DUPLICATE_KEY: key 'A' already exists"


@pytest.mark.parametrize("status", [400, 422])
def test_validation_error_lists_details(status: int) -> None:
    err = fail_with(status, {"error": "validation_error", "message": "Validation failed", "details": [
        {"field": "status", "message": "must be one of draft, quoted"},
        {"field": "id", "message": "This field is read-only"},
    ]})
    assert type(err) is ApiError and err.status == status and err.code == "validation_error"
    assert err.details == [{"field": "status", "message": "must be one of draft, quoted"},
                           {"field": "id", "message": "This field is read-only"}]
    assert "status: must be one of draft, quoted; id: This field is read-only" in str(err)


def test_nested_error_envelope() -> None:
    err = fail_with(422, {"error": {"code": "VALIDATION_ERROR", "message": "Validation failed",
                                    "details": [{"field": "mode", "message": "invalid"}]}})
    assert err.code == "VALIDATION_ERROR" and "mode: invalid" in str(err)


def test_404_on_update_is_api_error() -> None:
    err = fail_with(404, {"error": "not_found", "message": "Resource not found"})
    assert type(err) is ApiError and err.status == 404
    assert str(err) == "PATCH /v1/orders/ORD-1: 404 not_found: Resource not found"


def test_non_json_error_body_is_summarised() -> None:
    err = fail_with(418, b"<html><body>I'm a\n teapot</body></html>")
    assert err.status == 418 and "<html><body>I'm a teapot</body></html>" in str(err)


def test_secret_echoed_in_any_error_is_redacted() -> None:
    for status in (400, 401, 409, 500):
        err = fail_with(status, {"error": "x", "message": f"you sent Bearer {TOKEN}"})
        assert TOKEN not in str(err)
    err = fail_with(502, f"proxy saw {TOKEN}".encode())
    assert TOKEN not in str(err)


@pytest.mark.parametrize(
    ("content", "what"),
    [
        (b"<html>oops</html>", "not JSON"),
        (b'{"id": "1", "ke', "not JSON"),
        (b"\xff\xfe\x00", "not JSON"),
        (b'["a", "b"]', "expected a resource object"),
        (b"null", "expected a resource object"),
    ],
)
def test_bad_resource_answer_is_api_error(content: bytes, what: str) -> None:
    with make_client(lambda r: httpx.Response(200, content=content)) as client, \
            pytest.raises(ApiError, match="unexpected response from API to PATCH /v1/orders/1") as info:
        client.update(ORDER, "1", {}, idempotency_key="k")
    assert what in str(info.value)


@pytest.mark.parametrize(
    ("payload", "what"),
    [
        ({"items": []}, "no 'data' list"),
        ({"data": {"a": 1}}, "no 'data' list"),
        ({"data": [1, 2]}, "no 'data' list"),
        ({"data": [], "pageInfo": "yes"}, "page info is not an object"),
        ({"data": [], "pageInfo": {"hasNextPage": True}}, "hasNextPage without an endCursor"),
        ({"data": [], "pageInfo": {"hasNextPage": True, "endCursor": "same"}}, "cursor repeats"),
        ([], "no 'data' list"),
    ],
)
def test_bad_filter_answer_is_api_error(payload: Any, what: str) -> None:
    with make_client(lambda r: httpx.Response(200, json=payload)) as client, \
            pytest.raises(ApiError, match="unexpected response from API to POST /v1/orders/filter") as info:
        client.fetch_by_keys(ORDER, ["A"])
    assert what in str(info.value)


def test_huge_response_is_refused() -> None:
    with make_client(lambda r: httpx.Response(200, content=b" " * 5000), max_response_bytes=1000) as client, \
            pytest.raises(ApiError, match="larger than 1000 bytes"):
        client.get(ORDER, "1")


# --------------------------------------------------------------------------- security


def test_redirect_is_not_followed() -> None:
    handler, seen = sequence(httpx.Response(302, headers={"Location": "https://evil.example.com/v1/orders"}))
    with make_client(handler, auth=StaticTokenAuth(TOKEN)) as client, pytest.raises(ApiError) as info:
        client.get(ORDER, "1")
    assert len(seen) == 1
    msg = str(info.value)
    assert "the API redirected GET /v1/orders/1 (302) to evil.example.com" in msg
    assert "does not follow redirects" in msg and "fix DECLSYNC_API_URL" in msg


@pytest.mark.parametrize("url", ["http://api.example.com/v1", "http://10.0.0.1:8080/v1"])
def test_plain_http_beyond_loopback_is_refused(url: str) -> None:
    with pytest.raises(ConfigError, match="refusing to send credentials over plain http to http://"):
        ApiClient(url)
    ApiClient(url, insecure_http=True).close()


@pytest.mark.parametrize(
    "url", ["http://127.0.0.1:8080/v1", "http://127.3.4.5/v1", "http://[::1]:8080/v1", "http://localhost/v1",
            "https://api.mvmnt.io/v1"],
)
def test_loopback_and_https_are_allowed(url: str) -> None:
    ApiClient(url).close()


def test_token_url_is_checked_too() -> None:
    auth = ClientCredentialsAuth("http://auth.example.com/oauth2/token", "id", "secret-value-1")
    with pytest.raises(ConfigError, match="plain http"):
        ApiClient("https://api.mvmnt.io/v1", auth=auth)


def test_bad_scheme_is_config_error() -> None:
    with pytest.raises(ConfigError, match="invalid API URL"):
        ApiClient("ftp://api.mvmnt.io/v1")


def test_default_token_url() -> None:
    assert default_token_url("https://api.mvmnt.io/v1") == "https://api.mvmnt.io/oauth2/token"
    assert default_token_url("http://127.0.0.1:8080/v1/") == "http://127.0.0.1:8080/oauth2/token"
    assert default_token_url("http://user:pw@[::1]:81/v1?x=1") == "http://[::1]:81/oauth2/token"


# --------------------------------------------------------------------------- client credentials


class TokenServer:
    def __init__(self, expires_in: int = 3600) -> None:
        self.issued: list[str] = []
        self.expires_in = expires_in
        self.forms: list[dict[str, str]] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        assert request.url.path == "/oauth2/token" and request.method == "POST"
        form = dict(httpx.QueryParams(request.content.decode()))
        self.forms.append(form)
        if form.get("client_secret") != "s3cret-CLIENT-99":
            return httpx.Response(401, json={"error": "invalid_client",
                                             "error_description": f"bad secret {form.get('client_secret')}"})
        token = f"access-token-{len(self.issued) + 1:04d}"
        self.issued.append(token)
        return httpx.Response(200, json={"access_token": token, "token_type": "Bearer",
                                         "expires_in": self.expires_in})


def test_client_credentials_caches_token_until_expiry() -> None:
    tokens = TokenServer(expires_in=3600)
    now = [0.0]
    auth = ClientCredentialsAuth("http://127.0.0.1:8080/oauth2/token", "cid", "s3cret-CLIENT-99",
                                 transport=httpx.MockTransport(tokens), clock=lambda: now[0])
    used: list[str] = []

    def api(request: httpx.Request) -> httpx.Response:
        used.append(request.headers["Authorization"])
        return httpx.Response(200, json={"id": "1"})

    with make_client(api, auth=auth) as client:
        for _ in range(5):
            client.get(ORDER, "1")
        assert tokens.forms[0] == {"grant_type": "client_credentials", "client_id": "cid",
                                   "client_secret": "s3cret-CLIENT-99"}
        assert len(tokens.issued) == 1
        now[0] = 3600 - 61  # still inside the 60 s margin
        client.get(ORDER, "1")
        assert len(tokens.issued) == 1
        now[0] = 3600 - 59
        client.get(ORDER, "1")
        assert len(tokens.issued) == 2
    assert used[0] == "Bearer access-token-0001" and used[-1] == "Bearer access-token-0002"


def test_client_credentials_refreshes_once_on_401() -> None:
    tokens = TokenServer()
    auth = ClientCredentialsAuth("http://127.0.0.1:8080/oauth2/token", "cid", "s3cret-CLIENT-99",
                                 transport=httpx.MockTransport(tokens))
    seen: list[str] = []

    def api(request: httpx.Request) -> httpx.Response:
        seen.append(request.headers["Authorization"])
        if request.headers["Authorization"] == "Bearer access-token-0001":
            return httpx.Response(401, json={"error": "unauthorized"})
        return httpx.Response(200, json={"id": "1"})

    with make_client(api, auth=auth) as client:
        assert client.get(ORDER, "1") == {"id": "1"}
        assert client.request_count == 2
    assert seen == ["Bearer access-token-0001", "Bearer access-token-0002"]


def test_client_credentials_gives_up_after_one_refresh() -> None:
    tokens = TokenServer()
    auth = ClientCredentialsAuth("http://127.0.0.1:8080/oauth2/token", "cid", "s3cret-CLIENT-99",
                                 transport=httpx.MockTransport(tokens))
    with make_client(lambda r: httpx.Response(401, json={"error": "unauthorized"}), auth=auth) as client, \
            pytest.raises(AuthError, match=r"authentication failed \(401\)"):
        client.get(ORDER, "1")
    assert len(tokens.issued) == 2


def test_client_credentials_token_endpoint_refusal_hides_secret() -> None:
    auth = ClientCredentialsAuth("http://127.0.0.1:8080/oauth2/token", "cid", "wrong-SECRET-123",
                                 transport=httpx.MockTransport(TokenServer()))
    with make_client(lambda r: httpx.Response(200, json={}), auth=auth) as client, \
            pytest.raises(AuthError) as info:
        client.get(ORDER, "1")
    msg = str(info.value)
    assert "wrong-SECRET-123" not in msg
    assert "token endpoint http://127.0.0.1:8080/oauth2/token refused the client credentials (401" in msg
    assert "check DECLSYNC_CLIENT_ID/DECLSYNC_CLIENT_SECRET" in msg


def test_client_credentials_token_endpoint_5xx_is_retried() -> None:
    calls = 0

    def token_endpoint(request: httpx.Request) -> httpx.Response:
        nonlocal calls
        calls += 1
        if calls == 1:
            return httpx.Response(503)
        return httpx.Response(200, json={"access_token": "access-token-ok", "expires_in": 3600})

    auth = ClientCredentialsAuth("http://127.0.0.1:8080/oauth2/token", "cid", "s3cret-CLIENT-99",
                                 transport=httpx.MockTransport(token_endpoint))
    with make_client(lambda r: httpx.Response(200, json={"id": "1"}), auth=auth) as client:
        assert client.get(ORDER, "1") == {"id": "1"}
    assert calls == 2


def test_client_credentials_one_refresh_for_many_threads() -> None:
    tokens = TokenServer()
    auth = ClientCredentialsAuth("http://127.0.0.1:8080/oauth2/token", "cid", "s3cret-CLIENT-99",
                                 transport=httpx.MockTransport(tokens))
    with make_client(lambda r: httpx.Response(200, json={"data": []}), auth=auth, parallelism=8) as client:
        client.fetch_by_keys(ORDER, [f"K{i}" for i in range(250 * 16)])
    assert len(tokens.issued) == 1


# --------------------------------------------------------------------------- throttle


def test_throttle_spreads_requests_when_budget_is_low() -> None:
    t0 = 1_700_000_000.0
    clock = FakeClock(t0)
    throttle = Throttle(4, clock=clock.time)
    reset = str(int(t0 + 60))
    throttle.observe({"x-ratelimit-remaining": "50", "x-ratelimit-reset": reset})
    assert throttle.reserve() == 0
    throttle.observe({"x-ratelimit-remaining": "4", "x-ratelimit-reset": reset})
    waits = [throttle.reserve() for _ in range(4)]
    # Four requests left for 60 s: one every 15 s.
    assert waits == pytest.approx([0, 15, 30, 45])
    # Budget used up: wait for the reset.
    assert throttle.reserve() == pytest.approx(60)
    # A stale answer from the same window never raises the budget again.
    throttle.observe({"x-ratelimit-remaining": "3", "x-ratelimit-reset": reset})
    assert throttle.reserve() == pytest.approx(60)
    # After the reset the old window is forgotten.
    clock.now = t0 + 61
    assert throttle.reserve() == 0


def test_throttle_accepts_relative_reset_and_pause() -> None:
    clock = FakeClock(1000.0)
    throttle = Throttle(2, clock=clock.time)
    throttle.observe({"x-ratelimit-remaining": "0", "x-ratelimit-reset": "30"})
    assert throttle.reserve() == pytest.approx(30)
    clock.now = 1031
    throttle.pause(5)
    assert throttle.reserve() == pytest.approx(5)
    throttle.pause(10_000)
    assert throttle.reserve() <= 120


def test_client_slows_down_before_running_into_429() -> None:
    """A server allowing 10 requests per 60 s window; the client must never see a 429."""
    clock = FakeClock()
    t0 = clock.now
    window = {"start": clock.now, "used": 0}
    statuses: list[int] = []

    def handler(request: httpx.Request) -> httpx.Response:
        if clock.now >= window["start"] + 60:
            window["start"], window["used"] = clock.now, 0
        reset = str(int(window["start"] + 60))
        if window["used"] >= 10:
            statuses.append(429)
            return httpx.Response(429, headers={"Retry-After": str(int(window["start"] + 60 - clock.now)),
                                                "X-RateLimit-Remaining": "0", "X-RateLimit-Reset": reset})
        window["used"] += 1
        statuses.append(200)
        return httpx.Response(200, json={"id": "1"}, headers={
            "X-RateLimit-Limit": "10", "X-RateLimit-Remaining": str(10 - window["used"]),
            "X-RateLimit-Reset": reset})

    with make_client(handler, clock=clock, parallelism=4) as client:
        for _ in range(25):
            client.get(ORDER, "1")
    assert 429 not in statuses and len(statuses) == 25
    # 25 requests at 10 per minute need at least two full windows.
    assert clock.now - t0 >= 120
    assert clock.sleeps and all(s > 0 for s in clock.sleeps)


def test_request_count_counts_every_attempt() -> None:
    handler, _ = sequence(httpx.Response(500), httpx.Response(200, json={"id": "1"}))
    with make_client(handler) as client:
        client.get(ORDER, "1")
        assert client.request_count == 2


def test_kindspec_page_size_controls_chunks() -> None:
    small: KindSpec = dataclasses.replace(ORDER, page_size=10)
    server = FilterServer([])
    with make_client(server) as client:
        client.fetch_by_keys(small, [f"K{i}" for i in range(95)])
    assert len(server.requests) == 10
    assert all(len(body_of(r)["filter"]["key"]["in"]) <= 10 for r in server.requests)


# --------------------------------------------------------------------------- answers are checked (issue 10)


def test_get_by_key_refuses_an_answer_for_another_key() -> None:
    with make_client(lambda r: httpx.Response(200, json={"id": "2", "key": "B"})) as client, \
            pytest.raises(ApiError, match="asked for Order 'A', got the resource of key 'B'"):
        client.get_by_key(ORDER_GET, "A")


def test_get_and_update_refuse_an_answer_for_another_resource() -> None:
    with make_client(lambda r: httpx.Response(200, json={"id": "2", "key": "B", "friendlyId": "O-2"})) as client:
        for ref in ("2", "B", "O-2"):
            assert client.get(ORDER, ref) is not None
        with pytest.raises(ApiError, match="asked for '1', got the resource of id '2'"):
            client.get(ORDER, "1")
        with pytest.raises(ApiError, match="asked for '1'"):
            client.update(ORDER, "1", {}, idempotency_key="i")
        with pytest.raises(ApiError, match="created 'A' but the answer is the resource of key 'B'"):
            client.create(ORDER, {"key": "A"}, idempotency_key="i")


def test_two_resources_for_one_key_are_refused_across_pages() -> None:
    pages = [
        {"data": [{"id": "1", "key": "A"}], "pageInfo": {"hasNextPage": True, "endCursor": "c1"}},
        {"data": [{"id": "1", "key": "A"}, {"id": "9", "key": "A"}], "pageInfo": {"hasNextPage": False}},
    ]
    handler, _ = sequence(*[httpx.Response(200, json=p) for p in pages])
    with make_client(handler) as client, pytest.raises(ApiError, match=r"Order 'A': 2 live resources .*'1', '9'"):
        client.fetch_by_keys(ORDER, ["A"])


def test_the_same_resource_on_two_pages_is_one_resource() -> None:
    pages = [
        {"data": [{"id": "1", "key": "A"}], "pageInfo": {"hasNextPage": True, "endCursor": "c1"}},
        {"data": [{"id": "1", "key": "A"}, {"id": "2", "key": "B"}], "pageInfo": {"hasNextPage": False}},
    ]
    handler, _ = sequence(*[httpx.Response(200, json=p) for p in pages])
    with make_client(handler) as client:
        assert set(client.fetch_by_keys(ORDER, ["A", "B"])) == {"A", "B"}


def test_keyed_lookup_follows_at_most_keys_plus_two_pages() -> None:
    served = [0]

    def handler(request: httpx.Request) -> httpx.Response:
        served[0] += 1
        other = {"id": f"x{served[0]}", "key": f"OTHER-{served[0]}"}
        return httpx.Response(200, json={"data": [other], "pageInfo": {"hasNextPage": True,
                                                                       "endCursor": f"c{served[0]}"}})

    with make_client(handler) as client, pytest.raises(ApiError, match="paging would never end"):
        client.fetch_by_keys(ORDER, ["A", "B"])
    assert served[0] == 4


@pytest.mark.parametrize("value", ["inf", "-inf", "nan", "1e999", "9" * 400])
def test_throttle_ignores_non_finite_headers(value: str) -> None:
    throttle = Throttle(4, clock=FakeClock().time)
    throttle.observe({"x-ratelimit-remaining": value, "x-ratelimit-reset": "30"})
    throttle.observe({"x-ratelimit-remaining": "1", "x-ratelimit-reset": value})
    assert 0 <= throttle.reserve() <= 120


def test_listing_that_repeats_itself_is_bounded_and_deduplicated() -> None:
    served = [0]

    def handler(request: httpx.Request) -> httpx.Response:
        served[0] += 1
        return httpx.Response(200, json={"data": [{"id": "1", "key": "A"}, {"id": "2", "key": "B"}],
                                         "pageInfo": {"hasNextPage": True, "endCursor": f"c{served[0]}"}})

    seen: list[str] = []
    with make_client(handler) as client, pytest.raises(ApiError, match="3 pages in a row without a new resource"):
        for resource in client.iter_all(ORDER):
            seen.append(resource["id"])
    assert seen == ["1", "2"] and served[0] == 4
