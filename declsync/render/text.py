"""Turning a Plan into text for people and JSON for machines. No planning, no I/O.

What a person sees passes ``display_change`` (sensitive values masked, registered
secrets redacted from every string, the key included) and every text line is
escaped (``declsync.scrub.escape_controls``) before colour is added, so a key or a
value holding CR/LF or ESC cannot forge or hide a line of the plan. JSON keeps the
fields apply acts on exact (``kind``, ``key``, ``id``, ``patch``, ``spec`` …) and
redacts the rest; a plan whose exact fields hold a secret is refused rather than
written (``SecretInPlanError``).
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable, Iterator
from typing import Any, TextIO

from declsync import scrub
from declsync.plan import Action, Change, FieldChange, Plan
from declsync.planfile.redact import SecretInPlanError, redact_change, redact_head, redact_plan_document
from declsync.planfile.stream import dump_streamed
from declsync.planning.sensitive import MASK, is_sensitive, mask_change, mask_plan
from declsync.profile.model import is_ref_marker

__all__ = [
    "SecretInPlanError",
    "compact_line",
    "count_fields",
    "display_change",
    "drift_note",
    "format_value",
    "render_json",
    "render_summary",
    "render_text",
    "text_lines",
    "write_json",
    "write_text",
]

Styler = Callable[[str, str], str]

_COLOURS = {"+": "green", "~": "yellow", "-": "red", "-/+": "red", "!": "magenta", "dim": "bright_black"}


def _plain(text: str, _style: str) -> str:
    return scrub.escape_controls(text)


def display_change(change: Change) -> Change:
    """What the human renderers show of ``change``: sensitive values masked, secrets
    redacted from what they print (address, source, id, field changes, warnings; not
    ``before``/``after``/``json_patch``, which only JSON shows, redacted on its own)."""
    change = mask_change(change)
    shown = [change.key, change.source, change.id, change.previous_key, change.warnings,
             [(fc.path, fc.before, fc.after, fc.details, fc.last_applied) for fc in change.field_changes]]
    if not scrub.DEFAULT.contains_secret(shown):  # one scan; the rebuild below is the rare case
        return change
    rv, rs = scrub.redact_value, scrub.redact
    return dataclasses.replace(
        change,
        key=rs(change.key),
        source=rs(change.source),
        id=rs(change.id) if change.id is not None else None,
        previous_key=rs(change.previous_key) if change.previous_key is not None else None,
        warnings=tuple(rv(list(change.warnings))),
        field_changes=tuple(
            dataclasses.replace(fc, path=rs(fc.path), before=rv(fc.before), after=rv(fc.after),
                                details=tuple(rv(list(fc.details))), last_applied=rv(fc.last_applied))
            for fc in change.field_changes
        ),
    )


def drift_note(fc: FieldChange, hidden: bool = False) -> str:
    """What a drift marker says about one field (empty when it did not drift);
    ``hidden``: the field is sensitive, its values read ``(sensitive)``."""
    if not fc.drift:
        return ""
    if fc.drifted_removal:
        return ("removed from manifest; changed outside declsync since the last apply: "
                f"{_shown(fc.last_applied, hidden)} → {_shown(fc.before, hidden)}")
    return "changed outside declsync since the last apply"


def format_value(value: Any, limit: int = 120) -> str:
    """A compact JSON-ish rendering; ``{$ref}`` placeholders read "(known after apply)"."""
    if is_ref_marker(value):
        return f"(known after apply: id of {value['$ref']})"
    text = json.dumps(value, ensure_ascii=False, default=str, sort_keys=False)
    if len(text) > limit:
        if isinstance(value, list):
            return f"[{len(value)} item{'s' if len(value) != 1 else ''}]"
        text = text[: limit - 1] + "…"
    return text


def _shown(value: Any, hidden: bool) -> str:
    return MASK if hidden and value is not None else format_value(value)


def _field_line(fc: FieldChange, action: Action, sensitive: tuple[str, ...] = ()) -> str:
    """``path: before → after`` (values of sensitive fields read ``(sensitive)``)."""
    hidden = bool(sensitive) and is_sensitive(fc.path, sensitive)
    before, after = _shown(fc.before, hidden), _shown(fc.after, hidden)
    if action in (Action.CREATE, Action.REPLACE):
        return f"{fc.path}: {after}"
    if fc.reason == "replaced":
        text = f"{fc.path}: {before} → {after} (array replaced)"
    elif fc.drifted_removal:
        text = f"{fc.path}: {before} → null"
    elif fc.reason == "removed":
        text = f"{fc.path}: {before} → null (removed from manifest)"
    else:
        text = f"{fc.path}: {before} → {after}"
    if fc.drift:
        text += f"  [drift: {drift_note(fc, hidden)}]"
    return text


def count_fields(change: Change) -> int:
    """How many fields a change sets (a create's ``key`` line not counted)."""
    return sum(1 for fc in change.field_changes
               if not (change.action in (Action.CREATE, Action.REPLACE) and fc.path == "key"))


def compact_line(change: Change) -> str:
    """One line per resource: ``~ Order/ERP-1 (3 fields, drift, 1 warning)``."""
    n = count_fields(change)
    parts = [f"{n} field{'s' if n != 1 else ''}"] if change.field_changes else []
    if change.drift:
        parts.append("drift")
    if change.warnings:
        parts.append(f"{len(change.warnings)} warning{'s' if len(change.warnings) != 1 else ''}")
    sym = change.action.symbol if change.action is not Action.NOOP else "!"
    address = change.address if change.previous_key is None else f"{change.kind}/{change.previous_key} → {change.key}"
    return f"{sym} {address}" + (f" ({', '.join(parts)})" if parts else "")


def _render_change(change: Change, style: Styler) -> list[str]:
    change = display_change(change)
    sym = change.action.symbol
    verb = {"create": "create", "update": "update", "delete": "delete", "noop": "unchanged",
            "replace": "replace (delete, then create)"}[change.action.value]
    ident = f" (id {change.id})" if change.id else ""
    address = change.address
    if change.previous_key is not None:
        verb, address = "rename", f"{change.kind}/{change.previous_key} → {change.key}"
    lines = [style(f"  {sym} {verb} {address}{ident}", sym) + style(f"  # {change.source}", "dim")]
    if change.action is Action.DELETE and change.patch is not None:
        lines.append(style(f"      (pruned with a PATCH, as the profile says for {change.kind}; it stays in the API)",
                           "dim"))
    for fc in change.field_changes:
        lines.append(style(f"      {_field_line(fc, change.action, change.sensitive)}", sym))
        for detail in fc.details:
            lines.append(style(f"          {detail}", "dim"))
    for warning in change.warnings:
        lines.append(style(f"      ! warning: {warning}", "!"))
    return lines


def render_summary(plan: Plan) -> str:
    if not plan.has_changes:
        return "No changes. Live state matches the manifests."
    s = plan.summary
    text = f"Plan: {s['create']} to create, {s['update']} to update, {s['noop']} unchanged."
    if s["delete"]:
        text = text[:-1] + f", {s['delete']} to delete."
    if s.get("replace"):
        text = text[:-1] + f", {s['replace']} to replace."
    return text


def render_text(plan: Plan, *, colour: bool = False, compact: bool = False) -> str:
    """The human plan: changed resources with their changed fields, then a summary.
    ``compact``: one line per changed resource instead of the changed fields."""
    return "\n".join(text_lines(plan, colour=colour, compact=compact)) + "\n"


def write_text(plan: Plan, write: Callable[[str], object], *, colour: bool = False, compact: bool = False,
               chunk: int = 1000) -> None:
    """``render_text(plan)``, handed to ``write`` ``chunk`` lines at a time: the text of
    100,000 creates (and the list of its lines) is never whole in memory."""
    batch: list[str] = []
    for line in text_lines(plan, colour=colour, compact=compact):
        batch.append(line)
        if len(batch) >= chunk:
            write("\n".join(batch) + "\n")
            batch.clear()
    if batch:
        write("\n".join(batch) + "\n")


def text_lines(plan: Plan, *, colour: bool = False, compact: bool = False) -> Iterator[str]:
    """The lines of ``render_text``, one at a time."""
    style: Styler = (lambda text, key: _colour(text, key)) if colour else _plain
    changed = (c for c in plan.changes if c.action is not Action.NOOP)
    if compact:
        yield from (style(compact_line(display_change(c)), c.action.symbol) for c in changed)
        yield from (style(compact_line(display_change(c)), "!")
                    for c in plan.changes if c.action is Action.NOOP and c.warnings)
        yield from (_plain(scrub.redact(f"Note: {note}"), "") for note in plan.notes)
        yield render_summary(plan)
        return
    if plan.has_changes:
        yield "declsync will perform the following actions:"
        yield ""
        for change in changed:
            yield from _render_change(change, style)
            yield ""
    quiet_warnings = [c for c in plan.changes if c.action is Action.NOOP and c.warnings]
    for change in quiet_warnings:
        shown = display_change(change)
        for warning in shown.warnings:
            yield style(f"  ! {shown.address}: {warning}", "!")
    if quiet_warnings:
        yield ""
    for note in plan.notes:
        yield _plain(scrub.redact(f"Note: {note}"), "")
    yield render_summary(plan)


def _colour(text: str, key: str) -> str:
    import click

    text = scrub.escape_controls(text)
    colour = _COLOURS.get(key)
    return click.style(text, fg=colour) if colour else text


def _json_document(plan: Plan) -> dict[str, Any]:
    doc = mask_plan(plan).to_json()
    if scrub.DEFAULT.active:
        doc = redact_plan_document(doc)
    return doc


def render_json(plan: Plan) -> str:
    """The plan as JSON (stdout and saved plans alike): sensitive values are masked in
    the display fields; ``patch`` and ``spec`` keep them, as apply sends and records them.
    Registered secrets are redacted from the display fields; ``SecretInPlanError`` when
    a field apply acts on holds one."""
    return json.dumps(_json_document(plan), indent=2, ensure_ascii=False, default=str) + "\n"


def write_json(plan: Plan, out: TextIO) -> None:
    """``render_json(plan)`` written to ``out`` a change at a time (neither the text nor the
    document of every change is ever whole in memory); with secrets registered, every change
    is checked before the first byte is written."""
    head = plan.head_json()

    def changes() -> Iterator[dict[str, Any]]:
        return (mask_change(c).to_json() for c in plan.changes)

    docs = changes()
    if scrub.DEFAULT.active:
        for doc in changes():
            redact_change(doc)  # raises SecretInPlanError: nothing written yet
        head = redact_head(head)
        docs = (redact_change(doc) for doc in changes())
    dump_streamed(head, docs, out.write)
