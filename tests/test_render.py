from __future__ import annotations

import json

from declsync.plan import Action, Change, FieldChange, Plan
from declsync.render.text import format_value, render_json, render_text


def sample_plan() -> Plan:
    return Plan(changes=(
        Change(action=Action.CREATE, kind="Customer", key="C", source="c.yaml:1",
               patch={"key": "C", "name": "A"}, after={"key": "C", "name": "A"},
               field_changes=(FieldChange("key", None, "C"), FieldChange("name", None, "A"))),
        Change(action=Action.UPDATE, kind="Order", key="O", source="o.yaml:3", id="oid",
               patch={"status": "booked", "externalNotes": None, "customerX": {"$ref": "Customer/C"}},
               field_changes=(
                   FieldChange("status", "draft", "booked", drift=True),
                   FieldChange("externalNotes", "x", None, reason="removed"),
                   FieldChange("charges", [1], [1, 2], reason="replaced", details=("charges[1]: added 2",)),
               ),
               warnings=("freight.hazmat was removed from the manifest but cannot be cleared",)),
        Change(action=Action.NOOP, kind="Order", key="N", source="o.yaml:9"),
    ), target="embedded sandbox")


def test_text_lists_changed_fields_and_summary() -> None:
    text = render_text(sample_plan())
    assert "+ create Customer/C  # c.yaml:1" in text
    assert '      name: "A"' in text
    assert "~ update Order/O (id oid)  # o.yaml:3" in text
    assert 'status: "draft" → "booked"  [drift: changed outside declsync since the last apply]' in text
    assert 'externalNotes: "x" → null (removed from manifest)' in text
    assert "charges: [1] → [1, 2] (array replaced)" in text and "charges[1]: added 2" in text
    assert "! warning: freight.hazmat was removed" in text
    assert "Order/N" not in text
    assert text.rstrip().endswith("Plan: 1 to create, 1 to update, 1 unchanged.")


def test_no_changes() -> None:
    plan = Plan(changes=(Change(action=Action.NOOP, kind="Order", key="N", source="o.yaml:9"),))
    assert render_text(plan).strip() == "No changes. Live state matches the manifests."


def test_colour_only_when_asked() -> None:
    assert "\x1b[" not in render_text(sample_plan())
    assert "\x1b[" in render_text(sample_plan(), colour=True)


def test_json_is_stable_and_complete() -> None:
    doc = json.loads(render_json(sample_plan()))
    assert doc["format_version"] == 1
    assert doc["summary"] == {"create": 1, "update": 1, "noop": 1, "delete": 0}
    change = doc["changes"][1]
    assert set(change) >= {"action", "kind", "key", "id", "patch", "before", "after", "source", "warnings"}
    assert change["drift"] == ["status"]
    assert Plan.from_json(doc).to_json() == doc


def test_known_after_apply_placeholder() -> None:
    assert format_value({"$ref": "Customer/C"}) == "(known after apply: id of Customer/C)"
    assert format_value(list(range(100))) == "[100 items]"
