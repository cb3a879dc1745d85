"""Authentication against a sandbox that requires it, and secrets never leaking."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from declsync.sandbox import SandboxConfig, SandboxServer

from .conftest import run

TOKEN = "tok-SECRET-4f1d2c9a"
CLIENT_ID = "ci-bot"
CLIENT_SECRET = "cs-SECRET-b7e3aa01"


@pytest.fixture(scope="module")
def secured() -> Iterator[SandboxServer]:
    config = SandboxConfig(db_path=":memory:", token=TOKEN, clients={CLIENT_ID: CLIENT_SECRET}, token_ttl=3600)
    with SandboxServer(config) as srv:
        yield srv


def assert_no_secrets(*texts: str) -> None:
    for text in texts:
        assert TOKEN not in text and CLIENT_SECRET not in text


def test_static_token(secured: SandboxServer, workdir: Path) -> None:
    env = {"DECLSYNC_API_URL": secured.base_url, "DECLSYNC_TOKEN": TOKEN}
    result = run(["-v", "apply", "--auto-approve"], env=env)
    assert result.code == 0, result.all
    assert_no_secrets(result.all)


def test_client_credentials(secured: SandboxServer, workdir: Path) -> None:
    env = {"DECLSYNC_API_URL": secured.base_url, "DECLSYNC_CLIENT_ID": CLIENT_ID,
           "DECLSYNC_CLIENT_SECRET": CLIENT_SECRET}
    result = run(["plan", "--out", "plan.json"], env=env)
    assert result.code == 0, result.all
    assert_no_secrets(result.all, Path("plan.json").read_text(), Path(".declsync/state.json").read_text()
                      if Path(".declsync/state.json").exists() else "")


def test_wrong_credentials_are_a_clear_error_without_the_secret(secured: SandboxServer, workdir: Path) -> None:
    bad = run(["-v", "plan", "--format", "json"], env={"DECLSYNC_API_URL": secured.base_url,
                                                      "DECLSYNC_TOKEN": TOKEN + "-wrong"})
    assert bad.code == 1
    assert "authentication failed (401)" in bad.err and "Traceback" not in bad.all
    assert TOKEN not in bad.all
    bad_cc = run(["-v", "plan"], env={"DECLSYNC_API_URL": secured.base_url, "DECLSYNC_CLIENT_ID": CLIENT_ID,
                                      "DECLSYNC_CLIENT_SECRET": CLIENT_SECRET + "x"})
    assert bad_cc.code == 1 and CLIENT_SECRET not in bad_cc.all
    missing = run(["plan"], env={"DECLSYNC_API_URL": secured.base_url})
    assert missing.code == 1 and "authentication failed" in missing.err


def test_every_command_keeps_secrets_out_of_output(secured: SandboxServer, workdir: Path) -> None:
    env = {"DECLSYNC_API_URL": secured.base_url, "DECLSYNC_TOKEN": TOKEN}
    outputs = []
    for args in (["-v", "validate"], ["-v", "plan"], ["-v", "plan", "--format", "json", "--out", "p.json"],
                 ["-v", "apply", "--auto-approve", "p.json"], ["-v", "apply", "--auto-approve"],
                 ["-v", "plan", "--api-url", secured.base_url + "/nope"]):
        result = run(args, env=env)
        outputs.append(result.all)
    saved = json.loads(Path("p.json").read_text())
    assert saved["target"] == secured.base_url
    assert_no_secrets(*outputs, Path("p.json").read_text(), Path(".declsync/state.json").read_text())
