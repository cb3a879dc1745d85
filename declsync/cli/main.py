"""The command line: the only place that catches ``DeclsyncError``.

Exit codes follow Terraform: 0 success (or no changes), 1 error, 2 changes present
(only with ``--detailed-exitcode``). Usage errors exit 1, so 2 always means
"changes". Results go to stdout; progress, notices and errors to stderr.

The commands live beside this module (``workflow_commands``, ``admin_commands``,
``init_command``); this one assembles them in the order a user runs them and maps
every outcome to an exit code.
"""

from __future__ import annotations

import gc
import io
import os
import sys
import traceback
from collections.abc import Callable, Sequence
from typing import Any

import click

from declsync import __version__
from declsync.cli.admin_commands import force_unlock, import_, merge_recovery, profile_group, schema
from declsync.cli.init_command import init
from declsync.cli.output import err as _err
from declsync.cli.output import err_lines as _err_lines
from declsync.cli.workflow_commands import apply, plan, show, validate
from declsync.errors import DeclsyncError, MassDeleteError, PlanFileError
from declsync.execution.interrupt import interrupts_raise
from declsync.sandbox.cli import sandbox_group
from declsync.scrub import register_secret
from declsync.state.commands import state_group

__all__ = ["cli", "main"]


class _WorkflowOrder(click.Group):
    """``--help`` lists commands in the order they were added (workflow order), not A–Z."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(self.commands)


@click.group(cls=_WorkflowOrder,
             context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100,
                               "show_default": True})
@click.version_option(__version__, prog_name="declsync")
@click.option("-v", "--verbose", is_flag=True, help="More detail on errors (also accepted after the command).")
@click.option("--no-cache", is_flag=True, envvar="DECLSYNC_NO_CACHE", show_envvar=True,
              help="Parse every manifest (and compile --profile) again, ignoring the cache (.declsync/cache/, "
                   "safe to delete).")
@click.pass_context
def cli(ctx: click.Context, verbose: bool, no_cache: bool) -> None:
    """declsync: declarative YAML manifests for the MVMNT API — plan, review, apply.

    \b
    Typical use:
      declsync init            scaffold manifests/, declsync.yaml, a CI workflow
      declsync validate        check manifests offline
      declsync plan --out p    show and save what would change
      declsync apply p         apply exactly that plan

    Shell completion (bash, zsh, fish): eval "$(_DECLSYNC_COMPLETE=bash_source declsync)".
    """
    ctx.obj = {**(ctx.obj or {}), "verbose": verbose or bool(ctx.obj and ctx.obj.get("verbose")),
               "no_cache": no_cache}


for _command in (init, validate, plan, apply, show, import_, state_group, schema, profile_group, sandbox_group,
                 force_unlock, merge_recovery):
    cli.add_command(_command, _command.name)


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


# The cyclic garbage collector's default (a young collection every 700 allocations, a full
# one as the heap grows) scans the hundreds of thousands of acyclic dicts a large plan holds
# over and over: 23 % of a 10,000-resource plan's CPU, more at 100,000. A command is a
# short-lived process whose data is freed by reference counting; the collector still runs,
# 140 times less often (worker processes inherit it). The library leaves the host's settings.
GC_THRESHOLDS = (100_000, 50, 50)


def main(argv: Sequence[str] | None = None) -> None:
    """Entry point: run the CLI and map every outcome to an exit code."""
    gc.set_threshold(*GC_THRESHOLDS)
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
