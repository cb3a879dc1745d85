"""The two option helpers every command group uses, apart from ``declsync.cli.options``
(which imports the planning and state modules): ``declsync state`` and ``declsync sandbox``
build their options with these too, without importing the workflow they do not run."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import click

__all__ = ["env_option", "verbose_option"]

F = TypeVar("F", bound=Callable[..., Any])


def env_option(*decls: str, envvar: str, **kw: Any) -> Callable[[F], F]:
    """``click.option`` reading ``envvar``, named in the help."""
    return click.option(*decls, envvar=envvar, show_envvar=True, **kw)


def verbose_option(f: F) -> F:
    """-v after the subcommand too (``declsync plan -v``): it sets the same flag as before it."""

    def remember(ctx: click.Context, _param: click.Parameter, value: bool) -> bool:
        if value:
            root = ctx.find_root()
            root.obj = {**(root.obj or {}), "verbose": True}
        return value

    return click.option("-v", "--verbose", is_flag=True, expose_value=False, callback=remember,
                        show_default=False, help="More detail on errors.")(f)
