from __future__ import annotations

from pathlib import Path

import pytest

from declsync.errors import ManifestError
from declsync.manifests.loader import Limits, load_manifests
from declsync.profile.model import default_profile

PROFILE = default_profile()


def write(tmp_path: Path, name: str, text: str) -> Path:
    p = tmp_path / name
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text(text, encoding="utf-8")
    return p


def problems(tmp_path: Path, limits: Limits | None = None) -> list[str]:
    with pytest.raises(ManifestError) as info:
        load_manifests([tmp_path], PROFILE, limits)
    return [str(p) for p in info.value.problems]


def test_loads_multi_document_files_recursively(tmp_path: Path) -> None:
    write(tmp_path, "a.yaml", "kind: Customer\nkey: C1\nspec:\n  name: A\n  status: NEW\n---\n"
                              "kind: Customer\nkey: C2\nspec: {name: B, status: NEW}\n---\n")
    write(tmp_path, "sub/b.yml", "kind: Carrier\nkey: K1\nspec: {name: X, type: LTL}\n")
    write(tmp_path, "sub/ignored.txt", "kind: nope")
    res = load_manifests([tmp_path], PROFILE)
    assert [r.address for r in res] == ["Customer/C1", "Customer/C2", "Carrier/K1"]
    assert res[1].source.endswith("a.yaml:7")
    assert res[0].lines[("status",)] == 5


def test_reports_every_problem_with_file_and_line(tmp_path: Path) -> None:
    write(tmp_path, "a.yaml", """kind: Order
key: O-1
spec:
  status: bookd
  freight:
    weight: heavy
    colour: red
  totalRevenue: 5
  externalNotes: null
  mode: null
  stops:
    - type: PICKUP
---
kind: Ordr
key: X
---
kind: Order
key: 0123
---
kind: Order
key: no
---
kind: Order
key: 2025-01-01
---
kind: Customer
key: C
spek: {}
---
kind: Order
key: O-2
---
kind: Order
key: O-2
""")
    out = problems(tmp_path)
    text = "\n".join(out)
    assert "a.yaml:4:3: status: Must be one of: draft, quoted, booked" in text and "did you mean 'booked'" in text
    assert "a.yaml:6:5: freight.weight: expected a number, got a string" in text
    assert "a.yaml:7:5: freight.colour: unknown field 'colour'" in text
    assert "a.yaml:8:3: totalRevenue: This field is read-only" in text
    assert "a.yaml:12: stops[0].location: This field is required" in text
    assert "a.yaml:14:1: unknown kind 'Ordr' (did you mean 'Order'?)" in text
    assert "a.yaml:18:1: key must be a string, got an integer (YAML read the unquoted value as a number; quote it)" in text
    assert "a.yaml:21:1: key must be a string, got a boolean" in text
    assert "a.yaml:24:1: key must be a string" in text and "as a date; quote it" in text
    assert "a.yaml:28:1: unknown top-level field 'spek' (did you mean 'spec'?)" in text
    assert "a.yaml:33: Order/O-2 is declared twice: here and at" in text and "a.yaml:30" in text
    # A missing field has no column (the line is its object's); every present one has its key's.
    assert "a.yaml:12: stops[0].location" in text
    # nullable fields may be null: no problem for externalNotes / mode
    assert "externalNotes" not in text and ":10:" not in text


def test_non_nullable_null_and_key_problems(tmp_path: Path) -> None:
    write(tmp_path, "a.yaml", "kind: Order\nkey: " + "k" * 513 + "\nspec:\n  status: null\n  stops: null\n")
    text = "\n".join(problems(tmp_path))
    assert "a.yaml:2:1: key is 513 characters long; at most 512" in text
    assert "a.yaml:4:3: status: must not be null" in text
    assert "a.yaml:5:3: stops: must not be null" in text


def test_yaml_syntax_error_and_python_tags(tmp_path: Path) -> None:
    write(tmp_path, "bad.yaml", "kind: Order\nkey: [unclosed\n")
    write(tmp_path, "evil.yaml", "!!python/object/apply:os.system ['echo pwned']\n")
    text = "\n".join(problems(tmp_path))
    assert "bad.yaml:" in text and "invalid YAML" in text
    assert "evil.yaml:1: invalid YAML" in text and "not allowed" in text


def test_duplicate_mapping_keys_are_errors(tmp_path: Path) -> None:
    write(tmp_path, "a.yaml", "kind: Customer\nkey: C\nspec:\n  name: A\n  name: B\n  status: NEW\n")
    assert any("a.yaml:5: field 'name' appears twice" in p for p in problems(tmp_path))


def test_alias_bomb_is_bounded(tmp_path: Path) -> None:
    lines = ["a: &a [x, x, x, x, x, x, x, x, x, x]"]
    for i in range(1, 9):
        prev = chr(ord("a") + i - 1)
        cur = chr(ord("a") + i)
        lines.append(f"{cur}: &{cur} [*{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}]")
    write(tmp_path, "bomb.yaml", "kind: Customer\nkey: C\nspec:\n" + "\n".join("  " + x for x in lines) + "\n")
    assert any("expands to more than" in p for p in problems(tmp_path))


def test_deep_nesting_and_size_limits(tmp_path: Path) -> None:
    write(tmp_path, "deep.yaml", "kind: Customer\nkey: C\nspec:\n  name: " + "[" * 200 + "]" * 200 + "\n")
    assert any("nested" in p for p in problems(tmp_path))
    big = tmp_path / "big"
    write(big, "big.yaml", "kind: Customer\nkey: C\nspec: {name: '" + "x" * 2000 + "', status: NEW}\n")
    assert any("limited to 1000 bytes" in p for p in problems(big, Limits(max_file_bytes=1000)))


def test_non_utf8_file(tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_bytes(b"kind: Customer\nkey: C\nspec: {name: \xff}\n")
    assert any("a.yaml:3: file is not valid UTF-8" in p for p in problems(tmp_path))


def test_datetimes_become_iso_strings_and_need_timezone(tmp_path: Path) -> None:
    write(tmp_path, "a.yaml", "kind: Shipment\nkey: S\nspec:\n  order: {key: O}\n"
                              "  estimatedDelivery: 2025-01-22T14:00:00Z\n")
    (res,) = load_manifests([tmp_path], PROFILE)
    assert res.spec["estimatedDelivery"] == "2025-01-22T14:00:00+00:00"
    write(tmp_path, "a.yaml", "kind: Shipment\nkey: S\nspec:\n  order: {key: O}\n"
                              "  estimatedDelivery: 2025-01-22T14:00:00\n")
    assert any("a.yaml:5:3: estimatedDelivery: date-time" in p and "no timezone" in p for p in problems(tmp_path))


def test_missing_path_and_empty_dir(tmp_path: Path) -> None:
    with pytest.raises(ManifestError, match="no such file"):
        load_manifests([tmp_path / "nope"], PROFILE)
    with pytest.raises(ManifestError, match="no manifest files"):
        load_manifests([tmp_path], PROFILE)


def test_ref_markers_validated(tmp_path: Path) -> None:
    write(tmp_path, "a.yaml", "kind: Location\nkey: L\nspec:\n  customerId: {$ref: Carrier/X}\n"
                              "  name: n\n  isAppointmentRequired: true\n")
    assert any("a.yaml:4:3: customerId: $ref must point at a Customer" in p for p in problems(tmp_path))


def test_symlink_loops_are_not_followed(tmp_path: Path) -> None:
    write(tmp_path, "a.yaml", "kind: Customer\nkey: C\nspec: {name: A, status: NEW}\n")
    (tmp_path / "loop").symlink_to(tmp_path, target_is_directory=True)
    assert [r.address for r in load_manifests([tmp_path], PROFILE)] == ["Customer/C"]


def test_bundled_example_manifests_are_valid() -> None:
    root = Path(__file__).resolve().parent.parent / "manifests"
    res = load_manifests([root], PROFILE)
    assert {r.kind for r in res} == {"Customer", "Carrier", "Location", "Order", "Shipment",
                                    "CustomerContact", "CarrierContact"}


def test_problems_in_array_items_carry_the_field_column(tmp_path: Path) -> None:
    write(tmp_path, "a.yaml", "kind: Order\nkey: O\nspec:\n  stops:\n    - type: PICKUP\n      location: {key: L}\n"
                              "      appointmentRequired: maybe\n")
    assert any(p.endswith("a.yaml:7:7: stops[0].appointmentRequired: expected true or false, got a string")
               for p in problems(tmp_path)), problems(tmp_path)
