"""Sensitive fields: validation of the manifest list, masking in text, markdown and JSON."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from declsync.errors import ManifestError
from declsync.manifests.loader import load_manifests
from declsync.plan import Action, Change, FieldChange, Plan
from declsync.planning.pipeline import build_plan
from declsync.planning.sensitive import MASK, is_sensitive, mask_change, mask_value
from declsync.profile.model import default_profile, parse_profile
from declsync.profile.paths import field_paths
from declsync.render.markdown import render_markdown
from declsync.render.text import render_json, render_text
from declsync.state import State


def secret_change() -> Change:
    return Change(
        action=Action.UPDATE, kind="Order", key="O", source="o.yaml:1", id="i",
        patch={"internalNotes": "new-secret", "freight": {"weight": 4242}, "status": "booked"},
        before={"internalNotes": "old-secret", "freight": {"weight": 1111, "hazmat": False}, "status": "draft"},
        after={"internalNotes": "new-secret", "freight": {"weight": 4242, "hazmat": False}, "status": "booked"},
        spec={"internalNotes": "new-secret", "freight": {"weight": 4242}, "status": "booked"},
        field_changes=(FieldChange("internalNotes", "old-secret", "new-secret"),
                       FieldChange("freight.weight", 1111, 4242),
                       FieldChange("status", "draft", "booked")),
        json_patch=({"op": "replace", "path": "/internalNotes", "value": "new-secret"},
                    {"op": "replace", "path": "/freight/weight", "value": 4242},
                    {"op": "replace", "path": "/status", "value": "booked"}),
        sensitive=("freight.weight", "internalNotes"),
    )


SECRETS = ("secret", "4242", "1111")


def test_paths_cover_nested_fields_and_array_items() -> None:
    s = ("freight", "stops.notes")
    assert is_sensitive("freight.weight", s) and is_sensitive("stops[3].notes", s)
    assert not is_sensitive("stops[3].type", s) and not is_sensitive("status", s)
    assert mask_value({"stops": [{"notes": "x", "type": "PICKUP"}], "freight": None}, "", s) == {
        "stops": [{"notes": MASK, "type": "PICKUP"}], "freight": None}


def test_text_masks_values() -> None:
    text = render_text(Plan(changes=(secret_change(),)))
    assert not any(s in text for s in SECRETS), text
    assert "internalNotes: (sensitive) → (sensitive)" in text
    assert 'status: "draft" → "booked"' in text


def test_markdown_masks_values() -> None:
    text = render_markdown(Plan(changes=(secret_change(),)))
    assert not any(s in text for s in SECRETS), text
    assert "~ freight.weight: (sensitive) → (sensitive)" in text


def test_json_masks_display_fields_but_keeps_patch_and_spec() -> None:
    doc = json.loads(render_json(Plan(changes=(secret_change(),))))
    change = doc["changes"][0]
    assert change["sensitive"] == ["freight.weight", "internalNotes"]
    display = {k: change[k] for k in ("before", "after", "field_changes", "json_patch")}
    assert not any(s in json.dumps(display) for s in SECRETS)
    assert change["before"]["freight"] == {"weight": MASK, "hazmat": False}
    assert change["json_patch"][2]["value"] == "booked"
    # Apply sends the patch and records the spec: they keep the real values.
    assert change["patch"]["internalNotes"] == "new-secret" and change["spec"]["freight"] == {"weight": 4242}
    again = Plan.from_json(doc)
    assert again.changes[0].sensitive == ("freight.weight", "internalNotes")
    assert again.changes[0].patch == secret_change().patch


def test_mask_is_identity_without_sensitive_fields() -> None:
    c = Change(action=Action.NOOP, kind="Order", key="N", source="x")
    assert mask_change(c) is c


def write(tmp_path: Path, text: str) -> Path:
    f = tmp_path / "m.yaml"
    f.write_text(text)
    return f


def test_manifest_sensitive_list_is_validated(tmp_path: Path) -> None:
    f = write(tmp_path, "kind: Order\nkey: O-1\nsensitive: [internalNotes, freight.wieght, 7]\nspec: {status: draft}\n"
                        "---\nkind: Order\nkey: O-2\nsensitive: notes\nspec: {}\n")
    with pytest.raises(ManifestError) as err:
        load_manifests([f], default_profile())
    text = str(err.value)
    assert "m.yaml:3: sensitive: 'freight.wieght' is not a field of Order (did you mean 'freight.weight'?)" in text
    assert "m.yaml:3: sensitive: 7 is not a field path" in text
    assert "m.yaml:8: 'sensitive' must be a list of field paths" in text


def test_manifest_sensitive_list_is_carried(tmp_path: Path) -> None:
    f = write(tmp_path, "kind: Order\nkey: O-1\nsensitive: [internalNotes, stops.notes]\nspec: {status: draft}\n")
    (res,) = load_manifests([f], default_profile())
    assert res.sensitive == ("internalNotes", "stops.notes")
    assert "stops.notes" in field_paths(default_profile().kinds["Order"])


class _NoLive:
    def fetch_by_keys(self, kind: object, keys: object) -> dict[str, dict[str, object]]:
        return {}


def test_profile_and_manifest_paths_reach_the_plan(tmp_path: Path) -> None:
    raw = yaml.safe_load((Path(__file__).parents[1] / "tests/fixtures/handwritten-mvmnt.yaml").read_text())
    raw["kinds"]["Carrier"]["fields"]["email"]["sensitive"] = True
    profile = parse_profile(raw, "test")
    f = write(tmp_path, "kind: Carrier\nkey: C-1\nsensitive: [notes]\n"
                        "spec: {name: N, type: LTL, email: hidden@example.com, notes: private}\n")
    plan = build_plan(_NoLive(), load_manifests([f], profile), profile, State())
    (change,) = plan.changes
    assert change.sensitive == ("email", "notes")
    text = render_text(plan) + render_markdown(plan) + json.dumps(json.loads(render_json(plan))["changes"][0]["after"])
    assert "hidden@" not in text and "private" not in text
    assert "email: (sensitive)" in render_text(plan)
