"""The plan as GitHub-flavoured markdown, for pull-request comments and job summaries.

Layout: the summary line first; call-outs for warnings, drift and plan notes; one
collapsible ``<details>`` block per changed resource holding a fenced ``diff`` block
of ``path: old → new`` lines (``+`` set on create, ``~`` changed, ``-`` cleared,
``!`` warning); unchanged resources are counted, not listed.

The output never exceeds ``max_chars`` (GitHub refuses comments over 65,535
characters). When the full rendering is longer, detail is collapsed in steps, never
by cutting text: first the largest blocks lose their field values (paths kept), then
the last resources are listed one line each, then the last of those are only
counted ("…and N more resources summarised"), and a closing note says how many
resources each step touched.

Everything that comes from manifests or the API is either inside a code fence whose
lines all start with a prefix character (so no line can close the fence) or
HTML-escaped (every markdown-active character as an entity), so a key such as
``</details>`` or ```` ``` ```` cannot break the document. Control and line-breaking
characters are escaped everywhere (``declsync.scrub.escape_controls``), and what is
shown passes ``render.display_change`` (sensitive values masked, secrets redacted).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from declsync import scrub
from declsync.plan import Action, Change, FieldChange, Plan
from declsync.planning.sensitive import MASK, is_sensitive
from declsync.render.text import compact_line, count_fields, display_change, drift_note, format_value, render_summary

__all__ = ["DEFAULT_MAX_CHARS", "MIN_MAX_CHARS", "render_markdown"]

DEFAULT_MAX_CHARS = 60_000
# Below this the summary, call-outs and closing note might not fit.
MIN_MAX_CHARS = 1_000
# Room kept for the closing note and the "…and N more" line once shortening starts.
_FOOTER_RESERVE = 400
_MAX_NOTES = 10
_MAX_NOTE_CHARS = 300

_ESCAPED = set("&<>\"'`*_[]{}()#+!|~\\$")


def _esc(text: str) -> str:
    """Text that is inert both in raw HTML and in markdown inline context."""
    out: list[str] = []
    for ch in scrub.escape_controls(text):
        out.append(f"&#{ord(ch)};" if ch in _ESCAPED else ch)
    return "".join(out)


def _code_line(text: str) -> str:
    """One line inside a code fence: no line breaks (nor other control characters) may survive."""
    return scrub.escape_controls(text)


_VERB = {"create": "create", "update": "update", "delete": "delete", "noop": "unchanged", "replace": "replace"}


def _prefix(fc: FieldChange, action: Action) -> str:
    if action in (Action.CREATE, Action.REPLACE):
        return "+"
    if action is Action.DELETE or fc.reason == "removed":
        return "-"
    return "~"


def _value(value: object, hidden: bool) -> str:
    return MASK if hidden and value is not None else format_value(value)


def _field_lines(change: Change, with_values: bool) -> list[str]:
    lines: list[str] = []
    for fc in change.field_changes:
        sym = _prefix(fc, change.action)
        if not with_values:
            lines.append(f"{sym} {fc.path}")
            continue
        hidden = bool(change.sensitive) and is_sensitive(fc.path, change.sensitive)
        if change.action in (Action.CREATE, Action.REPLACE):
            text = f"{fc.path}: {_value(fc.after, hidden)}"
        else:
            text = f"{fc.path}: {_value(fc.before, hidden)} → {_value(fc.after, hidden)}"
        if fc.reason == "removed" and not fc.drifted_removal:
            text += "  # removed from manifest"
        elif fc.reason == "replaced":
            text += "  # array replaced"
        if fc.drift:
            text += f"  # drift: {drift_note(fc, hidden)}"
        lines.append(f"{sym} {text}")
        for detail in fc.details:
            dsym = "+" if ": added " in detail else "-" if ": removed " in detail else "~"
            lines.append(f"{dsym}     {detail}")
    return lines


def _summary(change: Change, with_values: bool) -> str:
    sym = change.action.symbol if change.action is not Action.NOOP else "!"
    parts = [f"<code>{_esc(f'{sym} {_VERB[change.action.value]} {change.address}')}</code>"]
    n = count_fields(change)
    if change.field_changes:
        parts.append(f"{n} field{'s' if n != 1 else ''}")
    if change.drift:
        parts.append("🔀 drift")
    if change.warnings:
        parts.append(f"⚠️ {len(change.warnings)} warning{'s' if len(change.warnings) != 1 else ''}")
    if change.source:
        parts.append(f"<code>{_esc(change.source)}</code>")
    if not with_values:
        parts.append("<i>values omitted for length</i>")
    return " · ".join(parts)


def _block(change: Change, with_values: bool) -> str:
    body = [_code_line(line) for line in _field_lines(change, with_values)]
    body += [_code_line(f"! warning: {w}") for w in change.warnings]
    out = f"<details><summary>{_summary(change, with_values)}</summary>\n\n"
    if body:
        out += "```diff\n" + "\n".join(body) + "\n```\n\n"
    return out + "</details>"


def _one_liner(change: Change) -> str:
    return f"- <code>{_esc(compact_line(change))}</code>"


@dataclass
class _Item:
    full: str
    brief: str
    line: str
    action: Action
    # 0 full block, 1 block without values, 2 one line, 3 only counted
    level: int = 0


def _header(plan: Plan, shown: Sequence[Change]) -> list[str]:
    sections = [f"**{render_summary(plan)}**"]
    n_warn = sum(len(c.warnings) for c in shown)
    if n_warn:
        sections.append(f"> ⚠️ **{n_warn} warning{'s' if n_warn != 1 else ''}**: see the resources marked ⚠️ below.")
    drifted = [c for c in shown if c.drift]
    if drifted:
        n_fields = sum(len(c.drift) for c in drifted)
        sections.append(
            f"> 🔀 **Drift**: {n_fields} field{'s' if n_fields != 1 else ''} on {len(drifted)} "
            f"resource{'s' if len(drifted) != 1 else ''} changed outside declsync since the last apply "
            "(marked 🔀 below)."
        )
    notes = [scrub.redact(note) for note in plan.notes]
    for note in notes[:_MAX_NOTES]:
        shortened = note if len(note) <= _MAX_NOTE_CHARS else note[: _MAX_NOTE_CHARS - 1] + "…"
        sections.append(f"> ℹ️ {_esc(shortened)}")
    if len(notes) > _MAX_NOTES:
        sections.append(f"> ℹ️ …and {len(notes) - _MAX_NOTES} more notes.")
    return sections


def _assemble(head: list[str], items: list[_Item], tail: list[str], footer: list[str]) -> str:
    sections = list(head)
    sections += [it.full if it.level == 0 else it.brief for it in items if it.level <= 1]
    lines = [it.line for it in items if it.level == 2]
    if lines:
        sections.append("\n".join(lines))
    counted = [it for it in items if it.level == 3]
    if counted:
        by_action: dict[str, int] = {}
        for it in counted:
            by_action[it.action.value] = by_action.get(it.action.value, 0) + 1
        detail = ", ".join(f"{n} to {a}" if a != "noop" else f"{n} with warnings" for a, n in by_action.items())
        sections.append(f"…and {len(counted)} more resource{'s' if len(counted) != 1 else ''} summarised ({detail}).")
    sections += tail + footer
    return "\n\n".join(sections) + "\n"


def _footer(items: list[_Item], max_chars: int) -> list[str]:
    brief = sum(1 for it in items if it.level == 1)
    lines = sum(1 for it in items if it.level == 2)
    counted = sum(1 for it in items if it.level == 3)
    if not (brief or lines or counted):
        return []
    return [
        f"> ✂️ Shortened to fit {max_chars:,} characters: {brief + lines + counted} of {len(items)} resources "
        f"summarised ({brief} without field values, {lines} on one line each, {counted} only counted). "
        "Run <code>declsync plan</code> for the full plan."
    ]


def render_markdown(plan: Plan, *, max_chars: int = DEFAULT_MAX_CHARS) -> str:
    """The plan as markdown of at most ``max_chars`` characters (at least ``MIN_MAX_CHARS``)."""
    if max_chars < MIN_MAX_CHARS:
        raise ValueError(f"max_chars must be at least {MIN_MAX_CHARS}")
    shown = [display_change(c) for c in plan.changes if c.action is not Action.NOOP or c.warnings]
    head = _header(plan, shown)
    unchanged = sum(1 for c in plan.changes if c.action is Action.NOOP)
    tail = [f"{unchanged} unchanged resource{'s' if unchanged != 1 else ''} not listed."] if unchanged and shown else []
    items = [_Item(_block(c, True), "", _one_liner(c), c.action) for c in shown]
    text = _assemble(head, items, tail, [])
    if len(text) <= max_chars:
        return text
    for it, c in zip(items, shown, strict=True):
        it.brief = _block(c, False)
    budget = max_chars - _FOOTER_RESERVE
    total = len(text)
    # 1. The largest blocks lose their field values.
    for it in sorted(items, key=lambda i: len(i.full), reverse=True):
        if total <= budget:
            break
        total -= len(it.full) - len(it.brief)
        it.level = 1
    # 2. The last blocks become one line each (a list after the blocks), until it fits or
    #    the blocks left take at most half the room (the rest is for the one-line list).
    blocks = sum(len(it.full if it.level == 0 else it.brief) + 2 for it in items)
    for index in range(len(items) - 1, -1, -1):
        if total <= budget or blocks <= budget // 2:
            break
        it = items[index]
        size = len(it.full if it.level == 0 else it.brief)
        total += len(it.line) + 1 - size - 2
        blocks -= size + 2
        it.level = 2
    # 3. The last lines are only counted.
    for index in range(len(items) - 1, -1, -1):
        if total <= budget:
            break
        it = items[index]
        total -= len(it.line) + 1
        it.level = 3
    text = _assemble(head, items, tail, _footer(items, max_chars))
    # The estimate above is exact up to a few separators (the reserve covers them);
    # make sure anyway, whatever the notes and call-outs cost.
    for it in [it for it in reversed(items) if it.level < 3]:
        if len(text) <= max_chars:
            return text
        it.level = 3
        text = _assemble(head, items, tail, _footer(items, max_chars))
    if len(text) <= max_chars:
        return text
    return _assemble(head[:1], [_Item("", "", "", it.action, 3) for it in items], [], [])
