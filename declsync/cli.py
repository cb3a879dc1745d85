"""The command line: the only place that catches ``DeclsyncError``.

Exit codes follow Terraform: 0 success (or no changes), 1 error, 2 changes present
(only with ``--detailed-exitcode``). Usage errors exit 1, so 2 always means
"changes". Results go to stdout; progress and notices to stderr.
"""

from __future__ import annotations

import dataclasses
import json
import os
import sys
import tempfile
import traceback
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

import click

from declsync import __version__
from declsync.apply import Applier, ApplyResult, Outcome, check_stale
from declsync.config import load_config
from declsync.errors import ConfigError, DeclsyncError, ManifestError, StalePlanError, redact
from declsync.importer import (
    Imported,
    Per,
    check_overwrite,
    fetch_live_resources,
    import_resources,
    plan_files,
    write_files,
)
from declsync.manifest import load_manifests
from declsync.pipeline import build_plan
from declsync.plan import Action, Plan
from declsync.planner import lookup_set
from declsync.profile import Profile, load_profile
from declsync.profile_view import show_kind, show_profile
from declsync.progress import make_progress
from declsync.prune import DEFAULT_MAX_DELETE_FRACTION, PruneOptions
from declsync.render import render_json, render_text
from declsync.render_markdown import DEFAULT_MAX_CHARS, MIN_MAX_CHARS, render_markdown
from declsync.sandbox.cli import sandbox_group
from declsync.schema import manifest_schema
from declsync.selection import Selection, select
from declsync.state import StateStore
from declsync.target import Settings, open_target

__all__ = ["cli", "main"]

F = TypeVar("F", bound=Callable[..., Any])
DEFAULT_STATE = Path(".declsync") / "state.json"


def _err(message: str) -> None:
    click.echo(redact(message), err=True)


def _use_colour(no_color: bool) -> bool:
    # https://no-color.org: NO_COLOR set to anything but the empty string disables colour.
    return not no_color and not os.environ.get("NO_COLOR") and sys.stdout.isatty()


def profile_option(f: F) -> F:
    return click.option(
        "--profile", "profile_path", envvar="DECLSYNC_PROFILE", type=click.Path(),
        help="Resource profile file, OpenAPI document or directory of them (default: the bundled MVMNT profile).",
    )(f)


def target_options(f: F) -> F:
    """Options shared by every command that talks to the API."""
    options = [
        click.option("--api-url", envvar="DECLSYNC_API_URL", help="API base URL incl. /v1. Unset: embedded sandbox."),
        click.option("--token", envvar="DECLSYNC_TOKEN", help="Bearer token (prefer the environment variable)."),
        click.option("--client-id", envvar="DECLSYNC_CLIENT_ID", help="OAuth2 client id (client credentials)."),
        click.option("--client-secret", envvar="DECLSYNC_CLIENT_SECRET", help="OAuth2 client secret (use the env var)."),
        click.option("--token-url", envvar="DECLSYNC_TOKEN_URL", help="OAuth2 token URL (default {origin}/oauth2/token)."),
        click.option("--state", "state_path", envvar="DECLSYNC_STATE", type=click.Path(dir_okay=False),
                     default=str(DEFAULT_STATE), show_default=True, help="State file (last-applied specs)."),
        click.option("--parallelism", type=click.IntRange(1, 256), default=16, show_default=True,
                     help="Concurrent API requests."),
        click.option("--insecure-http", is_flag=True, help="Allow plain http:// to a non-loopback host."),
        profile_option,
    ]
    for option in reversed(options):
        f = option(f)
    return f


def output_options(f: F) -> F:
    f = click.option("--max-chars", type=click.IntRange(MIN_MAX_CHARS), default=DEFAULT_MAX_CHARS, show_default=True,
                     help="--format markdown: longest output; detail is collapsed to fit (GitHub comments: 65,535).")(f)
    f = click.option("--compact", is_flag=True, help="Text: one line per changed resource.")(f)
    f = click.option("--no-color", is_flag=True, help="Never colour the output (NO_COLOR is honoured too).")(f)
    f = click.option("--format", "fmt", type=click.Choice(["text", "json", "markdown"]), default="text",
                     show_default=True, help="Plan output format (markdown: for pull-request comments).")(f)
    return f


def selection_options(f: F) -> F:
    """--target/--exclude/--kind: plan only some of the declared resources."""
    f = click.option("--kind", "select_kinds", multiple=True, metavar="KIND",
                     help="Plan only resources of KIND (repeatable).")(f)
    f = click.option("--exclude", "select_excludes", multiple=True, metavar="KIND/KEY",
                     help="Leave out resources matching this glob (repeatable).")(f)
    f = click.option("--target", "select_targets", multiple=True, metavar="KIND/KEY",
                     help="Plan only resources matching this glob, e.g. 'Order/ERP-*' (repeatable).")(f)
    return f


def _selection(kw: dict[str, Any]) -> Selection:
    return Selection(targets=tuple(kw.pop("select_targets", ())), excludes=tuple(kw.pop("select_excludes", ())),
                     kinds=tuple(kw.pop("select_kinds", ())))


def prune_options(f: F) -> F:
    """--prune and its safety limits (``prune``/``maxDeleteFraction`` may also come from declsync.yaml)."""
    f = click.option("--max-delete-fraction", type=click.FloatRange(0, 1), default=None, metavar="F",
                     help=f"--prune deletes at most this fraction of the managed resources without "
                          f"--allow-mass-delete (default {DEFAULT_MAX_DELETE_FRACTION}).")(f)
    f = click.option("--allow-mass-delete", is_flag=True,
                     help="Let --prune delete more than --max-delete-fraction of the managed resources.")(f)
    f = click.option("--prune/--no-prune", "prune", default=None,
                     help="Delete resources declsync manages whose manifests were removed (default: off, or "
                          "'prune: true' in declsync.yaml).")(f)
    return f


def _prune(kw: dict[str, Any]) -> PruneOptions:
    enabled, allow, fraction = kw.pop("prune"), kw.pop("allow_mass_delete"), kw.pop("max_delete_fraction")
    config = load_config()
    if fraction is None:
        fraction = config.max_delete_fraction if config.max_delete_fraction is not None else DEFAULT_MAX_DELETE_FRACTION
    return PruneOptions(enabled=config.prune if enabled is None else enabled, allow_mass_delete=allow,
                        max_delete_fraction=fraction)


def _plan_resources(
    client: Any, resources: list[Any], profile: Profile, state: Any, selection: Selection, target: str,
    **extra: Any,
) -> Plan:
    """Select, fetch (with progress on a terminal) and plan."""
    selected, left_out, notes = select(resources, selection, profile)
    prune = extra.get("prune")
    if selection.active and isinstance(prune, PruneOptions):
        extra["prune"] = dataclasses.replace(prune, scope=selection.matches_address)
    # Computed once: its size is the progress total, and build_plan fetches exactly these keys.
    lookups = lookup_set(selected, profile)
    total = sum(len(keys) for keys in lookups.values())
    with make_progress().task("Fetching live state", total) as tick:
        return build_plan(client, selected, profile, state, target=target, notes=notes, progress=tick,
                          excluded=left_out, lookups=lookups, **extra)


def _settings(kw: dict[str, Any]) -> Settings:
    return Settings(
        api_url=kw.pop("api_url"),
        token=kw.pop("token"),
        client_id=kw.pop("client_id"),
        client_secret=kw.pop("client_secret"),
        token_url=kw.pop("token_url"),
        parallelism=kw.pop("parallelism"),
        insecure_http=kw.pop("insecure_http"),
    )


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="declsync")
@click.option("-v", "--verbose", is_flag=True, help="More detail on errors.")
@click.pass_context
def cli(ctx: click.Context, verbose: bool) -> None:
    """declsync: declarative YAML manifests for the MVMNT API — plan, review, apply."""
    ctx.obj = {"verbose": verbose}


cli.add_command(sandbox_group, "sandbox")


def _load(paths: Sequence[str], profile_path: str | None) -> tuple[Profile, list[Any]]:
    profile = load_profile(profile_path)
    resources = load_manifests(list(paths) or ["manifests"], profile)
    return profile, resources


@cli.command()
@click.argument("paths", nargs=-1, type=click.Path())
@profile_option
def validate(paths: tuple[str, ...], profile_path: str | None) -> int:
    """Check manifests offline (no network): syntax, kinds, keys, fields, types."""
    _, resources = _load(paths, profile_path)
    click.echo(f"{len(resources)} resource{'s' if len(resources) != 1 else ''} valid.")
    return 0


def _write_plan_file(plan: Plan, out: str) -> None:
    path = Path(out)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(render_json(plan))
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _show_plan(plan: Plan, fmt: str, no_color: bool, compact: bool = False,
               max_chars: int = DEFAULT_MAX_CHARS) -> None:
    if fmt == "json":
        click.echo(render_json(plan), nl=False)
    elif fmt == "markdown":
        click.echo(render_markdown(plan, max_chars=max_chars), nl=False)
    else:
        click.echo(render_text(plan, colour=_use_colour(no_color), compact=compact), nl=False)


@cli.command()
@click.argument("paths", nargs=-1, type=click.Path())
@target_options
@output_options
@selection_options
@click.option("--out", type=click.Path(dir_okay=False), help="Save the plan to FILE for `declsync apply FILE`.")
@click.option("--detailed-exitcode", is_flag=True, help="Exit 0 when no changes, 2 when changes, 1 on error.")
@prune_options
def plan(paths: tuple[str, ...], fmt: str, no_color: bool, out: str | None, detailed_exitcode: bool,
         state_path: str, profile_path: str | None, **kw: Any) -> int:
    """Show what apply would change. Never writes to the API."""
    selection = _selection(kw)
    prune = _prune(kw)
    compact, max_chars = kw.pop("compact"), kw.pop("max_chars")
    settings = _settings(kw)
    profile, resources = _load(paths, profile_path)
    state = StateStore(state_path).read()
    with open_target(settings, profile, _err) as target:
        result = _plan_resources(target.client, resources, profile, state, selection, target.description,
                                 prune=prune)
    _show_plan(result, fmt, no_color, compact, max_chars)
    if out:
        _write_plan_file(result, out)
        _err(f"Saved the plan to {out}; apply it with: declsync apply {out}")
    return 2 if detailed_exitcode and result.has_changes else 0


def _is_plan_file(paths: tuple[str, ...]) -> bool:
    return len(paths) == 1 and Path(paths[0]).is_file() and Path(paths[0]).suffix.lower() not in (".yaml", ".yml")


def _read_plan_file(path: str) -> Plan:
    try:
        return Plan.from_json(json.loads(Path(path).read_text(encoding="utf-8")))
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ConfigError(f"{path} is not a saved declsync plan ({exc}); create one with `declsync plan --out FILE`") from None


def _confirm(auto_approve: bool) -> None:
    if auto_approve:
        return
    if not sys.stdin.isatty():
        raise ConfigError("refusing to apply without approval: there is no terminal to ask on; "
                          "pass --auto-approve to apply non-interactively. Nothing was applied.")
    click.echo("Do you want to perform these actions?\n  Only 'yes' will be accepted to approve.")
    answer = click.prompt("  Enter a value", default="", show_default=False)
    if answer.strip() != "yes":
        raise DeclsyncError("Apply cancelled. Nothing was applied.")


def _report(result: ApplyResult) -> int:
    for outcome in result.outcomes:
        if outcome.status in ("failed", "skipped"):
            _err(f"  {outcome.status}: {outcome.address}: {outcome.message}")
    click.echo(result.summary())
    return 0 if result.ok else 1


@cli.command()
@click.argument("paths", nargs=-1, type=click.Path())
@target_options
@output_options
@selection_options
@click.option("--auto-approve", is_flag=True, help="Apply without asking.")
@prune_options
@click.pass_context
def apply(ctx: click.Context, /, paths: tuple[str, ...], fmt: str, no_color: bool, auto_approve: bool,
          state_path: str, profile_path: str | None, **kw: Any) -> int:
    """Plan and apply manifests, or apply a saved plan file (PLANFILE)."""
    selection = _selection(kw)
    prune = _prune(kw)  # a saved plan carries its deletes; these flags only shape a fresh plan
    compact, max_chars = kw.pop("compact"), kw.pop("max_chars")
    settings = _settings(kw)
    saved = _read_plan_file(paths[0]) if _is_plan_file(paths) else None
    if saved is not None and selection.active:
        raise ConfigError("--target/--exclude/--kind select what to plan; a saved plan is applied whole "
                          "(make it with `declsync plan --target … --out FILE`)")
    profile = load_profile(profile_path)
    resources = None if saved is not None else load_manifests(list(paths) or ["manifests"], profile)
    store = StateStore(state_path)
    verbose = bool(ctx.obj and ctx.obj.get("verbose"))
    with store.locked(operation="apply") as locked, open_target(settings, profile, _err) as target:
        if saved is not None:
            if saved.target and saved.target != target.description:
                raise StalePlanError(f"stale plan: it was made for {saved.target}, not {target.description}; re-run plan")
            check_stale(saved, target.client, profile, locked.state)
            the_plan = saved
        else:
            assert resources is not None
            the_plan = _plan_resources(target.client, resources, profile, locked.state, selection,
                                       target.description, prune=prune)
        _show_plan(the_plan, fmt, no_color, compact, max_chars)
        if not the_plan.has_changes:
            # Still record adopted/unchanged resources so later plans know their last-applied spec.
            Applier(target.client, profile, locked, parallelism=settings.parallelism).run(the_plan)
            return 0
        _confirm(auto_approve)

        bar = make_progress()
        total = sum(1 for c in the_plan.changes if c.action is not Action.NOOP)
        with bar.task("Applying", total) as tick:

            def progress(outcome: Outcome) -> None:
                if verbose:
                    bar.clear()
                    _err(f"  {outcome.status}: {outcome.address} {outcome.message}".rstrip())
                tick(1)

            applier = Applier(target.client, profile, locked, parallelism=settings.parallelism, on_outcome=progress,
                              guard_updates=saved is not None)
            result = applier.run(the_plan)
    return _report(result)


@cli.command("force-unlock")
@click.argument("lock_id")
@click.option("--state", "state_path", envvar="DECLSYNC_STATE", type=click.Path(dir_okay=False),
              default=str(DEFAULT_STATE), show_default=True)
def force_unlock(lock_id: str, state_path: str) -> int:
    """Remove a stale state lock left by a killed process (LOCK_ID from the lock error)."""
    StateStore(state_path).force_unlock(lock_id)
    click.echo(f"Lock {lock_id} removed from {state_path}.")
    return 0


@cli.command("import")
@click.argument("kind_name", metavar="KIND")
@click.argument("keys", nargs=-1, metavar="[KEY]...")
@click.option("--all", "all_", is_flag=True, help="Import every resource of KIND that has a client key.")
@click.option("--out-dir", type=click.Path(file_okay=False), default="manifests", show_default=True,
              help="Directory to write manifests into.")
@click.option("--per", type=click.Choice(["resource", "kind"]), default="resource", show_default=True,
              help="One file per resource (OUT/<path>/<KEY>.yaml) or one per kind (OUT/<path>.yaml).")
@click.option("--force", is_flag=True, help="Overwrite existing files.")
@target_options
def import_(kind_name: str, keys: tuple[str, ...], all_: bool, out_dir: str, per: Per, force: bool,
            state_path: str, profile_path: str | None, **kw: Any) -> int:
    """Write manifests for live resources of KIND (by KEY, or --all) and record them in the state."""
    settings = _settings(kw)
    profile = load_profile(profile_path)
    kind = profile.kind(kind_name)
    if bool(keys) == all_:
        raise click.UsageError("give the keys to import, or --all (not both)")
    store = StateStore(state_path)
    with store.locked(operation="import") as locked, open_target(settings, profile, _err) as target:
        live = fetch_live_resources(target.client, kind, keys, all_)
        if not live:
            _err(f"No {kind.name} resources with a client key found; nothing was imported.")
            return 0
        items = import_resources(target.client, kind, profile, live)
        files = plan_files(items, kind, Path(out_dir), per)
        check_overwrite(files, force=force)
        _refuse_declared_elsewhere(items, files, Path(out_dir), profile, force)
        written = write_files(files, kind, target.description, force=force, state=locked.state)
        locked.save()
    n = len(items)
    click.echo(f"Imported {n} {kind.name} resource{'s' if n != 1 else ''} into {len(written)} "
               f"file{'s' if len(written) != 1 else ''}:")
    for path in written:
        click.echo(f"  {path}")
    click.echo(f"Recorded {'them' if n != 1 else 'it'} in {state_path}; `declsync plan` shows no changes for "
               f"{'them' if n != 1 else 'it'}.")
    return 0


def _refuse_declared_elsewhere(items: Sequence[Imported], files: Any, out_dir: Path, profile: Profile,
                               force: bool) -> None:
    """An imported resource already declared in another file under OUT would be declared twice."""
    if not out_dir.is_dir():
        return
    try:
        existing = load_manifests([out_dir], profile)
    except ManifestError:
        return  # the user's manifests have problems of their own; validate reports them
    replaced = {p.resolve() for p in files} if force else set()
    wanted = {(i.kind, i.key) for i in items}
    clashes = [r for r in existing if (r.kind, r.key) in wanted and Path(r.file).resolve() not in replaced]
    if clashes:
        raise ConfigError("already declared: " + ", ".join(f"{r.address} at {r.source}" for r in clashes)
                          + "; nothing was imported")


@cli.command()
@click.option("--out", type=click.Path(dir_okay=False), help="Write the schema to FILE instead of stdout.")
@profile_option
def schema(out: str | None, profile_path: str | None) -> int:
    """Print the JSON Schema (draft 2020-12) of manifests, for editors and CI."""
    text = json.dumps(manifest_schema(load_profile(profile_path)), indent=2, ensure_ascii=False) + "\n"
    if out:
        path = Path(out)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        _err(f"Wrote the manifest schema to {out}.")
    else:
        click.echo(text, nl=False)
    return 0


@cli.group("profile")
def profile_group() -> None:
    """Inspect the resource profile (bundled, a profile file, or an OpenAPI document)."""


@profile_group.command("show")
@click.argument("kind_name", metavar="[KIND]", required=False)
@profile_option
def profile_show(kind_name: str | None, profile_path: str | None) -> int:
    """List the kinds, or KIND's fields: type, nullable, create-only, enum values."""
    loaded = load_profile(profile_path)
    click.echo(show_kind(loaded.kind(kind_name)) if kind_name else show_profile(loaded), nl=False)
    return 0


def _verbose(argv: Sequence[str] | None) -> bool:
    args = list(sys.argv[1:] if argv is None else argv)
    return "-v" in args or "--verbose" in args


def main(argv: Sequence[str] | None = None) -> None:
    """Entry point: run the CLI and map every outcome to an exit code."""
    verbose = _verbose(argv)
    try:
        rv = cli.main(args=list(argv) if argv is not None else None, prog_name="declsync", standalone_mode=False)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except click.Abort as exc:
        # click turns a KeyboardInterrupt (Ctrl-C) into Abort: report it as the interrupt it was.
        if isinstance(exc.__context__, KeyboardInterrupt):
            _err("Interrupted.")
            sys.exit(130)
        _err("Aborted.")
        sys.exit(1)
    except click.ClickException as exc:
        exc.show()
        sys.exit(1)
    except DeclsyncError as exc:
        _err(f"Error: {exc}")
        if verbose:
            cause = exc.__cause__ or exc.__context__
            while cause is not None:
                _err(f"  caused by: {type(cause).__name__}: {redact(str(cause))}")
                cause = cause.__cause__ or cause.__context__
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        _err("Interrupted.")
        sys.exit(130)
    except Exception as exc:  # a bug: say so plainly, without a traceback unless asked
        _err(f"Error: internal error: {type(exc).__name__}: {redact(str(exc))}")
        if verbose:
            _err(redact("".join(traceback.format_exception(exc))))
        else:
            _err("Run with -v for details and please report it.")
        sys.exit(1)
    sys.exit(rv if isinstance(rv, int) else 0)


