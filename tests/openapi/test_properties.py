"""Invariants for any compiled profile, with values drawn from the profile itself: every patch
the planner sends is one the kind's patch validation accepts (discriminator carried, no
create-only field), applying it converges, and a second plan is empty."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from helpers import resource
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from declsync.normalize import values_equal
from declsync.plan import Action
from declsync.planning.mergepatch import apply_merge_patch
from declsync.planning.planner import make_plan
from declsync.profile.model import FieldSpec, KindSpec, default_profile, load_profile, validate_body

DATA = Path(__file__).parent / "data"
LIBRARY = load_profile(DATA / "library-api.yaml")
PETS = load_profile(DATA / "pets-api-30.yaml")

_TEXT = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=8)
_FORMATS = {
    "uuid": st.uuids().map(str),
    "email": st.sampled_from(["a@example.com", "ops@b.example.org"]),
    "date": st.dates().map(lambda d: d.isoformat()),
}
_SCALARS = {
    "integer": st.integers(-(10**6), 10**6),
    "number": st.one_of(st.integers(-1000, 1000), st.floats(-1e6, 1e6, allow_nan=False)),
    "boolean": st.booleans(),
    "datetime": st.datetimes(min_value=datetime(2000, 1, 1), timezones=st.just(UTC)).map(lambda d: d.isoformat()),
}


def values(spec: FieldSpec) -> st.SearchStrategy[Any]:
    """Valid manifest values for a field (references by key, id fields as uuids)."""
    if spec.type == "string":
        base = _FORMATS.get(spec.format or "", _TEXT)
    elif spec.type == "enum":
        base = st.sampled_from(spec.values)
    elif spec.type == "reference":
        base = st.fixed_dictionaries({"key": st.sampled_from(["K-1", "K-2"])})
    elif spec.type == "object":
        base = st.fixed_dictionaries({n: values(f) for n, f in spec.fields.items() if f.required},
                                     optional={n: values(f) for n, f in spec.fields.items() if not f.required})
    elif spec.type == "array":
        assert spec.items is not None
        base = st.lists(values(spec.items), max_size=3)
    else:
        base = _SCALARS[spec.type]
    return st.one_of(st.none(), base) if spec.nullable else base


@st.composite
def spec_of(draw: st.DrawFn, kind: KindSpec) -> dict[str, Any]:
    """A manifest spec of one variant of ``kind`` (declaring its discriminator)."""
    names = list(kind.fields)
    out: dict[str, Any] = {}
    if kind.discriminator:
        variant = draw(st.sampled_from(sorted(kind.variants)))
        names = [n for n in names if n in kind.variants[variant]]
        out[kind.discriminator] = variant
    for name in names:
        if name != kind.discriminator and draw(st.booleans()):
            out[name] = draw(values(kind.fields[name]))
    return out


def plan(kind: KindSpec, profile: Any, desired: dict[str, Any], live: dict[str, Any] | None,
         applied: dict[str, Any] | None) -> Any:
    refs = {(f.kind, k): {"id": f"id-{k}", "key": k} for f in kind.fields.values() if f.type == "reference"
            for k in ("K-1", "K-2")}
    live_map = {**refs, **({(kind.name, "R-1"): live} if live is not None else {})}
    applied_map = {(kind.name, "R-1"): applied} if applied is not None else {}
    (change,) = make_plan([resource(kind.name, "R-1", desired)], live_map, applied_map, profile).changes
    return change


def check_convergence(kind: KindSpec, profile: Any, desired: dict[str, Any], live_spec: dict[str, Any],
                      applied: dict[str, Any] | None) -> None:
    live = {"id": "00000000-0000-4000-8000-000000000001", "key": "R-1", **live_spec}
    change = plan(kind, profile, desired, live, applied)
    patch = change.patch or {}
    if patch:
        assert validate_body(kind, patch, "patch") == [], patch
    after = apply_merge_patch(live, patch, kind.fields)
    for name, value in desired.items():
        if not kind.fields[name].create_only:
            assert values_equal(value, after.get(name), kind.fields[name]), name
    again = plan(kind, profile, desired, after, desired)
    assert again.action is Action.NOOP, again.patch


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_book_patches_are_valid_and_converge(data: st.DataObject) -> None:
    book = LIBRARY.kinds["Book"]
    desired = data.draw(spec_of(book))
    # The live resource is of the same variant (a manifest that changes the variant declares it).
    live = data.draw(spec_of(book).filter(lambda s: s["type"] == desired["type"]))
    applied = data.draw(st.one_of(st.none(), spec_of(book)))
    check_convergence(book, LIBRARY, desired, live, applied)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data(), kind_name=st.sampled_from(["Author", "Series"]))
def test_plain_kinds_converge(data: st.DataObject, kind_name: str) -> None:
    kind = LIBRARY.kinds[kind_name]
    check_convergence(kind, LIBRARY, data.draw(spec_of(kind)), data.draw(spec_of(kind)), None)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_inherited_discriminator_patches_are_valid_and_converge(data: st.DataObject) -> None:
    pet = PETS.kinds["Pet"]
    desired = data.draw(spec_of(pet))
    live = data.draw(spec_of(pet).filter(lambda s: s["petType"] == desired["petType"]))
    check_convergence(pet, PETS, desired, live, None)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_nested_objects_in_patches_carry_what_the_patch_schema_requires(data: st.DataObject) -> None:
    # The bundled Vendor's patch schema takes its addresses as AddressInput (line1, city, country
    # and market required even in a PATCH): every patch the planner sends must carry them.
    profile = default_profile()
    vendor = profile.kinds["Vendor"]
    assert vendor.fields["corporateAddress"].fields["line1"].patch_required
    check_convergence(vendor, profile, data.draw(spec_of(vendor)), data.draw(spec_of(vendor)),
                      data.draw(st.one_of(st.none(), spec_of(vendor))))
