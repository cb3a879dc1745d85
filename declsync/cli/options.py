"""Options shared by several commands, and the objects built from them.

Every option that reads an environment variable shows it in ``--help`` (``show_envvar``),
and every default is shown (the group sets ``show_default``), so help answers "where does
this value come from" without reading the README.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import click

from declsync import workflow
from declsync.cli.flags import env_option as env_option  # re-exported: the helpers every command uses
from declsync.cli.flags import verbose_option as verbose_option
from declsync.cli.output import err
from declsync.planning.prune import DEFAULT_MAX_DELETE_FRACTION, PruneOptions
from declsync.planning.selection import Selection
from declsync.profile.compiled import ProfileCache
from declsync.profile.model import Profile
from declsync.profile.model import load_profile as _load_profile
from declsync.remote.client import DEFAULT_DEADLINE, DEFAULT_REQUEST_TIMEOUT
from declsync.remote.target import Settings
from declsync.render.markdown import DEFAULT_MAX_CHARS, MIN_MAX_CHARS
from declsync.state import DEFAULT_PATH as DEFAULT_STATE

F = TypeVar("F", bound=Callable[..., Any])
PLAN_FORMATS = ("text", "json", "markdown", "github")


def profile_option(f: F) -> F:
    return env_option("--profile", "profile_path", envvar="DECLSYNC_PROFILE", type=click.Path(),
                      help="Resource profile file, OpenAPI document or directory of them "
                           "(unset: the bundled MVMNT profile).")(f)


def load_profile(profile_path: str | None) -> Profile:
    """The profile ``--profile`` names, through the compiled-profile cache unless ``--no-cache``
    (its notes shown under -v). The bundled profile needs no cache: it ships precompiled."""
    obj = click.get_current_context().find_root().obj or {}
    cache = None if obj.get("no_cache") or profile_path is None else ProfileCache()
    try:
        return _load_profile(profile_path, cache=cache)
    finally:
        if cache is not None and obj.get("verbose"):
            for note in cache.notes:
                err(note)


def state_option(f: F) -> F:
    return env_option("--state", "state_path", envvar="DECLSYNC_STATE", type=click.Path(dir_okay=False),
                      default=str(DEFAULT_STATE),
                      help="State: a file, or postgresql://user@host:port/db?workspace=NAME.")(f)


def target_options(f: F) -> F:
    """Options shared by every command that talks to the API."""
    options = [
        env_option("--api-url", envvar="DECLSYNC_API_URL",
                   help="API base URL incl. /v1 (unset: the embedded sandbox)."),
        env_option("--token", envvar="DECLSYNC_TOKEN", help="Bearer token (prefer the environment variable)."),
        env_option("--client-id", envvar="DECLSYNC_CLIENT_ID", help="OAuth2 client id (client credentials)."),
        env_option("--client-secret", envvar="DECLSYNC_CLIENT_SECRET",
                   help="OAuth2 client secret (use the env var)."),
        env_option("--token-url", envvar="DECLSYNC_TOKEN_URL",
                   help="OAuth2 token URL (unset: {origin}/oauth2/token)."),
        state_option,
        click.option("--parallelism", type=click.IntRange(1, 256), default=16, help="Concurrent API requests."),
        click.option("--insecure-http", is_flag=True, help="Allow plain http:// to a non-loopback host."),
        env_option("--request-timeout", envvar="DECLSYNC_REQUEST_TIMEOUT",
                   type=click.FloatRange(min=0, min_open=True), default=DEFAULT_REQUEST_TIMEOUT, metavar="SECONDS",
                   help="Longest one HTTP request may take, headers and body (a slow server is refused)."),
        env_option("--deadline", envvar="DECLSYNC_DEADLINE", type=click.FloatRange(min=0), default=DEFAULT_DEADLINE,
                   metavar="SECONDS",
                   help="Longest all API requests of the command may take (apply: after the prompt); 0: none."),
        profile_option,
        verbose_option,
    ]
    for option in reversed(options):
        f = option(f)
    return f


def lock_option(f: F) -> F:
    return click.option("--lock-timeout", default="0", metavar="DURATION",
                        help="Wait this long for a state lock another command holds (e.g. 30s, 2m); "
                             "0 fails at once.")(f)


def output_options(f: F) -> F:
    f = click.option("--max-chars", type=click.IntRange(MIN_MAX_CHARS), default=DEFAULT_MAX_CHARS,
                     help="--format markdown: longest output; detail is collapsed to fit (GitHub comments: 65,535).")(f)
    f = click.option("--compact", is_flag=True, help="Text: one line per changed resource.")(f)
    f = click.option("--no-color", is_flag=True, help="Never colour the output (NO_COLOR is honoured too).")(f)
    f = click.option("--format", "fmt", type=click.Choice(PLAN_FORMATS), default="text",
                     help="Plan output format (markdown: pull-request comments; github: workflow commands "
                          "that annotate the diff).")(f)
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


def selection(kw: dict[str, Any]) -> Selection:
    return Selection(targets=tuple(kw.pop("select_targets", ())), excludes=tuple(kw.pop("select_excludes", ())),
                     kinds=tuple(kw.pop("select_kinds", ())))


def replace_option(f: F) -> F:
    """--replace KIND/KEY: delete and recreate a resource (to change what only a create sets)."""
    return click.option("--replace", "replace", multiple=True, metavar="KIND/KEY",
                        help="Delete and create this resource again, e.g. to change a create-only field "
                             "(repeatable; like Terraform's -replace).")(f)


def prune_options(f: F) -> F:
    """--prune and its safety limits (``prune``/``maxDeleteFraction`` may also come from declsync.yaml)."""
    f = click.option("--max-delete-fraction", type=click.FloatRange(0, 1), default=None, metavar="F",
                     help=f"--prune deletes at most this fraction of the managed resources without "
                          f"--allow-mass-delete (unset: {DEFAULT_MAX_DELETE_FRACTION}).")(f)
    f = click.option("--allow-mass-delete", is_flag=True,
                     help="Let --prune delete more than --max-delete-fraction of the managed resources.")(f)
    f = click.option("--prune/--no-prune", "prune", default=None, show_default=False,
                     help="Delete resources declsync manages whose manifests were removed (default: off, or "
                          "'prune: true' in declsync.yaml).")(f)
    return f


def prune(kw: dict[str, Any]) -> PruneOptions:
    return workflow.prune_options(kw.pop("prune"), kw.pop("allow_mass_delete"), kw.pop("max_delete_fraction"))


def settings(kw: dict[str, Any]) -> Settings:
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
