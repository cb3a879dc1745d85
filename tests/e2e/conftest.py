"""End-to-end fixtures: a real sandbox over loopback HTTP and an in-process CLI runner."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from helpers import Result as Result
from helpers import run as run

from declsync.sandbox import SandboxConfig, SandboxServer

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def server() -> Iterator[SandboxServer]:
    with SandboxServer(SandboxConfig(db_path=":memory:")) as srv:
        yield srv


@pytest.fixture
def sandbox(server: SandboxServer) -> Iterator[SandboxServer]:
    """The module's sandbox, emptied before each test."""
    server.reset()
    server.reset_stats()
    yield server


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A project directory with a copy of the example manifests, as cwd."""
    shutil.copytree(REPO / "manifests", tmp_path / "manifests")
    monkeypatch.chdir(tmp_path)
    for var in ("DECLSYNC_API_URL", "DECLSYNC_TOKEN", "DECLSYNC_CLIENT_ID", "DECLSYNC_CLIENT_SECRET",
                "DECLSYNC_STATE", "DECLSYNC_PROFILE", "DECLSYNC_TOKEN_URL", "NO_COLOR"):
        monkeypatch.delenv(var, raising=False)
    return tmp_path


def api(sandbox: SandboxServer, token: str | None = None) -> httpx.Client:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return httpx.Client(base_url=sandbox.base_url + "/", headers=headers, timeout=10)


def get(sandbox: SandboxServer, path: str, key: str) -> dict[str, Any] | None:
    with api(sandbox) as c:
        r = c.get(path, params={"key": key})
        return None if r.status_code == 404 else r.json()
