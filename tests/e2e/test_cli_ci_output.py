"""Issue 15 §2–§4 end to end: CI-native output (GitHub workflow commands, validate JSON, one
log line per applied resource), stdout/stderr discipline, help, init, and the hints."""

from __future__ import annotations

import json
import re
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from declsync.cli.output import outcome_line
from declsync.execution.outcome import Outcome, Status
from declsync.plan import Action
from declsync.render.github import command, escape_data, escape_property

from .conftest import api, run
from .ptyrun import run_pty


def url(sandbox) -> list[str]:
    return ["--api-url", sandbox.base_url]


def _unescape(text: str) -> str:
    return text.replace("%0D", "\r").replace("%0A", "\n").replace("%3A", ":").replace("%2C", ",").replace("%25", "%")


@given(st.text())
def test_github_escaping_keeps_one_command_per_line_and_round_trips(text: str) -> None:
    for escaped in (escape_data(text), escape_property(text)):
        assert "\n" not in escaped and "\r" not in escaped
        assert _unescape(escaped) == text
    assert "," not in escape_property(text) and ":" not in escape_property(text)


def test_a_command_message_cannot_start_another_command() -> None:
    line = command("error", "bad\n::error::injected 100%", file="a,b:c.yaml", line=3, col=7)
    assert line == "::error file=a%2Cb%3Ac.yaml,line=3,col=7::bad%0A::error::injected 100%25"


def test_validate_github_and_json_formats(workdir: Path) -> None:
    Path("manifests/bad.yaml").write_text("kind: Carrier\nkey: C-1\nspec:\n\tname: x\n")
    Path("manifests/enum.yaml").write_text("kind: Carrier\nkey: C-2\nspec:\n  name: x\n  type: ftl\n")
    gh = run(["validate", "--format", "github"])
    assert gh.code == 1
    lines = [line for line in gh.out.splitlines() if line.startswith("::error")]
    assert lines[0].startswith("::error file=manifests/bad.yaml,line=4,col=1::invalid YAML")
    assert "YAML does not allow tabs" in lines[0]
    assert lines[1].startswith("::error file=manifests/enum.yaml,line=5,col=3::type%3A") is False  # data keeps ':'
    assert lines[1].startswith("::error file=manifests/enum.yaml,line=5,col=3::type: Must be one of")
    as_json = run(["validate", "--format", "json"])
    assert as_json.code == 1
    doc = json.loads(as_json.out)
    assert doc["valid"] is False
    assert doc["problems"][0] == {"file": "manifests/bad.yaml", "line": 4, "column": 1, "field": None,
                                  "message": doc["problems"][0]["message"]}
    assert doc["problems"][1]["field"] == "type" and doc["problems"][1]["column"] == 3
    Path("manifests/bad.yaml").unlink()
    Path("manifests/enum.yaml").unlink()
    ok = run(["validate", "--format", "json"])
    assert ok.code == 0 and json.loads(ok.out) == {"valid": True, "resources": 11, "problems": []}


def test_plan_github_format_annotates_changes_and_drift(sandbox, workdir: Path) -> None:
    assert run(["apply", "--auto-approve", *url(sandbox)]).code == 0
    orders = workdir / "manifests" / "orders.yaml"
    orders.write_text(orders.read_text().replace("status: booked", "status: dispatched"))
    with api(sandbox) as c:  # an out-of-band change: drift
        order = c.get("orders/ERP-ORDER-1001", params={"by": "key"}).json()
        assert c.patch(f"orders/{order['id']}", json={"status": "quoted"}).status_code == 200
    gh = run(["plan", "--format", "github", *url(sandbox)])
    assert gh.code == 0, gh.all
    lines = gh.out.splitlines()
    assert any(re.match(r"::notice file=manifests/orders\.yaml,line=\d+,title=declsync plan::~ Order/ERP-ORDER-1001",
                        line) for line in lines), gh.out
    assert any(line.startswith("::warning file=manifests/orders.yaml") and "drift" in line for line in lines)
    assert lines[-1] == "Plan: 0 to create, 1 to update, 10 unchanged."
    assert f"Target: {sandbox.base_url}" in gh.err  # stdout holds only workflow commands and the summary


def test_apply_off_a_terminal_logs_one_line_per_resource_then_the_summary(sandbox, workdir: Path) -> None:
    result = run(["apply", "--auto-approve", *url(sandbox)])
    assert result.code == 0, result.all
    logged = [line for line in result.out.splitlines() if re.match(r"^[+~!-] \S+/\S+ ", line)]
    assert len(logged) == 11
    assert all(re.fullmatch(r"\+ \S+/\S+ created \(\d+\.\d s\)", line) for line in logged), logged
    assert result.out.splitlines()[-1] == "Apply complete: 11 created, 0 updated."


def test_the_log_line_of_a_failed_resource() -> None:
    failed = Outcome("Carrier/C-9", Action.CREATE, Status.FAILED, "422 validation_error: name: too long", seconds=1.26)
    assert outcome_line(failed) == "! Carrier/C-9 failed: 422 validation_error: name: too long (1.3 s)"
    updated = Outcome("Order/ERP-1", Action.UPDATE, Status.APPLIED, seconds=0.4)
    assert outcome_line(updated) == "~ Order/ERP-1 updated (0.4 s)"
    deleted = Outcome("Order/ERP-2", Action.DELETE, Status.APPLIED, seconds=0.0)
    assert outcome_line(deleted) == "- Order/ERP-2 deleted (0.0 s)"
    # Nothing was sent for a skipped resource: no duration to show.
    skipped = Outcome("Shipment/S-1", Action.CREATE, Status.SKIPPED, "depends on Carrier/C-9, which failed")
    assert outcome_line(skipped) == "! Shipment/S-1 skipped: depends on Carrier/C-9, which failed"


def test_errors_go_to_stderr_and_plans_to_stdout(sandbox, workdir: Path) -> None:
    planned = run(["plan", *url(sandbox)])
    assert "declsync will perform the following actions" in planned.out and "Error" not in planned.all
    broken = run(["plan", "--api-url", sandbox.base_url.rsplit("/v1", 1)[0]])
    assert broken.code == 1 and broken.out == ""
    assert "did you forget /v1?" in broken.err and f"--api-url {sandbox.base_url}" in broken.err


def test_plain_http_refusal_names_the_real_reason(workdir: Path) -> None:
    bare = run(["plan", "--api-url", "http://192.0.2.1:9/v1"])
    assert bare.code == 1 and "no credentials are sent" in bare.err and "read or change" in bare.err
    with_token = run(["plan", "--api-url", "http://192.0.2.1:9/v1"], env={"DECLSYNC_TOKEN": "tok-123456789"})
    assert with_token.code == 1 and "refusing to send credentials over plain http" in with_token.err


def test_plan_time_reference_errors_say_nothing_was_written(sandbox, workdir: Path) -> None:
    Path("manifests/dangling.yaml").write_text(
        "kind: Location\nkey: L-X\nspec:\n  customerId: {$ref: Customer/NOPE}\n  name: x\n"
        "  isAppointmentRequired: true\n")
    result = run(["plan", *url(sandbox)])
    assert result.code == 1 and result.err.rstrip().endswith("nothing was written.")
    assert "nothing was sent to the API" not in result.err


def test_verbose_after_the_subcommand(workdir: Path) -> None:
    Path("manifests/bad.yaml").write_text("kind: Nope\n")
    for args in (["-v", "validate"], ["validate", "-v"]):
        assert run(args).code == 1
    assert run(["plan", "-v", "--help"]).code == 0


def test_help_names_env_vars_defaults_usage_and_workflow_order(workdir: Path) -> None:
    helped = " ".join(run(["plan", "--help"]).out.split())
    for shown in ("[env var: DECLSYNC_API_URL]", "[env var: DECLSYNC_STATE; default: .declsync/state.json]",
                  "[default: 16", "[env var: DECLSYNC_REQUEST_TIMEOUT;"):
        assert shown in helped, shown
    assert "Usage: declsync apply [OPTIONS] [PATHS]... | PLANFILE" in run(["apply", "--help"]).out
    top = run(["--help"]).out
    listed = [line.split()[0] for line in top.split("Commands:")[1].splitlines() if line.startswith("  ")]
    assert listed[:9] == ["init", "validate", "plan", "apply", "show", "import", "state", "schema", "profile"]
    assert "_DECLSYNC_COMPLETE=bash_source declsync" in " ".join(top.split())


def test_init_scaffolds_a_directory_that_validates(workdir: Path, tmp_path: Path) -> None:
    target = tmp_path / "project"
    result = run(["init", str(target), "--kind", "Customer", "--kind", "Location"])
    assert result.code == 0, result.all
    assert sorted(p.name for p in (target / "manifests").iterdir()) == ["customer.yaml", "location.yaml"]
    assert (target / "declsync.yaml").exists()
    assert ".declsync/" in (target / ".gitignore").read_text().splitlines()
    repo = Path(__file__).resolve().parents[2]
    assert (target / ".github/workflows/declsync.yml").read_text() == \
        (repo / "examples/github-actions/declsync.yml").read_text()
    valid = run(["validate", str(target / "manifests")])
    assert valid.code == 0, valid.all
    again = run(["init", str(target), "--kind", "Customer"])  # kept, never overwritten; .gitignore not doubled
    assert again.code == 0 and "kept" in again.out
    assert (target / ".gitignore").read_text().splitlines().count(".declsync/") == 1
    unknown = run(["init", str(target), "--kind", "Nope"])
    assert unknown.code == 1 and "unknown kind 'Nope'" in unknown.err


def test_the_apply_log_is_terminal_aware(sandbox, workdir: Path) -> None:
    """On a terminal no per-resource log lines (the progress line is for that)."""
    result = run_pty(["apply", "--auto-approve", *url(sandbox)])
    assert result.code == 0, result.out
    assert not re.search(r"^\+ \S+ created \(at", result.out, re.M)
