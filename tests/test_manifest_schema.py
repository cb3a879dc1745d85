"""Manifests are also checked against each kind's JSON Schema (``manifests/schemacheck.py``),
compiled once per kind with format checks on: what the schema alone rejects is reported
with file:line, and nothing the profile's validator already explained is reported twice."""

from __future__ import annotations

from pathlib import Path

import pytest

from declsync.errors import ManifestError
from declsync.manifests.loader import load_manifests
from declsync.manifests.schemacheck import _validator, schema_violations
from declsync.profile.model import default_profile

PROFILE = default_profile()


def problems(tmp_path: Path, text: str) -> list[str]:
    (tmp_path / "a.yaml").write_text(text, encoding="utf-8")
    with pytest.raises(ManifestError) as info:
        load_manifests([tmp_path], PROFILE)
    return [str(p) for p in info.value.problems]


def test_a_ref_marker_without_a_key_is_refused_by_the_schema(tmp_path: Path) -> None:
    # The profile's own check only wanted 'Kind/…': the schema's pattern wants a key after the slash.
    found = problems(tmp_path, "kind: Location\nkey: L\nspec:\n  customerId: {$ref: Customer/}\n"
                               "  name: n\n  isAppointmentRequired: true\n")
    assert len(found) == 1, found
    # The anyOf's best branch is worded, at the member that is wrong (line and column of '$ref').
    assert found[0].startswith(f"{tmp_path / 'a.yaml'}:4:16: customerId.$ref: ")
    assert "Customer/.+" in found[0] and "Location JSON Schema" in found[0]


def test_problems_the_profile_validator_words_are_not_repeated(tmp_path: Path) -> None:
    found = problems(tmp_path, "kind: Customer\nkey: C\nspec:\n  name: 5\n  status: NEWW\n  colour: red\n")
    assert len(found) == 3, found
    assert not any("JSON Schema" in p for p in found)
    assert any("did you mean 'NEW'" in p for p in found)


def test_valid_specs_pass_and_the_validator_is_compiled_once_per_kind() -> None:
    kind = PROFILE.kinds["Customer"]
    assert schema_violations(kind, {"name": "A", "status": "NEW"}) == []
    assert _validator(kind) is _validator(kind)


def test_values_that_are_not_json_are_left_to_the_profile_validator() -> None:
    kind = PROFILE.kinds["Customer"]
    assert schema_violations(kind, {"name": {1: 2}}) == []
