"""The workflow commands, in the order a user runs them: validate, plan, apply, show."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import click

from declsync import workflow
from declsync.cli import options as opt
from declsync.cli.output import context_line, err, err_or_out, outcome_logger, render_problems, show_plan
from declsync.cli.target import target as open_target_hinted
from declsync.errors import ConfigError, DeclsyncError, ManifestError
from declsync.execution import recovery
from declsync.execution.apply import ApplyResult, Outcome
from declsync.execution.outcome import Status
from declsync.manifests.cache import ManifestCache
from declsync.manifests.loader import load_manifests
from declsync.plan import Action, Plan
from declsync.planfile import codec as planfile
from declsync.profile.model import Profile
from declsync.render.progress import make_progress
from declsync.state import open_backend, parse_lock_timeout

__all__ = ["apply", "plan", "show", "validate"]


def _paths(paths: Sequence[str]) -> list[str]:
    return list(paths) or ["manifests"]


def _load(paths: Sequence[str], profile: Profile, fmt: str = "text") -> list[Any]:
    """The manifests, through the parse cache unless ``--no-cache`` (its notes shown under -v);
    with a machine format, their problems also go to stdout in it."""
    root = click.get_current_context().find_root()
    obj = root.obj or {}
    cache = None if obj.get("no_cache") else ManifestCache(deferred=True)
    if cache is not None:
        # Written when the command ends without an exception: a failing command leaves no file.
        root.call_on_close(lambda: cache.flush() if sys.exc_info()[0] is None else None)
    try:
        return load_manifests(_paths(paths), profile, cache=cache)
    except ManifestError as exc:
        if fmt in ("github", "json"):
            click.echo(render_problems(exc.problems, fmt), nl=False)
        raise
    finally:
        if cache is not None and obj.get("verbose"):
            for note in cache.notes:
                err(note)


@click.command()
@click.argument("paths", nargs=-1, type=click.Path())
@click.option("--format", "fmt", type=click.Choice(["text", "json", "github"]), default="text",
              help="Problems as text (stderr), JSON (file, line, column, field, message) or GitHub workflow "
                   "commands (inline on a pull request's diff); json and github print to stdout.")
@opt.profile_option
@opt.verbose_option
def validate(paths: tuple[str, ...], fmt: str, profile_path: str | None) -> int:
    """Check manifests offline (no network): syntax, kinds, keys, fields, types."""
    profile = opt.load_profile(profile_path)
    try:
        resources = _load(paths, profile, fmt)
    except ManifestError:
        if fmt == "text":
            raise
        raise click.exceptions.Exit(1) from None
    n = len(resources)
    if fmt == "json":
        click.echo(f'{{"valid": true, "resources": {n}, "problems": []}}')
    else:
        click.echo(f"{n} resource{'s' if n != 1 else ''} valid.")
    return 0


@click.command()
@click.argument("paths", nargs=-1, type=click.Path())
@opt.target_options
@opt.output_options
@opt.selection_options
@click.option("--out", type=click.Path(dir_okay=False), help="Save the plan to FILE for `declsync apply FILE`.")
@click.option("--detailed-exitcode", is_flag=True, help="Exit 0 when no changes, 2 when changes, 1 on error.")
@opt.prune_options
@opt.replace_option
def plan(paths: tuple[str, ...], fmt: str, no_color: bool, out: str | None, detailed_exitcode: bool,
         state_path: str, profile_path: str | None, **kw: Any) -> int:
    """Show what apply would change. Never writes to the API."""
    selection = opt.selection(kw)
    prune = opt.prune(kw)
    compact, max_chars = kw.pop("compact"), kw.pop("max_chars")
    replace = tuple(kw.pop("replace"))
    settings = opt.settings(kw)
    profile = opt.load_profile(profile_path)
    resources = _load(paths, profile, fmt)
    store = open_backend(state_path)
    state = store.read()
    _warn_recovery_files(recovery.base_for(store))
    with open_target_hinted(settings, profile) as target:
        result = workflow.plan_resources(target.client, resources, profile, state, selection, target.description,
                                         prune=prune, progress=make_progress(), paths=_paths(paths),
                                         replace=replace)
    # Not needed to show or save the plan: freed before the biggest document is written.
    del resources, state
    show_plan(result, fmt, no_color, compact, max_chars,
              context=context_line(target.description, profile.name, store.description))
    if out:
        planfile.write(result, out)
        err(f"Saved the plan to {out}; apply it with: declsync apply {out}")
    return 2 if detailed_exitcode and result.has_changes else 0


def _is_plan_file(path: str) -> bool:
    return Path(path).is_file() and Path(path).suffix.lower() not in (".yaml", ".yml")


# Options that shape a fresh plan; a saved plan is applied exactly as it was reviewed.
_PLAN_SHAPING = {"select_targets": "--target", "select_excludes": "--exclude", "select_kinds": "--kind",
                 "prune": "--prune/--no-prune", "allow_mass_delete": "--allow-mass-delete",
                 "max_delete_fraction": "--max-delete-fraction", "replace": "--replace"}


def _refuse_reshaping(ctx: click.Context, paths: tuple[str, ...]) -> None:
    given = [flag for name, flag in _PLAN_SHAPING.items()
             if ctx.get_parameter_source(name) not in (None, click.core.ParameterSource.DEFAULT)]
    if len(paths) > 1:
        given.append("more PATHS")
    if given:
        raise ConfigError(f"{', '.join(given)} would change the saved plan {paths[0]}; a saved plan is applied "
                          "exactly as it was planned and reviewed. Give these options to `declsync plan … "
                          "--out FILE` instead. Nothing was applied.")


def _confirm(auto_approve: bool, context: str) -> None:
    if auto_approve:
        return
    if not sys.stdin.isatty():
        raise ConfigError("refusing to apply without approval: there is no terminal to ask on; "
                          "pass --auto-approve to apply non-interactively, or apply a saved plan "
                          "(`declsync plan --out FILE`, reviewed, then `declsync apply FILE`). Nothing was applied.")
    click.echo(f"\n{context}\nDo you want to perform these actions?\n  Only 'yes' will be accepted to approve.")
    try:
        answer = click.prompt("  Enter a value", default="", show_default=False)
    except click.Abort as exc:
        if isinstance(exc.__context__, KeyboardInterrupt):
            raise  # Ctrl-C: an interrupt, exit 130
        answer = ""  # Ctrl-D (end of input): no answer is not a yes
        click.echo("")
    if answer.strip() != "yes":
        raise DeclsyncError("Apply cancelled. Nothing was applied.")


def _warn_recovery_files(state_path: Path) -> None:
    for path in recovery.pending_files(state_path):
        err(f"Warning: {path} holds state changes an earlier apply could not save; the next `declsync apply` "
            "merges it (this plan does not know them).")


def _report(result: ApplyResult, state_path: Path) -> int:
    for outcome in result.outcomes:
        if outcome.status in (Status.FAILED, Status.SKIPPED):
            err(f"  {outcome.status}: {outcome.address}: {outcome.message}")
    if result.unsaved is not None:
        written = recovery.write_recovery(state_path, result.unsaved, result.save_error or "")
        err(recovery.describe(recovery.relative(written) if written else None, state_path, result.unsaved,
                              result.save_error or ""))
    if result.interrupted:
        err_or_out(result.summary())  # the interrupt summary is an error's: stderr (stdout if stderr is gone)
    else:
        click.echo(result.summary())
    return 0 if result.ok else 1


def _stopping(bar: Any) -> Callable[[str, int], None]:
    """Apply's acknowledgement of a stop signal or a fatal error, as it happens."""

    def say(why: str, in_flight: int) -> None:
        bar.clear()
        writes = f"{in_flight} in-flight write{'s' if in_flight != 1 else ''}"
        if why.startswith("SIG"):
            err(f"Interrupt received: finishing {writes} ({why}); no new write starts.")
        else:
            err(f"Error: {why}\nStopping: finishing {writes}; no new write starts.")

    return say


class _ApplyCommand(click.Command):
    """``apply``'s usage line names both forms: manifests, or one saved plan."""

    def collect_usage_pieces(self, ctx: click.Context) -> list[str]:
        return ["[OPTIONS]", "[PATHS]... | PLANFILE"]


@click.command(cls=_ApplyCommand)
@click.argument("paths", nargs=-1, type=click.Path())
@opt.target_options
@opt.output_options
@opt.selection_options
@click.option("--auto-approve", is_flag=True, help="Apply without asking (a saved PLANFILE never asks).")
@opt.prune_options
@opt.replace_option
@opt.lock_option
@click.pass_context
def apply(ctx: click.Context, /, paths: tuple[str, ...], fmt: str, no_color: bool, auto_approve: bool,
          state_path: str, profile_path: str | None, lock_timeout: str, **kw: Any) -> int:
    """Plan and apply manifests (PATHS, default manifests/), or apply a saved plan (PLANFILE from
    `plan --out`) without asking: the saved plan is the approval."""
    saved_path = paths[0] if paths and _is_plan_file(paths[0]) else None
    if saved_path is not None:
        _refuse_reshaping(ctx, paths)
    selection = opt.selection(kw)
    prune = opt.prune(kw)
    compact, max_chars = kw.pop("compact"), kw.pop("max_chars")
    replace = tuple(kw.pop("replace"))
    settings = opt.settings(kw)
    saved = planfile.read(saved_path) if saved_path is not None else None
    profile = opt.load_profile(profile_path)
    resources = None if saved is not None else _load(paths, profile)
    store = open_backend(state_path)
    verbose = bool(ctx.find_root().obj and ctx.find_root().obj.get("verbose"))
    with store.locked(operation="apply", lock_timeout=parse_lock_timeout(lock_timeout)) as locked, \
            open_target_hinted(settings, profile) as target:
        recovery.pick_up(locked, recovery.base_for(store), err)
        context = context_line(target.description, profile.name, store.description)
        if saved is not None:
            workflow.check_saved_plan(saved, target.description, target.client, profile, locked,
                                      per_resource=store.per_resource_locks)
            the_plan = saved
        else:
            assert resources is not None
            the_plan = workflow.plan_resources(target.client, resources, profile, locked.state, selection,
                                               target.description, prune=prune, progress=make_progress(),
                                               paths=_paths(paths), locked=locked, replace=replace)
            # The plan holds what apply needs: the manifests' resources (specs, line maps) go now,
            # not after the last write (issue 14: a third of the peak of 100,000 creates).
            resources = None
        show_plan(the_plan, fmt, no_color, compact, max_chars, context=context)
        if not the_plan.has_changes:
            # Still record adopted/unchanged resources so later plans know their last-applied spec.
            recorded = workflow.record_unchanged(the_plan, target.client, profile, locked, settings.parallelism)
            return 0 if recorded.unsaved is None else _report(recorded, recovery.base_for(store))
        if saved is None:
            _confirm(auto_approve, f"Apply to {context.removeprefix('Target: ')}?")
        else:
            err(f"Applying the saved plan {saved_path} (reviewed when it was made; no prompt).")
        # The time a user spent reading the plan at the prompt is not the API's.
        target.client.restart_deadline()
        result = _execute(the_plan, target, profile, locked, settings.parallelism, verbose, saved is not None,
                          no_color)
        # Reported under the lock: a recovery file is written before another apply may start.
        return _report(result, recovery.base_for(store))


def _stdout_is_terminal() -> bool:
    try:
        return sys.stdout.isatty()
    except (AttributeError, ValueError):
        return False


def _execute(the_plan: Plan, target: Any, profile: Profile, locked: Any, parallelism: int, verbose: bool,
             saved: bool, no_color: bool) -> ApplyResult:
    """Apply with a live progress display when stderr is a terminal, and one log line per
    finished resource with its duration when stdout is not one (a CI log, a file; both when
    only stdout is redirected); ``-v`` prints each outcome on stderr instead of the log."""
    bar = make_progress(live=True, no_color=no_color or bool(os.environ.get("NO_COLOR")))
    log = None if _stdout_is_terminal() else outcome_logger()
    total = sum(1 for c in the_plan.changes if c.action is not Action.NOOP)
    with bar.task("Applying", total, concurrency=parallelism) as tick:

        def progress(outcome: Outcome) -> None:
            if verbose:  # -v: every outcome on stderr, as it happens (terminal or not)
                bar.clear()
                err(f"  {outcome.status}: {outcome.address} {outcome.message}".rstrip(), strict=True)
            elif log is not None:
                log(outcome)
            tick(1)

        return workflow.execute(the_plan, target.client, profile, locked, parallelism=parallelism,
                                on_outcome=progress, saved=saved, on_stop=_stopping(bar))


@click.command()
@click.argument("planfile_path", metavar="PLANFILE", type=click.Path(dir_okay=False))
@opt.output_options
@opt.verbose_option
def show(planfile_path: str, fmt: str, no_color: bool, compact: bool, max_chars: int) -> int:
    """Show a saved plan (PLANFILE from `plan --out`) without contacting the API."""
    saved = planfile.read(planfile_path)
    show_plan(saved, fmt, no_color, compact, max_chars, context=f"Target: {saved.target} (profile {saved.profile}, saved plan {planfile_path})")
    return 0
