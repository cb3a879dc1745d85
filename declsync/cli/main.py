"""The command line: the only place that catches ``DeclsyncError``.

Exit codes follow Terraform: 0 success (or no changes), 1 error, 2 changes present
(only with ``--detailed-exitcode``). Usage errors exit 1, so 2 always means
"changes". Results go to stdout; progress and notices to stderr.
"""

from __future__ import annotations

import io
import json
import os
import shlex
import sys
import traceback
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

import click

from declsync import __version__, workflow
from declsync.errors import ConfigError, DeclsyncError, MassDeleteError, PlanFileError
from declsync.execution import recovery
from declsync.execution.apply import ApplyResult, Outcome
from declsync.execution.interrupt import interrupts_raise
from declsync.manifests.cache import ManifestCache
from declsync.manifests.importer import Per
from declsync.manifests.loader import load_manifests
from declsync.plan import Action, Plan
from declsync.planfile import codec as planfile
from declsync.planning.prune import DEFAULT_MAX_DELETE_FRACTION, PruneOptions, path_scope
from declsync.planning.selection import Selection
from declsync.profile.model import Profile, load_profile
from declsync.profile.schema import manifest_schema
from declsync.profile.view import show_kind, show_profile
from declsync.remote.client import DEFAULT_DEADLINE, DEFAULT_REQUEST_TIMEOUT
from declsync.remote.target import Settings, open_target
from declsync.render.markdown import DEFAULT_MAX_CHARS, MIN_MAX_CHARS, render_markdown
from declsync.render.progress import make_progress
from declsync.render.text import render_text, write_json
from declsync.sandbox.cli import sandbox_group
from declsync.scrub import register_secret, safe_text
from declsync.state import StateEntry, open_backend, parse_lock_timeout
from declsync.state.commands import state_group

__all__ = ["cli", "main"]

F = TypeVar("F", bound=Callable[..., Any])
DEFAULT_STATE = Path(".declsync") / "state.json"


def _err(message: str, *, strict: bool = False) -> None:
    """One line to stderr, scrubbed: a key or server message cannot add lines, nor show a secret.
    If stderr is gone (its reader closed the pipe), later messages go nowhere instead of
    failing; ``strict`` re-raises that first failure (apply's progress under ``-v`` stops the
    apply on it)."""
    try:
        click.echo(safe_text(message), err=True)
    except (OSError, ValueError):
        sys.stderr = open(os.devnull, "w")  # noqa: SIM115 - replaces stderr until the process ends
        if strict:
            raise


def _err_lines(text: str) -> None:
    """Several lines (an error message, a traceback), each scrubbed on its own."""
    for line in text.rstrip("\n").split("\n"):
        _err(line)


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
                     default=str(DEFAULT_STATE), show_default=True,
                     help="State: a file, or postgresql://user@host:port/db?workspace=NAME."),
        click.option("--parallelism", type=click.IntRange(1, 256), default=16, show_default=True,
                     help="Concurrent API requests."),
        click.option("--insecure-http", is_flag=True, help="Allow plain http:// to a non-loopback host."),
        click.option("--request-timeout", envvar="DECLSYNC_REQUEST_TIMEOUT", type=click.FloatRange(min=0, min_open=True),
                     default=DEFAULT_REQUEST_TIMEOUT, show_default=True, metavar="SECONDS",
                     help="Longest one HTTP request may take, headers and body (a slow server is refused)."),
        click.option("--deadline", envvar="DECLSYNC_DEADLINE", type=click.FloatRange(min=0), default=DEFAULT_DEADLINE,
                     show_default=True, metavar="SECONDS",
                     help="Longest all API requests of the command may take (apply: after the prompt); 0: none."),
        profile_option,
    ]
    for option in reversed(options):
        f = option(f)
    return f


def lock_option(f: F) -> F:
    return click.option("--lock-timeout", default="0", show_default=True, metavar="DURATION",
                        help="Wait this long for a state lock another command holds (e.g. 30s, 2m); "
                             "0 fails at once.")(f)


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
    return workflow.prune_options(kw.pop("prune"), kw.pop("allow_mass_delete"), kw.pop("max_delete_fraction"))


def _plan_resources(
    client: Any, resources: list[Any], profile: Profile, state: Any, selection: Selection, target: str,
    paths: Sequence[str], *, prune: PruneOptions, locked: Any = None,
) -> Plan:
    """Select, fetch (with progress on a terminal) and plan."""
    return workflow.plan_resources(client, resources, profile, state, selection, target, prune=prune,
                                   progress=make_progress(), paths=paths, locked=locked)


def _settings(kw: dict[str, Any]) -> Settings:
    return Settings(
        api_url=kw.pop("api_url"),
        token=kw.pop("token"),
        client_id=kw.pop("client_id"),
        client_secret=kw.pop("client_secret"),
        token_url=kw.pop("token_url"),
        parallelism=kw.pop("parallelism"),
        insecure_http=kw.pop("insecure_http"),
        request_timeout=kw.pop("request_timeout"),
        deadline=kw.pop("deadline") or None,
    )


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="declsync")
@click.option("-v", "--verbose", is_flag=True, help="More detail on errors.")
@click.option("--no-cache", is_flag=True, help="Parse every manifest again, ignoring the parse cache "
                                               "(.declsync/cache/, safe to delete).")
@click.pass_context
def cli(ctx: click.Context, verbose: bool, no_cache: bool) -> None:
    """declsync: declarative YAML manifests for the MVMNT API — plan, review, apply."""
    ctx.obj = {"verbose": verbose, "no_cache": no_cache}


cli.add_command(sandbox_group, "sandbox")
cli.add_command(state_group, "state")


def _load(paths: Sequence[str], profile_path: str | None) -> tuple[Profile, list[Any]]:
    profile = load_profile(profile_path)
    return profile, _load_manifests(paths, profile)


def _load_manifests(paths: Sequence[str], profile: Profile) -> list[Any]:
    """Manifests through the parse cache (unless ``--no-cache``); its notes shown under -v."""
    ctx = click.get_current_context(silent=True)
    obj = (ctx.find_root().obj if ctx is not None else None) or {}
    cache = None if obj.get("no_cache") else ManifestCache(deferred=True)
    if cache is not None and ctx is not None:
        # Written when the command ends without an exception: a failing command leaves no file.
        ctx.find_root().call_on_close(lambda: cache.flush() if sys.exc_info()[0] is None else None)
    try:
        return load_manifests(list(paths) or ["manifests"], profile, cache=cache)
    finally:
        if cache is not None and obj.get("verbose"):
            for note in cache.notes:
                _err(note)


@cli.command()
@click.argument("paths", nargs=-1, type=click.Path())
@profile_option
def validate(paths: tuple[str, ...], profile_path: str | None) -> int:
    """Check manifests offline (no network): syntax, kinds, keys, fields, types."""
    _, resources = _load(paths, profile_path)
    click.echo(f"{len(resources)} resource{'s' if len(resources) != 1 else ''} valid.")
    return 0


def _write_plan_file(plan: Plan, out: str) -> None:
    planfile.write(plan, out)


def _show_plan(plan: Plan, fmt: str, no_color: bool, compact: bool = False,
               max_chars: int = DEFAULT_MAX_CHARS) -> None:
    if fmt == "json":
        # Streamed: a 100,000-change plan is never one string in memory.
        write_json(plan, sys.stdout)
        sys.stdout.flush()
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
    store = open_backend(state_path)
    state = store.read()
    _warn_recovery_files(recovery.base_for(store))
    with open_target(settings, profile, _err) as target:
        result = _plan_resources(target.client, resources, profile, state, selection, target.description,
                                 list(paths) or ["manifests"],
                                 prune=prune)
    _show_plan(result, fmt, no_color, compact, max_chars)
    if out:
        _write_plan_file(result, out)
        _err(f"Saved the plan to {out}; apply it with: declsync apply {out}")
    return 2 if detailed_exitcode and result.has_changes else 0


def _is_plan_file(paths: tuple[str, ...]) -> bool:
    return len(paths) == 1 and Path(paths[0]).is_file() and Path(paths[0]).suffix.lower() not in (".yaml", ".yml")


def _read_plan_file(path: str) -> Plan:
    return planfile.read(path)


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


def _warn_recovery_files(state_path: Path) -> None:
    for path in recovery.pending_files(state_path):
        _err(f"Warning: {path} holds state changes an earlier apply could not save; the next `declsync apply` "
             "merges it (this plan does not know them).")


def _report(result: ApplyResult, state_path: Path) -> int:
    for outcome in result.outcomes:
        if outcome.status in ("failed", "skipped"):
            _err(f"  {outcome.status}: {outcome.address}: {outcome.message}")
    if result.unsaved is not None:
        written = recovery.write_recovery(state_path, result.unsaved, result.save_error or "")
        _err(recovery.describe(recovery.relative(written) if written else None, state_path, result.unsaved,
                               result.save_error or ""))
    click.echo(result.summary())
    return 0 if result.ok else 1


def _stopping(bar: Any) -> Callable[[str, int], None]:
    """Apply's acknowledgement of a stop signal or a fatal error, as it happens."""

    def say(why: str, in_flight: int) -> None:
        bar.clear()
        writes = f"{in_flight} in-flight write{'s' if in_flight != 1 else ''}"
        if why.startswith("SIG"):
            _err(f"Interrupt received: finishing {writes} ({why}); no new write starts.")
        else:
            _err(f"Error: {why}\nStopping: finishing {writes}; no new write starts.")

    return say


@cli.command()
@click.argument("paths", nargs=-1, type=click.Path())
@target_options
@output_options
@selection_options
@click.option("--auto-approve", is_flag=True, help="Apply without asking.")
@prune_options
@lock_option
@click.pass_context
def apply(ctx: click.Context, /, paths: tuple[str, ...], fmt: str, no_color: bool, auto_approve: bool,
          state_path: str, profile_path: str | None, lock_timeout: str, **kw: Any) -> int:
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
    resources = None if saved is not None else _load_manifests(paths, profile)
    store = open_backend(state_path)
    verbose = bool(ctx.obj and ctx.obj.get("verbose"))
    with store.locked(operation="apply", lock_timeout=parse_lock_timeout(lock_timeout)) as locked, \
            open_target(settings, profile, _err) as target:
        recovery.pick_up(locked, recovery.base_for(store), _err)
        if saved is not None:
            workflow.check_saved_plan(saved, target.description, target.client, profile, locked,
                                      per_resource=store.per_resource_locks)
            the_plan = saved
        else:
            assert resources is not None
            the_plan = _plan_resources(target.client, resources, profile, locked.state, selection,
                                       target.description, list(paths) or ["manifests"], prune=prune,
                                       locked=locked)
        _show_plan(the_plan, fmt, no_color, compact, max_chars)
        if not the_plan.has_changes:
            # Still record adopted/unchanged resources so later plans know their last-applied spec.
            recorded = workflow.record_unchanged(the_plan, target.client, profile, locked, settings.parallelism)
            return 0 if recorded.unsaved is None else _report(recorded, recovery.base_for(store))
        _confirm(auto_approve)
        # The time a user spent reading the plan at the prompt is not the API's.
        target.client.restart_deadline()

        bar = make_progress()
        total = sum(1 for c in the_plan.changes if c.action is not Action.NOOP)
        with bar.task("Applying", total) as tick:

            def progress(outcome: Outcome) -> None:
                if verbose:
                    bar.clear()
                    _err(f"  {outcome.status}: {outcome.address} {outcome.message}".rstrip(), strict=True)
                tick(1)

            result = workflow.execute(the_plan, target.client, profile, locked, parallelism=settings.parallelism,
                                      on_outcome=progress, saved=saved is not None, on_stop=_stopping(bar))
        # Reported under the lock: a recovery file is written before another apply may start.
        return _report(result, recovery.base_for(store))


@cli.command()
@click.argument("planfile", type=click.Path(dir_okay=False))
@output_options
def show(planfile: str, fmt: str, no_color: bool, compact: bool, max_chars: int) -> int:
    """Show a saved plan (PLANFILE from `plan --out`) without contacting the API."""
    _show_plan(_read_plan_file(planfile), fmt, no_color, compact, max_chars)
    return 0


@cli.command("force-unlock")
@click.argument("lock_id")
@click.option("--state", "state_path", envvar="DECLSYNC_STATE", type=click.Path(dir_okay=False),
              default=str(DEFAULT_STATE), show_default=True)
def force_unlock(lock_id: str, state_path: str) -> int:
    """Remove a stale state lock left by a killed process (LOCK_ID from the lock error)."""
    backend = open_backend(state_path)
    backend.force_unlock(lock_id)
    click.echo(f"Lock {lock_id} removed from {backend.description}.")
    return 0


@cli.command("merge-recovery")
@click.argument("file", type=click.Path(dir_okay=False))
@click.option("--state", "state_path", envvar="DECLSYNC_STATE", type=click.Path(dir_okay=False),
              default=str(DEFAULT_STATE), show_default=True)
def merge_recovery(file: str, state_path: str) -> int:
    """Merge a recovery file (state changes an apply could not save) into the state, then delete it."""
    with open_backend(state_path).locked(operation="merge-recovery") as locked:
        changed = recovery.merge_file(locked, Path(file))
    click.echo(f"Merged {file} into {state_path}: {changed} entr{'y' if changed == 1 else 'ies'} updated; "
               f"{file} is removed.")
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
@lock_option
def import_(kind_name: str, keys: tuple[str, ...], all_: bool, out_dir: str, per: Per, force: bool,
            state_path: str, profile_path: str | None, lock_timeout: str, **kw: Any) -> int:
    """Write manifests for live resources of KIND (by KEY, or --all) and record them in the state."""
    settings = _settings(kw)
    profile = load_profile(profile_path)
    kind = profile.kind(kind_name)
    if bool(keys) == all_:
        raise click.UsageError("give the keys to import, or --all (not both)")
    store = open_backend(state_path)
    with store.locked(operation="import", lock_timeout=parse_lock_timeout(lock_timeout)) as locked, \
            open_target(settings, profile, _err) as target:
        recovery.pick_up(locked, recovery.base_for(store), _err)
        done = workflow.import_kind(target.client, kind, keys, all_, out_dir=Path(out_dir), per=per, force=force,
                                    profile=profile, locked=locked, target=target.description)
    if not done.items:
        _err(f"No {kind.name} resources with a client key found; nothing was imported.")
        return 0
    items, written = done.items, done.written
    n = len(items)
    click.echo(f"Imported {n} {kind.name} resource{'s' if n != 1 else ''} into {len(written)} "
               f"file{'s' if len(written) != 1 else ''}:")
    for path in written:
        click.echo(f"  {safe_text(str(path))}")
    them = "them" if n != 1 else "it"
    plan_here, plan_all = _plan_commands(out_dir)
    click.echo(f"Recorded {them} in {store.description}; `{plan_here}` shows no changes for {them}.")
    if plan_all is not None:
        click.echo(f"To plan {them} with the rest of your manifests: `{plan_all}` "
                   f"(a plan of manifests/ alone neither plans nor prunes {them}).")
    return 0


def _plan_commands(out_dir: str) -> tuple[str, str | None]:
    """The exact `declsync plan` command that plans the imported files, and (when they are not
    under the default manifests/) one that plans them together with manifests/. Settings given
    on the command line are repeated, except credentials."""
    ctx = click.get_current_context()
    opts: list[str] = []
    for name, flag in (("api_url", "--api-url"), ("state_path", "--state"), ("profile_path", "--profile")):
        if ctx.get_parameter_source(name) is click.core.ParameterSource.COMMANDLINE:
            opts += [flag, str(ctx.params[name])]
    tail = "".join(f" {shlex.quote(o)}" for o in opts)
    default = Path("manifests")
    if path_scope([default]).covers(StateEntry("", "", "", {}, source=f"{out_dir}:1")):
        return f"declsync plan{tail}", None
    here = f"declsync plan {shlex.quote(out_dir)}{tail}"
    return here, (f"declsync plan manifests {shlex.quote(out_dir)}{tail}" if default.is_dir() else None)


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


# The library's errors say what happened in its own terms; these add the command-line words.
_CLI_WORDS: dict[type[DeclsyncError], Callable[[Any], str]] = {
    MassDeleteError: lambda e: e.describe("pass --allow-mass-delete (or raise --max-delete-fraction)"),
    PlanFileError: lambda e: f"{e}; create one with `declsync plan --out FILE`",
}


def _words(exc: DeclsyncError) -> str:
    """``exc`` as the CLI says it."""
    for kind in type(exc).__mro__:
        if kind in _CLI_WORDS:
            return _CLI_WORDS[kind](exc)
    return str(exc)


def _verbose(argv: Sequence[str] | None) -> bool:
    args = list(sys.argv[1:] if argv is None else argv)
    return "-v" in args or "--verbose" in args


# Options whose values are secrets (the sandbox's --client is ID:SECRET), registered
# before click parses anything, so that even a usage error cannot echo one.
_SECRET_OPTIONS = ("--token", "--client-secret", "--client")
_SECRET_ENV = ("DECLSYNC_TOKEN", "DECLSYNC_CLIENT_SECRET")


def _register_secrets(argv: Sequence[str] | None) -> None:
    args = list(sys.argv[1:] if argv is None else argv)
    for i, arg in enumerate(args):
        name, eq, value = arg.partition("=")
        if name in _SECRET_OPTIONS:
            for secret in ([value] if eq else args[i + 1:i + 2]):
                if name == "--client":  # ID:SECRET; the id is not a secret
                    secret = secret.partition(":")[2]
                register_secret(secret)
                register_secret(secret.strip())
    for var in _SECRET_ENV:
        register_secret(os.environ.get(var))
        register_secret((os.environ.get(var) or "").strip())


def main(argv: Sequence[str] | None = None) -> None:
    """Entry point: run the CLI and map every outcome to an exit code."""
    verbose = _verbose(argv)
    _register_secrets(argv)
    try:
        # SIGTERM and SIGHUP (CI cancelling a job) end a run like Ctrl-C: locks released, exit 130
        # (apply, once writing, finishes its writes in flight instead: see declsync.execution.interrupt).
        with interrupts_raise():
            rv = cli.main(args=list(argv) if argv is not None else None, prog_name="declsync",
                          standalone_mode=False)
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
        shown = io.StringIO()
        exc.show(file=shown)
        _err_lines(shown.getvalue())
        sys.exit(1)
    except DeclsyncError as exc:
        _err_lines(f"Error: {_words(exc)}")
        if verbose:
            cause = exc.__cause__ or exc.__context__
            while cause is not None:
                _err(f"  caused by: {type(cause).__name__}: {cause}")
                cause = cause.__cause__ or cause.__context__
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        _err("Interrupted.")
        sys.exit(130)
    except Exception as exc:  # a bug: say so plainly, without a traceback unless asked
        _err(f"Error: internal error: {type(exc).__name__}: {exc}")
        if verbose:
            _err_lines("".join(traceback.format_exception(exc)))
        else:
            _err("Run with -v for details and please report it.")
        sys.exit(1)
    sys.exit(rv if isinstance(rv, int) else 0)
