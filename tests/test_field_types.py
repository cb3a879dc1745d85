"""The field-type registry (``declsync.profile.types``): one test group per type, and
property tests of the invariants every type keeps — a valid value normalises to a fixed
point that still equals it, equality is reflexive and agrees with normalisation."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from declsync.profile.model import FIELD_TYPES, FieldSpec, Violation, validate_body
from declsync.profile.schema import field_schema
from declsync.profile.types import (
    OMIT,
    REGISTRY,
    check_value,
    field_type,
    from_yaml,
    holds_ref,
    import_value,
    project,
    values_equal,
)

ADDRESS = FieldSpec("address", "object", fields={
    "line1": FieldSpec("line1", "string", required=True),
    "latitude": FieldSpec("latitude", "number", nullable=True),
    "at": FieldSpec("at", "datetime", nullable=True),
})
SPECS: dict[str, FieldSpec] = {
    "string": FieldSpec("name", "string", max_length=5),
    "integer": FieldSpec("count", "integer"),
    "number": FieldSpec("weight", "number"),
    "boolean": FieldSpec("active", "boolean"),
    "enum": FieldSpec("mode", "enum", values=("FTL", "LTL")),
    "datetime": FieldSpec("at", "datetime"),
    "reference": FieldSpec("customer", "reference", kind="Customer"),
    "object": ADDRESS,
    "array": FieldSpec("stops", "array", items=FieldSpec("[]", "object", fields=ADDRESS.fields)),
}

_ZONES = st.sampled_from([UTC, timezone(timedelta(hours=-5)), timezone(timedelta(hours=5, minutes=30))])
_DATETIMES = st.datetimes(min_value=datetime(1970, 1, 2), max_value=datetime(9000, 1, 1), timezones=_ZONES).map(
    lambda d: d.isoformat()
)
_OBJECTS = st.fixed_dictionaries(
    {"line1": st.text(max_size=5)},
    optional={"latitude": st.one_of(st.none(), st.integers(-90, 90), st.floats(-90, 90)), "at": _DATETIMES},
)
VALID: dict[str, st.SearchStrategy[Any]] = {
    "string": st.text(max_size=5),
    "integer": st.integers(),
    "number": st.one_of(st.integers(-(10**9), 10**9), st.floats(allow_nan=False, allow_infinity=False)),
    "boolean": st.booleans(),
    "enum": st.sampled_from(["FTL", "LTL"]),
    "datetime": _DATETIMES,
    "reference": st.one_of(st.fixed_dictionaries({"key": st.text(min_size=1, max_size=4)}),
                           st.fixed_dictionaries({"id": st.uuids().map(str)})),
    "object": _OBJECTS,
    "array": st.lists(_OBJECTS, max_size=3),
}


def problems(spec: FieldSpec, value: Any, mode: str = "manifest") -> list[Violation]:
    out: list[Violation] = []
    check_value(spec, value, (spec.name,), mode, out)  # type: ignore[arg-type]
    return out


def test_every_profile_type_is_registered() -> None:
    assert set(REGISTRY) == set(FIELD_TYPES) == set(SPECS)
    for name, spec in SPECS.items():
        assert field_type(spec).name == name


@pytest.mark.parametrize("name", sorted(SPECS))
@given(data=st.data())
def test_valid_values_pass_and_normalise_to_a_fixed_point_equal_to_them(name: str, data: st.DataObject) -> None:
    spec = SPECS[name]
    value = data.draw(VALID[name])
    ftype = field_type(spec)
    assert problems(spec, value) == []
    normal = ftype.normalise(spec, value)
    assert ftype.normalise(spec, normal) == normal
    assert values_equal(value, value, spec)
    assert values_equal(normal, value, spec)
    assert values_equal(value, normal, spec)


@pytest.mark.parametrize("name", sorted(SPECS))
@given(data=st.data())
def test_equal_values_normalise_alike(name: str, data: st.DataObject) -> None:
    spec = SPECS[name]
    a, b = data.draw(VALID[name]), data.draw(VALID[name])
    ftype = field_type(spec)
    if name not in ("object", "array", "reference"):  # those compare only what ``desired`` declares
        assert values_equal(a, b, spec) == (ftype.normalise(spec, a) == ftype.normalise(spec, b))


def test_null_only_where_nullable() -> None:
    assert problems(FieldSpec("x", "string", nullable=True), None) == []
    (v,) = problems(FieldSpec("x", "string"), None)
    assert "not nullable" in v.message


@pytest.mark.parametrize(("name", "bad", "words"), [
    ("string", 5, "expected a string"),
    ("string", "toolong", "at most 5"),
    ("integer", 1.5, "expected an integer"),
    ("integer", True, "expected an integer"),
    ("number", "1", "expected a number"),
    ("number", float("nan"), "finite"),
    ("boolean", "yes", "true or false"),
    ("enum", "ftl", "did you mean 'FTL'"),
    ("datetime", "2025-01-22T14:00:00", "no timezone"),
    ("reference", {"key": "A", "id": "B"}, "exactly one of 'id' or 'key'"),
    ("reference", {"key": ""}, "non-empty"),
    ("object", [], "expected a mapping"),
    ("array", {}, "expected a list"),
])
def test_each_type_words_what_is_wrong(name: str, bad: Any, words: str) -> None:
    (v,) = problems(SPECS[name], bad)
    assert words in v.message


def test_object_checks_nested_fields_and_array_items_their_required_fields() -> None:
    (unknown,) = problems(ADDRESS, {"line1": "a", "lin2": "b"})
    assert unknown.path == ("address", "lin2") and "did you mean 'line1'" in unknown.message
    assert problems(ADDRESS, {"latitude": 1}) == []  # a patch merges: required applies on create
    (missing,) = problems(SPECS["array"], [{"latitude": 1}])
    assert missing.path == ("stops", 0, "line1")


def test_string_id_fields_take_a_ref_marker_only_in_manifests() -> None:
    spec = FieldSpec("customerId", "string", format="uuid", ref_kind="Customer")
    assert problems(spec, {"$ref": "Customer/C-1"}) == []
    (wrong,) = problems(spec, {"$ref": "Carrier/C-1"})
    assert "must point at a Customer" in wrong.message
    (not_here,) = problems(spec, {"$ref": "Customer/C-1"}, mode="patch")
    assert "expected a string" in not_here.message
    (bad_uuid,) = problems(spec, "nope")
    assert "UUID" in bad_uuid.message and "$ref: Customer/KEY" in bad_uuid.message


def test_comparison_forgives_the_server_representation() -> None:
    assert values_equal(1500, 1500.0, SPECS["number"])
    assert not values_equal(True, 1, SPECS["integer"])
    assert values_equal("2025-01-22T09:00:00-05:00", "2025-01-22T14:00:00.000Z", SPECS["datetime"])
    assert values_equal({"key": "K"}, {"id": "x", "key": "K"}, SPECS["reference"])
    assert values_equal({"line1": "a"}, {"line1": "a", "latitude": 3}, ADDRESS)
    assert not values_equal([{"line1": "a"}], [], SPECS["array"])


def test_yaml_date_times_become_iso_strings_inside_objects_and_arrays() -> None:
    when = datetime(2025, 1, 22, 14, tzinfo=UTC)
    assert from_yaml(SPECS["array"], [{"line1": "a", "at": when}]) == [{"line1": "a", "at": when.isoformat()}]
    assert from_yaml(SPECS["string"], when) is when  # a string field keeps it, so validation can say so


def test_import_turns_ids_into_refs_and_omits_empty_references() -> None:
    spec = FieldSpec("customerId", "string", ref_kind="Customer")
    lookup = {("Customer", "id-1"): "C-1"}.get
    assert import_value(spec, "id-1", lambda k, i: lookup((k, i))) == ({"$ref": "Customer/C-1"}, "id-1")
    assert import_value(SPECS["reference"], {"id": None, "key": None}, lambda k, i: None) == (OMIT, OMIT)
    assert import_value(SPECS["reference"], {"id": "x", "key": "K"}, lambda k, i: None) == ({"key": "K"}, {"key": "K"})
    assert import_value(ADDRESS, {"line1": "a", "latitude": None, "at": None}, lambda k, i: None) == (
        {"line1": "a"}, {"line1": "a"})


def test_projection_shows_live_values_in_the_manifest_shape() -> None:
    assert project(SPECS["reference"], {"id": "x", "key": "K"}, {"key": "J"}) == {"key": "K"}
    assert project(ADDRESS, {"line1": "a", "latitude": 1}, {"line1": "b"}) == {"line1": "a"}


def test_holds_ref_finds_references_anywhere() -> None:
    assert holds_ref(SPECS["reference"])
    assert holds_ref(FieldSpec("s", "array", items=FieldSpec("[]", "string", ref_kind="Location")))
    assert not holds_ref(ADDRESS)


def test_json_schema_per_type() -> None:
    assert field_schema(SPECS["enum"], "write") == {"type": "string", "enum": ["FTL", "LTL"]}
    assert field_schema(SPECS["array"], "write")["items"]["required"] == ["line1"]
    assert field_schema(SPECS["datetime"], "manifest")["format"] == "date-time"
    assert "oneOf" in field_schema(SPECS["reference"], "manifest")
    assert field_type(SPECS["array"]).display(SPECS["array"]) == "array of object"


def test_body_validation_dispatches_to_the_types() -> None:
    from declsync.profile.model import KindSpec

    kind = KindSpec("Thing", "things", fields={"address": ADDRESS}, read_only=frozenset({"id"}), computed={})
    found = validate_body(kind, {"address": {"latitude": "north"}, "id": "x"}, "create")
    assert {v.field for v in found} == {"address.latitude", "address.line1", "id"}


@pytest.mark.parametrize(("raw", "words"), [
    ({"type": "enum"}, "enum field 'f' needs 'values'"),
    ({"type": "array"}, "array field 'f' needs 'items'"),
    ({"type": "reference"}, "reference field 'f' needs 'kind'"),
    ({"type": "text"}, "unknown type 'text'"),
])
def test_a_profile_field_gets_what_its_type_needs(raw: dict[str, Any], words: str) -> None:
    from declsync.errors import ProfileError
    from declsync.profile.model import parse_profile

    with pytest.raises(ProfileError, match=words):
        parse_profile({"kinds": {"Thing": {"path": "things", "fields": {"f": raw}}}}, "p.yaml")
