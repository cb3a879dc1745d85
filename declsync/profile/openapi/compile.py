"""OpenAPI documents (plus an optional overlay, see ``overlay``) compiled into declsync's ``Profile``.

One document (``--profile their-api.yaml``) or a directory of them (``--profile api/``:
every ``*.yaml``/``*.yml``/``*.json`` document in it, one API split by resource, as
MVMNT publishes its contract); the kinds of all documents may refer to each other.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import yaml

from declsync.errors import ProfileError
from declsync.profile.model import FieldSpec, KindSpec, Profile, suggest
from declsync.profile.openapi.document import Document, as_map, is_openapi
from declsync.profile.openapi.fields import FieldContext, to_field, write_merge
from declsync.profile.openapi.kinds import Collection, find_collections
from declsync.profile.openapi.overlay import Overlay, merge_overlays, overlay_path, read_overlay
from declsync.profile.openapi.shapes import Shape
from declsync.profile.types import field_type

# PyYAML's C loader where built (the same safe constructors): the bundled contract is read by
# every command, and the pure-Python loader took a second of each run. Lines in messages come
# from the document's text (``Document``), not from the loader.
_SAFE_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

__all__ = ["compile_document", "compile_documents", "load_openapi", "load_openapi_dir"]

# Never declarable, whatever a document says about them.
ALWAYS_READ_ONLY = frozenset({"id", "friendlyId", "object", "createdAt", "updatedAt", "deletedAt"})
DIRECTORY_OVERLAY = "declsync.yaml"


def _document(path: Path, text: str, data: Any) -> Document:
    if path.suffix == ".json":
        # JSON read as JSON: YAML 1.1 would turn some strings (yes, no, dates) into other things.
        try:
            data = json.loads(text)
        except ValueError as exc:
            raise ProfileError(f"{path}: not valid JSON: {exc}") from None
    if not is_openapi(data):
        raise ProfileError(f"{path}: not an OpenAPI document (no 'openapi' version at the top)")
    return Document(data, str(path), text)


def load_openapi(path: Path, text: str, data: Mapping[str, Any]) -> Profile:
    """The profile of the OpenAPI document ``path`` (already read and parsed)."""
    beside = overlay_path(path)
    return _guarded(path, lambda: compile_documents([_document(path, text, data)], read_overlay(beside), str(beside)))


def load_openapi_dir(path: Path) -> Profile:
    """The profile of every OpenAPI document in directory ``path``, with ``declsync.yaml`` as overlay."""
    docs = []
    for file in sorted(path.iterdir()):
        if file.suffix not in (".yaml", ".yml", ".json") or file.name == DIRECTORY_OVERLAY:
            continue
        if file.name.endswith((".declsync.yaml", ".declsync.yml")):
            continue
        try:
            text = file.read_text(encoding="utf-8")
            data = yaml.load(text, Loader=_SAFE_LOADER)
        except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
            raise ProfileError(f"{file}: cannot read it as YAML or JSON: {exc}") from None
        docs.append(_document(file, text, data))
    if not docs:
        raise ProfileError(f"{path}: a profile directory needs OpenAPI documents (*.yaml, *.yml, *.json)")
    overlay = path / DIRECTORY_OVERLAY
    return _guarded(path, lambda: compile_documents(docs, read_overlay(overlay), str(overlay), name=path.name))


def _guarded(path: Path | str, build: Any) -> Profile:
    try:
        profile: Profile = build()
    except RecursionError:
        # A schema that contains itself without a $ref (YAML aliases can build one).
        raise ProfileError(f"{path}: a schema nests too deeply or contains itself; use $ref for recursion") from None
    return profile


def compile_document(doc: Document, overlay: Mapping[str, Any] | None = None, overlay_source: str = "") -> Profile:
    """The profile ``doc`` describes, adjusted by its ``x-declsync`` member and ``overlay`` (which wins)."""
    return compile_documents([doc], overlay, overlay_source)


def compile_documents(docs: Sequence[Document], overlay: Mapping[str, Any] | None = None,
                      overlay_source: str = "", name: str | None = None) -> Profile:
    """The profile of one API described by ``docs``; kinds of one document may refer to another's."""
    # Guarded here, not only when reading files: a caller's in-memory document may contain itself.
    where = ", ".join(doc.source for doc in docs) or "OpenAPI document"
    return _guarded(where, lambda: _compile_documents(docs, overlay, overlay_source, name))


def _compile_documents(docs: Sequence[Document], overlay: Mapping[str, Any] | None,
                       overlay_source: str, name: str | None) -> Profile:
    parts: list[tuple[Mapping[str, Any], str]] = []
    for doc in docs:
        if not doc.version.startswith("3."):
            raise doc.error("#/openapi", f"OpenAPI {doc.version!r} is not supported; use a 3.0 or 3.1 document")
        inline = doc.data.get("x-declsync") or {}
        if not isinstance(inline, Mapping):
            raise doc.error("#/x-declsync", "x-declsync must be a mapping with 'name' and/or 'kinds'")
        parts.append((inline, f"{doc.source} (x-declsync)"))
    extra = merge_overlays([*parts, (overlay or {}, overlay_source or "overlay")])
    names = {str(v["path"]).strip("/"): k for k, v in extra.kinds.items() if v.get("path")}
    found: list[tuple[Document, Collection]] = []
    skipped: list[str] = []
    for doc in docs:
        collections, notes = find_collections(doc, names)
        found += [(doc, c) for c in collections]
        skipped += notes
    if not found:
        detail = "; ".join(skipped) or "no collection has POST /{r} and PATCH /{r}/{id}"
        raise ProfileError(f"{', '.join(d.source for d in docs)}: no resource kinds found ({detail})")
    kinds = _kinds(found, extra, skipped)
    # Kinds the overlay names come first, in its order (a directory's documents are read by file
    # name, which says nothing of which kinds matter most); the others follow in document order.
    kinds = {**{k: kinds[k] for k in extra.kinds if k in kinds}, **kinds}
    where = extra.source or docs[0].source
    for kname in extra.kinds:
        if kname not in kinds:
            documents = ", ".join(d.source for d in docs)
            raise ProfileError(f"{where}: kinds.{kname}: no such kind in {documents}{suggest(kname, kinds)}")
    _check_ref_kinds(kinds, where)
    title = as_map(docs[0].data.get("info")).get("title") if len(docs) == 1 else None
    source = docs[0].source if len(docs) == 1 else str(Path(docs[0].source).parent)
    return Profile(name=str(extra.name or name or title or source), kinds=kinds, source=source, notes=tuple(skipped))


def _kinds(found: list[tuple[Document, Collection]], extra: Overlay, skipped: list[str]) -> dict[str, KindSpec]:
    all_names = [c.name for _, c in found]
    kinds: dict[str, KindSpec] = {}
    for doc, c in found:
        if c.name in kinds:
            raise doc.error(c.create.at, f"two collections ({kinds[c.name].path}, {c.path}) answer with "
                                         f"schema {c.name!r}; name one in the overlay (kinds: {{NAME: {{path: …}}}})")
        settings = extra.of(c.name)
        ctx = FieldContext(kinds=all_names, ref_kinds=dict(settings.get("refKinds") or {}),
                           sensitive=tuple(settings.get("sensitive") or ()))
        kinds[c.name] = _kind(c, ctx, settings)
        skipped.extend(f"{c.name}.{s}" for s in ctx.skipped)
    return kinds


def _writable(shape: Shape) -> list[str]:
    return [n for n, s in shape.properties.items() if not s.read_only and n != "key"]


def _kind(c: Collection, ctx: FieldContext, extra: Mapping[str, Any]) -> KindSpec:
    names = [n for n in dict.fromkeys([*_writable(c.create), *_writable(c.patch)]) if n not in ALWAYS_READ_ONLY]
    fields: dict[str, FieldSpec] = {}
    for n in names:
        in_create, in_patch = n in c.create.properties, n in c.patch.properties
        shape = write_merge(c.create.properties.get(n), c.patch.properties.get(n))
        spec = to_field(n, shape, ctx, create_only=in_create and not in_patch and bool(c.patch.properties),
                        required=n in c.create.required)
        if spec is not None:
            fields[n] = _as_read(spec, c.read.properties.get(n))
    for n, value in (extra.get("defaults") or {}).items():
        if n not in fields:
            raise ProfileError(f"kind {c.name}: defaults.{n}: not a writable field{suggest(str(n), fields)}")
        fields[n] = replace(fields[n], default=value, has_default=True)
    marked = {n for s in (c.create, c.patch, c.read) for n, p in s.properties.items() if p.read_only}
    read_only = (ALWAYS_READ_ONLY | marked | (set(c.read.properties) - set(fields))
                 | set(extra.get("readOnly") or ())) - {"key"}
    disc = c.create.discriminator or c.patch.discriminator
    variants: dict[str, frozenset[str]] = {}
    if disc in fields:
        for shape in (c.patch, c.create):
            for value, props in shape.variants.items():
                variants[value] = variants.get(value, frozenset()) | frozenset(p for p in props if p in fields)
    page_size = extra.get("pageSize", c.page_size)
    if not isinstance(page_size, int) or not 1 <= page_size <= 1000:
        raise ProfileError(f"kind {c.name}: pageSize must be an integer between 1 and 1000")
    delete = extra.get("delete") or ({"method": "delete"} if c.deletable else {"method": "refuse"})
    return KindSpec(
        name=c.name,
        path=c.path,
        fields=fields,
        read_only=frozenset(read_only - set(fields)),
        computed=_computed(c.name, extra.get("computed") or {}, fields),
        friendly_id_prefix=str(extra.get("friendlyIdPrefix", "")),
        lookup_filter=c.lookup_filter,
        page_size=page_size,
        delete=dict(delete),
        lookup_by_key=c.lookup_by_key,
        page_envelope=c.page_envelope,
        validation_status=c.validation_status,
        discriminator=disc if disc in fields else None,
        variants=variants,
        constants={n: p.enum[0] for n, p in c.read.properties.items()
                   if p.read_only and p.enum is not None and len(p.enum) == 1 and n not in fields},
        id_from=_id_from(fields, c.read),
    )


def _as_read(spec: FieldSpec, read: Shape | None) -> FieldSpec:
    """``spec`` with the read schema's nullability where it differs from the write schemas':
    answers follow the read schema (None: the read schema does not have the field)."""
    if read is None:
        return spec
    fields = {n: _as_read(sub, read.properties.get(n)) for n, sub in spec.fields.items()}
    items = _as_read(spec.items, read.items) if spec.items is not None else None
    read_nullable = None if read.nullable == spec.nullable else read.nullable
    return replace(spec, read_nullable=read_nullable, fields=fields, items=items)


def _id_from(fields: Mapping[str, FieldSpec], read: Shape) -> dict[str, str]:
    """Id fields (``customerId``) the answer has only as an object (``customer: {id, ...}``):
    without this, a live resource would never show the id the manifest declares."""
    out = {}
    for name, spec in fields.items():
        member = read.properties.get(name.removesuffix("Id"))
        if (spec.ref_kind and name.endswith("Id") and name not in read.properties
                and member is not None and "id" in member.properties):
            out[name] = name.removesuffix("Id")
    return out


def _computed(kind: str, raw: Mapping[str, Any], fields: Mapping[str, FieldSpec]) -> dict[str, FieldSpec]:
    """Overlay ``computed: {NAME: ARRAY.FIELD}``: a read-only number the server sums."""
    out = {}
    for name, total in raw.items():
        array, _, item = str(total).partition(".")
        spec = fields.get(array)
        if spec is None or spec.items is None or item not in spec.items.fields:
            raise ProfileError(f"kind {kind}: computed.{name}: {total!r} is not ARRAY.FIELD of a declared array")
        out[str(name)] = FieldSpec(name=str(name), type="number", nullable=True, sum=str(total))
    return out


def _check_ref_kinds(kinds: Mapping[str, KindSpec], where: str) -> None:
    def walk(kind: str, fields: Mapping[str, FieldSpec], prefix: str) -> None:
        for f in fields.values():
            target = f.ref_kind or (f.kind if field_type(f).is_reference else None)
            if target is not None and target not in kinds:
                raise ProfileError(f"{where}: {kind}.{prefix}{f.name} refers to kind {target!r}, which the "
                                   f"document does not have{suggest(target, kinds)}")
            walk(kind, f.fields, f"{prefix}{f.name}.")
            if f.items is not None:
                walk(kind, {f.name: f.items}, prefix)

    for k in kinds.values():
        walk(k.name, k.fields, "")
