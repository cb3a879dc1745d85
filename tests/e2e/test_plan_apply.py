"""The core promises, end to end: CLI → HTTP → sandbox → SQLite."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from .conftest import api, get, run


def url(sandbox) -> list[str]:  # type: ignore[no-untyped-def]
    return ["--api-url", sandbox.base_url]


def test_first_apply_creates_everything_then_no_changes(sandbox, workdir: Path) -> None:
    first = run(["apply", "--auto-approve", *url(sandbox)])
    assert first.code == 0, first.all
    assert "Plan: 11 to create, 0 to update, 0 unchanged." in first.out
    assert "Apply complete: 11 created, 0 updated." in first.out
    loc = get(sandbox, "locations", "LOC-ACME-CHI")
    cust = get(sandbox, "customers", "CUST-ACME")
    assert loc is not None and cust is not None and loc["customerId"] == cust["id"]
    order = get(sandbox, "orders", "ERP-ORDER-1001")
    assert order is not None and order["totalRevenue"] == 1625.5
    second = run(["plan", "--detailed-exitcode", *url(sandbox)])
    assert second.code == 0, second.all
    assert "No changes." in second.out


def test_plan_never_writes(sandbox, workdir: Path) -> None:
    result = run(["plan", "--detailed-exitcode", *url(sandbox)])
    assert result.code == 2, result.all
    assert "Plan: 11 to create" in result.out
    assert sandbox.stats()["writes"] == 0


def test_change_is_minimal_and_apply_sends_exactly_the_plan(sandbox, workdir: Path) -> None:
    assert run(["apply", "--auto-approve", *url(sandbox)]).code == 0
    orders = workdir / "manifests" / "orders.yaml"
    text = orders.read_text()
    text = text.replace("status: booked", "status: dispatched").replace("weight: 38000", "weight: 40000")
    text = text.replace("  externalNotes: Keep frozen at -10F.\n", "")
    orders.write_text(text)
    plan = run(["plan", "--format", "json", "--detailed-exitcode", *url(sandbox)])
    assert plan.code == 2, plan.all
    doc = json.loads(plan.out)
    (change,) = [c for c in doc["changes"] if c["action"] != "noop"]
    assert change["key"] == "ERP-ORDER-1001" and change["source"] == "manifests/orders.yaml:1"
    assert change["patch"] == {"status": "dispatched", "externalNotes": None, "freight": {"weight": 40000}}
    before = get(sandbox, "orders", "ERP-ORDER-1001")
    text_plan = run(["plan", *url(sandbox)])
    assert 'status: "booked" → "dispatched"' in text_plan.out
    assert "freight.weight: 38000 → 40000" in text_plan.out
    assert "externalNotes: \"Keep frozen at -10F.\" → null (removed from manifest)" in text_plan.out
    assert "Plan: 0 to create, 1 to update, 10 unchanged." in text_plan.out
    sandbox.reset_stats()
    applied = run(["apply", "--auto-approve", *url(sandbox)])
    assert applied.code == 0, applied.all
    assert sandbox.stats()["by_method"].get("PATCH") == 1
    after = get(sandbox, "orders", "ERP-ORDER-1001")
    assert before is not None and after is not None
    assert after["status"] == "dispatched" and after["externalNotes"] is None
    assert after["freight"]["weight"] == 40000 and after["freight"]["handlingUnits"] == 20
    assert after["stops"] == before["stops"]
    assert run(["plan", "--detailed-exitcode", *url(sandbox)]).code == 0


def test_fields_owned_by_others_are_left_alone(sandbox, workdir: Path) -> None:
    assert run(["apply", "--auto-approve", *url(sandbox)]).code == 0
    with api(sandbox) as c:
        r = c.patch("orders/ERP-ORDER-1001", json={"internalNotes": "ops note", "status": "canceled"})
        assert r.status_code == 200, r.text
    plan = run(["plan", *url(sandbox)])
    assert "internalNotes" not in plan.out
    assert 'status: "canceled" → "booked"  [drift: changed outside declsync' in plan.out
    assert run(["apply", "--auto-approve", *url(sandbox)]).code == 0
    order = get(sandbox, "orders", "ERP-ORDER-1001")
    assert order is not None and order["internalNotes"] == "ops note" and order["status"] == "booked"


def test_invalid_manifest_writes_nothing(sandbox, workdir: Path) -> None:
    (workdir / "manifests" / "bad.yaml").write_text("kind: Order\nkey: X\nspec:\n  status: shipped\n")
    result = run(["apply", "--auto-approve", *url(sandbox)])
    assert result.code == 1
    assert "manifests/bad.yaml:4:3: status: Must be one of:" in result.err
    assert "Traceback" not in result.all
    assert sandbox.stats()["total"] == 0


def test_apply_without_terminal_or_approval_refuses(sandbox, workdir: Path) -> None:
    result = run(["apply", *url(sandbox)])
    assert result.code == 1
    assert "pass --auto-approve" in result.err
    assert sandbox.stats()["writes"] == 0


def test_saved_plan_applies_and_stale_plan_is_refused(sandbox, workdir: Path) -> None:
    assert run(["plan", "--out", "tfplan.json", *url(sandbox)]).code == 0
    assert sandbox.stats()["writes"] == 0
    assert run(["apply", "--auto-approve", "tfplan.json", *url(sandbox)]).code == 0
    assert get(sandbox, "shipments", "SHP-ERP-1001") is not None
    # plan a change, then someone else edits the resource before apply
    orders = workdir / "manifests" / "orders.yaml"
    orders.write_text(orders.read_text().replace("status: booked", "status: dispatched"))
    assert run(["plan", "--out", "p2.json", *url(sandbox)]).code == 0
    with api(sandbox) as c:
        assert c.patch("orders/ERP-ORDER-1001", json={"internalNotes": "moved"}).status_code == 200
    sandbox.reset_stats()
    stale = run(["apply", "--auto-approve", "p2.json", *url(sandbox)])
    assert stale.code == 1
    assert "stale plan" in stale.err and "ERP-ORDER-1001 changed since the plan" in stale.err
    assert sandbox.stats()["writes"] == 0


def test_a_failed_resource_skips_its_dependents_only(sandbox, workdir: Path) -> None:
    (workdir / "manifests" / "broken.yaml").write_text(
        "kind: Order\nkey: BROKEN\nspec:\n  customer: {id: 00000000-0000-4000-8000-000000000000}\n---\n"
        "kind: Shipment\nkey: SHP-BROKEN\nspec:\n  order: {key: BROKEN}\n")
    result = run(["apply", "--auto-approve", *url(sandbox)])
    assert result.code == 1
    assert "failed: Order/BROKEN" in result.err and "References must exist" in result.err
    assert "skipped: Shipment/SHP-BROKEN: depends on Order/BROKEN, which failed" in result.err
    assert "11 created, 0 updated, 1 failed, 1 skipped" in result.out
    (workdir / "manifests" / "broken.yaml").unlink()
    assert run(["plan", "--detailed-exitcode", *url(sandbox)]).code == 0


@pytest.mark.contract_exempt(reason="injects 503s, which the contract documents for no operation")
def test_transient_errors_are_retried(sandbox, workdir: Path) -> None:
    sandbox.fail_next(3, 503)
    result = run(["apply", "--auto-approve", "--parallelism", "1", *url(sandbox)])
    assert result.code == 0, result.all
    assert run(["plan", "--detailed-exitcode", *url(sandbox)]).code == 0


def test_lost_answer_after_commit_does_not_duplicate(sandbox, workdir: Path) -> None:
    sandbox.drop_after_commit(2)
    result = run(["apply", "--auto-approve", "--parallelism", "1", *url(sandbox)])
    assert result.code == 0, result.all
    with api(sandbox) as c:
        data = c.post("customers/filter", json={"filter": {}, "pageSize": 250}).json()["data"]
    assert sorted(x["key"] for x in data) == ["CUST-ACME", "CUST-GLOBEX"]
    assert run(["plan", "--detailed-exitcode", *url(sandbox)]).code == 0


def test_validate_and_usage_errors(sandbox, workdir: Path) -> None:
    ok = run(["validate"])
    assert ok.code == 0 and "11 resources valid." in ok.out
    assert run(["plan", "--no-such-flag"]).code == 1
    assert run(["nonsense"]).code == 1


def test_unreachable_api_is_a_clear_error(workdir: Path) -> None:
    result = run(["plan", "--api-url", "http://127.0.0.1:9/v1"])
    assert result.code == 1
    assert "cannot reach" in result.err and "Traceback" not in result.all


def test_plain_http_to_remote_host_refused(workdir: Path) -> None:
    result = run(["plan", "--api-url", "http://api.example.com/v1", "--token", "tok-secret-123"])
    assert result.code == 1 and "--insecure-http" in result.err
    assert "tok-secret-123" not in result.all


def test_embedded_sandbox_is_the_default_target(workdir: Path) -> None:
    first = run(["apply", "--auto-approve"])
    assert first.code == 0, first.all
    assert "target: embedded sandbox (.declsync/sandbox.sqlite); set DECLSYNC_API_URL to target MVMNT" in first.err
    assert (workdir / ".declsync" / "sandbox.sqlite").exists()
    assert (workdir / ".declsync" / "state.json").exists()
    second = run(["plan", "--detailed-exitcode"])
    assert second.code == 0 and "No changes." in second.out
