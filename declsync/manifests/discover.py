"""Which files are manifests: ``*.yaml``/``*.yml`` under the given paths."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from declsync.errors import Problem

__all__ = ["CONFIG_FILE_NAMES", "discover"]

# The optional settings file of a working directory (``declsync.config``); never read as a manifest.
CONFIG_FILE_NAMES = ("declsync.yaml", "declsync.yml")


def discover(paths: Sequence[str | Path], problems: list[Problem]) -> list[tuple[Path, str]]:
    """``*.yaml``/``*.yml`` files under ``paths`` (recursively, sorted, symlinked
    directories not followed so loops are impossible), with their display names."""
    found: list[tuple[Path, str]] = []
    seen: set[Path] = set()

    def add(p: Path) -> None:
        try:
            real = p.resolve()
        except (OSError, RuntimeError):  # a symlink loop (RuntimeError before Python 3.13)
            real = p.absolute()  # parse_file reports it
        if real not in seen:
            seen.add(real)
            found.append((p, str(p)))

    for raw in paths:
        p = Path(raw)
        if p.is_file():
            if p.suffix.lower() not in (".yaml", ".yml"):
                problems.append(Problem(str(p), 1, "not a manifest: expected a .yaml or .yml file"))
            else:
                add(p)
        elif p.is_dir():
            for root, dirs, files in os.walk(p, followlinks=False):
                dirs[:] = sorted(d for d in dirs if not d.startswith("."))
                for name in sorted(files):
                    if not name.lower().endswith((".yaml", ".yml")) or name.startswith("."):
                        continue
                    if name in CONFIG_FILE_NAMES and Path(root).resolve() == Path.cwd().resolve():
                        continue  # the working directory's settings file, not a manifest
                    add(Path(root) / name)
        else:
            problems.append(Problem(str(p), 0, "no such file or directory"))
    return found
