"""The markdown plan: layout, escaping, and the size limit (property-tested)."""

from __future__ import annotations

import re
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from markdown_it import MarkdownIt
from test_render import sample_plan

from declsync.plan import Action, Change, FieldChange, Plan
from declsync.render.markdown import MIN_MAX_CHARS, render_markdown


def check_markdown(text: str, max_chars: int) -> list[Any]:
    """Valid and complete: within the limit, every <details> closed, every fence closed,
    no raw HTML other than ours."""
    assert len(text) <= max_chars
    n_open = len(re.findall(r"^<details>", text, re.M))
    assert n_open == len(re.findall(r"^</details>$", text, re.M))
    tokens = MarkdownIt("commonmark").parse(text)
    opens = [t for t in tokens if t.type == "html_block" and t.content.startswith("<details>")]
    closes = [t for t in tokens if t.type == "html_block" and t.content.strip() == "</details>"]
    assert len(opens) == len(closes) == n_open
    fences = [t for t in tokens if t.type == "fence"]
    assert all(t.info == "diff" for t in fences)
    # An unclosed fence would swallow the rest of the document: each one ends before its </details>.
    assert len(re.findall(r"^```diff$", text, re.M)) == len(fences)
    assert len(re.findall(r"^```$", text, re.M)) == len(fences)
    for t in tokens:
        for child in t.children or []:
            if child.type == "html_inline":
                assert child.content in ("<code>", "</code>", "<i>", "</i>"), child.content
    return tokens


def test_layout() -> None:
    text = render_markdown(sample_plan())
    lines = text.splitlines()
    assert lines[0] == "**Plan: 1 to create, 1 to update, 1 unchanged.**"
    assert "> ⚠️ **1 warning**" in text and "> 🔀 **Drift**: 1 field on 1 resource" in text
    assert "<summary><code>&#126; update Order/O</code> · 3 fields · 🔀 drift · ⚠️ 1 warning" in text
    assert '~ status: "draft" → "booked"  # drift: changed outside declsync since the last apply' in text
    assert '- externalNotes: "x" → null  # removed from manifest' in text
    assert "+     charges[1]: added 2" in text
    assert '+ name: "A"' in text
    assert "! warning: freight.hazmat was removed" in text
    assert "Order/N" not in text and "1 unchanged resource not listed." in text
    check_markdown(text, 60_000)


def test_no_changes_and_notes() -> None:
    plan = Plan(changes=(Change(action=Action.NOOP, kind="Order", key="N", source="o.yaml:9"),),
                notes=("restricted by --target: 1 of 9 resources planned",))
    text = render_markdown(plan)
    assert text.startswith("**No changes. Live state matches the manifests.**")
    assert "restricted by --target: 1 of 9 resources planned" in text
    assert "<details>" not in text


def test_hostile_keys_cannot_break_out() -> None:
    key = "</details>\n\n```\n<script>*x*</script> | `a` [l](http://e)"
    plan = Plan(changes=(Change(action=Action.UPDATE, kind="Order", key=key, source="o.yaml:1", id="i",
                                field_changes=(FieldChange("status", "```", "</details>\n```"),),
                                warnings=("key " + key,)),))
    text = render_markdown(plan)
    tokens = check_markdown(text, 60_000)
    # Only inside the code fence, as text.
    assert all("<script>" not in t.content for t in tokens if t.type != "fence")
    assert "! warning: key </details>\\n\\n```" in text


def test_sensitive_values_never_shown() -> None:
    plan = Plan(changes=(Change(action=Action.UPDATE, kind="Order", key="O", source="o.yaml:1", id="i",
                                sensitive=("internalNotes", "freight.weight"),
                                field_changes=(FieldChange("internalNotes", "old-secret", "new-secret"),
                                               FieldChange("freight", None, {"weight": 31337, "hazmat": False}))),))
    text = render_markdown(plan)
    assert "secret" not in text and "31337" not in text
    assert "~ internalNotes: (sensitive) → (sensitive)" in text
    assert '"weight": "(sensitive)"' in text and '"hazmat": false' in text


def big_plan(n: int) -> Plan:
    changes = [
        Change(action=Action.UPDATE, kind="Order", key=f"ERP-{i:05d}", source=f"manifests/orders.yaml:{i * 40 + 1}",
               id=f"id-{i}", field_changes=tuple(FieldChange(f"field{j}", "x" * (i % 50), "y" * 30)
                                                 for j in range(1 + i % 7)))
        for i in range(n)
    ]
    changes += [Change(action=Action.NOOP, kind="Order", key=f"SAME-{i}", source="m.yaml:1") for i in range(50)]
    return Plan(changes=tuple(changes))


def test_large_plan_is_collapsed_in_steps_and_says_so() -> None:
    plan = big_plan(3000)
    full = render_markdown(plan, max_chars=10_000_000)
    assert len(full) > 60_000 and "Shortened" not in full
    text = render_markdown(plan)
    check_markdown(text, 60_000)
    assert text.startswith("**Plan: 0 to create, 3000 to update, 50 unchanged.**")
    m = re.search(r"Shortened to fit 60,000 characters: (\d+) of 3000 resources summarised "
                  r"\((\d+) without field values, (\d+) on one line each, (\d+) only counted\)", text)
    assert m, text[-600:]
    total, brief, lines, counted = map(int, m.groups())
    assert total == brief + lines + counted and total > 0
    assert text.count("<details>") == 3000 - lines - counted
    assert 3000 - lines - counted > 10 and lines > 100
    if counted:
        assert f"…and {counted} more resources summarised ({counted} to update)." in text
    # The earliest resources keep their blocks; detail goes first from the largest ones.
    assert "ERP-00000" in text.split("<details>")[1]


def test_medium_plan_only_loses_values() -> None:
    plan = big_plan(150)
    limit = len(render_markdown(plan, max_chars=10_000_000)) - 500
    text = render_markdown(plan, max_chars=limit)
    check_markdown(text, limit)
    assert "values omitted for length" in text
    assert text.count("<details>") == 150


_text = st.text(st.characters(codec="utf-8", exclude_categories=["Cs"]), max_size=40)
_values = st.recursive(st.none() | st.booleans() | st.integers() | _text,
                       lambda inner: st.lists(inner, max_size=3) | st.dictionaries(_text, inner, max_size=3),
                       max_leaves=6)
_field_changes = st.builds(
    FieldChange, path=st.sampled_from(["status", "freight.weight", "stops", "stops[1]", "notes"]), before=_values,
    after=_values, reason=st.sampled_from(["set", "removed", "replaced"]), drift=st.booleans(),
    details=st.lists(_text, max_size=2).map(tuple),
)
_changes = st.builds(
    Change, action=st.sampled_from(list(Action)), kind=st.sampled_from(["Order", "Customer"]),
    key=st.text(min_size=1, max_size=600), source=_text, id=st.none() | _text,
    field_changes=st.lists(_field_changes, max_size=6).map(tuple),
    warnings=st.lists(_text, max_size=2).map(tuple),
    sensitive=st.lists(st.sampled_from(["notes", "freight", "stops"]), max_size=2).map(tuple),
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(changes=st.lists(_changes, max_size=40), max_chars=st.integers(MIN_MAX_CHARS, 8_000),
       notes=st.lists(st.text(max_size=400), max_size=12))
def test_any_plan_renders_valid_markdown_within_the_limit(changes: list[Change], max_chars: int,
                                                          notes: list[str]) -> None:
    plan = Plan(changes=tuple(changes), notes=tuple(notes))
    text = render_markdown(plan, max_chars=max_chars)
    check_markdown(text, max_chars)
    assert text.startswith("**")
