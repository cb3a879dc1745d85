"""The command line: the only place that catches ``DeclsyncError``.

Exit codes follow Terraform: 0 success (or no changes), 1 error, 2 changes present
(only with ``--detailed-exitcode``). Usage errors exit 1, so 2 always means
"changes". Results go to stdout; progress and notices to stderr.
"""

from __future__ import annotations

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
from declsync.errors import ConfigError, DeclsyncError, StalePlanError, redact
from declsync.manifest import load_manifests
from declsync.pipeline import build_plan
from declsync.plan import Plan
from declsync.profile import Profile, load_profile
from declsync.render import render_json, render_text
from declsync.sandbox.cli import sandbox_group
from declsync.state import StateStore
from declsync.target import Settings, open_target

__all__ = ["cli", "main"]

F = TypeVar("F", bound=Callable[..., Any])
DEFAULT_STATE = Path(".declsync") / "state.json"


def _err(message: str) -> None:
    click.echo(redact(message), err=True)


def _use_colour(no_color: bool) -> bool:
    return not no_color and "NO_COLOR" not in os.environ and sys.stdout.isatty()


def profile_option(f: F) -> F:
    return click.option(
        "--profile", "profile_path", envvar="DECLSYNC_PROFILE", type=click.Path(dir_okay=False),
        help="Resource profile file (default: the bundled MVMNT profile).",
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
    f = click.option("--no-color", is_flag=True, help="Never colour the output (NO_COLOR is honoured too).")(f)
    f = click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True,
                     help="Plan output format.")(f)
    return f


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


def _show_plan(plan: Plan, fmt: str, no_color: bool) -> None:
    if fmt == "json":
        click.echo(render_json(plan), nl=False)
    else:
        click.echo(render_text(plan, colour=_use_colour(no_color)), nl=False)


@cli.command()
@click.argument("paths", nargs=-1, type=click.Path())
@target_options
@output_options
@click.option("--out", type=click.Path(dir_okay=False), help="Save the plan to FILE for `declsync apply FILE`.")
@click.option("--detailed-exitcode", is_flag=True, help="Exit 0 when no changes, 2 when changes, 1 on error.")
def plan(paths: tuple[str, ...], fmt: str, no_color: bool, out: str | None, detailed_exitcode: bool,
         state_path: str, profile_path: str | None, **kw: Any) -> int:
    """Show what apply would change. Never writes to the API."""
    settings = _settings(kw)
    profile, resources = _load(paths, profile_path)
    state = StateStore(state_path).read()
    with open_target(settings, profile, _err) as target:
        result = build_plan(target.client, resources, profile, state, target=target.description)
    _show_plan(result, fmt, no_color)
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
@click.option("--auto-approve", is_flag=True, help="Apply without asking.")
@click.pass_context
def apply(ctx: click.Context, /, paths: tuple[str, ...], fmt: str, no_color: bool, auto_approve: bool,
          state_path: str, profile_path: str | None, **kw: Any) -> int:
    """Plan and apply manifests, or apply a saved plan file (PLANFILE)."""
    settings = _settings(kw)
    saved = _read_plan_file(paths[0]) if _is_plan_file(paths) else None
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
            the_plan = build_plan(target.client, resources, profile, locked.state, target=target.description)
        _show_plan(the_plan, fmt, no_color)
        if not the_plan.has_changes:
            # Still record adopted/unchanged resources so later plans know their last-applied spec.
            Applier(target.client, profile, locked, parallelism=settings.parallelism).run(the_plan)
            return 0
        _confirm(auto_approve)

        def progress(outcome: Outcome) -> None:
            if verbose:
                _err(f"  {outcome.status}: {outcome.address} {outcome.message}".rstrip())

        applier = Applier(target.client, profile, locked, parallelism=settings.parallelism, on_outcome=progress)
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
    except click.Abort:
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


