"""Promise 7: a token or client secret never appears in output, files or logs.

Every command — validate, plan, plan --format json --out, apply, apply PLANFILE,
force-unlock, sandbox seed/reset, and their error paths — runs at maximum
verbosity (``-v``) with a recognisable token and client secret (from the
environment, and from the command line), with every logger at DEBUG. Neither may
appear in stdout, stderr, the saved plan, the state file, the lock file or any
log record. (tests/e2e/test_auth_secrets.py covers the basic flows.)
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import declsync.cli.main
import declsync.planning.pipeline
from declsync.sandbox import SandboxConfig, SandboxServer
from declsync.state import StateStore

from .conftest import run

TOKEN = "tok-RELIABILITY-3c9d71e0aa"
CLIENT_ID = "ci-reliability"
CLIENT_SECRET = "cs-RELIABILITY-f00dfeed42"
URL_PASSWORD = "pw-RELIABILITY-0b5e55ed"


@pytest.fixture(scope="module")
def secured() -> Iterator[SandboxServer]:
    config = SandboxConfig(token=TOKEN, clients={CLIENT_ID: CLIENT_SECRET})
    with SandboxServer(config) as server:
        yield server


class Leaks:
    def __init__(self) -> None:
        self.texts: list[tuple[str, str]] = []
        self.commands = 0

    def add(self, where: str, text: str) -> None:
        self.texts.append((where, text))

    def check(self) -> None:
        for where, text in self.texts:
            for secret in (TOKEN, CLIENT_SECRET, URL_PASSWORD):
                assert secret not in text, f"{secret} leaked in {where}: {text[:500]}"


def test_no_command_leaks_a_secret(secured: SandboxServer, examples: Path, caplog: pytest.LogCaptureFixture,
                                   monkeypatch: pytest.MonkeyPatch, figures: dict[str, Any]) -> None:
    caplog.set_level(logging.DEBUG)
    leaks = Leaks()
    url = secured.base_url
    token_env = {"DECLSYNC_API_URL": url, "DECLSYNC_TOKEN": TOKEN}
    cc_env = {"DECLSYNC_API_URL": url, "DECLSYNC_CLIENT_ID": CLIENT_ID, "DECLSYNC_CLIENT_SECRET": CLIENT_SECRET}
    both_env = {**token_env, **cc_env}

    def cli(args: list[str], env: dict[str, str] | None = None, code: int | None = None) -> Any:
        result = run(["-v", *args], env=env)
        leaks.commands += 1
        leaks.add(f"output of {args}", result.all)
        assert "Traceback" not in result.all or "internal error" in result.all, result.all
        if code is not None:
            assert result.code == code, (args, result.all)
        return result

    orders = examples / "manifests" / "orders.yaml"
    for name, env in (("token", token_env), ("client credentials", cc_env)):
        state = f".declsync/{name.replace(' ', '-')}.json"
        cli(["validate"], env, 0)
        cli(["plan", "--state", state], env, 0)
        cli(["plan", "--state", state, "--format", "json", "--out", f"{name}.json"], env, 0)
        cli(["apply", "--auto-approve", "--state", state, f"{name}.json"], env, 0)
        orders.write_text(orders.read_text().replace("status: booked", "status: dispatched"))
        cli(["apply", "--auto-approve", "--state", state], env, 0)
        orders.write_text(orders.read_text().replace("status: dispatched", "status: booked"))
        cli(["plan", "--state", state, "--out", f"{name}-2.json"], env, 0)
        cli(["apply", "--auto-approve", "--state", state, f"{name}-2.json"], env, 0)
        # error paths: a stale saved plan, a locked state, force-unlock with the wrong id and the right one
        cli(["plan", "--state", state, "--out", f"{name}-3.json"], env, 0)
        cli(["apply", "--auto-approve", "--state", state, f"{name}.json"], env, 1)
        with StateStore(state).locked():
            lock_text = Path(state + ".lock").read_text()
            leaks.add("lock file", lock_text)
            cli(["apply", "--auto-approve", "--state", state], env, 1)
            cli(["force-unlock", "--force", "--state", state, "not-the-id"], env, 1)
        leaks.add(f"state file ({name})", Path(state).read_text())
        for plan in (f"{name}.json", f"{name}-2.json", f"{name}-3.json"):
            leaks.add(f"saved plan {plan}", Path(plan).read_text())
    # Credentials on the command line instead of the environment.
    cli(["plan", "--api-url", url, "--token", TOKEN], None, 0)
    cli(["plan", "--api-url", url, "--client-id", CLIENT_ID, "--client-secret", CLIENT_SECRET], None, 0)
    # Error paths with both secrets around.
    cli(["plan"], both_env, 1)  # token and client credentials together: refused
    cli(["plan"], {**token_env, "DECLSYNC_TOKEN": TOKEN + "-revoked"}, 1)  # 401
    cli(["plan"], {**cc_env, "DECLSYNC_CLIENT_SECRET": CLIENT_SECRET + "-wrong"}, 1)  # token endpoint 401
    cli(["plan", "--api-url", "http://198.51.100.7/v1", "--token", TOKEN], None, 1)  # plain http refused
    cli(["plan", "--token-url", secured.url + "/nope"], cc_env, 1)  # token endpoint not there
    host = url.split("//", 1)[1]
    in_url = cli(["plan", "--api-url", f"http://user:{URL_PASSWORD}@{host}?token={TOKEN}"], None, 1)
    assert "must not carry user:password@, a ?query" in in_url.err  # refused before any request
    cli(["plan", "--token-url", f"{secured.url}/oauth2/token?secret={CLIENT_SECRET}"], cc_env, 1)
    cli(["plan", "--parallelism", "many", "--token", TOKEN, "--client-secret", CLIENT_SECRET], None, 1)  # usage
    cli(["plan", "--token", TOKEN, "--no-such-flag"], None, 1)
    (examples / "manifests" / "broken.yaml").write_text(f"kind: Customer\nkey: {TOKEN}x\nspec: {{name: [}}\n")
    cli(["validate"], both_env, 1)
    (examples / "manifests" / "broken.yaml").unlink()

    def crash(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError(f"a bug that mentions {TOKEN} and {CLIENT_SECRET}")

    with monkeypatch.context() as patched:  # the internal-error path prints a traceback with -v
        patched.setattr(declsync.planning.pipeline, "build_plan", crash)
        patched.setattr(declsync.cli.main, "_plan_resources", crash, raising=False)
        result = cli(["plan"], token_env, 1)
        assert "internal error" in result.err
    # The sandbox's own commands take secrets too.
    db = str(examples / "sandbox.sqlite")
    cli(["sandbox", "--token", TOKEN, "--client", f"{CLIENT_ID}:{CLIENT_SECRET}", "seed", "--db", db], None, 0)
    cli(["sandbox", "--token", TOKEN, "--client", f"{CLIENT_ID}:{CLIENT_SECRET}", "reset", "--db", db], None, 0)
    cli(["sandbox", "--client", CLIENT_SECRET, "--port", "0"], None, 1)  # malformed ID:SECRET
    cli(["sandbox", "--token", TOKEN, "--client", f"{CLIENT_ID}:{CLIENT_SECRET}", "--rate-limit", "lots"], None, 1)
    for record in caplog.records:
        leaks.add(f"log record {record.name}", record.getMessage() + " " + repr(record.args))
    leaks.check()
    figures["secrets"] = {"commands": leaks.commands, "texts_checked": len(leaks.texts), "log_records": len(caplog.records),
                          "leaks": 0}
    assert json.loads(Path("token.json").read_text())["target"] == url
