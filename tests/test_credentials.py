"""Credentials are cleaned where they enter: whitespace stripped, control characters refused."""

from __future__ import annotations

import logging
from urllib.parse import parse_qs

import httpx
import pytest

from declsync.errors import AuthError, ConfigError, redact
from declsync.profile.model import default_profile
from declsync.remote.auth import ClientCredentialsAuth, StaticTokenAuth, clean_credential
from declsync.remote.client import ApiClient
from declsync.remote.target import Settings

ORDER = default_profile().kind("Order")
TOKEN = "tok-CREDENTIALS-4e1b9d"
SECRET = "cs-CREDENTIALS-8a2c7f"


@pytest.mark.parametrize("raw", [TOKEN + "\n", TOKEN + "\r\n", f"  {TOKEN}\t", f"\n{TOKEN}\n\n", TOKEN])
def test_surrounding_whitespace_is_stripped(raw: str) -> None:
    assert clean_credential(raw, "the API token") == TOKEN


@pytest.mark.parametrize("raw", [f"tok\n{TOKEN}", f"{TOKEN}\x00x", f"tok\r{TOKEN}", f"{TOKEN}\x1b[0m", f"{TOKEN}\u2028x",
                                 f"tok\u00a0{TOKEN}"])
def test_a_control_character_inside_is_a_configuration_error(raw: str) -> None:
    with pytest.raises(ConfigError) as info:
        clean_credential(raw, "the API token (DECLSYNC_TOKEN / --token)")
    message = str(info.value)
    assert "the API token (DECLSYNC_TOKEN / --token) contains a control character" in message
    assert TOKEN[:8] not in message and "tok" not in message.split("control character")[1]


def test_blank_credentials_count_as_not_given() -> None:
    settings = Settings(token=" \n", client_id="\t", client_secret="\r\n")
    assert (settings.token, settings.client_id, settings.client_secret) == (None, None, None)


def test_settings_strip_every_credential() -> None:
    settings = Settings(token=TOKEN + "\r\n", client_id=" ci\n", client_secret=SECRET + "\n")
    assert (settings.token, settings.client_id, settings.client_secret) == (TOKEN, "ci", SECRET)
    with pytest.raises(ConfigError, match="client id"):
        Settings(client_id="c\ni", client_secret=SECRET)


def _seen_headers(auth: httpx.Auth) -> list[httpx.Request]:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"id": "1", "key": "K"})

    with ApiClient("http://127.0.0.1:9/v1", auth=auth, transport=httpx.MockTransport(handler),
                   sleep=lambda s: None) as client:
        client.get(ORDER, "1")
    return seen


def test_a_token_with_a_trailing_newline_is_sent_stripped() -> None:
    # The bug: "Bearer tok\n" is an illegal header; httpx reported it with the token in
    # clear, and the client retried it 6 times as a network failure.
    (request,) = _seen_headers(StaticTokenAuth(TOKEN + "\n"))
    assert request.headers["Authorization"] == f"Bearer {TOKEN}"


def test_client_credentials_are_sent_stripped() -> None:
    transport = httpx.MockTransport(lambda r: httpx.Response(200, json={"access_token": " at-1234567890\n"}))
    auth = ClientCredentialsAuth("http://127.0.0.1:9/oauth2/token", " ci\n", SECRET + "\r\n", transport=transport)
    seen: list[bytes] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.headers["Authorization"].encode())
        return httpx.Response(200, json={"id": "1", "key": "K"})

    with ApiClient("http://127.0.0.1:9/v1", auth=auth, transport=httpx.MockTransport(handler),
                   sleep=lambda s: None) as client:
        client.get(ORDER, "1")
    assert seen == [b"Bearer at-1234567890"]


def test_the_token_request_carries_the_stripped_client_credentials() -> None:
    requests: list[httpx.Request] = []

    def token_endpoint(request: httpx.Request) -> httpx.Response:
        requests.append(request)
        return httpx.Response(200, json={"access_token": "at-1234567890"})

    auth = ClientCredentialsAuth("http://127.0.0.1:9/oauth2/token", " ci\n", SECRET + "\n",
                                 transport=httpx.MockTransport(token_endpoint))
    assert auth.token() == "at-1234567890"
    form = parse_qs(requests[0].content.decode())
    assert form["client_id"] == ["ci"] and form["client_secret"] == [SECRET]


def test_an_access_token_with_a_control_character_is_refused_once() -> None:
    calls = []

    def token_endpoint(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        return httpx.Response(200, json={"access_token": "at-12\n34567890"})

    auth = ClientCredentialsAuth("http://127.0.0.1:9/oauth2/token", "ci", SECRET,
                                 transport=httpx.MockTransport(token_endpoint))
    with ApiClient("http://127.0.0.1:9/v1", auth=auth, transport=httpx.MockTransport(lambda r: httpx.Response(200)),
                   sleep=lambda s: None) as client, pytest.raises(AuthError) as info:
        client.get(ORDER, "1")
    assert "control character" in str(info.value) and "at-12" not in str(info.value)
    assert len(calls) == 1


def test_http_library_log_records_are_scrubbed(caplog: pytest.LogCaptureFixture) -> None:
    StaticTokenAuth(TOKEN)  # registers it, as the CLI does
    caplog.set_level(logging.DEBUG)
    logging.getLogger("httpx").info("HTTP Request: GET %s", f"http://h/v1/x?key={TOKEN}\nforged")
    logging.getLogger("httpcore.http11").debug("send_request_headers.failed exception=%r", ValueError(f"b'Bearer {TOKEN}'"))
    texts = [r.getMessage() for r in caplog.records]
    assert len(texts) == 2 and all(TOKEN[:8] not in t and "\n" not in t for t in texts), texts


def test_a_client_id_is_cleaned_but_not_treated_as_a_secret() -> None:
    # Registering it would blank every word it shares 8 characters with ("declsync will perform …").
    settings = Settings(client_id=" declsync-ci\n", client_secret=SECRET)
    assert settings.client_id == "declsync-ci"
    assert redact("declsync will perform the following actions: declsync-ci") == \
        "declsync will perform the following actions: declsync-ci"
