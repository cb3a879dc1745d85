"""``import declsync`` as an integrator uses it, over real HTTP against the sandbox:
plan → review → apply, masked plans, stale refusals, structured errors, the example
script and the runnable examples in the API docstrings."""

from __future__ import annotations

import doctest
import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

import declsync
import declsync.api
from declsync.planning.planner import make_plan
from declsync.profile.model import default_profile

from .conftest import REPO, get

SECRET = "gate code 4711"


def url(sandbox) -> dict[str, str]:
    return {"api_url": sandbox.base_url}


def secret_customer(notes: str) -> str:
    return (f"kind: Customer\nkey: CUST-SECRET\nsensitive: [notes]\nspec:\n  name: Secretive Ltd\n"
            f"  status: ACTIVE\n  notes: {notes}\n")


def test_the_plan_review_apply_loop(sandbox, workdir: Path) -> None:
    plan = declsync.plan(["manifests"], **url(sandbox))
    assert plan.summary == {"create": 11, "update": 0, "noop": 0, "delete": 0}
    assert sandbox.stats()["writes"] == 0  # planning never writes
    result = declsync.apply(plan, **url(sandbox))
    assert result.ok
    assert sorted(o.address for o in result.outcomes) == sorted(c.address for c in plan.changes)
    assert {o.status for o in result.outcomes} == {"applied"}
    assert get(sandbox, "customers", "CUST-ACME") is not None
    assert not declsync.plan(["manifests"], **url(sandbox)).has_changes


def test_plans_are_masked_in_themselves(sandbox, workdir: Path) -> None:
    Path("manifests/secret.yaml").write_text(secret_customer("old code"), encoding="utf-8")
    assert declsync.apply(declsync.plan("manifests", **url(sandbox)), **url(sandbox)).ok
    Path("manifests/secret.yaml").write_text(secret_customer(SECRET), encoding="utf-8")
    plan = declsync.plan("manifests", **url(sandbox))
    (change,) = [c for c in plan.changes if c.action is declsync.Action.UPDATE]
    shown = repr([change.before, change.after, change.field_changes, change.json_patch])
    assert SECRET not in shown and "old code" not in shown
    assert change.patch == {"notes": SECRET}  # exactly what apply sends
    assert declsync.apply(plan, **url(sandbox)).ok
    assert get(sandbox, "customers", "CUST-SECRET")["notes"] == SECRET


def test_make_plan_masks_too() -> None:
    """The lowest public planner masks as well: no path yields a plan with the value in clear."""
    profile = default_profile()
    resource = declsync.Resource(kind="Customer", key="C", spec={"name": "N", "status": "ACTIVE", "notes": SECRET}, file="m.yaml",
                                 line=1, sensitive=("notes",))
    plan = make_plan([resource], {}, {}, profile)
    (change,) = plan.changes
    assert SECRET not in repr([change.after, change.field_changes, change.json_patch])
    assert change.patch is not None and change.patch["notes"] == SECRET


def test_apply_refuses_a_stale_plan_before_any_write(sandbox, workdir: Path) -> None:
    assert declsync.apply(declsync.plan(**url(sandbox)), **url(sandbox)).ok
    Path("manifests/customers.yaml").write_text(
        Path("manifests/customers.yaml").read_text().replace("Acme Foods", "Acme Foods Inc"), encoding="utf-8")
    plan = declsync.plan(**url(sandbox))
    with httpx.Client(base_url=sandbox.base_url + "/") as http:
        live = http.get("customers/CUST-ACME", params={"by": "key"}).json()
        http.patch(f"customers/{live['id']}", json={"website": "https://elsewhere.example"}).raise_for_status()
    sandbox.reset_stats()
    with pytest.raises(declsync.StalePlanError, match="CUST-ACME changed since the plan") as info:
        declsync.apply(plan, **url(sandbox))
    (reason,) = info.value.reasons
    assert reason.startswith("Customer/CUST-ACME changed since the plan")
    assert sandbox.stats()["writes"] == 0


def test_apply_refuses_a_plan_made_for_another_target(sandbox, workdir: Path) -> None:
    plan = declsync.plan()  # the embedded sandbox
    with pytest.raises(declsync.StalePlanError, match="it was made for embedded sandbox"):
        declsync.apply(plan, **url(sandbox))
    assert sandbox.stats()["writes"] == 0


def test_the_mass_delete_guard_says_what_and_how_many(sandbox, workdir: Path) -> None:
    assert declsync.apply(declsync.plan(**url(sandbox)), **url(sandbox)).ok
    for name in ("orders.yaml", "shipments.yaml"):
        Path("manifests", name).unlink()
    with pytest.raises(declsync.MassDeleteError) as info:
        declsync.plan(prune=True, **url(sandbox))
    assert info.value.managed == 11 and len(info.value.deletes) == 3
    assert "Shipment/SHP-ERP-1001" in info.value.deletes
    assert info.value.max_fraction == 0.2
    assert "--allow-mass-delete" not in str(info.value)
    assert declsync.plan(prune=True, allow_mass_delete=True, **url(sandbox)).summary["delete"] == 3


def test_validate_returns_problems_and_load_manifests_raises(workdir: Path) -> None:
    assert declsync.validate("manifests") == []
    Path("manifests/bad.yaml").write_text("kind: Customer\nkey: B\nspec:\n  name: B\n  colour: red\n", encoding="utf-8")
    (problem,) = declsync.validate(["manifests"])
    assert (problem.file, problem.line) == ("manifests/bad.yaml", 5) and "colour" in problem.message
    with pytest.raises(declsync.ManifestError) as info:
        declsync.load_manifests("manifests")
    assert info.value.problems == [problem]


def test_write_and_read_plan(sandbox, workdir: Path) -> None:
    plan = declsync.plan(**url(sandbox))
    declsync.write_plan(plan, "out/plan.json")
    assert declsync.read_plan("out/plan.json") == plan
    Path("out/plan.json").write_text('"a string"', encoding="utf-8")
    with pytest.raises(declsync.PlanFileError) as info:
        declsync.read_plan("out/plan.json")
    assert info.value.path == "out/plan.json" and "expected a JSON object" in info.value.reason


def test_the_surface_is_one_import() -> None:
    for name in declsync.__all__:
        assert getattr(declsync, name) is not None
    import declsync.plan as plan_module  # noqa: F401 - importing the module keeps the name the function

    assert callable(declsync.plan) and callable(declsync.apply)
    assert declsync.plan is declsync.api.plan and declsync.apply is declsync.api.apply


def test_the_example_script(sandbox, workdir: Path) -> None:
    env = {**os.environ, "DECLSYNC_API_URL": sandbox.base_url}
    script = str(REPO / "examples" / "library.py")
    first = subprocess.run([sys.executable, script, "manifests", "--yes"], env=env, capture_output=True,
                           text=True, timeout=120)
    assert first.returncode == 0, first.stderr
    assert "Plan: 11 to create" in first.stdout and "Apply complete: 11 created, 0 updated." in first.stdout
    again = subprocess.run([sys.executable, script, "manifests"], env=env, capture_output=True, text=True, timeout=120)
    assert again.returncode == 0 and "No changes." in again.stdout


def _docstring_examples() -> list[doctest.DocTest]:
    tests = doctest.DocTestFinder().find(declsync.api)
    return [t for t in tests if t.examples]


@pytest.mark.parametrize("test", _docstring_examples(), ids=lambda t: t.name)
def test_the_docstring_examples_run(test: doctest.DocTest, workdir: Path) -> None:
    """Each in a fresh project directory, against its own embedded sandbox."""
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS)
    runner.run(test)
    assert runner.failures == 0
