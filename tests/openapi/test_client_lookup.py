"""The contract's key lookup without a filter endpoint: GET /{r}/{key}?by=key (MockTransport)."""

from __future__ import annotations

import random
from pathlib import Path

import httpx
import pytest

from declsync.errors import ApiError
from declsync.profile.model import load_profile
from declsync.remote.client import ApiClient

SERIES = load_profile(Path(__file__).parent / "data" / "library-api.yaml").kinds["Series"]
BASE = "https://api.example.test/v1"


def client(handler: httpx.MockTransport) -> ApiClient:
    return ApiClient(BASE, transport=handler, sleep=lambda s: None, rng=random.Random(0), parallelism=2)


def test_keys_are_looked_up_one_by_one_with_by_key() -> None:
    seen: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(f"{request.method} {request.url.raw_path.decode()}")
        if request.url.raw_path.startswith(b"/v1/series/S%2F1?"):
            return httpx.Response(200, json={"id": "i-1", "key": "S/1", "name": "A"})
        return httpx.Response(404, json={"error": "not_found", "message": "no"})

    with client(httpx.MockTransport(handler)) as c:
        found = c.fetch_by_keys(SERIES, ["S/1", "S-2"])
    assert found == {"S/1": {"id": "i-1", "key": "S/1", "name": "A"}}
    # The key is one path segment, however it is spelled.
    assert sorted(seen) == ["GET /v1/series/S%2F1?by=key", "GET /v1/series/S-2?by=key"]


def test_an_answer_for_another_key_is_never_trusted() -> None:
    """A server that ignores ?by=key and answers with another resource: an error, not a plan against it."""

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json={"id": "i-9", "key": "OTHER", "name": "B"})

    with client(httpx.MockTransport(handler)) as c, pytest.raises(ApiError, match=r"'S-1'.*'OTHER'"):
        c.fetch_by_keys(SERIES, ["S-1"])
