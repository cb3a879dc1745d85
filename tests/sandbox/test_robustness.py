"""Whatever arrives, the sandbox answers a JSON error, never a 500 (properties over real HTTP)."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import quote

import httpx
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from declsync.profile.model import default_profile
from declsync.sandbox import SandboxServer

from .conftest import CHARGE_CODE

PROFILE = default_profile()
FIELD_NAMES = sorted({name for kind in PROFILE.kinds.values() for name in kind.fields} | {"key", "id", "createdAt"})

scalars = st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=20), st.sampled_from(["2025-01-22T09:00:00-05:00", "9999-12-31T23:59:59-01:00", CHARGE_CODE]),
)
values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.sampled_from([*FIELD_NAMES, "x"]), inner, max_size=3),
    max_leaves=8,
)
bodies = st.dictionaries(st.sampled_from(FIELD_NAMES), values, max_size=5)
paths = st.sampled_from([k.path for k in PROFILE.kinds.values()] + ["nope"])
refs = st.one_of(st.text(max_size=12), st.sampled_from(["K-1", "filter", "ORD-10001", ""]))
common = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


def check(r: httpx.Response) -> None:
    assert r.status_code < 500, (r.status_code, r.text)
    if r.content:
        json.loads(r.content)


@common
@given(path=paths, body=bodies)
def test_random_creates(client: httpx.Client, path: str, body: dict[str, Any]) -> None:
    check(client.post(path, json=body))


@common
@given(path=paths, ref=refs, body=bodies, if_match=st.none() | st.text(st.characters(min_codepoint=33, max_codepoint=126), max_size=8), by=st.none() | st.text(max_size=5))
def test_random_patches(
    client: httpx.Client, sandbox: SandboxServer, path: str, ref: str, body: dict[str, Any],
    if_match: str | None, by: str | None,
) -> None:
    client.post("orders", json={"key": "K-1"})
    headers = {"If-Match": if_match} if if_match else {}
    params = {"by": by} if by is not None else {}
    target = f"{path}/{quote(ref, safe='')}"
    check(client.patch(target, json=body, headers=headers, params=params))
    check(client.get(target, params=params))
    check(client.delete(target, headers=headers, params=params))


@common
@given(body=st.dictionaries(st.sampled_from(["filter", "pageSize", "cursor", "x"]), values, max_size=3))
def test_random_filters(client: httpx.Client, body: dict[str, Any]) -> None:
    check(client.post("orders/filter", json=body))


@common
@given(raw=st.binary(max_size=64), path=st.text(max_size=20))
def test_random_bytes_and_paths(client: httpx.Client, sandbox: SandboxServer, raw: bytes, path: str) -> None:
    check(client.post("orders", content=raw))
    check(client.post("orders/filter", content=raw))
    check(client.post(sandbox.url + "/oauth2/token", content=raw))
    check(client.get(quote(path)))
