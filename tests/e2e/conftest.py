"""End-to-end fixtures: a real sandbox over loopback HTTP and an in-process CLI runner."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from contract.asgi import ContractMiddleware
from contract.checker import contract, summary
from helpers import Result as Result
from helpers import clear_settings_env
from helpers import run as run

from declsync.sandbox import SandboxConfig, SandboxServer

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def server() -> Iterator[SandboxServer]:
    """A sandbox whose every /v1 exchange is checked against the published contract."""
    middleware = ContractMiddleware.around(contract())
    with SandboxServer(SandboxConfig(db_path=":memory:"), middleware=middleware) as srv:
        yield srv


@pytest.fixture
def sandbox(server: SandboxServer, request: pytest.FixtureRequest) -> Iterator[SandboxServer]:
    """The module's sandbox, emptied before each test. A request declsync (or the test) sent
    outside the contract, or an answer outside it, fails the test that caused it, unless the
    test is marked ``contract_exempt(reason=...)`` because it sends bad input on purpose."""
    server.reset()
    server.reset_stats()
    contract().take()
    yield server
    violations = contract().take()
    exempt = request.node.get_closest_marker("contract_exempt")
    if violations and exempt is None:
        pytest.fail(f"{len(violations)} contract violation(s):\n{summary(violations)}", pytrace=False)


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A project directory with a copy of the example manifests, as cwd."""
    shutil.copytree(REPO / "manifests", tmp_path / "manifests")
    monkeypatch.chdir(tmp_path)
    clear_settings_env(monkeypatch, "NO_COLOR")
    return tmp_path


def api(sandbox: SandboxServer, token: str | None = None) -> httpx.Client:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return httpx.Client(base_url=sandbox.base_url + "/", headers=headers, timeout=10)


def get(sandbox: SandboxServer, path: str, key: str) -> dict[str, Any] | None:
    """The resource with client key ``key``, by the contract's lookup ``GET /{r}/{key}?by=key``."""
    with api(sandbox) as c:
        r = c.get(f"{path}/{quote(key, safe='')}", params={"by": "key"})
        return None if r.status_code == 404 else r.json()
