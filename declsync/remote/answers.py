"""Checks on what an API answered, before the client hands it on: the answer is
for the resource asked for, one key has one live resource, a list has no unread
pages, and every string can be printed and saved (no lone surrogate)."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import httpx

__all__ = ["REF_FIELDS", "Answer", "answers_for", "has_more", "lone_surrogate_at", "shown", "twins"]

# What a ``{path}/{ref}`` reference may be.
REF_FIELDS = ("id", "friendlyId", "key")
# Cheap pre-check: a lone surrogate reaches json.loads only as a \uD8xx-\uDFxx escape or
# as its UTF-8-style bytes (json.loads decodes bytes with 'surrogatepass').
_SURROGATE_HINT = re.compile(rb"\\u[dD][89a-fA-F]|\xed[\xa0-\xbf]")
_SURROGATE = re.compile("[\ud800-\udfff]")


@dataclass(frozen=True)
class Answer:
    """One HTTP answer, fully read."""

    method: str
    path: str
    status: int
    headers: httpx.Headers
    content: bytes


def shown(value: Any) -> str:
    """A server value for a message: quoted, control and surrogate characters escaped."""
    return repr(value)


def answers_for(resource: Mapping[str, Any], ref: str) -> bool:
    """Whether ``resource`` is the one ``{path}/{ref}`` names (by id, friendlyId or key)."""
    return any(isinstance(resource.get(f), str | int) and str(resource[f]) == ref for f in REF_FIELDS)


def has_more(payload: Mapping[str, Any]) -> bool:
    info = payload.get("pageInfo", payload.get("pagination"))
    return isinstance(info, dict) and bool(info.get("hasNextPage"))


def twins(matches: Sequence[Mapping[str, Any]]) -> list[str]:
    """The distinct ids (shown) of resources that answered for one key; more than one is refused."""
    return list(dict.fromkeys(shown(m.get("id")) for m in matches))


def lone_surrogate_at(content: bytes, payload: Any) -> str | None:
    """The JSON path of the first string (or object key) in ``payload`` holding a lone
    surrogate, a list item named by its id where it has one; None when there is none."""
    if not _SURROGATE_HINT.search(content):
        return None
    pending: list[tuple[Any, str]] = [(payload, "")]
    while pending:
        item, where = pending.pop()
        if isinstance(item, str):
            if _SURROGATE.search(item):
                return where or "the top level"
        elif isinstance(item, dict):
            for k, v in item.items():
                if _SURROGATE.search(k):
                    return f"a key of {where or 'the top level'}"
                pending.append((v, f"{where}.{k}" if where else k))
        elif isinstance(item, list):
            for i, v in enumerate(item):
                label = f"{where}[{i}]"
                if isinstance(v, dict) and isinstance(v.get("id"), str) and not _SURROGATE.search(v["id"]):
                    label += f" (id {v['id']})"
                pending.append((v, label))
    return None
