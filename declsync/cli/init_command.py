"""``declsync init``: a working directory a new user can plan at once — manifests/ with one
example per kind named, declsync.yaml, .gitignore entries for .declsync/, a CI workflow."""

from __future__ import annotations

from collections.abc import Callable
from importlib import resources
from pathlib import Path
from typing import Any

import click
import yaml

from declsync.cli import options as opt
from declsync.errors import ConfigError
from declsync.profile.model import FieldSpec, KindSpec

__all__ = ["init"]

CONFIG = """\
# declsync settings for this directory (see the README, "Configuration").
# Delete resources whose manifests were removed (declsync apply --prune):
prune: false
# --prune refuses to delete more than this fraction of the managed resources at once:
maxDeleteFraction: 0.5
"""
GITIGNORE_LINES = (".declsync/",)
WORKFLOW = Path(".github") / "workflows" / "declsync.yml"

# A placeholder per field type: valid to validate, obviously to be replaced.
_SAMPLES: dict[str, Callable[[FieldSpec], Any]] = {
    "enum": lambda f: f.values[0] if f.values else "CHANGE-ME",
    "boolean": lambda f: False,
    "number": lambda f: 0,
    "integer": lambda f: 0,
    "array": lambda f: [],
    "object": lambda f: {},
    "datetime": lambda f: "2030-01-01T00:00:00Z",
    "reference": lambda f: {"key": "CHANGE-ME"},
}


def _sample(spec: FieldSpec) -> Any:
    if spec.ref_kind:
        return {"$ref": f"{spec.ref_kind}/CHANGE-ME"}
    make = _SAMPLES.get(spec.type)
    return make(spec) if make is not None else "CHANGE-ME"


def example_manifest(kind: KindSpec) -> str:
    """One resource of ``kind`` with its required fields set to placeholders."""
    spec = {name: _sample(f) for name, f in kind.fields.items() if f.required and name != "key"}
    doc = {"kind": kind.name, "key": f"{kind.name.upper()}-EXAMPLE", "spec": spec}
    head = (f"# An example {kind.name}: replace the CHANGE-ME values, add fields "
            f"(`declsync profile show {kind.name}` lists them), then `declsync plan`.\n")
    return head + yaml.safe_dump(doc, sort_keys=False, allow_unicode=True)


def _write(path: Path, text: str, written: list[str]) -> None:
    if path.exists():
        click.echo(f"  kept     {path} (exists)")
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    written.append(str(path))
    click.echo(f"  created  {path}")


def _gitignore(path: Path) -> None:
    lines = path.read_text(encoding="utf-8").splitlines() if path.exists() else []
    missing = [line for line in GITIGNORE_LINES if line not in lines]
    if missing:
        with path.open("a", encoding="utf-8") as fh:
            if lines and not path.read_text(encoding="utf-8").endswith("\n"):
                fh.write("\n")
            fh.write("".join(f"{line}\n" for line in missing))
        click.echo(f"  updated  {path} (+ {', '.join(missing)})")


@click.command()
@click.argument("directory", type=click.Path(file_okay=False), default=".")
@click.option("--kind", "kinds", multiple=True, metavar="KIND",
              help="Write an example manifest for KIND (repeatable; unset: every kind of the profile).")
@click.option("--ci", type=click.Choice(["github", "none"]), default="github",
              help="CI workflow to add (GitHub Actions: plan on pull requests, apply on main).")
@opt.profile_option
@opt.verbose_option
def init(directory: str, kinds: tuple[str, ...], ci: str, profile_path: str | None) -> int:
    """Scaffold a working directory: manifests/, declsync.yaml, .gitignore, a CI workflow.

    Existing files are kept, never overwritten."""
    profile = opt.load_profile(profile_path)
    chosen = [profile.kind(k) for k in kinds] if kinds else list(profile.kinds.values())
    root = Path(directory)
    if root.exists() and not root.is_dir():
        raise ConfigError(f"{directory} is not a directory")
    written: list[str] = []
    click.echo(f"Initialising {root}:")
    for kind in chosen:
        _write(root / "manifests" / f"{kind.name.lower()}.yaml", example_manifest(kind), written)
    _write(root / "declsync.yaml", CONFIG, written)
    _gitignore(root / ".gitignore")
    if ci == "github":
        template = resources.files("declsync.cli").joinpath("templates/github-actions.yml").read_text("utf-8")
        _write(root / WORKFLOW, template, written)
    where = "" if directory == "." else f"cd {directory} && "
    click.echo(f"Next: {where}declsync validate && declsync plan  (no DECLSYNC_API_URL: the embedded sandbox)")
    return 0
