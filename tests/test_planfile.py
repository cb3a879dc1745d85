"""The saved plan file: its own versioned encoding, checked whole on read, migrated from
every earlier format_version, and agreeing with the JSON Schema shipped in the package."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from declsync.errors import PlanFileError
from declsync.plan import Action, Change, FieldChange, Plan
from declsync.planfile import codec as planfile
from declsync.render.text import render_json

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "plan_v1"


def sample_plan() -> Plan:
    return Plan(changes=(
        Change(action=Action.CREATE, kind="Customer", key="C", source="c.yaml:1",
               patch={"key": "C", "name": "A"}, after={"key": "C", "name": "A"}, spec={"name": "A"},
               field_changes=(FieldChange("key", None, "C"), FieldChange("name", None, "A"))),
        Change(action=Action.UPDATE, kind="Order", key="O", source="o.yaml:3", id="oid",
               patch={"status": "booked", "internalNotes": "secret", "customer": {"$ref": "Customer/C"}},
               before={"status": "draft", "internalNotes": "old"}, after={"status": "booked", "internalNotes": "secret"},
               field_changes=(
                   FieldChange("status", "draft", "booked", drift=True),
                   FieldChange("internalNotes", "old", "secret"),
                   FieldChange("charges", [1], [1, 2], reason="replaced", details=("charges[1]: added 2",)),
               ),
               json_patch=({"op": "replace", "path": "/internalNotes", "value": "secret"},),
               warnings=("freight.hazmat was removed from the manifest but cannot be cleared",),
               depends_on=("Customer/C",), sensitive=("internalNotes",), observed_updated_at="2025-01-01T00:00:00Z",
               previous_key="O-OLD", prevent_destroy=True),
        Change(action=Action.NOOP, kind="Order", key="N", source="o.yaml:9", id="nid"),
        Change(action=Action.DELETE, kind="Order", key="D", source="state", id="did", patch={"status": "canceled"}),
    ), target="embedded sandbox", profile="mvmnt", state_lineage="lin", state_serial=3, created_at="now",
        notes=("restricted by --target",), forget=("Order/GONE",))


def test_encode_decode_round_trip_keeps_everything_but_masks_display_values() -> None:
    plan = sample_plan()
    again = planfile.loads(planfile.dumps(plan))
    order = again.changes[1]
    # patch and spec are what apply sends and records: kept; display values masked.
    assert order.patch == plan.changes[1].patch
    assert order.after == {"status": "booked", "internalNotes": "(sensitive)"}
    assert "secret" not in json.dumps([order.before, order.after, [fc.after for fc in order.field_changes],
                                       list(order.json_patch)])
    masked_view = Plan.from_json(json.loads(render_json(plan)))
    assert again == masked_view


def test_the_file_validates_against_the_shipped_schema() -> None:
    doc = planfile.encode(sample_plan())
    jsonschema.Draft202012Validator.check_schema(planfile.schema())
    jsonschema.validate(doc, planfile.schema(), cls=jsonschema.Draft202012Validator)
    assert doc["format"] == "declsync-plan" and doc["format_version"] == planfile.FORMAT_VERSION


def test_the_file_is_not_the_json_view() -> None:
    """The view may carry derived fields for readers; the file keeps only what a plan is."""
    doc = planfile.encode(sample_plan())
    view = json.loads(render_json(sample_plan()))
    assert "summary" in view and "summary" not in doc
    assert "drift" in view["changes"][0] and "drift" not in doc["changes"][0]


@pytest.mark.parametrize("name", ["plan-create.json", "plan-update.json"])
def test_plans_written_by_format_version_1_are_migrated(name: str) -> None:
    text = (FIXTURES / name).read_text(encoding="utf-8")
    assert json.loads(text)["format_version"] == 1
    plan = planfile.loads(text, name)
    # The same plan the release that wrote it would have read.
    assert plan == Plan.from_json(json.loads(text))
    # And written again in the current format, it reads back the same.
    assert planfile.loads(planfile.dumps(plan)) == plan


def valid_doc() -> dict[str, Any]:
    return planfile.encode(sample_plan())


def set_at(doc: dict[str, Any], path: list[str | int], value: Any) -> None:
    target: Any = doc
    for step in path[:-1]:
        target = target[step]
    target[path[-1]] = value


def drop_at(doc: dict[str, Any], path: list[str | int]) -> None:
    target: Any = doc
    for step in path[:-1]:
        target = target[step]
    del target[path[-1]]


@pytest.mark.parametrize(("path", "value", "where", "words"), [
    (["changes", 1, "action"], "destroy", "changes[1].action", "is not one of create, update, noop, delete"),
    (["changes", 1, "patch"], "x", "changes[1].patch", "expected an object or null"),
    (["changes", 0, "warnings"], [1], "changes[0].warnings[0]", "expected a string"),
    (["state", "serial"], True, "state.serial", "expected an integer"),
    (["state", "serial"], -1, "state.serial", "at least 0"),
    (["changes", 1, "field_changes", 0, "reason"], "moved", "changes[1].field_changes[0].reason", "not one of"),
    (["changes", 1, "id"], None, "changes[1].id", "needs the id"),
    (["changes", 0, "patch"], None, "changes[0].patch", "needs the body"),
    (["changes", 2, "typo"], 1, "changes[2].typo", "unknown field"),
    (["format"], "other", "format", 'expected "declsync-plan"'),
    (["changes"], {}, "changes", "expected a list"),
])
def test_a_wrong_field_is_refused_naming_its_place(path: list[str | int], value: Any, where: str, words: str) -> None:
    doc = valid_doc()
    set_at(doc, path, value)
    with pytest.raises(PlanFileError) as info:
        planfile.decode(doc, "p.json")
    assert (info.value.path, info.value.location) == ("p.json", where)
    assert words in info.value.reason
    assert str(info.value).startswith("p.json is not a saved declsync plan (")


@pytest.mark.parametrize("path", [["target"], ["changes", 1, "kind"], ["state", "lineage"],
                                  ["changes", 1, "field_changes", 0, "reason"]])
def test_a_missing_field_is_refused_by_name(path: list[str | int]) -> None:
    doc = valid_doc()
    drop_at(doc, path)
    with pytest.raises(PlanFileError, match=f"required field '{path[-1]}' is missing"):
        planfile.decode(doc, "p.json")


@pytest.mark.parametrize(("doc", "words"), [
    ("a string", "expected a JSON object"), ([], "expected a JSON object"), (None, "expected a JSON object"),
    ({}, "'format_version' is missing"), ({"format_version": 0}, "positive integer"),
    ({"format_version": True}, "positive integer"), ({"format_version": 99}, "newer than this declsync"),
])
def test_documents_that_are_no_plan_at_all(doc: Any, words: str) -> None:
    with pytest.raises(PlanFileError, match=words):
        planfile.decode(doc, "p.json")


def test_unreadable_and_malformed_files(tmp_path: Path) -> None:
    with pytest.raises(PlanFileError, match="cannot read it"):
        planfile.read(tmp_path / "missing.json")
    bad = tmp_path / "bad.json"
    bad.write_text("{", encoding="utf-8")
    with pytest.raises(PlanFileError, match="not valid JSON"):
        planfile.read(bad)
    deep = tmp_path / "deep.json"
    deep.write_text("[" * 200_000 + "]" * 200_000, encoding="utf-8")
    with pytest.raises(PlanFileError):
        planfile.read(deep)


def test_write_is_atomic_and_leaves_no_temp_file(tmp_path: Path) -> None:
    planfile.write(sample_plan(), tmp_path / "sub" / "plan.json")
    assert [p.name for p in (tmp_path / "sub").iterdir()] == ["plan.json"]
    assert planfile.read(tmp_path / "sub" / "plan.json").summary["delete"] == 1


# ---------------------------------------------------------------- refusals name the broken place

JSON = st.recursive(st.none() | st.booleans() | st.integers(-3, 3) | st.sampled_from([0.0, 1.0, 2.0, 2.5]) | st.floats(allow_nan=False) | st.text(max_size=3) | st.sampled_from(['create', 'declsync-plan', 'set']),
                    lambda inner: st.lists(inner, max_size=2) | st.dictionaries(st.text(max_size=3), inner, max_size=2),
                    max_leaves=4)


def paths_of(doc: Any, prefix: tuple[str | int, ...] = ()) -> list[tuple[str | int, ...]]:
    out = [prefix] if prefix else []
    if isinstance(doc, dict):
        for k, v in doc.items():
            out += paths_of(v, (*prefix, k))
    elif isinstance(doc, list):
        for i, v in enumerate(doc):
            out += paths_of(v, (*prefix, i))
    return out


def place_of(path: tuple[str | int, ...]) -> str:
    return "".join(f"[{p}]" if isinstance(p, int) else (f".{p}" if i else p) for i, p in enumerate(path))


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(st.data(), JSON)
def test_a_broken_value_is_refused_at_its_own_place(data: st.DataObject, value: Any) -> None:
    """Any one value of a valid plan replaced by any JSON: the file is accepted exactly when the
    shipped schema (and apply's own rules) accept it, and a refusal names the place that was
    broken (or, for a change, a field of that same change), never another one."""
    doc = copy.deepcopy(valid_doc())
    path = data.draw(st.sampled_from(paths_of(doc)))
    set_at(doc, list(path), value)
    schema_valid = jsonschema.Draft202012Validator(planfile.schema()).is_valid(doc)
    try:
        planfile.decode(doc, "p.json")
    except PlanFileError as exc:
        scope = place_of(path[:2] if path[0] == "changes" and len(path) > 1 else path[:1])
        assert exc.location is not None
        assert exc.location == scope or exc.location.startswith((scope + ".", scope + "[")), (exc.location, path)
    else:
        assert schema_valid or doc.get("format_version") != 2  # an older version was migrated


# ---------------------------------------------------------------- any plan survives the file

TEXT = st.text(max_size=8)
OBJECTS = st.dictionaries(TEXT, JSON, max_size=3)


@st.composite
def changes(draw: st.DrawFn) -> Change:
    action = draw(st.sampled_from(list(Action)))
    needs_patch = action in (Action.CREATE, Action.UPDATE, Action.REPLACE)
    return Change(
        action=action, kind=draw(st.text(min_size=1, max_size=6)), key=draw(st.text(min_size=1, max_size=6)),
        source=draw(TEXT),
        id=draw(TEXT.filter(bool)) if action in (Action.UPDATE, Action.DELETE, Action.REPLACE) else draw(st.none() | TEXT),
        patch=draw(OBJECTS) if needs_patch else draw(st.none() | OBJECTS),
        before=draw(st.none() | OBJECTS), after=draw(st.none() | OBJECTS), spec=draw(OBJECTS),
        warnings=tuple(draw(st.lists(TEXT, max_size=2))),
        field_changes=tuple(draw(st.lists(st.builds(
            FieldChange, path=TEXT, before=JSON, after=JSON, reason=st.sampled_from(["set", "removed", "replaced"]),
            drift=st.booleans(), details=st.lists(TEXT, max_size=2).map(tuple)), max_size=2))),
        json_patch=tuple(draw(st.lists(OBJECTS, max_size=2))),
        observed_updated_at=draw(st.none() | TEXT), depends_on=tuple(draw(st.lists(TEXT, max_size=2))),
        sensitive=tuple(draw(st.lists(st.sampled_from(["notes", "a.b", "x"]), max_size=2, unique=True))),
        previous_key=draw(st.none() | TEXT), prevent_destroy=draw(st.booleans()),
    )


@settings(max_examples=150, suppress_health_check=[HealthCheck.too_slow])
@given(st.builds(Plan, changes=st.lists(changes(), max_size=3).map(tuple), target=TEXT, profile=TEXT,
                 state_lineage=st.none() | TEXT, state_serial=st.integers(0, 10**6), created_at=TEXT,
                 notes=st.lists(TEXT, max_size=2).map(tuple), forget=st.lists(TEXT, max_size=2).map(tuple)))
def test_any_plan_reads_back_as_written_masked(plan: Plan) -> None:
    """decode(encode(p)) is p with its display values masked: the file loses nothing apply uses."""
    from declsync.planning.sensitive import mask_plan

    doc = json.loads(planfile.dumps(plan))
    jsonschema.validate(doc, planfile.schema(), cls=jsonschema.Draft202012Validator)
    assert planfile.decode(doc) == mask_plan(plan)


def test_plans_written_by_format_version_2_read_unchanged() -> None:
    doc = json.loads(planfile.dumps(sample_plan()))
    doc["format_version"] = 2
    assert planfile.loads(json.dumps(doc)) == planfile.loads(planfile.dumps(sample_plan()))


def test_a_replace_needs_the_id_it_deletes_and_the_body_it_creates() -> None:
    replace = Change(action=Action.REPLACE, kind="Customer", key="C", source="c.yaml:1", id="cid",
                     patch={"key": "C", "name": "B"}, spec={"name": "B"})
    plan = Plan(changes=(replace,))
    assert planfile.loads(planfile.dumps(plan)).changes[0].action is Action.REPLACE
    for field, words in (("id", "needs the id"), ("patch", "needs the body")):
        doc = json.loads(planfile.dumps(plan))
        doc["changes"][0][field] = None
        with pytest.raises(PlanFileError, match=words):
            planfile.loads(json.dumps(doc))
