"""Key uniqueness under concurrency, and Idempotency-Key replays."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import httpx

from declsync.sandbox import SandboxServer

from .conftest import created, order


def test_concurrent_creates_of_one_key_make_exactly_one_resource(sandbox: SandboxServer) -> None:
    barrier = threading.Barrier(10)

    def create(i: int) -> int:
        with httpx.Client(base_url=sandbox.base_url + "/", timeout=10) as c:
            barrier.wait()
            return c.post("orders", json={"key": "RACE", "internalNotes": str(i)}).status_code

    with ThreadPoolExecutor(10) as pool:
        statuses = list(pool.map(create, range(10)))
    assert sorted(statuses) == [201] + [409] * 9
    with httpx.Client(base_url=sandbox.base_url + "/") as c:
        assert len(c.post("orders/filter", json={"filter": {"key": {"equalTo": "RACE"}}}).json()["data"]) == 1
    assert sandbox.stats()["writes"] == 1


def test_a_retried_create_is_replayed_not_repeated(client: httpx.Client, sandbox: SandboxServer) -> None:
    headers = {"Idempotency-Key": "create-1"}
    first = client.post("orders", json={"key": "O-1"}, headers=headers)
    again = client.post("orders", json={"key": "O-1"}, headers=headers)
    assert first.status_code == again.status_code == 201
    assert again.json() == first.json() and again.headers["etag"] == first.headers["etag"]
    assert again.headers["idempotent-replayed"] == "true" and "idempotent-replayed" not in first.headers
    assert sandbox.stats()["writes"] == 1
    assert len(client.post("orders/filter", json={}).json()["data"]) == 1


def test_the_same_key_for_another_request_is_refused(client: httpx.Client) -> None:
    headers = {"Idempotency-Key": "k-1"}
    created(client.post("orders", json={"key": "O-1"}, headers=headers))
    for r in (
        client.post("orders", json={"key": "O-2"}, headers=headers),
        client.patch("orders/O-1", json={"key": "O-1"}, headers=headers),
        client.post("customers", json={"key": "O-1"}, headers=headers),
    ):
        assert r.status_code == 422 and r.json()["error"] == "idempotency_key_reused"
    assert client.get("orders", params={"key": "O-2"}).status_code == 404


def test_patch_and_delete_replays(client: httpx.Client, sandbox: SandboxServer) -> None:
    order(client, "O-1")
    sandbox.reset_stats()
    patch = {"Idempotency-Key": "p-1"}
    first = client.patch("orders/O-1", json={"internalNotes": "a"}, headers=patch)
    client.patch("orders/O-1", json={"internalNotes": "b"})
    again = client.patch("orders/O-1", json={"internalNotes": "a"}, headers=patch)
    assert again.json() == first.json() and again.headers["idempotent-replayed"] == "true"
    assert client.get("orders/O-1").json()["internalNotes"] == "b"
    delete = {"Idempotency-Key": "d-1"}
    assert client.delete("orders/O-1", headers=delete).status_code == 204
    replay = client.delete("orders/O-1", headers=delete)
    assert replay.status_code == 204 and replay.headers["idempotent-replayed"] == "true"
    assert sandbox.stats()["writes"] == 3


def test_failed_requests_are_not_remembered(client: httpx.Client) -> None:
    headers = {"Idempotency-Key": "k-1"}
    assert client.post("orders", json={"key": "O-1", "status": "nope"}, headers=headers).status_code == 400
    assert client.post("orders", json={"key": "O-1"}, headers=headers).status_code == 201


def test_idempotency_key_length(client: httpx.Client) -> None:
    assert client.post("orders", json={}, headers={"Idempotency-Key": "k" * 255}).status_code == 201
    r = client.post("orders", json={}, headers={"Idempotency-Key": "k" * 256})
    assert r.status_code == 400 and r.json()["error"] == "bad_request"


def test_concurrent_retries_with_one_idempotency_key_write_once(sandbox: SandboxServer) -> None:
    barrier = threading.Barrier(8)

    def create(_: int) -> tuple[int, str]:
        with httpx.Client(base_url=sandbox.base_url + "/", timeout=10) as c:
            barrier.wait()
            r = c.post("orders", json={"key": "O-1"}, headers={"Idempotency-Key": "same"})
            return r.status_code, r.json()["id"]

    with ThreadPoolExecutor(8) as pool:
        answers = set(pool.map(create, range(8)))
    assert len(answers) == 1 and next(iter(answers))[0] == 201
    assert sandbox.stats()["writes"] == 1
