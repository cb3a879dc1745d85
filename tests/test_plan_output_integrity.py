"""What a reviewer reads is what apply does: drift on removed fields is marked, keys and
values cannot forge lines, and secrets are redacted from every plan format."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from helpers import live_order, resource
from hypothesis import given
from hypothesis import strategies as st

from declsync import scrub
from declsync.plan import Action, Change, FieldChange, Plan
from declsync.planfile import codec as planfile
from declsync.planning.planner import make_plan
from declsync.profile.model import default_profile
from declsync.render.markdown import render_markdown
from declsync.render.text import SecretInPlanError, render_json, render_text

PROFILE = default_profile()
MARKER = "removed from manifest; changed outside declsync since the last apply"


def plan_one(spec: dict[str, Any], live: dict[str, Any], applied: dict[str, Any], key: str = "O-1") -> Plan:
    res = resource("Order", key, spec)
    return make_plan([res], {("Order", key): live}, {("Order", key): applied}, PROFILE)


# ---------------------------------------------------------------- drift on removed fields


def test_a_removed_field_changed_outside_declsync_is_marked_as_drift() -> None:
    # Applied "ours"; someone set "theirs" since; the manifest drops the field: apply clears "theirs".
    live = live_order(status="booked", externalNotes="theirs", freight={"weight": 5, "commodityDescription": "x"})
    applied = {"status": "booked", "externalNotes": "ours", "freight": {"weight": 5, "commodityDescription": "x"}}
    plan = plan_one({"status": "booked", "freight": {"weight": 5}}, live, applied)
    (change,) = plan.changes
    assert change.patch == {"externalNotes": None, "freight": {"commodityDescription": None}}
    by_path = {fc.path: fc for fc in change.field_changes}
    notes = by_path["externalNotes"]
    assert notes.drift and notes.reason == "removed" and notes.last_applied == "ours" and notes.before == "theirs"
    assert not by_path["freight.commodityDescription"].drift  # removed, but nobody changed it
    assert change.drift == ("externalNotes",)

    text = render_text(plan)
    assert f'externalNotes: "theirs" → null  [drift: {MARKER}: "ours" → "theirs"]' in text
    assert 'freight.commodityDescription: "x" → null (removed from manifest)' in text
    md = render_markdown(plan)
    assert f'- externalNotes: "theirs" → null  # drift: {MARKER}: "ours" → "theirs"' in md
    assert "🔀 **Drift**: 1 field on 1 resource" in md
    doc = json.loads(render_json(plan))["changes"][0]
    assert doc["drift"] == ["externalNotes"]
    (fc,) = [f for f in doc["field_changes"] if f["path"] == "externalNotes"]
    assert fc == {"path": "externalNotes", "before": "theirs", "after": None, "reason": "removed", "drift": True,
                  "last_applied": "ours"}
    assert Plan.from_json(json.loads(render_json(plan))).changes[0].field_changes == change.field_changes


def test_a_sensitive_removed_field_does_not_show_its_values() -> None:
    live = live_order(externalNotes="their secret")
    change = plan_one({}, live, {"externalNotes": "our secret"}).changes[0]
    masked = Plan(changes=(Change(**{**change.__dict__, "sensitive": ("externalNotes",)}),))
    for text in (render_text(masked), render_markdown(masked), render_json(masked)):
        assert "secret" not in text.replace("(sensitive)", "")
    assert f"[drift: {MARKER}: (sensitive) → (sensitive)]" in render_text(masked)


# ---------------------------------------------------------------- control characters


FORGED = "X\nNo changes. Live state matches the manifests.\r\x1b[2K"


def _forged_plan() -> Plan:
    return Plan(changes=(
        Change(action=Action.UPDATE, kind="Order", key=FORGED, source=f"m.yaml:1{FORGED}", id="1",
               patch={"status": FORGED}, field_changes=(FieldChange(f"a{FORGED}", FORGED, FORGED, drift=True,
                                                                    details=(FORGED,)),),
               warnings=(FORGED,)),
        Change(action=Action.CREATE, kind="Customer", key=FORGED, source="c.yaml:1", patch={"key": FORGED},
               field_changes=(FieldChange("key", None, FORGED),)),
        Change(action=Action.NOOP, kind="Customer", key=f"N{FORGED}", source="n.yaml:1", warnings=(FORGED,)),
    ), notes=(FORGED,))


def _outputs(plan: Plan) -> Iterator[tuple[str, str]]:
    yield "text", render_text(plan)
    yield "text colour", render_text(plan, colour=True)
    yield "compact", render_text(plan, compact=True)
    yield "compact colour", render_text(plan, compact=True, colour=True)
    yield "markdown", render_markdown(plan)


@pytest.mark.parametrize("fmt", ["text", "text colour", "compact", "compact colour", "markdown"])
def test_keys_and_values_cannot_forge_a_line(fmt: str) -> None:
    text = dict(_outputs(_forged_plan()))[fmt]
    lines = text.split("\n")
    assert not any(line.startswith("No changes.") for line in lines), text
    assert "\r" not in text and "\x1b[2K" not in text
    assert "\\nNo changes. Live state matches the manifests.\\r\\x1b[2K" in text.replace("&#92;", "\\") \
        .replace("&#91;", "[")
    # Only the summary says it, once, and it says there are changes.
    assert "No changes. Live state" not in lines[-2]


@given(st.text())
def test_every_line_of_a_text_plan_comes_from_the_renderer(key: str) -> None:
    plan = Plan(changes=(Change(action=Action.CREATE, kind="Customer", key=key or "k", source="c.yaml:1",
                                patch={"key": key}, field_changes=(FieldChange("key", None, key),)),))
    lines = render_text(plan).split("\n")
    assert lines[0] == "declsync will perform the following actions:"
    assert lines[2].startswith("  + create Customer/") and lines[3].startswith("      key: ")
    assert lines[4:] == ["", "Plan: 1 to create, 0 to update, 0 unchanged.", ""]


# ---------------------------------------------------------------- secrets


SECRET = "tok-PLANOUTPUT-51c0ffee"


@pytest.fixture
def registered() -> Iterator[None]:
    # The process-wide redactor: what the CLI uses. Registered secrets stay for the session.
    scrub.register_secret(SECRET)
    yield


def test_a_secret_echoed_in_live_values_is_redacted_from_every_format(registered: None) -> None:
    live = live_order(status="booked", externalNotes=f"echo: Bearer {SECRET}", internalNotes="x" * 100 + SECRET)
    plan = plan_one({"status": "booked", "internalNotes": "short"}, live,
                    {"status": "booked", "externalNotes": "n", "internalNotes": "y"})
    for fmt, text in [*_outputs(plan), ("json", render_json(plan))]:
        assert SECRET[:8] not in text and SECRET[-8:] not in text, fmt
        assert scrub.MARK in text or fmt.startswith("compact"), fmt


def test_a_secret_in_what_apply_sends_is_refused_not_written(registered: None) -> None:
    plan = plan_one({"status": "booked", "externalNotes": f"token {SECRET}"}, live_order(status="booked"), {})
    assert SECRET not in render_text(plan)
    with pytest.raises(SecretInPlanError) as info:
        render_json(plan)
    assert SECRET[:8] not in str(info.value) and "Order/O-1" in str(info.value)


def test_the_saved_plan_file_follows_the_same_secret_rules(registered: None) -> None:
    """The plan file has its own encoder (planfile), not the JSON view: it must redact and
    refuse alike (regression: after the file format split it wrote echoed secrets as is)."""
    live = live_order(status="booked", externalNotes=f"echo: Bearer {SECRET}")
    echoed = plan_one({"status": "booked", "internalNotes": "short"}, live,
                      {"status": "booked", "externalNotes": "n"})
    text = planfile.dumps(echoed)
    assert SECRET[:8] not in text and SECRET[-8:] not in text
    sent = plan_one({"status": "booked", "externalNotes": f"token {SECRET}"}, live_order(status="booked"), {})
    with pytest.raises(SecretInPlanError):
        planfile.dumps(sent)
