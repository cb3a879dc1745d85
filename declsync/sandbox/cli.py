"""``declsync sandbox``: serve the sandbox API, seed demo data, wipe data.

Option values are checked here and refused with ``ConfigError`` (exit code 1),
never with a traceback; secrets given as options are never echoed.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import click

from declsync.cli.flags import env_option, verbose_option
from declsync.errors import ConfigError
from declsync.profile.model import Profile, load_profile
from declsync.sandbox.config import SandboxConfig

__all__ = ["DEFAULT_DB", "parse_clients", "parse_duration", "parse_rate_limit", "sandbox_group"]

DEFAULT_DB = Path(".declsync") / "sandbox.sqlite"

_DURATION = re.compile(r"\s*(\d+(?:\.\d*)?|\.\d+)\s*(ms|s|m)?\s*")
_RATE = re.compile(r"\s*(\d+)\s*(?:/\s*(min|m|minute|s|sec|second))?\s*")


def parse_duration(text: str) -> float:
    """Seconds in ``20ms``, ``0.5s``, ``1m`` or a bare number of seconds (``2``)."""
    match = _DURATION.fullmatch(text)
    if not match:
        raise ConfigError(f"invalid duration {text!r}: use e.g. 20ms, 0.5s or 2")
    value = float(match.group(1))
    return value * {"ms": 0.001, "s": 1.0, "m": 60.0, None: 1.0}[match.group(2)]


def parse_rate_limit(text: str) -> int:
    """Requests a minute in ``600``, ``600/min`` or ``10/s``."""
    match = _RATE.fullmatch(text)
    if not match or int(match.group(1)) < 1:
        raise ConfigError(f"invalid rate limit {text!r}: use e.g. 600/min or 10/s")
    per_second = match.group(2) in ("s", "sec", "second")
    return int(match.group(1)) * (60 if per_second else 1)


def parse_clients(values: tuple[str, ...]) -> dict[str, str]:
    clients: dict[str, str] = {}
    for value in values:
        client_id, sep, secret = value.partition(":")
        if not sep or not client_id or not secret:
            # Not echoing the value: it carries a secret.
            raise ConfigError("--client takes ID:SECRET, both non-empty")
        clients[client_id] = secret
    return clients


def _db_path(db: str) -> str:
    if db != ":memory:":
        parent = Path(db).parent
        try:
            parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ConfigError(f"cannot create {parent} for the sandbox database: {exc.strerror}") from None
    return db


def _profile(path: str | None) -> Profile:
    return load_profile(path)


@click.group("sandbox", invoke_without_command=True)
@click.option("--host", default="127.0.0.1", show_default=True, help="Interface to listen on.")
@click.option("--port", type=click.IntRange(0, 65535), default=8080, show_default=True,
              help="Port to listen on (0: any free port).")
@click.option("--db", default=str(DEFAULT_DB), show_default=True, help="SQLite file, or :memory:.")
@env_option("--token", envvar="DECLSYNC_SANDBOX_TOKEN", help="Require this static bearer token.")
@click.option("--client", "clients", multiple=True, metavar="ID:SECRET",
              help="Accept OAuth2 client credentials (repeatable).")
@click.option("--token-ttl", type=click.IntRange(0), default=3600, show_default=True,
              help="Lifetime of issued tokens, seconds.")
@click.option("--rate-limit", metavar="N/min", help="Allow N requests a minute (429 beyond).")
@click.option("--latency", metavar="DURATION", help="Delay every API request, e.g. 20ms.")
@click.option("--fail-rate", type=float, default=0.0, help="Fraction (0..1) of API requests failing with 500/503.")
@click.option("--drop-rate", type=float, default=0.0,
              help="Fraction (0..1) of committed writes whose answer is lost (connection dropped).")
@click.option("--seed", "rng_seed", type=int, help="Random seed for --fail-rate and --drop-rate.")
@click.option("--profile", "profile_path", type=click.Path(),
              help="Resource profile file, OpenAPI document or directory of them (default: the bundled MVMNT profile).")
@verbose_option
@click.pass_context
def sandbox_group(
    ctx: click.Context,
    host: str,
    port: int,
    db: str,
    token: str | None,
    clients: tuple[str, ...],
    token_ttl: int,
    rate_limit: str | None,
    latency: str | None,
    fail_rate: float,
    drop_rate: float,
    rng_seed: int | None,
    profile_path: str | None,
) -> None:
    """Serve a local MVMNT-compatible API backed by SQLite (or seed / reset its data)."""
    if ctx.invoked_subcommand is not None:
        return
    config = SandboxConfig(
        db_path=_db_path(db),
        profile=_profile(profile_path),
        token=token or None,
        clients=parse_clients(clients),
        token_ttl=token_ttl,
        rate_limit=parse_rate_limit(rate_limit) if rate_limit else None,
        latency=parse_duration(latency) if latency else 0.0,
        fail_rate=fail_rate,
        drop_rate=drop_rate,
        seed=rng_seed,
    )
    auth = "token" if config.auth_enabled else "no auth"

    def announce(base_url: str) -> None:
        click.echo(f"Sandbox API at {base_url} (database {db}, {auth}); Ctrl-C stops", err=True)

    # Imported here: uvicorn and starlette load only when a sandbox is served.
    from declsync.sandbox.server import serve_forever

    serve_forever(config, host, port, announce=announce)


def _inherited(ctx: click.Context, name: str, own: Any) -> Any:
    """A subcommand option, falling back to the same option given to ``sandbox``."""
    if own is not None:
        return own
    parent = ctx.parent.params if ctx.parent is not None else {}
    return parent.get(name)


@sandbox_group.command("seed")
@click.option("--db", default=None, help=f"SQLite file (default {DEFAULT_DB}).")
@verbose_option
@click.pass_context
def seed_command(ctx: click.Context, db: str | None) -> None:
    """Load demo data (keys DEMO-…); resources already there are kept."""
    path = _db_path(_inherited(ctx, "db", db) or str(DEFAULT_DB))
    profile = _profile(_inherited(ctx, "profile_path", None))
    from declsync.sandbox.seed import seed_demo
    from declsync.sandbox.store import Store

    store = Store(path)
    try:
        result = seed_demo(store, profile)
    finally:
        store.close()
    click.echo(f"Seeded {path}: {result.created} created, {result.existing} already present.")


@sandbox_group.command("reset")
@click.option("--db", default=None, help=f"SQLite file (default {DEFAULT_DB}).")
@verbose_option
@click.pass_context
def reset_command(ctx: click.Context, db: str | None) -> None:
    """Delete every resource in the sandbox database."""
    path = _inherited(ctx, "db", db) or str(DEFAULT_DB)
    if path != ":memory:" and not Path(path).exists():
        click.echo(f"Nothing to reset: {path} does not exist.")
        return
    from declsync.sandbox.store import Store

    store = Store(path)
    try:
        count = store.count(include_deleted=True)
        store.wipe()
    finally:
        store.close()
    click.echo(f"Reset {path}: {count} resource{'s' if count != 1 else ''} deleted.")
