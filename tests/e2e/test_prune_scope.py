"""Issue 10, section 6: prune only considers state entries whose manifest lies under the
paths being planned, so that ``import --out-dir imported`` and ``plan --prune`` agree."""

from __future__ import annotations

import json
from pathlib import Path

from declsync.state import StateEntry, StateStore

from .conftest import api, run


def url(sandbox) -> list[str]:  # type: ignore[no-untyped-def]
    return ["--api-url", sandbox.base_url]


def _create_customers(sandbox, *keys: str) -> None:  # type: ignore[no-untyped-def]
    with api(sandbox) as c:
        for key in keys:
            r = c.post("customers", json={"key": key, "name": f"Imported {key}", "status": "ACTIVE"})
            assert r.status_code == 201, r.text


def _deletes(result_out: str) -> set[str]:
    return {f"{c['kind']}/{c['key']}" for c in json.loads(result_out)["changes"] if c["action"] == "delete"}


def test_import_elsewhere_is_not_pruned_by_a_plan_of_the_default_manifests(sandbox, workdir: Path) -> None:
    assert run(["apply", "--auto-approve", *url(sandbox)]).code == 0
    _create_customers(sandbox, "IMP-A", "IMP-B")
    imported = run(["import", "Customer", "IMP-A", "IMP-B", "--out-dir", "imported", *url(sandbox)])
    assert imported.code == 0, imported.all
    # The exact command that plans the imported files, and one that plans everything.
    tail = f" --api-url {sandbox.base_url}`"
    assert f"`declsync plan imported{tail} shows no changes for them" in imported.out, imported.out
    assert f"`declsync plan manifests imported{tail}" in imported.out
    # The default manifests/ does not declare them, but they were never declared there: no delete, no note.
    plain = run(["plan", "--prune", "--format", "json", *url(sandbox)])
    assert plain.code == 0, plain.all
    assert _deletes(plain.out) == set()
    assert not any("IMP-" in n for n in json.loads(plain.out)["notes"]), plain.out
    assert run(["plan", "--detailed-exitcode", "imported", *url(sandbox)]).code == 0
    both = run(["plan", "--prune", "--detailed-exitcode", "manifests", "imported", *url(sandbox)])
    assert both.code == 0 and "No changes." in both.out, both.all
    # Planning imported/ alone never prunes what manifests/ declares, only what imported/ declared.
    Path("imported/customers/IMP-A.yaml").unlink()
    only = run(["plan", "--prune", "--format", "json", "--allow-mass-delete", "./imported/", *url(sandbox)])
    assert only.code == 0, only.all
    assert _deletes(only.out) == {"Customer/IMP-A"}
    applied = run(["apply", "--prune", "--auto-approve", "--allow-mass-delete", "imported", *url(sandbox)])
    assert applied.code == 0 and "1 deleted" in applied.out, applied.all
    assert run(["plan", "--prune", "--detailed-exitcode", "manifests", "imported", *url(sandbox)]).code == 0


def test_a_removed_manifest_under_the_planned_paths_is_still_pruned(sandbox, workdir: Path) -> None:
    """The scope is the recorded manifest path, however the paths are written on the command line."""
    assert run(["apply", "--auto-approve", "./manifests/", *url(sandbox)]).code == 0
    entry = StateStore(".declsync/state.json").read().get("Shipment", "SHP-ERP-1001")
    assert entry is not None and entry.source == "manifests/shipments.yaml:1"  # recorded relative, normalised
    (workdir / "manifests" / "shipments.yaml").unlink()
    for paths in ([], ["manifests"], [str(workdir / "manifests")], ["manifests/../manifests"]):
        result = run(["plan", "--prune", "--format", "json", *paths, *url(sandbox)])
        assert result.code == 0, result.all
        assert _deletes(result.out) == {"Shipment/SHP-ERP-1001"}, paths


def test_state_entries_without_a_recorded_path_are_only_pruned_when_selected(sandbox, workdir: Path) -> None:
    assert run(["apply", "--auto-approve", *url(sandbox)]).code == 0
    store = StateStore(".declsync/state.json")
    with store.locked() as locked:
        old = locked.state.get("Shipment", "SHP-ERP-1001")
        assert old is not None
        # As an older declsync (or a hand-edited state) may have left it: no source.
        locked.state.put(StateEntry(kind=old.kind, key=old.key, id=old.id, spec=old.spec, updated_at=old.updated_at))
        locked.save()
    (workdir / "manifests" / "shipments.yaml").unlink()
    plain = run(["plan", "--prune", "--format", "json", *url(sandbox)])
    assert plain.code == 0, plain.all
    assert _deletes(plain.out) == set()
    notes = " ".join(json.loads(plain.out)["notes"])
    assert "Shipment/SHP-ERP-1001" in notes and "no recorded manifest path" in notes and "--kind Shipment" in notes
    targeted = run(["plan", "--prune", "--format", "json", "--kind", "Shipment",
                    "--allow-mass-delete", *url(sandbox)])
    assert targeted.code == 0, targeted.all
    assert _deletes(targeted.out) == {"Shipment/SHP-ERP-1001"}
