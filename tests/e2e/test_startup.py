"""Start-up: the command line loads only what a command needs. The sandbox server stack
(starlette, uvicorn) is for ``declsync sandbox`` and the embedded default; the planning
stack (deepdiff, jsonpatch) for computing a plan; jsonschema for reading a saved plan; rich
for nothing. Checked in a fresh
interpreter each (``sys.modules`` on the way out), never by timing."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from .conftest import REPO

SERVER = {"starlette", "uvicorn"}
PLANNING = {"deepdiff", "jsonpatch"}
# Validates a saved plan file: loaded only by the commands that read one.
PLAN_FILE = {"jsonschema"}
# Checks manifests against their kinds' JSON Schemas: loaded only when there are manifests to check.
MANIFEST_SCHEMA = {"jsonschema_rs"}


def loaded_by(code: str, cwd: Path = REPO) -> set[str]:
    """Top-level packages loaded by running ``code`` in a fresh interpreter."""
    probe = ("import atexit, json, sys\n"
             "atexit.register(lambda: print('\\nLOADED ' + json.dumps(sorted({m.split('.')[0] for m in sys.modules}))))\n")
    done = subprocess.run([sys.executable, "-c", probe + code], capture_output=True, text=True, cwd=cwd, timeout=120)
    line = next(x for x in done.stdout.splitlines() if x.startswith("LOADED "))
    return set(json.loads(line.removeprefix("LOADED ")))


def cli(*args: str) -> str:
    return f"import sys\nfrom declsync.cli.main import main\nsys.argv = ['declsync', *{list(args)!r}]\nmain()"


@pytest.mark.parametrize("code", ["import declsync.cli.main", "import declsync", cli("--help"), cli("plan", "--help"),
                                  cli("validate", str(REPO / "manifests"))])
def test_help_and_validate_load_neither_the_server_nor_the_planning_stack(code: str) -> None:
    loaded = loaded_by(code)
    # (rich is not ours to judge: httpx imports it for its own CLI whenever it is installed.)
    assert not loaded & (SERVER | PLANNING | PLAN_FILE), loaded & (SERVER | PLANNING | PLAN_FILE)


@pytest.mark.parametrize("code", ["import declsync.cli.main", "import declsync", cli("--help"), cli("plan", "--help")])
def test_help_loads_no_schema_validator(code: str) -> None:
    assert not loaded_by(code) & MANIFEST_SCHEMA


def test_validate_checks_manifests_with_the_schema_validator() -> None:
    # --no-cache: a warm parse cache answers without validating again.
    assert loaded_by(cli("--no-cache", "validate", str(REPO / "manifests"))) >= MANIFEST_SCHEMA


def test_plan_against_a_real_url_loads_no_server(sandbox, workdir: Path) -> None:
    loaded = loaded_by(cli("plan", "--api-url", sandbox.base_url), cwd=workdir)
    assert loaded >= PLANNING  # it did plan
    assert not loaded & (SERVER | PLAN_FILE)


def test_show_loads_neither_stack(sandbox, workdir: Path) -> None:
    import declsync

    declsync.write_plan(declsync.plan(api_url=sandbox.base_url), "plan.json")
    loaded = loaded_by(cli("show", "plan.json"), cwd=workdir)
    assert loaded >= PLAN_FILE  # it checked the file
    assert not loaded & (SERVER | PLANNING)
