"""Promise 4: a change by someone else is never overwritten silently.

A saved plan (``plan --out``) is applied later (``apply PLANFILE``). If another
writer changed, created or deleted a planned resource in between, the whole plan
is refused before the first write ("stale plan") and the other writer's data stays
as it is. The same holds when the other writer strikes *after* that check, right
before declsync's own write: the write is conditional (``updatedAt`` re-read and
``If-Match``), so the resource is reported as failed, not overwritten.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

import declsync.workflow
from declsync.remote.client import ApiClient
from declsync.sandbox import SandboxServer

from .conftest import check_server, declared, run, write_customers

KEY = "REL-CUST-00003"


@pytest.fixture
def http(sandbox: SandboxServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=sandbox.base_url + "/", timeout=10) as client:
        yield client


def _planned(sandbox: SandboxServer, workdir: Path, *, variant: int, count: int = 5) -> None:
    write_customers(workdir / "manifests", count, variant=variant)
    result = run(["plan", "--out", "plan.json", "--api-url", sandbox.base_url])
    assert result.code == 0, result.all


def _applied(sandbox: SandboxServer, workdir: Path) -> None:
    write_customers(workdir / "manifests", 5)
    assert run(["apply", "--auto-approve", "--api-url", sandbox.base_url]).code == 0


def _apply_saved(sandbox: SandboxServer) -> Any:
    return run(["apply", "--auto-approve", "plan.json", "--api-url", sandbox.base_url])


@pytest.mark.parametrize("field", ["notes", "website"])
def test_update_race_refuses_the_whole_plan(sandbox: SandboxServer, workdir: Path, http: httpx.Client,
                                           field: str) -> None:
    """Someone edits a planned resource (a field the plan changes, or another one): nothing is applied."""
    _applied(sandbox, workdir)
    _planned(sandbox, workdir, variant=1)
    theirs = {field: "edited by someone else"}
    assert http.patch(f"customers/{KEY}", json=theirs).status_code == 200
    sandbox.reset_stats()
    stale = _apply_saved(sandbox)
    assert stale.code == 1 and "stale plan" in stale.err and f"Customer/{KEY} changed since the plan" in stale.err
    assert "Nothing was applied" in stale.err
    assert sandbox.stats()["writes"] == 0
    assert http.get(f"customers/{KEY}").json()[field] == "edited by someone else"


def test_create_race_refuses_the_whole_plan(sandbox: SandboxServer, workdir: Path, http: httpx.Client) -> None:
    """Someone creates a key the plan creates: refused; their resource stays, once."""
    _planned(sandbox, workdir, variant=0)
    assert http.post("customers", json={"key": KEY, "name": "Theirs", "status": "NEW"}).status_code == 201
    sandbox.reset_stats()
    stale = _apply_saved(sandbox)
    assert stale.code == 1 and f"Customer/{KEY} was created by someone else since the plan" in stale.err
    assert sandbox.stats()["writes"] == 0
    mine = declared([workdir / "manifests"])
    check = check_server(sandbox, {"Customer": {KEY}})
    assert not check.duplicates and not check.unexpected and check.resources == 1
    assert http.get(f"customers/{KEY}").json()["name"] == "Theirs"
    assert KEY in mine["Customer"]


def test_delete_race_refuses_the_whole_plan(sandbox: SandboxServer, workdir: Path, http: httpx.Client) -> None:
    _applied(sandbox, workdir)
    _planned(sandbox, workdir, variant=1)
    assert http.delete(f"customers/{KEY}").status_code == 204
    sandbox.reset_stats()
    stale = _apply_saved(sandbox)
    assert stale.code == 1 and f"Customer/{KEY} no longer exists" in stale.err
    assert sandbox.stats()["writes"] == 0


def _strike_after_check(monkeypatch: pytest.MonkeyPatch, strike: Callable[[], None]) -> None:
    """Run ``strike`` (the other writer) right after the stale-plan check passed, before any write."""
    original = declsync.workflow.check_stale

    def check_then_strike(*args: Any, **kwargs: Any) -> None:
        original(*args, **kwargs)
        strike()

    monkeypatch.setattr(declsync.workflow, "check_stale", check_then_strike)


def test_update_race_after_the_check_is_not_overwritten(sandbox: SandboxServer, workdir: Path, http: httpx.Client,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    _applied(sandbox, workdir)
    _planned(sandbox, workdir, variant=1)
    _strike_after_check(monkeypatch, lambda: http.patch(f"customers/{KEY}", json={"notes": "theirs"}).raise_for_status())
    result = _apply_saved(sandbox)
    assert result.code == 1, result.all
    assert f"failed: Customer/{KEY}" in result.err and "changed since the plan" in result.err
    assert http.get(f"customers/{KEY}").json()["notes"] == "theirs"
    # The other four were applied; a new plan shows the conflict to review.
    assert "4 updated, 1 failed" in result.out
    plan = run(["plan", "--api-url", sandbox.base_url])
    assert f"~ update Customer/{KEY}" in plan.out and "Plan: 0 to create, 1 to update" in plan.out


def test_create_race_after_the_check_is_not_overwritten(sandbox: SandboxServer, workdir: Path, http: httpx.Client,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    _planned(sandbox, workdir, variant=0)
    _strike_after_check(monkeypatch, lambda: http.post(
        "customers", json={"key": KEY, "name": "Theirs", "status": "NEW"}).raise_for_status())
    result = _apply_saved(sandbox)
    assert result.code == 1, result.all
    assert f"failed: Customer/{KEY}" in result.err and "already exists" in result.err
    assert http.get(f"customers/{KEY}").json()["name"] == "Theirs"
    check = check_server(sandbox, declared([workdir / "manifests"]))
    assert not check.duplicates and not check.missing and not check.unexpected


def test_update_race_between_recheck_and_write_is_refused_by_if_match(
        sandbox: SandboxServer, workdir: Path, http: httpx.Client, monkeypatch: pytest.MonkeyPatch) -> None:
    """The narrowest window: after declsync re-read the resource, before its PATCH arrives."""
    _applied(sandbox, workdir)
    _planned(sandbox, workdir, variant=1)
    original = ApiClient.get_with_etag

    def read_then_strike(self: ApiClient, kind: Any, ref: str) -> Any:
        answer = original(self, kind, ref)
        if answer[0] is not None and answer[0]["key"] == KEY:
            http.patch(f"customers/{KEY}", json={"notes": "theirs"}).raise_for_status()
        return answer

    monkeypatch.setattr(ApiClient, "get_with_etag", read_then_strike)
    result = _apply_saved(sandbox)
    assert result.code == 1, result.all
    assert f"failed: Customer/{KEY}" in result.err and "412" in result.err
    assert http.get(f"customers/{KEY}").json()["notes"] == "theirs"
    assert "4 updated, 1 failed" in result.out
