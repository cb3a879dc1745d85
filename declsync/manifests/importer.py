"""``declsync import``: live resources → manifests (and last-applied state entries).

A live resource becomes a manifest holding only the profile's writable fields, in
profile order, nulls omitted and server defaults kept; references are written
``{key: …}`` when the referenced resource has a client key (else ``{id: …}``), and
id fields with ``refKind`` (``Location.customerId``) as ``{$ref: Kind/KEY}`` when
the resource they point at has a key. Date-times stay the server's strings. So a
plan right after an import shows no changes for the imported resources.

The state entry records the spec as written, with ``{$ref}`` ids resolved, exactly
as apply would have recorded it.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, Protocol

import yaml

from declsync import scrub
from declsync.errors import ConfigError
from declsync.normalize import utc_now
from declsync.planning.prune import canonical_source
from declsync.profile.model import FieldSpec, KindSpec, Profile, validate_body
from declsync.profile.types import OMIT, field_type, import_value, map_children
from declsync.state import State, StateEntry

__all__ = ["Imported", "check_overwrite", "convert", "fetch_live_resources", "import_resources", "plan_files", "render_file", "write_files"]

Per = Literal["resource", "kind"]


class _Reader(Protocol):
    def fetch_by_keys(self, kind: KindSpec, keys: Sequence[str]) -> dict[str, dict[str, Any]]: ...

    def iter_all(self, kind: KindSpec, *, with_key_only: bool = True) -> Iterator[dict[str, Any]]: ...

    def get(self, kind: KindSpec, ref: str) -> dict[str, Any] | None: ...


@dataclass(frozen=True)
class Imported:
    kind: str
    key: str
    id: str
    # As written to the manifest ({$ref: Kind/KEY} for refKind fields).
    spec: dict[str, Any]
    # As recorded in the state: {$ref} resolved to the id, as apply records it.
    state_spec: dict[str, Any]
    updated_at: str | None


class _Flow(dict[str, Any]):
    """A small mapping written on one line: ``{key: CUST-ACME}``."""


class _Dumper(yaml.SafeDumper):
    pass


def _represent_flow(dumper: yaml.SafeDumper, data: _Flow) -> yaml.Node:
    return dumper.represent_mapping("tag:yaml.org,2002:map", data, flow_style=True)


_Dumper.add_representer(_Flow, _represent_flow)


def convert(
    live: Mapping[str, Any], kind: KindSpec, lookup_key: Callable[[str, str], str | None]
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The manifest spec and the state spec of one live resource."""
    spec: dict[str, Any] = {}
    state: dict[str, Any] = {}
    for name, fspec in kind.fields.items():
        if name in kind.read_only:
            continue
        m, s = import_value(fspec, live.get(name), lookup_key)
        # An object whose fields are all null says nothing worth managing.
        if m is OMIT or (field_type(fspec).merges and m == {}):
            continue
        spec[name], state[name] = m, s
    return spec, state


def fetch_live_resources(client: _Reader, kind: KindSpec, keys: Sequence[str], all_: bool) -> list[dict[str, Any]]:
    """The live resources to import: by key (all must exist, in the order given), or every
    keyed one (sorted by key, so that repeated imports write the same files)."""
    if all_:
        keyed = [r for r in client.iter_all(kind) if isinstance(r.get("key"), str) and r["key"]]
        return sorted(keyed, key=lambda r: str(r["key"]))
    found = client.fetch_by_keys(kind, keys)
    missing = [k for k in dict.fromkeys(keys) if k not in found]
    if missing:
        raise ConfigError(f"not found in the API: {', '.join(f'{kind.name}/{k}' for k in missing)}; nothing was imported")
    return [found[k] for k in dict.fromkeys(keys)]


def import_resources(client: _Reader, kind: KindSpec, profile: Profile, live: Sequence[Mapping[str, Any]]) -> list[Imported]:
    """Convert live resources; refuse (all problems at once) any the manifest validator would reject."""
    cache: dict[tuple[str, str], str | None] = {}

    def lookup_key(kind_name: str, ident: str) -> str | None:
        if (kind_name, ident) not in cache:
            target = client.get(profile.kinds[kind_name], ident)
            key = (target or {}).get("key")
            cache[(kind_name, ident)] = key if isinstance(key, str) and key else None
        return cache[(kind_name, ident)]

    out: list[Imported] = []
    problems: list[str] = []
    for resource in live:
        key = str(resource["key"])
        spec, state_spec = convert(resource, kind, lookup_key)
        for v in validate_body(kind, spec, "manifest"):
            problems.append(f"{kind.name}/{key}: {v.field}: {v.message}")
        if scrub.DEFAULT.contains_secret([key, spec]):
            # Manifests get committed and reviewed: a credential must not land in one.
            problems.append(f"{kind.name}/{key}: its live values hold the API token or client secret; "
                            "remove it in the API first")
        ident = resource.get("id")
        updated = resource.get("updatedAt")
        out.append(Imported(kind.name, key, str(ident), spec, state_spec, updated if isinstance(updated, str) else None))
    if problems:
        raise ConfigError("cannot import (the live values do not make a valid manifest):\n  " + "\n  ".join(problems))
    return out


_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def _file_name(key: str) -> str:
    safe = _UNSAFE.sub("_", key).strip("._-")[:80]
    if safe != key:
        safe = f"{safe or 'key'}-{hashlib.sha1(key.encode()).hexdigest()[:8]}"
    return f"{safe}.yaml"


def plan_files(items: Sequence[Imported], kind: KindSpec, out_dir: Path, per: Per) -> dict[Path, list[Imported]]:
    """Which file each imported resource goes to: ``OUT/<path>/<KEY>.yaml`` or ``OUT/<path>.yaml``."""
    if per == "kind":
        return {out_dir / f"{kind.path}.yaml": list(items)} if items else {}
    files: dict[Path, list[Imported]] = {}
    taken: set[str] = set()
    for item in items:
        path = out_dir / kind.path / _file_name(item.key)
        if str(path).lower() in taken:  # two keys that differ only in case or unsafe characters
            path = path.with_name(f"{path.stem}-{hashlib.sha1(item.key.encode()).hexdigest()[:8]}.yaml")
        taken.add(str(path).lower())
        files[path] = [item]
    return files


def _flowify(value: Any, spec: FieldSpec | None) -> Any:
    """Reference objects and ``{$ref}`` markers as one-line YAML mappings."""
    if spec is None or not isinstance(value, dict | list):
        return value
    if isinstance(value, dict) and (field_type(spec).is_reference or spec.ref_kind):
        return _Flow(value)
    return map_children(spec, value, lambda sub, v: _flowify(v, sub))


def render_file(items: Sequence[Imported], kind: KindSpec, target: str) -> tuple[str, list[int]]:
    """The YAML text of one manifest file and the line where each document starts."""
    stamp = utc_now()
    lines = [f"# Imported by `declsync import` from {target} at {stamp}.\n"]
    starts: list[int] = []
    line_no = 2
    for i, item in enumerate(items):
        if i:
            lines.append("---\n")
            line_no += 1
        spec = {k: _flowify(v, kind.fields.get(k)) for k, v in item.spec.items()}
        doc = {"kind": item.kind, "key": item.key, "spec": spec}
        text = yaml.dump(doc, Dumper=_Dumper, sort_keys=False, allow_unicode=True, default_flow_style=False, width=100)
        starts.append(line_no)
        lines.append(text)
        line_no += text.count("\n")
    return "".join(lines), starts


def check_overwrite(files: Mapping[Path, object], *, force: bool) -> None:
    """Refuse, before anything is written, to overwrite existing files unless ``force``."""
    existing = [p for p in files if p.exists()]
    if existing and not force:
        raise ConfigError(f"refusing to overwrite {', '.join(str(p) for p in existing)} (use --force); "
                          "nothing was imported")


def write_files(
    files: Mapping[Path, Sequence[Imported]], kind: KindSpec, target: str, *, force: bool, state: State
) -> list[Path]:
    """Write every file (refusing to overwrite any unless ``force``) and record each
    resource in ``state`` with its written spec as last-applied."""
    check_overwrite(files, force=force)
    now = utc_now()
    for path, items in files.items():
        text, starts = render_file(items, kind, target)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        for item, line in zip(items, starts, strict=True):
            state.put(StateEntry(kind=item.kind, key=item.key, id=item.id, spec=item.state_spec,
                                 updated_at=item.updated_at, applied_at=now, source=canonical_source(f"{path}:{line}")))
    return list(files)
