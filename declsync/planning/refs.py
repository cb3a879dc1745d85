"""References between resources, and the dependency order they impose.

Two styles, both driven by the profile:

* ``reference`` fields (``customer: {key: CUST-1}``) are sent as written; the API
  resolves them. The referenced resource must exist before the referring one is
  written, so it is a dependency.
* string fields with ``refKind`` hold another resource's server id; a manifest
  writes ``customerId: {$ref: Customer/CUST-1}`` and declsync substitutes the id
  (at plan time when the target exists, at apply time when the plan creates it).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from declsync.profile.model import FieldSpec, KindSpec, Profile, is_ref_marker
from declsync.profile.types import field_type, ref_members

__all__ = ["Ref", "find_cycle", "find_refs", "substitute_refs", "topological_levels"]

PathT = tuple[str | int, ...]


@dataclass(frozen=True)
class Ref:
    path: PathT
    kind: str
    key: str
    # "id": a {$ref} to be replaced by the target's id; "key": a {key: …} reference object.
    style: str

    @property
    def address(self) -> str:
        return f"{self.kind}/{self.key}"


def find_refs(spec: Mapping[str, Any], kind: KindSpec, profile: Profile) -> list[Ref]:
    """Every reference in a (validated) manifest spec to a kind of ``profile``."""
    out: list[Ref] = []

    def walk(value: Any, fspec: FieldSpec | None, path: PathT) -> None:
        if fspec is None or value is None:
            return
        ftype = field_type(fspec)
        if fspec.ref_kind and is_ref_marker(value):
            target_kind, _, target_key = str(value["$ref"]).partition("/")
            out.append(Ref(path, target_kind, target_key, "id"))
        elif ftype.is_reference and isinstance(value, Mapping):
            if fspec.kind in profile.kinds and isinstance(value.get("key"), str):
                out.append(Ref(path, str(fspec.kind), value["key"], "key"))
        elif ftype.merges and isinstance(value, Mapping):
            # Only the members that may hold a reference (most of an Order's fields cannot).
            members = ref_members(fspec)
            for k, v in value.items():  # in the manifest's order, as the plan lists dependencies
                if k in members:
                    walk(v, fspec.fields[k], (*path, k))
        elif isinstance(value, list):
            for part, v, sub in ftype.children(fspec, value):
                walk(v, sub, (*path, part))

    for name in kind.ref_fields:
        if name in spec:
            walk(spec[name], kind.fields[name], (name,))
    return out


def substitute_refs(value: Any, resolve: Callable[[str], str | None]) -> Any:
    """``value`` with every ``{$ref: Kind/KEY}`` replaced by ``resolve("Kind/KEY")``
    when that returns an id; unresolved markers are kept as they are."""
    if is_ref_marker(value):
        resolved = resolve(str(value["$ref"]))
        return resolved if resolved is not None else dict(value)
    if type(value) is dict:
        return {k: substitute_refs(v, resolve) for k, v in value.items()}
    if type(value) is list:
        return [substitute_refs(v, resolve) for v in value]
    return value


def has_ref_marker(value: Any) -> bool:
    if is_ref_marker(value):
        return True
    if type(value) is dict:
        return any(has_ref_marker(v) for v in value.values())
    if type(value) is list:
        return any(has_ref_marker(v) for v in value)
    return False


def find_cycle(graph: Mapping[str, Sequence[str]]) -> list[str] | None:
    """One dependency cycle (``[a, b, a]``) in ``graph`` (node → nodes it needs), or None."""
    WHITE, GREY, BLACK = 0, 1, 2
    colour: dict[str, int] = dict.fromkeys(graph, WHITE)
    for start in graph:
        if colour[start] != WHITE:
            continue
        # Iterative DFS: a recursive one would overflow on long reference chains.
        stack: list[tuple[str, Iterator[str]]] = [(start, iter(graph[start]))]
        path = [start]
        colour[start] = GREY
        while stack:
            node, children = stack[-1]
            for child in children:
                if child not in colour:
                    continue
                if colour[child] == GREY:
                    return [*path[path.index(child):], child]
                if colour[child] == WHITE:
                    colour[child] = GREY
                    path.append(child)
                    stack.append((child, iter(graph[child])))
                    break
            else:
                colour[node] = BLACK
                path.pop()
                stack.pop()
    return None


def topological_levels(nodes: Iterable[str], graph: Mapping[str, Sequence[str]]) -> list[list[str]]:
    """Nodes grouped in levels: every node comes after all the nodes it needs
    (edges to nodes outside ``nodes`` are ignored). Assumes no cycle."""
    wanted = list(dict.fromkeys(nodes))
    members = set(wanted)
    indegree = {n: 0 for n in wanted}
    dependents: dict[str, list[str]] = {n: [] for n in wanted}
    for n in wanted:
        for dep in dict.fromkeys(graph.get(n, ())):
            if dep in members and dep != n:
                indegree[n] += 1
                dependents[dep].append(n)
    level = [n for n in wanted if indegree[n] == 0]
    out: list[list[str]] = []
    while level:
        out.append(level)
        nxt: list[str] = []
        for n in level:
            for d in dependents[n]:
                indegree[d] -= 1
                if indegree[d] == 0:
                    nxt.append(d)
        level = nxt
    return out
