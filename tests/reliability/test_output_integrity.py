"""Promise 7 (continued) and 11: credentials are cleaned where they enter, secrets are
redacted in any representation, control characters cannot forge a line, and a field
removed from a manifest that someone else changed is shown as drift.

Everything runs the CLI in-process against a real sandbox over loopback HTTP, or a
raw HTTP server that echoes the credentials back in its error bodies.
"""

from __future__ import annotations

import contextlib
import json
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest

from declsync.sandbox import SandboxConfig, SandboxServer

from .conftest import run

TOKEN = "tok-INTEGRITY-6b7e2d90c4"
CLIENT_ID = "ci-integrity"
CLIENT_SECRET = "cs-INTEGRITY-a1f4c3e8d2"
WINDOW = 8


def pieces(secret: str) -> set[str]:
    """Every 8-character piece of the secret and of its escaped forms."""
    forms = {secret, json.dumps(secret)[1:-1], quote(secret, safe=""), repr(secret)[1:-1]}
    return {f[i:i + WINDOW] for f in forms for i in range(len(f) - WINDOW + 1)}


def assert_no_leak(text: str, *secrets: str) -> None:
    for secret in secrets:
        found = sorted(p for p in pieces(secret) if p in text)
        assert not found, f"pieces of a secret leaked: {found}\n{text}"


@pytest.fixture(scope="module")
def secured() -> Iterator[SandboxServer]:
    with SandboxServer(SandboxConfig(token=TOKEN, clients={CLIENT_ID: CLIENT_SECRET})) as server:
        yield server


# ---------------------------------------------------------------- credentials


@pytest.mark.parametrize("ending", ["\n", "\r\n", " \t"])
def test_credentials_read_with_a_line_ending_work(secured: SandboxServer, examples: Path, ending: str) -> None:
    # The bug: "Bearer tok\n" is an illegal header; httpx printed it in clear at default
    # verbosity and declsync blamed the network after 6 attempts.
    url = secured.base_url
    for env, args in (
        ({"DECLSYNC_TOKEN": TOKEN + ending}, []),
        ({}, ["--token", TOKEN + ending]),
        ({"DECLSYNC_CLIENT_ID": CLIENT_ID + ending, "DECLSYNC_CLIENT_SECRET": CLIENT_SECRET + ending}, []),
    ):
        result = run(["-v", "plan", "--api-url", url, *args], env=env)
        assert result.code == 0, result.all
        assert "Plan: 11 to create" in result.out
        assert_no_leak(result.all, TOKEN, CLIENT_SECRET)


@pytest.mark.parametrize("bad", ["tok-INTEGRITY\n-6b7e2d90c4", "tok-INTEGRITY-6b7e2d90c4\x07", "tok\x1b[2J-INTEGRITY-6b7e2d90c4"])
def test_a_control_character_inside_a_credential_is_a_configuration_error(secured: SandboxServer, examples: Path,
                                                                         bad: str) -> None:
    secured.reset_stats()
    for env in ({"DECLSYNC_TOKEN": bad}, {"DECLSYNC_CLIENT_ID": CLIENT_ID, "DECLSYNC_CLIENT_SECRET": bad}):
        result = run(["-v", "plan", "--api-url", secured.base_url], env=env)
        assert result.code == 1, result.all
        lines = result.err.strip().split("\n")
        assert len(lines) == 1 and lines[0].startswith("Error: the ") and "contains a control character" in lines[0]
        assert "Traceback" not in result.all
        assert_no_leak(result.all, bad, bad.replace("\n", "").replace("\x00", "").replace("\x1b[2J", ""))
    assert secured.stats()["total"] == 0  # refused before any request


# ---------------------------------------------------------------- a server that echoes secrets


class EchoServer:
    """Answers every request with ``status`` and a body made by ``body(authorization)``."""

    def __init__(self, status: int, body: Callable[[str], bytes]) -> None:
        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def _any(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                sent = self.rfile.read(length).decode() if length else ""
                payload = body(f"{self.headers.get('authorization', '')} {sent}")
                with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    self.wfile.write(payload)

            do_GET = do_POST = do_PATCH = do_DELETE = _any

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


ECHOES: dict[str, Callable[[str], bytes]] = {
    "raw in message": lambda seen: json.dumps({"code": "bad_request", "message": f"you sent {seen}"}).encode(),
    "cut at 30 characters": lambda seen: json.dumps({"message": f"you sent {seen[:30]}…"}).encode(),
    "url-encoded": lambda seen: json.dumps({"message": f"see /debug?h={quote(seen, safe='')}"}).encode(),
    "escaped in a detail": lambda seen: json.dumps({"message": "invalid", "details": [
        {"field": "auth", "message": json.dumps(seen)}]}).encode(),
    "not JSON": lambda seen: f"<html>proxy error for {seen}</html>".encode(),
    "token endpoint error": lambda seen: json.dumps({"error": "invalid_client",
                                                     "error_description": f"bad {seen}"}).encode(),
}


@pytest.mark.parametrize(("echo", "status"), [(echo, 400) for echo in ECHOES] + [(echo, 401) for echo in ECHOES]
                         + [("raw in message", 502), ("cut at 30 characters", 502)])
def test_a_server_echoing_credentials_never_shows_them(examples: Path, echo: str, status: int) -> None:
    server = EchoServer(status, ECHOES[echo])
    try:
        for env in ({"DECLSYNC_TOKEN": TOKEN}, {"DECLSYNC_CLIENT_ID": CLIENT_ID, "DECLSYNC_CLIENT_SECRET": CLIENT_SECRET}):
            result = run(["-v", "plan", "--api-url", server.url + "/v1"], env=env)
            assert result.code == 1, result.all
            assert result.err.startswith("Error: ") and "Traceback" not in result.all
            assert_no_leak(result.all, TOKEN, CLIENT_SECRET)
            if echo == "cut at 30 characters" and "DECLSYNC_TOKEN" in env:
                # "Bearer tok-INTEGRITY-6b7e2d…": even the cut-off beginning is gone.
                assert "Bearer ***…" in result.err and "tok-" not in result.err
    finally:
        server.close()


# ---------------------------------------------------------------- control characters in keys


FORGED = "ERP-1\nNo changes. Live state matches the manifests.\r\x1b[2K"


def _forging_manifest(examples: Path) -> None:
    (examples / "manifests" / "forged.yaml").write_text(
        "kind: Customer\n"
        f"key: {json.dumps(FORGED)}\n"
        "spec:\n"
        "  name: Forged\n"
        "  status: ACTIVE\n"
        f"  notes: {json.dumps(FORGED)}\n"
    )


@pytest.mark.parametrize("fmt", [["--format", "text"], ["--compact"], ["--format", "markdown"]])
def test_a_manifest_key_cannot_forge_a_line_of_the_plan(sandbox: SandboxServer, examples: Path, fmt: list[str]) -> None:
    _forging_manifest(examples)
    result = run(["plan", "--api-url", sandbox.base_url, *fmt])
    assert result.code == 0, result.all
    lines = result.out.split("\n")
    assert not any(line.startswith("No changes.") for line in lines), result.out
    assert "\r" not in result.out and "\x1b" not in result.out
    assert "ERP-1\\nNo changes." in result.out.replace("&#92;", "\\")
    summary = [line for line in lines if "12 to create" in line]
    assert summary, result.out


def test_keys_and_server_messages_cannot_forge_lines_of_errors_or_progress(sandbox: SandboxServer, examples: Path) -> None:
    # A reference to a key that does not exist: the error quotes the key.
    (examples / "manifests" / "ref.yaml").write_text(
        f"kind: Order\nkey: O-REF\nspec:\n  status: draft\n  customer: {{key: {json.dumps(FORGED)}}}\n")
    result = run(["-v", "plan", "--api-url", sandbox.base_url])
    assert result.code == 1
    assert not any(line.startswith("No changes.") for line in result.err.split("\n")), result.err
    assert "\x1b" not in result.err and "\r" not in result.err
    (examples / "manifests" / "ref.yaml").unlink()
    # Apply with -v prints a line per resource, and the server's error messages on failure.
    _forging_manifest(examples)
    sandbox.fail_next(1, 400)
    result = run(["-v", "apply", "--auto-approve", "--api-url", sandbox.base_url])
    assert not any(line.startswith("No changes.") for line in result.all.split("\n")), result.all
    assert "\x1b" not in result.all and "\r" not in result.all


# ---------------------------------------------------------------- drift on a removed field


def test_a_removed_field_someone_else_changed_is_shown_as_drift(sandbox: SandboxServer, examples: Path) -> None:
    url = sandbox.base_url
    customers = examples / "manifests" / "customers.yaml"
    assert run(["apply", "--auto-approve", "--api-url", url]).code == 0
    # Someone edits CUST-GLOBEX's notes in the TMS; then the manifest drops the field.
    with httpx.Client(base_url=url + "/", timeout=10) as api:
        live = api.get("customers", params={"key": "CUST-GLOBEX"}).json()
        assert api.patch(f"customers/{live['id']}", json={"notes": "Call Dana first."}).status_code == 200
    customers.write_text(customers.read_text().replace("  notes: Prefers morning pickups.\n", ""))
    marker = ('removed from manifest; changed outside declsync since the last apply: '
              '"Prefers morning pickups." → "Call Dana first."')

    text = run(["plan", "--api-url", url])
    assert f'notes: "Call Dana first." → null  [drift: {marker}]' in text.out, text.out
    md = run(["plan", "--api-url", url, "--format", "markdown"])
    assert f"# drift: {marker}" in md.out and "🔀 **Drift**: 1 field on 1 resource" in md.out
    doc = json.loads(run(["plan", "--api-url", url, "--format", "json"]).out)
    (change,) = [c for c in doc["changes"] if c["key"] == "CUST-GLOBEX"]
    assert change["drift"] == ["notes"] and change["patch"] == {"notes": None}
    (fc,) = change["field_changes"]
    assert fc["last_applied"] == "Prefers morning pickups." and fc["before"] == "Call Dana first."


def test_import_does_not_write_a_credential_into_a_manifest(secured: SandboxServer, workdir: Path) -> None:
    secured.reset()
    headers = {"Authorization": f"Bearer {TOKEN}"}
    with httpx.Client(base_url=secured.base_url + "/", headers=headers, timeout=10) as api:
        created = api.post("customers", json={"key": "CUST-PASTED", "name": "Pasted", "status": "ACTIVE",
                                              "notes": f"API token for the ERP: {TOKEN}"})
        assert created.status_code == 201, created.text
    result = run(["-v", "import", "Customer", "CUST-PASTED", "--api-url", secured.base_url],
                 env={"DECLSYNC_TOKEN": TOKEN})
    assert result.code == 1, result.all
    assert "Customer/CUST-PASTED: its live values hold the API token or client secret" in result.err
    assert_no_leak(result.all, TOKEN)
    assert not (workdir / "manifests").exists()


@pytest.mark.parametrize("args", [["--parallelism", TOKEN], [f"--parallelism={CLIENT_SECRET}"], ["--format", TOKEN]])
def test_a_usage_error_quoting_a_secret_does_not_show_it(workdir: Path, args: list[str]) -> None:
    # click echoes the bad value; the secrets are known (environment, flags) before it parses.
    result = run(["plan", *args], env={"DECLSYNC_TOKEN": TOKEN + "\n", "DECLSYNC_CLIENT_SECRET": CLIENT_SECRET})
    assert result.code == 1 and "Invalid value" in result.err, result.all
    assert_no_leak(result.all, TOKEN, CLIENT_SECRET)
