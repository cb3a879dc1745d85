"""The CI examples and the pre-commit hook stay true to the CLI."""

from __future__ import annotations

import re
import shlex
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from e2e.conftest import run

from declsync.cli.main import cli
from declsync.sandbox import SandboxConfig, SandboxServer

REPO = Path(__file__).resolve().parents[1]
GITHUB = REPO / "examples" / "github-actions" / "declsync.yml"
GITLAB = REPO / "examples" / "gitlab-ci" / ".gitlab-ci.yml"
_COMMAND = re.compile(r"(?:^|[;&|(])[ \t]*declsync[ \t]+([^;&|>\n]*)", re.M)


def commands(script: str) -> list[list[str]]:
    """Every ``declsync …`` invocation in a shell script, as argv (without ``declsync``)."""
    return [shlex.split(m.group(1)) for m in _COMMAND.finditer(script)]


def github_jobs() -> dict[str, list[list[str]]]:
    doc = yaml.safe_load(GITHUB.read_text())
    out = {}
    for name, job in doc["jobs"].items():
        out[name] = [argv for step in job["steps"] if "run" in step for argv in commands(step["run"])]
    return out


def gitlab_jobs() -> dict[str, list[list[str]]]:
    doc = yaml.safe_load(GITLAB.read_text())
    out = {}
    for name, job in doc.items():
        if isinstance(job, dict) and "script" in job and not name.startswith("."):
            out[name] = [argv for line in job["script"] for argv in commands(line)]
    return out


def accepted(argv: list[str]) -> None:
    """The CLI parses these arguments (options exist, choices valid), without running anything."""
    command = cli.commands[argv[0]]
    with command.make_context(argv[0], list(argv[1:])):
        pass


def test_github_workflow_shape() -> None:
    doc = yaml.safe_load(GITHUB.read_text())
    triggers = doc.get("on", doc.get(True))  # YAML 1.1 reads a bare `on` as true
    assert set(triggers) >= {"pull_request", "push", "schedule"}
    assert triggers["push"]["branches"] == ["main"]
    jobs = github_jobs()
    assert ["plan", "--format", "markdown", "--max-chars", "60000", "--detailed-exitcode"] in jobs["plan"]
    assert ["apply", "--auto-approve", "--lock-timeout", "5m"] in jobs["apply"]
    assert ["plan", "--detailed-exitcode", "--compact"] in jobs["drift"]
    # The shared PostgreSQL state from a secret, not the Actions cache (issue 13).
    assert doc["env"]["DECLSYNC_STATE"] == "${{ secrets.DECLSYNC_STATE }}"
    assert "actions/cache" not in GITHUB.read_text() and "postgres" in doc["env"]["DECLSYNC_PACKAGE"]
    script = next(s["with"]["script"] for s in doc["jobs"]["plan"]["steps"]
                  if s.get("uses", "").startswith("actions/github-script"))
    for needle in ("<!-- declsync-plan -->", "updateComment", "createComment", "changes pending", "EXITCODE === '2'"):
        assert needle in script
    plan_step = next(s for s in doc["jobs"]["plan"]["steps"] if s.get("id") == "plan")
    assert "GITHUB_STEP_SUMMARY" in plan_step["run"] and "GITHUB_OUTPUT" in plan_step["run"]


def test_gitlab_pipeline_shape() -> None:
    jobs = gitlab_jobs()
    assert ["plan", "--format", "markdown", "--max-chars", "60000", "--detailed-exitcode"] in jobs["plan"]
    assert ["apply", "--auto-approve", "--lock-timeout", "5m"] in jobs["apply"]
    assert ["plan", "--detailed-exitcode", "--compact"] in jobs["drift"]
    assert "<!-- declsync-plan -->" in GITLAB.read_text()
    doc = yaml.safe_load(GITLAB.read_text())
    assert "cache" not in doc[".declsync"] and "DECLSYNC_STATE" not in doc["variables"]  # a CI/CD variable


@pytest.mark.parametrize("argv", [argv for jobs in (github_jobs(), gitlab_jobs()) for cmds in jobs.values()
                                  for argv in cmds], ids=shlex.join)
def test_every_example_command_is_accepted_by_the_cli(argv: list[str]) -> None:
    accepted(argv)


def test_pre_commit_hook() -> None:
    (hook,) = yaml.safe_load((REPO / ".pre-commit-hooks.yaml").read_text())
    assert hook["id"] == "declsync-validate" and hook["language"] == "python"
    assert re.search(hook["files"], "manifests/orders.yaml") and re.search(hook["files"], "a.yml")
    argv = shlex.split(hook["entry"])
    assert argv[0] == "declsync"
    accepted(argv[1:])


@pytest.fixture
def sandbox_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[SandboxServer, Path]]:
    shutil.copytree(REPO / "manifests", tmp_path / "manifests")
    monkeypatch.chdir(tmp_path)
    for var in ("DECLSYNC_API_URL", "DECLSYNC_STATE", "DECLSYNC_PROFILE", "DECLSYNC_TOKEN"):
        monkeypatch.delenv(var, raising=False)
    with SandboxServer(SandboxConfig(db_path=":memory:")) as server:
        yield server, tmp_path


def test_drift_job_fails_after_an_out_of_band_change(sandbox_dir: tuple[SandboxServer, Path]) -> None:
    server, _ = sandbox_dir
    (drift,) = github_jobs()["drift"]
    assert drift in gitlab_jobs()["drift"]
    assert run(["apply", "--auto-approve", "--api-url", server.base_url]).code == 0
    clean = run([*drift, "--api-url", server.base_url])
    assert clean.code == 0, clean.all
    with httpx.Client(base_url=server.base_url + "/") as c:
        carrier: dict[str, Any] = c.get("carriers", params={"key": "CARR-SWIFTLINE"}).json()
        assert c.patch(f"carriers/{carrier['id']}", json={"type": "TRUCKLOAD", "mcNumber": "MC-999999"}).status_code == 200
    drifted = run([*drift, "--api-url", server.base_url])
    assert drifted.code == 2, drifted.all
    assert "~ Carrier/CARR-SWIFTLINE (1 field, drift)" in drifted.out


def test_pr_plan_of_a_large_change_fits_in_one_comment(sandbox_dir: tuple[SandboxServer, Path]) -> None:
    server, workdir = sandbox_dir
    docs = [
        {"kind": "Customer", "key": f"BULK-{i:05d}",
         "spec": {"name": f"Bulk customer {i} " + "x" * 40, "status": "ACTIVE", "notes": "n" * (i % 200),
                  "corporateAddress": {"line1": f"{i} Main St", "city": "Springfield", "country": "US",
                                       "market": "Springfield"}}}
        for i in range(2500)
    ]
    (workdir / "manifests" / "bulk.yaml").write_text(yaml.safe_dump_all(docs))
    (argv,) = [a for a in github_jobs()["plan"] if a[0] == "plan"]
    result = run([*argv, "--api-url", server.base_url])
    assert result.code == 2, result.err
    assert len(result.out) <= 60_000
    assert result.out.startswith("**Plan: 2511 to create, 0 to update, 0 unchanged.**")
    assert "Shortened to fit 60,000 characters" in result.out
