"""Resource kinds found in an OpenAPI document's paths.

A kind is a collection ``/{r}`` with ``POST`` whose create schema has a ``key``
property, and an item path ``/{r}/{param}`` with ``PATCH``. Its name is the schema
``GET /{r}/{param}`` answers with (``Customer``); its lookup is ``POST /{r}/filter``
when the document has it (page size: the request's ``pageSize`` maximum; envelope:
``pageInfo`` or ``pagination``, as the answer names it), else ``GET /{r}/{key}?by=key``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from declsync.profile.openapi.document import Document, as_map, pointer
from declsync.profile.openapi.shapes import Shape, flatten

__all__ = ["Collection", "find_collections"]

_ITEM = re.compile(r"^(?P<base>/[^{}]*[^/{}])/\{[^/{}]+\}$")
DEFAULT_PAGE_SIZE = 250
_BODY = "/requestBody/content/application~1json/schema"


@dataclass(frozen=True)
class Collection:
    """What the paths say about one kind; its fields are worked out from the shapes."""

    name: str
    path: str
    create: Shape
    patch: Shape
    read: Shape
    lookup_filter: bool
    lookup_by_key: bool
    page_size: int
    page_envelope: str
    validation_status: int
    deletable: bool


def _operation(doc: Document, path: str, method: str) -> Mapping[str, Any] | None:
    op = as_map(as_map(doc.data.get("paths")).get(path)).get(method)
    return op if isinstance(op, Mapping) else None


def _body_schema(op: Mapping[str, Any]) -> Any:
    content = as_map(as_map(op.get("requestBody")).get("content"))
    return as_map(content.get("application/json")).get("schema")


def _responses(op: Mapping[str, Any]) -> dict[str, Any]:
    """Status code -> response; YAML reads an unquoted ``200:`` as a number."""
    return {str(k): v for k, v in as_map(op.get("responses")).items()}


def _response_schema(op: Mapping[str, Any], *codes: str) -> tuple[str, Any] | None:
    responses = _responses(op)
    for code in codes:
        content = as_map(as_map(responses.get(code)).get("content"))
        schema = as_map(content.get("application/json")).get("schema")
        if schema is not None:
            return code, schema
    return None


def _schema_name(schema: Any) -> str | None:
    ref = schema.get("$ref") if isinstance(schema, Mapping) else None
    return ref.rsplit("/", 1)[-1] if isinstance(ref, str) and ref.startswith("#/components/schemas/") else None


def find_collections(doc: Document, names: Mapping[str, str]) -> tuple[list[Collection], list[str]]:
    """Every kind in the document, and why other collections are not kinds.
    ``names``: collection path -> kind name, from the overlay, for answers without a named schema."""
    paths = doc.data.get("paths")
    if not isinstance(paths, Mapping) or not paths:
        raise doc.error("#/paths", "the document has no 'paths'; declsync finds resource kinds there")
    found: list[Collection] = []
    notes: list[str] = []
    for item_path in paths:
        m = _ITEM.match(str(item_path))
        if not m or _operation(doc, item_path, "patch") is None:
            continue
        base = m.group("base")
        if _operation(doc, base, "post") is None:
            notes.append(f"{base}: PATCH {item_path} but no POST {base}; not a kind")
            continue
        if "{" in base:
            notes.append(f"{base}: a nested collection; not a kind yet")
            continue
        kind = _collection(doc, base, str(item_path), names)
        if isinstance(kind, str):
            notes.append(kind)
        else:
            found.append(kind)
    return found, notes


def _collection(doc: Document, base: str, item: str, names: Mapping[str, str]) -> Collection | str:
    post = _operation(doc, base, "post")
    patch = _operation(doc, item, "patch")
    assert post is not None and patch is not None
    create_at, patch_at = pointer("paths", base, "post"), pointer("paths", item, "patch")
    create = flatten(doc, _body_schema(post), f"{create_at}{_BODY}")
    if "key" not in create.properties:
        return f"{base}: the create schema has no 'key' property; declsync manages resources by client key"
    read_op = _operation(doc, item, "get")
    answer = (_response_schema(read_op, "200") if read_op else None) or _response_schema(post, "201", "200")
    name = names.get(base.strip("/")) or (_schema_name(answer[1]) if answer else None)
    if name is None:
        return (f"{base}: GET {item} answers with no named schema (#/components/schemas/…); "
                f"name the kind in the overlay (kinds: {{NAME: {{path: {base.strip('/')}}}}})")
    read = flatten(doc, answer[1], pointer("paths", item, "get", "responses", answer[0])) if answer else Shape()
    filter_op = _operation(doc, f"{base}/filter", "post")
    size, envelope = DEFAULT_PAGE_SIZE, "pageInfo"
    if filter_op is not None:
        size, envelope = _filter_paging(doc, filter_op, pointer("paths", f"{base}/filter", "post"))
    return Collection(
        name=name,
        path=base.strip("/"),
        create=create,
        patch=flatten(doc, _body_schema(patch), f"{patch_at}{_BODY}"),
        read=read,
        lookup_filter=filter_op is not None,
        # Without a filter endpoint, the contract's other lookup: GET /{r}/{key}?by=key.
        lookup_by_key=filter_op is None,
        page_size=size,
        page_envelope=envelope,
        validation_status=422 if "422" in _responses(post) else 400,
        deletable=_operation(doc, item, "delete") is not None,
    )


def _filter_paging(doc: Document, op: Mapping[str, Any], at: str) -> tuple[int, str]:
    request = flatten(doc, _body_schema(op), f"{at}{_BODY}")
    raw_size = _raw_page_size(doc, _body_schema(op), at)
    size = raw_size if isinstance(raw_size, int) and 1 <= raw_size <= 1000 else DEFAULT_PAGE_SIZE
    if "pageSize" not in request.properties:
        size = DEFAULT_PAGE_SIZE
    answer = _response_schema(op, "200")
    envelope = "pageInfo"
    if answer is not None:
        props = flatten(doc, answer[1], f"{at}/responses/200/content/application~1json/schema").properties
        envelope = next((e for e in ("pageInfo", "pagination") if e in props), envelope)
    return size, envelope


def _raw_page_size(doc: Document, schema: Any, at: str) -> Any:
    """``pageSize.maximum`` of the filter request (Shapes do not keep numeric bounds)."""
    if isinstance(schema, Mapping) and isinstance(schema.get("$ref"), str):
        schema = doc.resolve(schema["$ref"], at)
    props = schema.get("properties") if isinstance(schema, Mapping) else None
    size = props.get("pageSize") if isinstance(props, Mapping) else None
    return size.get("maximum") if isinstance(size, Mapping) else None
