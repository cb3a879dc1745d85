"""Promise 8: the sandbox answers bad input with a 4xx, and keys stay unique under concurrency.

Bodies are generated from the profile itself, for every kind: each field gets a
valid value or a wrong one for its type (numbers beyond double range, malformed
date-times, wrong enum values, broken references, nested garbage), and go to every
endpoint (create, patch by id/friendlyId/key, get, delete, filter, token, admin).
Never a 500, always a JSON error. Then many threads create, rename (PATCH key),
delete and re-create the same keys of every kind at once: no two live resources
ever share a kind and key. (tests/sandbox/test_robustness.py fuzzes shapes
without the profile.)
"""

from __future__ import annotations

import json
import os
import random
import threading
from collections import Counter
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from declsync.profile.model import FieldSpec, KindSpec
from declsync.sandbox import SandboxServer

from .conftest import PROFILE, inventory

EXAMPLES = int(os.environ.get("DECLSYNC_FUZZ_EXAMPLES", "100"))
FUZZ = settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))
KINDS = list(PROFILE.kinds.values())
UUID = "550e8400-e29b-41d4-a716-446655440000"

junk = st.one_of(
    st.none(), st.booleans(), st.integers(), st.integers(min_value=10**300, max_value=10**400),
    st.floats(allow_nan=False, allow_infinity=False), st.text(max_size=8),
    st.sampled_from(["", "2025-02-30T25:61:00Z", "2025-01-01T00:00:00", "9999-12-31T23:59:59+14:00", "0001-01-01T00:00:00Z",
                     "not-a-uuid", UUID, "x" * 5000, "\u0000", "NOPE"]),
    st.lists(st.none(), max_size=2), st.dictionaries(st.text(max_size=4), st.none(), max_size=2),
)


def valid(spec: FieldSpec, depth: int = 0) -> st.SearchStrategy[Any]:
    t = spec.type
    if t == "string":
        if spec.format == "uuid":
            return st.just(UUID) | st.uuids().map(str)
        return st.text(max_size=spec.max_length or 30)
    if t == "integer":
        return st.integers(-(2**53), 2**53)
    if t == "number":
        return st.integers(-(10**9), 10**9) | st.floats(-1e12, 1e12, allow_nan=False)
    if t == "boolean":
        return st.booleans()
    if t == "enum":
        return st.sampled_from(spec.values)
    if t == "datetime":
        return st.datetimes(timezones=st.just(__import__("datetime").UTC)).map(lambda d: d.isoformat())
    if t == "reference":
        return st.sampled_from([{"key": "FUZZ-A"}, {"key": "FUZZ-B"}, {"id": UUID}])
    if t == "object" and depth < 3:
        return st.fixed_dictionaries({}, optional={n: field_value(s, depth + 1) for n, s in spec.fields.items()})
    if t == "array" and spec.items is not None and depth < 3:
        return st.lists(field_value(spec.items, depth + 1), max_size=3)
    return junk


def field_value(spec: FieldSpec, depth: int = 0) -> st.SearchStrategy[Any]:
    """Mostly valid values for the field, sometimes junk: so that nested errors get reached."""
    return st.one_of(valid(spec, depth), valid(spec, depth), junk)


def body_for(kind: KindSpec) -> st.SearchStrategy[dict[str, Any]]:
    optional: dict[str, st.SearchStrategy[Any]] = {n: field_value(s) for n, s in kind.fields.items()}
    optional["key"] = st.one_of(st.sampled_from(["FUZZ-A", "FUZZ-B", "FUZZ-C", ""]), junk)
    optional["id"] = st.just(UUID)
    optional["totallyUnknown"] = junk
    return st.fixed_dictionaries({}, optional=optional)


bodies = st.sampled_from(KINDS).flatmap(lambda k: st.tuples(st.just(k), body_for(k)))
refs = st.sampled_from(["FUZZ-A", "FUZZ-B", UUID, "", "filter", "ORD-10001", "A10001", "a/b", "%00"]) | st.text(max_size=6)
headers = st.fixed_dictionaries({}, optional={
    "Idempotency-Key": st.sampled_from(["k1", "k2", "", "x" * 300]) | st.text(st.characters(min_codepoint=33, max_codepoint=126), max_size=10),
    "If-Match": st.sampled_from(['"1"', "*", "1", 'W/"2"', "", "garbage"]),
    "Content-Type": st.sampled_from(["application/json", "text/plain", "application/x-www-form-urlencoded"]),
})


def ok(answer: httpx.Response) -> None:
    assert answer.status_code < 500, (answer.status_code, answer.request.method, answer.request.url, answer.text[:500])
    if answer.content:
        json.loads(answer.content)


@pytest.fixture(scope="module")
def fuzzed() -> Iterator[tuple[SandboxServer, httpx.Client]]:
    with SandboxServer() as server, httpx.Client(base_url=server.base_url + "/", timeout=30) as http:
        customer = http.post("customers", json={"key": "FUZZ-A", "name": "A", "status": "ACTIVE"})
        assert customer.status_code == 201
        yield server, http
        # After all of it: keys are still unique.
        for kind in PROFILE.kinds:
            keys = Counter(item["key"] for item in inventory(server, kind) if item.get("key"))
            assert all(n == 1 for n in keys.values()), keys


@FUZZ
@given(case=bodies, ref=refs, extra=headers, by=st.none() | st.sampled_from(["id", "friendlyId", "key", "nope"]))
def test_every_endpoint_of_every_kind(fuzzed: tuple[SandboxServer, httpx.Client], case: tuple[KindSpec, dict[str, Any]],
                                      ref: str, extra: dict[str, str], by: str | None) -> None:
    _, http = fuzzed
    kind, body = case
    params = {"by": by} if by else {}
    item = f"{kind.path}/{quote(ref, safe='')}"
    ok(http.post(kind.path, json=body, headers=extra))
    ok(http.patch(item, json=body, headers=extra, params=params))
    ok(http.patch(f"{kind.path}/FUZZ-A", json=body, params={"by": "key"}))
    ok(http.get(item, params=params))
    ok(http.get(kind.path, params={"key": ref}))
    ok(http.post(f"{kind.path}/filter", json={"filter": {"key": {"in": [ref, *body.keys()]}}, "pageSize": 2}))
    ok(http.post(f"{kind.path}/filter", json=body))
    raw = json.dumps(body).encode()
    ok(http.post(kind.path, content=raw[: len(raw) // 2], headers={"Content-Type": "application/json"}))
    if random.Random(ref).random() < 0.2:
        ok(http.delete(item, headers=extra, params=params))


@FUZZ
@given(form=st.dictionaries(st.sampled_from(["grant_type", "client_id", "client_secret", "scope", "x"]),
                            st.text(max_size=10) | st.sampled_from(["client_credentials", "%ZZ", "a:b"]), max_size=4),
       basic=st.none() | st.text(st.characters(min_codepoint=32, max_codepoint=126), max_size=20)
       | st.sampled_from(["Basic Zm9vOmJhcg==", "Basic !!!", "Basic", "Basic w4k6w4k="]),
       admin=st.dictionaries(st.sampled_from(["count", "status", "mode", "x"]), junk, max_size=3))
def test_token_and_admin_endpoints(fuzzed: tuple[SandboxServer, httpx.Client], form: dict[str, str],
                                   basic: str | None, admin: dict[str, Any]) -> None:
    server, _ = fuzzed
    with httpx.Client(base_url=server.url, timeout=30) as http:
        ok(http.post("/oauth2/token", data=form, headers={"Authorization": basic} if basic and basic.strip() == basic else {}))
        try:
            ok(http.post("/_admin/faults", json=admin))
            ok(http.post("/_admin/faults", content=json.dumps(admin).encode()[:-1]))
        finally:
            server.clear_faults()


# --------------------------------------------------------------------------- unique keys under concurrency


def _minimal(kind: KindSpec, key: str, rng: random.Random) -> dict[str, Any]:
    body: dict[str, Any] = {"key": key}
    for name, spec in kind.fields.items():
        if spec.required or (not spec.nullable and not spec.has_default and spec.type != "array"):
            if spec.type == "enum":
                body[name] = spec.values[0]
            elif spec.type == "boolean":
                body[name] = False
            elif spec.type == "string" and spec.ref_kind:
                body[name] = None  # filled below when needed
            elif spec.type == "string":
                body[name] = f"{name} {rng.randint(0, 9)}"
    return body


def _writers(server: SandboxServer, threads: int, ops: int, seed: int) -> dict[str, int]:
    keys = [f"RACE-{i}" for i in range(6)]
    counts: Counter[str] = Counter()
    lock = threading.Lock()
    parent = httpx.post(server.base_url + "/customers", json={"key": "RACE-PARENT", "name": "P", "status": "ACTIVE"})
    assert parent.status_code in (201, 409)
    parent_id = httpx.get(server.base_url + "/customers/RACE-PARENT").json()["id"]
    barrier = threading.Barrier(threads)

    def work(n: int) -> None:
        rng = random.Random(seed * 1000 + n)
        with httpx.Client(base_url=server.base_url + "/", timeout=60) as http:
            barrier.wait()
            for _ in range(ops):
                kind = rng.choice(KINDS)
                key = rng.choice(keys)
                op = rng.random()
                if op < 0.5:
                    body = _minimal(kind, key, rng)
                    for name, spec in kind.fields.items():
                        if spec.ref_kind == "Customer" and name in body:
                            body[name] = parent_id
                    answer = http.post(kind.path, json=body, headers={"Idempotency-Key": f"{n}-{rng.random()}"})
                elif op < 0.8:
                    answer = http.patch(f"{kind.path}/{key}", params={"by": "key"}, json={"key": rng.choice(keys)})
                else:
                    answer = http.delete(f"{kind.path}/{key}", params={"by": "key"})
                ok(answer)
                with lock:
                    counts[f"{answer.request.method} {answer.status_code}"] += 1

    pool = [threading.Thread(target=work, args=(n,)) for n in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join(timeout=300)
    duplicates = 0
    for kind in PROFILE.kinds:
        live = Counter(item["key"] for item in inventory(server, kind) if item.get("key"))
        duplicates += sum(n - 1 for n in live.values() if n > 1)
    assert counts["POST 201"] > 0 and counts["POST 409"] > 0 and counts["PATCH 200"] > 0, counts
    return {"threads": threads, "operations": sum(counts.values()), "creates": counts["POST 201"],
            "duplicate_key_refusals": counts["POST 409"] + counts["PATCH 409"], "duplicates": duplicates}


def test_keys_stay_unique_under_concurrent_creates_renames_and_deletes(figures: dict[str, Any]) -> None:
    with SandboxServer() as server:
        result = _writers(server, threads=12, ops=60, seed=1)
    figures["sandbox_concurrent_writers"] = result
    assert result["duplicates"] == 0


@pytest.mark.soak
def test_soak_unique_keys_with_a_file_database(tmp_path: Any, figures: dict[str, Any]) -> None:
    from declsync.sandbox import SandboxConfig

    with SandboxServer(SandboxConfig(db_path=str(tmp_path / "race.sqlite"))) as server:
        result = _writers(server, threads=24, ops=400, seed=2)
    figures["sandbox_concurrent_writers_soak"] = result
    assert result["duplicates"] == 0
