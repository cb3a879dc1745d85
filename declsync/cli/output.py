"""Where the CLI's words go: results and plans to stdout, every error, notice and
interrupt summary to stderr, scrubbed of secrets and control characters."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable, Sequence

import click

from declsync.errors import Problem
from declsync.execution.apply import Outcome
from declsync.plan import Action, Plan
from declsync.render.github import render_plan as render_github
from declsync.render.github import render_problems as github_problems
from declsync.render.markdown import DEFAULT_MAX_CHARS, render_markdown
from declsync.render.text import render_json, render_text, write_json, write_text
from declsync.scrub import redact, safe_text

__all__ = ["context_line", "err", "err_lines", "err_or_out", "outcome_line", "outcome_logger", "render_problems", "show_plan", "use_colour"]


def err(message: str, *, strict: bool = False) -> None:
    """One line to stderr, scrubbed: a key or server message cannot add lines, nor show a secret.
    If stderr is gone (its reader closed the pipe), later messages go nowhere instead of
    failing; ``strict`` re-raises that first failure (apply's progress under ``-v`` stops the
    apply on it)."""
    global _stderr_gone
    try:
        click.echo(safe_text(message), err=True)
    except (OSError, ValueError):
        sys.stderr = open(os.devnull, "w")  # noqa: SIM115 - replaces stderr until the process ends
        _stderr_gone = True
        if strict:
            raise


_stderr_gone = False


def err_or_out(message: str) -> None:
    """To stderr; to stdout once stderr is gone, so that a summary is never lost."""
    err(message)
    if _stderr_gone:
        click.echo(safe_text(message))


def err_lines(text: str) -> None:
    """Several lines (an error message, a traceback), each scrubbed on its own."""
    for line in text.rstrip("\n").split("\n"):
        err(line)


def use_colour(no_color: bool) -> bool:
    # https://no-color.org: NO_COLOR set to anything but the empty string disables colour.
    return not no_color and not os.environ.get("NO_COLOR") and sys.stdout.isatty()


def context_line(target: str, profile: str, state: str) -> str:
    """What a command touches, credential-free: the API, the profile, the state backend."""
    return f"Target: {target} (profile {profile}, state {state})"


_PLAN_RENDERERS: dict[str, Callable[[Plan, bool, bool, int], str]] = {
    "json": lambda plan, _colour, _compact, _max: render_json(plan),
    "markdown": lambda plan, _colour, _compact, max_chars: render_markdown(plan, max_chars=max_chars),
    "github": lambda plan, _colour, _compact, _max: render_github(plan),
    "text": lambda plan, colour, compact, _max: render_text(plan, colour=colour, compact=compact),
}


def show_plan(plan: Plan, fmt: str, no_color: bool, compact: bool = False,
              max_chars: int = DEFAULT_MAX_CHARS, context: str | None = None) -> None:
    """The plan on stdout; ``context`` (what it touches) heads the human formats."""
    if context and fmt == "text":
        click.echo(safe_text(context))
    elif context:
        err(context)  # machine formats keep stdout parseable; their documents name the target already
    if fmt == "json":
        # Streamed: a 100,000-change plan is never one string in memory.
        write_json(plan, sys.stdout)
        sys.stdout.flush()
        return
    if fmt == "text":
        # Streamed too: the text of 100,000 creates was hundreds of MB at the apply's peak.
        write_text(plan, lambda text: click.echo(text, nl=False), colour=use_colour(no_color), compact=compact)
        return
    click.echo(_PLAN_RENDERERS[fmt](plan, use_colour(no_color), compact, max_chars), nl=False)


def _problem_json(p: Problem) -> dict[str, object]:
    return {"file": redact(p.file), "line": p.line or None, "column": p.column or None,
            "field": _field_of(p.message), "message": redact(p.message)}


def _field_of(message: str) -> str | None:
    """The field a message names (``field 'mode': …`` / ``spec.mode: …``), when it names one."""
    head = message.split(":", 1)[0].strip()
    return head if head and " " not in head and head[0].isalpha() else None


def _problems_text(problems: Sequence[Problem]) -> str:
    n = len(problems)
    lines = [line for p in problems for line in (str(p), *p.detail)]
    return "\n".join([*lines, f"{n} problem{'s' if n != 1 else ''} found in manifests."]) + "\n"


_PROBLEM_RENDERERS: dict[str, Callable[[Sequence[Problem]], str]] = {
    "json": lambda ps: json.dumps({"valid": not ps, "problems": [_problem_json(p) for p in ps]}, indent=2) + "\n",
    "github": github_problems,
    "text": _problems_text,
}


def render_problems(problems: Sequence[Problem], fmt: str) -> str:
    return _PROBLEM_RENDERERS[fmt](problems)


_SIGNS = {Action.CREATE: "+", Action.UPDATE: "~", Action.DELETE: "-", Action.NOOP: " ", Action.REPLACE: "-/+"}
_DONE = {Action.CREATE: "created", Action.UPDATE: "updated", Action.DELETE: "deleted", Action.NOOP: "recorded",
         Action.REPLACE: "replaced"}


def outcome_line(outcome: Outcome) -> str:
    """``~ Order/ERP-1 updated (0.4 s)`` / ``! Carrier/C-9 failed: … (0.2 s)``: one line per finished
    resource in a CI log; the time is its own write(s)' (none when nothing was sent: skipped)."""
    took = f" ({outcome.seconds:.1f} s)" if outcome.seconds is not None else ""
    if outcome.status == "applied":
        return f"{_SIGNS[outcome.action]} {outcome.address} {_DONE[outcome.action]}{took}"
    message = f": {outcome.message}" if outcome.message else ""
    return f"! {outcome.address} {outcome.status}{message}{took}"


def outcome_logger() -> Callable[[Outcome], None]:
    """Apply's log off a terminal, on stdout with the results."""

    def log(outcome: Outcome) -> None:
        click.echo(safe_text(outcome_line(outcome)))

    return log
