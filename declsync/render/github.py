"""GitHub Actions workflow commands (``::error file=…,line=…,col=…::message``), so manifest
problems, plan warnings and drift appear inline on a pull request's diff.

Escaping follows the runner's rules (actions/toolkit ``command.ts``): in the message ``%``,
CR and LF become ``%25``, ``%0D``, ``%0A``; in a property ``:`` and ``,`` are escaped too.
Anything else in a message could end the command early or start another one.
"""

from __future__ import annotations

from collections.abc import Iterable

from declsync import scrub
from declsync.errors import Problem
from declsync.plan import Action, Plan
from declsync.render.text import compact_line, display_change, render_summary

__all__ = ["command", "escape_data", "escape_property", "render_plan", "render_problems"]


def escape_data(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def escape_property(text: str) -> str:
    return escape_data(text).replace(":", "%3A").replace(",", "%2C")


def command(level: str, message: str, *, file: str | None = None, line: int = 0, col: int = 0,
            title: str | None = None) -> str:
    """One workflow command line. Secrets and control characters are scrubbed first."""
    props = []
    if file:
        props.append(f"file={escape_property(scrub.redact(file))}")
        if line > 0:
            props.append(f"line={line}")
            if col > 0:
                props.append(f"col={col}")
    if title:
        props.append(f"title={escape_property(scrub.redact(title))}")
    head = f"::{level} {','.join(props)}" if props else f"::{level}"
    return f"{head}::{escape_data(scrub.redact(message))}"


def _source(source: str) -> tuple[str | None, int]:
    """``manifests/a.yaml:12`` → (file, 12)."""
    file, _, line = source.rpartition(":")
    return (file, int(line)) if file and line.isdigit() else (source or None, 0)


def render_problems(problems: Iterable[Problem]) -> str:
    return "".join(command("error", p.message, file=p.file, line=p.line, col=p.column) + "\n" for p in problems)


def render_plan(plan: Plan) -> str:
    """A notice per change, a warning per plan warning and per drifted resource, and the summary."""
    lines: list[str] = []
    for raw in plan.changes:
        change = display_change(raw)
        file, line = _source(change.source)
        if change.action is not Action.NOOP:
            lines.append(command("notice", compact_line(change), file=file, line=line, title="declsync plan"))
        for warning in change.warnings:
            lines.append(command("warning", f"{change.address}: {warning}", file=file, line=line,
                                 title="declsync plan warning"))
        if change.drift:
            fields = ", ".join(change.drift)
            lines.append(command("warning", f"{change.address}: changed outside declsync (drift): {fields}",
                                 file=file, line=line, title="declsync drift"))
    for note in plan.notes:
        lines.append(command("notice", note))
    lines.append(scrub.escape_controls(render_summary(plan).rstrip("\n")))
    return "\n".join(lines) + "\n"
