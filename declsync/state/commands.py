"""``declsync state …``: list, show, rm, mv, migrate — on any backend, under the locks they need.

``rm`` forgets entries (nothing is deleted from the API: the resources stop being
managed); ``mv`` renames an entry (after renaming a manifest's key by hand); ``migrate``
copies a whole state, lineage and serial included, to another backend and refuses a
non-empty destination without ``--force``. ``show`` masks the profile's sensitive
fields and those the entry's manifest declares sensitive, when that manifest is found.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from declsync.cli.flags import env_option, verbose_option
from declsync.errors import ConfigError, DeclsyncError, ManifestError, StateError
from declsync.state.backend import Address, open_backend, parse_lock_timeout
from declsync.state.file import DEFAULT_PATH
from declsync.state.model import State, StateEntry

__all__ = ["state_group"]

F = TypeVar("F", bound=Callable[..., Any])


def _state_option(f: F) -> F:
    f = click.option("--lock-timeout", default="0", show_default=True, metavar="DURATION",
                     help="Wait this long for locks another command holds (e.g. 30s, 2m).")(f)
    f = env_option("--state", "state_path", envvar="DECLSYNC_STATE", default=str(DEFAULT_PATH),
                   show_default=True, help="State: a file, or postgresql://user@host:port/db?workspace=NAME.")(f)
    return verbose_option(f)


def _address(text: str) -> Address:
    kind, sep, key = text.partition("/")
    if not sep or not kind or not key:
        raise ConfigError(f"invalid address {text!r}: expected KIND/KEY, e.g. Order/ERP-1001")
    return kind, key


@click.group("state")
@verbose_option
def state_group() -> None:
    """Inspect and edit the state (what declsync manages): list, show, rm, mv, migrate."""


@state_group.command("list")
@click.argument("pattern", required=False)
@_state_option
def list_(pattern: str | None, state_path: str, lock_timeout: str) -> int:
    """List managed resources (KIND/KEY and id), optionally matching a glob such as 'Order/ERP-*'."""
    for entry in open_backend(state_path).list(pattern):
        click.echo(f"{entry.kind}/{entry.key}\t{entry.id}")
    return 0


def _masked_spec(entry: StateEntry, profile_path: str | None) -> Any:
    from declsync.planning.sensitive import mask_value, sensitive_for
    from declsync.profile.model import load_profile

    profile = load_profile(profile_path)
    kind = profile.kinds.get(entry.kind)
    if kind is None:
        # An unknown kind: no way to tell which fields are sensitive, so show none of the values.
        return {name: "(hidden: unknown kind)" for name in entry.spec}
    declared: tuple[str, ...] = ()
    source = Path((entry.source or "").rsplit(":", 1)[0]) if entry.source else None
    if source is not None and source.is_file():
        from declsync.manifests.loader import load_manifests

        try:
            found = [r for r in load_manifests([source], profile) if (r.kind, r.key) == (entry.kind, entry.key)]
        except ManifestError:
            found = []
        declared = found[0].sensitive if found else ()
    return mask_value(entry.spec, "", sensitive_for(kind, declared))


@state_group.command("show")
@click.argument("address")
@_state_option
@env_option("--profile", "profile_path", envvar="DECLSYNC_PROFILE", type=click.Path(dir_okay=False),
            help="Resource profile file (unset: the bundled MVMNT profile).")
def show(address: str, state_path: str, lock_timeout: str, profile_path: str | None) -> int:
    """Show one entry: id, last-applied spec (sensitive fields masked), source, applied at."""
    key = _address(address)
    backend = open_backend(state_path)
    entry = backend.read_entries([key]).get(key)
    if entry is None:
        raise StateError(f"{address} is not in state {backend.description}; see `declsync state list`")
    click.echo(f"# {entry.kind}/{entry.key}")
    click.echo(f"id:              {entry.id}")
    click.echo(f"source:          {entry.source or '-'}")
    click.echo(f"applied at:      {entry.applied_at or '-'}")
    click.echo(f"live updatedAt:  {entry.updated_at or '-'}")
    if entry.prevent_destroy:
        click.echo("prevent destroy: true")
    click.echo("spec (last applied):")
    click.echo(json.dumps(_masked_spec(entry, profile_path), indent=2, ensure_ascii=False))
    return 0


@state_group.command("rm")
@click.argument("addresses", nargs=-1, required=True)
@_state_option
def rm(addresses: tuple[str, ...], state_path: str, lock_timeout: str) -> int:
    """Forget KIND/KEY entries: declsync stops managing them; nothing is deleted from the API."""
    keys = [_address(a) for a in addresses]
    backend = open_backend(state_path)
    with backend.locked(operation="state rm", lock_timeout=parse_lock_timeout(lock_timeout)) as session:
        session.lock(set(keys))
        missing = [f"{k}/{n}" for k, n in keys if session.state.get(k, n) is None]
        if missing:
            raise StateError(f"not in state {backend.description}: {', '.join(missing)}; nothing was removed")
        for kind, key in keys:
            session.state.remove(kind, key)
        session.save()
    click.echo(f"Removed {len(keys)} entr{'y' if len(keys) == 1 else 'ies'} from {backend.description} "
               "(the resources themselves were not touched).")
    return 0


@state_group.command("mv")
@click.argument("source")
@click.argument("destination")
@_state_option
def mv(source: str, destination: str, state_path: str, lock_timeout: str) -> int:
    """Rename an entry, KIND/OLD → KIND/NEW (after changing a manifest's key by hand)."""
    old, new = _address(source), _address(destination)
    if old[0] != new[0]:
        raise ConfigError(f"state mv keeps the kind: {source} → {destination} changes it")
    backend = open_backend(state_path)
    with backend.locked(operation="state mv", lock_timeout=parse_lock_timeout(lock_timeout)) as session:
        session.lock({old, new})
        entry = session.state.get(*old)
        if entry is None:
            raise StateError(f"{source} is not in state {backend.description}; nothing was moved")
        if session.state.get(*new) is not None:
            raise StateError(f"{destination} is already in state {backend.description}; nothing was moved")
        session.state.remove(*old)
        session.state.put(dataclasses.replace(entry, key=new[1]))
        session.save()
    click.echo(f"Moved {source} to {destination} in {backend.description}.")
    return 0


@state_group.command("migrate")
@click.option("--from", "source", required=True, help="The state to copy (file path or postgresql://…).")
@click.option("--to", "destination", required=True, help="Where to copy it (file path or postgresql://…).")
@click.option("--force", is_flag=True, help="Replace a destination that already has entries.")
@verbose_option
def migrate(source: str, destination: str, force: bool) -> int:
    """Copy a whole state (entries, serial, lineage) to another backend, e.g. file → PostgreSQL."""
    src, dst = open_backend(source), open_backend(destination)
    # Under the source's lock: no apply changes it while it is copied.
    with src.locked(operation="state migrate") as session:
        keys = {(e.kind, e.key) for e in session.state.entries()}
        session.lock(keys)
        copy = State(serial=session.state.serial, lineage=session.state.lineage)
        for entry in session.state.entries():
            copy.put(entry)
        if not copy.lineage:
            raise DeclsyncError(f"state {src.description} was never saved; nothing to migrate")
        dst.import_state(copy, force=force)
    n = len(copy)
    click.echo(f"Migrated {n} entr{'y' if n == 1 else 'ies'} (serial {copy.serial}, lineage {copy.lineage}) "
               f"from {src.description} to {dst.description}.")
    return 0
