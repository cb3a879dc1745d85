"""The package layout (issue 12 §3): no two modules import each other, directly or around
a loop, at load time or for type checking. A cycle makes the import order decide what
works (a name read before its module finished loading) and ties stages together (the
manifest loader once imported the planning stage, which imported it back)."""

from __future__ import annotations

import ast
from pathlib import Path

import declsync

ROOT = Path(declsync.__file__).parent


def module_names() -> dict[str, Path]:
    out = {}
    for path in ROOT.rglob("*.py"):
        parts = path.relative_to(ROOT.parent).with_suffix("").parts
        out[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return out


def imports_of(path: Path, modules: dict[str, Path]) -> set[str]:
    """The declsync modules ``path`` imports at module level, including under ``TYPE_CHECKING``
    (functions' own imports are left out: they run after loading). The ``declsync`` package
    itself is left out: it is the library's face, and only re-exports."""
    found: set[str] = set()

    def visit(nodes: list[ast.stmt]) -> None:
        for node in nodes:
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                for alias in node.names:
                    name = f"{node.module}.{alias.name}"
                    found.add(name if name in modules else node.module)
            elif isinstance(node, ast.Import):
                found.update(alias.name for alias in node.names)
            elif isinstance(node, ast.If | ast.Try):
                visit(node.body)
                visit(node.orelse)
                for handler in getattr(node, "handlers", []):
                    visit(handler.body)

    visit(ast.parse(path.read_text(encoding="utf-8")).body)
    return {name for name in found if name in modules and name != "declsync"}


def test_no_import_cycles() -> None:
    modules = module_names()
    graph = {name: imports_of(path, modules) for name, path in modules.items()}
    cycles: list[list[str]] = []

    def walk(name: str, trail: list[str], done: set[str]) -> None:
        for dep in sorted(graph[name]):
            if dep in trail:
                cycles.append([*trail[trail.index(dep):], dep])
            elif dep not in done:
                walk(dep, [*trail, dep], done)
        done.add(name)

    done: set[str] = set()
    for name in sorted(graph):
        if name not in done:
            walk(name, [name], done)
    assert not cycles, "\n".join(" → ".join(c) for c in cycles)
