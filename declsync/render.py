"""Turning a Plan into text for people and JSON for machines. No planning, no I/O."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from declsync.plan import Action, Change, FieldChange, Plan
from declsync.profile import is_ref_marker

__all__ = ["format_value", "render_json", "render_summary", "render_text"]

Styler = Callable[[str, str], str]

_COLOURS = {"+": "green", "~": "yellow", "-": "red", "!": "magenta", "dim": "bright_black"}


def _plain(text: str, _style: str) -> str:
    return text


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


def _field_line(fc: FieldChange, action: Action) -> str:
    if action is Action.CREATE:
        return f"{fc.path}: {format_value(fc.after)}"
    if fc.reason == "replaced":
        text = f"{fc.path}: {format_value(fc.before)} → {format_value(fc.after)} (array replaced)"
    elif fc.reason == "removed":
        text = f"{fc.path}: {format_value(fc.before)} → null (removed from manifest)"
    else:
        text = f"{fc.path}: {format_value(fc.before)} → {format_value(fc.after)}"
    if fc.drift:
        text += "  [drift: changed outside declsync since the last apply]"
    return text


def _render_change(change: Change, style: Styler) -> list[str]:
    sym = change.action.symbol
    verb = {"create": "create", "update": "update", "delete": "delete", "noop": "unchanged"}[change.action.value]
    ident = f" (id {change.id})" if change.id else ""
    lines = [style(f"  {sym} {verb} {change.address}{ident}", sym) + style(f"  # {change.source}", "dim")]
    for fc in change.field_changes:
        lines.append(style(f"      {_field_line(fc, change.action)}", sym))
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
    return text


def render_text(plan: Plan, *, colour: bool = False) -> str:
    """The human plan: changed resources with their changed fields, then a summary."""
    style: Styler = (lambda text, key: _colour(text, key)) if colour else _plain
    lines: list[str] = []
    changed = [c for c in plan.changes if c.action is not Action.NOOP]
    if changed:
        lines.append("declsync will perform the following actions:")
        lines.append("")
        for change in changed:
            lines.extend(_render_change(change, style))
            lines.append("")
    quiet_warnings = [c for c in plan.changes if c.action is Action.NOOP and c.warnings]
    for change in quiet_warnings:
        for warning in change.warnings:
            lines.append(style(f"  ! {change.address}: {warning}", "!"))
    if quiet_warnings:
        lines.append("")
    for note in plan.notes:
        lines.append(f"Note: {note}")
    lines.append(render_summary(plan))
    return "\n".join(lines) + "\n"


def _colour(text: str, key: str) -> str:
    import click

    colour = _COLOURS.get(key)
    return click.style(text, fg=colour) if colour else text


def render_json(plan: Plan) -> str:
    return json.dumps(plan.to_json(), indent=2, ensure_ascii=False, default=str) + "\n"
