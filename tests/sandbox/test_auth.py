"""Bearer tokens (static and OAuth2 client credentials) and the fixed-window rate limit."""

from __future__ import annotations

import base64
import time

import httpx

from declsync.remote.auth import ClientCredentialsAuth
from declsync.sandbox import sandbox_server


def token_for(url: str, client_id: str, secret: str) -> httpx.Response:
    form = {"grant_type": "client_credentials", "client_id": client_id, "client_secret": secret}
    return httpx.post(url + "/oauth2/token", data=form)


def test_static_token() -> None:
    with sandbox_server(token="tok-static-123") as server:
        url = server.base_url + "/orders/filter"
        for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": "tok-static-123"}):
            r = httpx.post(url, json={}, headers=headers)
            assert r.status_code == 401 and r.json()["error"] == "unauthorized"
        assert httpx.post(url, json={}, headers={"Authorization": "Bearer tok-static-123"}).status_code == 200
        assert httpx.get(server.url + "/_admin/stats").status_code == 401
        # Rejected requests run nothing but are still counted.
        assert server.stats()["total"] == 4


def test_client_credentials() -> None:
    with sandbox_server(clients={"ci": "s3cret"}, token_ttl=600) as server:
        r = token_for(server.url, "ci", "s3cret")
        assert r.status_code == 200 and r.headers["cache-control"] == "no-store"
        body = r.json()
        assert body["token_type"] == "Bearer" and body["expires_in"] == 600
        headers = {"Authorization": f"Bearer {body['access_token']}"}
        assert httpx.post(server.base_url + "/orders", json={"key": "O"}, headers=headers).status_code == 201
        for client_id, secret in (("ci", "wrong"), ("other", "s3cret"), ("", "")):
            bad = token_for(server.url, client_id, secret)
            assert bad.status_code == 401 and bad.json()["error"] == "invalid_client"
        basic = base64.b64encode(b"ci:s3cret").decode()
        r = httpx.post(server.url + "/oauth2/token", data={"grant_type": "client_credentials"},
                       headers={"Authorization": f"Basic {basic}"})
        assert r.status_code == 200
        r = httpx.post(server.url + "/oauth2/token", data={"grant_type": "password"})
        assert r.status_code == 400 and r.json()["error"] == "unsupported_grant_type"
        assert httpx.get(server.url + "/oauth2/token").status_code == 405


def test_expired_tokens_are_refused() -> None:
    with sandbox_server(clients={"ci": "s3cret"}, token_ttl=0) as server:
        token = token_for(server.url, "ci", "s3cret").json()["access_token"]
        r = httpx.post(server.base_url + "/orders/filter", json={}, headers={"Authorization": f"Bearer {token}"})
        assert r.status_code == 401


def test_declsync_client_credentials_flow_works_against_it() -> None:
    with sandbox_server(clients={"ci": "s3cret"}) as server:
        auth = ClientCredentialsAuth(server.url + "/oauth2/token", "ci", "s3cret")
        with httpx.Client(auth=auth) as c:
            assert c.post(server.base_url + "/customers/filter", json={}).status_code == 200
        auth.close()
        assert auth.fetch_count == 1


def test_open_sandbox_grants_any_client_a_token() -> None:
    with sandbox_server() as server:
        assert token_for(server.url, "anyone", "anything").status_code == 200
        assert httpx.post(server.base_url + "/orders/filter", json={}).status_code == 200


def test_rate_limit() -> None:
    # The window is the clock's minute: do not start the test just before it rolls over.
    if time.time() % 60 > 58:
        time.sleep(60 - time.time() % 60 + 0.05)
    with sandbox_server(rate_limit=3) as server:
        answers = [httpx.post(server.base_url + "/orders/filter", json={}) for _ in range(4)]
        assert [r.status_code for r in answers] == [200, 200, 200, 429]
        assert [r.headers["x-ratelimit-remaining"] for r in answers] == ["2", "1", "0", "0"]
        assert all(r.headers["x-ratelimit-limit"] == "3" for r in answers)
        reset = int(answers[0].headers["x-ratelimit-reset"])
        assert time.time() < reset <= time.time() + 61
        limited = answers[-1]
        assert limited.json()["error"] == "rate_limit_exceeded"
        assert 1 <= int(limited.headers["retry-after"]) <= 60
        # Paths outside /v1 are not limited.
        assert httpx.get(server.url + "/healthz").status_code == 200
