"""Help that answers "where does this value come from" for every command (issue 15 §5, H5):
each option read from an environment variable names it in --help, each default is shown,
and every command — the state, sandbox and profile groups too — takes -v/--verbose."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import click
import pytest
from helpers import run

from declsync.cli.main import cli


def commands(group: click.Group = cli, path: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], click.Command]]:
    yield path, group
    for name, command in group.commands.items():
        if isinstance(command, click.Group):
            yield from commands(command, (*path, name))
        else:
            yield (*path, name), command


ALL = list(commands())


def _words(text: str) -> str:
    return " ".join(text.split())


@pytest.mark.parametrize(("path", "command"), ALL, ids=[" ".join(p) or "declsync" for p, _ in ALL])
def test_help_names_every_env_var_and_default_and_takes_verbose(path: tuple[str, ...], command: click.Command) -> None:
    shown = run([*path, "--help"])
    assert shown.code == 0, shown.all
    help_text = _words(shown.out)
    options = [p for p in command.params if isinstance(p, click.Option)]
    assert any("--verbose" in o.opts and "-v" in o.opts for o in options), f"{' '.join(path)}: no -v/--verbose"
    for option in options:
        envvars = [option.envvar] if isinstance(option.envvar, str) else list(option.envvar or ())
        for var in envvars:
            assert f"env var: {var}" in help_text, f"{' '.join(path)} {option.opts[0]}: {var} not in --help"
        ctx = _context(path)
        default = option.get_default(ctx, call=False)
        # Nothing to show when unset (its help says what unset means; click's sentinel is not public).
        if option.is_flag or option.show_default is False or default in (None, (), []) or \
                type(default).__name__ == "Sentinel":
            continue
        record = option.get_help_record(ctx)
        assert record is not None and "default:" in record[1], f"{' '.join(path)} {option.opts[0]}: no default shown"
        assert _words(record[1]) in help_text  # as printed


def _context(path: tuple[str, ...]) -> click.Context:
    """The context chain --help runs in (``show_default`` is inherited from the root)."""
    ctx = click.Context(cli, info_name="declsync", **cli.context_settings)
    group: click.Command = cli
    for name in path:
        assert isinstance(group, click.Group)
        group = group.commands[name]
        ctx = click.Context(group, parent=ctx, info_name=name)
    return ctx

@pytest.mark.parametrize("args", [["state", "list", "-v"], ["state", "-v", "list"], ["sandbox", "reset", "-v"]])
def test_verbose_after_the_state_and_sandbox_commands(args: list[str], tmp_path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert run(args).code == 0


def test_the_readme_command_table_lists_every_command_in_help_order() -> None:
    """The README's command table names each command `declsync --help` lists, first seen in the same order."""
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
    table = readme.split("## Commands", 1)[1].split("\n\n", 3)[2]
    named = [m.group(1) for m in re.finditer(r"^\| `declsync ([a-z-]+)", table, re.MULTILINE)]
    assert list(dict.fromkeys(named)) == list(cli.commands)


def test_the_cli_collects_cyclic_garbage_rarely_and_the_library_leaves_it_alone() -> None:
    """A large plan's CPU went 23 % to the collector at the default thresholds (issue 14)."""
    import gc

    import pytest as _pytest

    import declsync
    from declsync.cli.main import GC_THRESHOLDS, main

    before = gc.get_threshold()
    try:
        gc.set_threshold(700, 10, 10)  # CPython's defaults (an in-process CLI test may have run first)
        assert declsync is not None and gc.get_threshold() == (700, 10, 10)  # the library changes nothing
        with _pytest.raises(SystemExit):
            main(["--version"])
        assert gc.get_threshold() == GC_THRESHOLDS
        assert GC_THRESHOLDS[0] >= 50 * 700
    finally:
        gc.set_threshold(*before)
