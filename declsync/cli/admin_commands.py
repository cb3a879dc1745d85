"""Commands around the workflow: import, schema, profile, force-unlock, merge-recovery."""

from __future__ import annotations

import json
import shlex
import sys
from pathlib import Path
from typing import Any

import click

from declsync import workflow
from declsync.cli import options as opt
from declsync.cli.output import err
from declsync.cli.target import target as open_target_hinted
from declsync.errors import ConfigError, DeclsyncError
from declsync.execution import recovery
from declsync.manifests.importer import Per
from declsync.planning.prune import path_scope
from declsync.profile.schema import manifest_schema
from declsync.profile.view import show_kind, show_profile
from declsync.scrub import safe_text
from declsync.state import StateEntry, open_backend, parse_lock_timeout

__all__ = ["force_unlock", "import_", "merge_recovery", "profile_group", "schema"]


def _confirm_unlock(lock_id: str, where: str, force: bool) -> None:
    """Terraform asks before removing a lock: a live process may still hold it."""
    if force:
        return
    if not sys.stdin.isatty():
        raise ConfigError(f"refusing to remove lock {lock_id} without confirmation: there is no terminal to ask on; "
                          "pass --force if no declsync process is still running against this state.")
    click.echo(f"Remove lock {lock_id} from {where}?\n  If the process that took it is still running, two "
               "commands may then write the state at once.\n  Only 'yes' will be accepted to confirm.")
    try:
        answer = click.prompt("  Enter a value", default="", show_default=False)
    except click.Abort as exc:
        if isinstance(exc.__context__, KeyboardInterrupt):
            raise
        answer = ""
        click.echo("")
    if answer.strip() != "yes":
        raise DeclsyncError("force-unlock cancelled. The lock was kept.")


@click.command("force-unlock")
@click.argument("lock_id")
@opt.state_option
@click.option("--force", is_flag=True, help="Do not ask for confirmation.")
@opt.verbose_option
def force_unlock(lock_id: str, state_path: str, force: bool) -> int:
    """Remove a stale state lock left by a killed process (LOCK_ID from the lock error)."""
    backend = open_backend(state_path)
    _confirm_unlock(lock_id, backend.description, force)
    backend.force_unlock(lock_id)
    click.echo(f"Lock {lock_id} removed from {backend.description}.")
    return 0


@click.command("merge-recovery")
@click.argument("file", type=click.Path(dir_okay=False))
@opt.state_option
@opt.verbose_option
def merge_recovery(file: str, state_path: str) -> int:
    """Merge a recovery file (state changes an apply could not save) into the state, then delete it."""
    with open_backend(state_path).locked(operation="merge-recovery") as locked:
        changed = recovery.merge_file(locked, Path(file))
    click.echo(f"Merged {file} into {state_path}: {changed} entr{'y' if changed == 1 else 'ies'} updated; "
               f"{file} is removed.")
    return 0


@click.command("import")
@click.argument("kind_name", metavar="KIND")
@click.argument("keys", nargs=-1, metavar="[KEY]...")
@click.option("--all", "all_", is_flag=True, help="Import every resource of KIND that has a client key.")
@click.option("--out-dir", type=click.Path(file_okay=False), default="manifests",
              help="Directory to write manifests into.")
@click.option("--per", type=click.Choice(["resource", "kind"]), default="resource",
              help="One file per resource (OUT/<path>/<KEY>.yaml) or one per kind (OUT/<path>.yaml).")
@click.option("--force", is_flag=True, help="Overwrite existing files.")
@opt.target_options
@opt.lock_option
def import_(kind_name: str, keys: tuple[str, ...], all_: bool, out_dir: str, per: Per, force: bool,
            state_path: str, profile_path: str | None, lock_timeout: str, **kw: Any) -> int:
    """Write manifests for live resources of KIND (by KEY, or --all) and record them in the state."""
    settings = opt.settings(kw)
    profile = opt.load_profile(profile_path)
    kind = profile.kind(kind_name)
    if bool(keys) == all_:
        raise click.UsageError("give the keys to import, or --all (not both)")
    store = open_backend(state_path)
    with store.locked(operation="import", lock_timeout=parse_lock_timeout(lock_timeout)) as locked, \
            open_target_hinted(settings, profile) as target:
        recovery.pick_up(locked, recovery.base_for(store), err)
        done = workflow.import_kind(target.client, kind, keys, all_, out_dir=Path(out_dir), per=per, force=force,
                                    profile=profile, locked=locked, target=target.description)
    if not done.items:
        err(f"No {kind.name} resources with a client key found; nothing was imported.")
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


@click.command()
@click.option("--out", type=click.Path(dir_okay=False), help="Write the schema to FILE instead of stdout.")
@opt.profile_option
@opt.verbose_option
def schema(out: str | None, profile_path: str | None) -> int:
    """Print the JSON Schema (draft 2020-12) of manifests, for editors and CI."""
    text = json.dumps(manifest_schema(opt.load_profile(profile_path)), indent=2, ensure_ascii=False) + "\n"
    if out:
        path = Path(out)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        err(f"Wrote the manifest schema to {out}.")
    else:
        click.echo(text, nl=False)
    return 0


@click.group("profile")
@opt.verbose_option
def profile_group() -> None:
    """Inspect the resource profile (bundled, a profile file, or an OpenAPI document)."""


@profile_group.command("show")
@click.argument("kind_name", metavar="[KIND]", required=False)
@opt.profile_option
@opt.verbose_option
def profile_show(kind_name: str | None, profile_path: str | None) -> int:
    """List the kinds, or KIND's fields: type, nullable, create-only, enum values."""
    loaded = opt.load_profile(profile_path)
    click.echo(show_kind(loaded.kind(kind_name)) if kind_name else show_profile(loaded), nl=False)
    return 0
