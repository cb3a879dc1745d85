"""An OpenAPI document (plus an optional overlay) compiled into declsync's ``Profile``.

The overlay says what a document cannot: a kind's friendly-id prefix, how prune
removes it, which fields are sensitive, which id fields point at which kind when the
name does not tell. It is the document's ``x-declsync`` member, or a file beside the
document (``their-api.declsync.yaml`` for ``their-api.yaml``), the file winning::

    name: library
    kinds:
      Book:
        friendlyIdPrefix: BK-
        delete: {method: refuse}      # or {patch: {status: withdrawn}}
        sensitive: [isbn]
        refKinds: {editorId: Author}  # bare id fields whose kind the name does not tell
        readOnly: [rating]
        pageSize: 100
        path: books                   # names a kind whose GET answers with an inline schema
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from declsync.errors import ProfileError
from declsync.openapi.document import Document, as_map
from declsync.openapi.fields import FieldContext, to_field, write_merge
from declsync.openapi.kinds import Collection, find_collections
from declsync.openapi.shapes import Shape
from declsync.profile import FieldSpec, KindSpec, Profile, suggest

__all__ = ["compile_document", "load_openapi", "overlay_path"]

_OVERLAY_KEYS = frozenset({"name", "kinds"})
_KIND_KEYS = frozenset({"path", "friendlyIdPrefix", "delete", "sensitive", "refKinds", "readOnly", "pageSize"})
# Never declarable, whatever a document says about them.
ALWAYS_READ_ONLY = frozenset({"id", "friendlyId", "object", "createdAt", "updatedAt", "deletedAt"})


def overlay_path(document: Path) -> Path:
    """``api.yaml`` → ``api.declsync.yaml`` (the overlay file beside a document)."""
    return document.with_name(f"{document.stem}.declsync.yaml")


def load_openapi(path: Path, text: str, data: Mapping[str, Any]) -> Profile:
    """The profile of the OpenAPI document ``path`` (already read and parsed)."""
    if path.suffix == ".json":
        # JSON read as JSON: YAML would turn some strings into other things.
        try:
            data = json.loads(text)
        except ValueError as exc:
            raise ProfileError(f"{path}: not valid JSON: {exc}") from None
    overlay: dict[str, Any] = {}
    beside = overlay_path(path)
    if beside.is_file():
        try:
            extra = yaml.safe_load(beside.read_text(encoding="utf-8"))
        except (OSError, yaml.YAMLError) as exc:
            raise ProfileError(f"overlay {beside}: cannot read it: {exc}") from None
        if not isinstance(extra, Mapping):
            raise ProfileError(f"overlay {beside}: expected a mapping with 'name' and/or 'kinds'")
        overlay = dict(extra)
    try:
        return compile_document(Document(data, str(path), text), overlay, str(beside) if overlay else "")
    except RecursionError:
        # A schema that contains itself without a $ref (YAML aliases can build one).
        raise ProfileError(f"{path}: a schema nests too deeply or contains itself; use $ref for recursion") from None


def _merge_overlay(base: Mapping[str, Any], extra: Mapping[str, Any]) -> dict[str, Any]:
    if not base or not extra:
        return dict(base or extra)
    kinds: dict[str, Any] = {k: dict(v) for k, v in (base.get("kinds") or {}).items() if isinstance(v, Mapping)}
    for name, spec in (extra.get("kinds") or {}).items():
        kinds[name] = {**kinds.get(name, {}), **spec} if isinstance(spec, Mapping) else spec
    return {**base, **extra, "kinds": kinds}


def compile_document(doc: Document, overlay: Mapping[str, Any] | None = None, overlay_source: str = "") -> Profile:
    """The profile ``doc`` describes, adjusted by its ``x-declsync`` member and ``overlay`` (which wins)."""
    if not doc.version.startswith("3."):
        raise doc.error("#/openapi", f"OpenAPI {doc.version!r} is not supported; use a 3.0 or 3.1 document")
    inline = doc.data.get("x-declsync") or {}
    if not isinstance(inline, Mapping):
        raise doc.error("#/x-declsync", "x-declsync must be a mapping with 'name' and/or 'kinds'")
    overlay = _merge_overlay(inline, overlay or {})
    where = overlay_source or f"{doc.source} (x-declsync)"
    _check_keys(overlay, _OVERLAY_KEYS, where)
    extra: Mapping[str, Mapping[str, Any]] = overlay.get("kinds") or {}
    for kname, spec in extra.items():
        if not isinstance(spec, Mapping):
            raise ProfileError(f"{where}: kinds.{kname} must be a mapping")
        _check_keys(spec, _KIND_KEYS, f"{where}: kinds.{kname}")
    names = {str(v["path"]).strip("/"): str(k) for k, v in extra.items() if v.get("path")}
    collections, notes = find_collections(doc, names)
    if not collections:
        detail = "; ".join(notes) or "no collection has POST /{r} and PATCH /{r}/{id}"
        raise ProfileError(f"{doc.source}: no resource kinds found ({detail})")
    kinds: dict[str, KindSpec] = {}
    skipped: list[str] = list(notes)
    for c in collections:
        if c.name in kinds:
            raise doc.error(c.create.at, f"two collections ({kinds[c.name].path}, {c.path}) answer with "
                                         f"schema {c.name!r}; name one in the overlay (kinds: {{NAME: {{path: …}}}})")
        ctx = FieldContext(kinds=[x.name for x in collections], ref_kinds=dict(extra.get(c.name, {}).get("refKinds") or {}),
                           sensitive=tuple(extra.get(c.name, {}).get("sensitive") or ()))
        kinds[c.name] = _kind(c, ctx, extra.get(c.name, {}))
        skipped.extend(f"{c.name}.{s}" for s in ctx.skipped)
    for kname in extra:
        if kname not in kinds:
            raise ProfileError(f"{where}: kinds.{kname}: no such kind in {doc.source}{suggest(kname, kinds)}")
    _check_ref_kinds(kinds, where)
    title = as_map(doc.data.get("info")).get("title")
    name = overlay.get("name") or title or doc.source
    return Profile(name=str(name), kinds=kinds, source=doc.source, notes=tuple(skipped))


def _check_keys(raw: Mapping[str, Any], allowed: frozenset[str], where: str) -> None:
    for key in raw:
        if key not in allowed:
            raise ProfileError(f"{where}: unknown overlay setting {key!r}{suggest(key, allowed)}; "
                               f"allowed: {', '.join(sorted(allowed))}")


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
            fields[n] = spec
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
        computed={},
        friendly_id_prefix=str(extra.get("friendlyIdPrefix", "")),
        lookup_filter=c.lookup_filter,
        page_size=page_size,
        delete=dict(delete),
        lookup_by_key=c.lookup_by_key,
        page_envelope=c.page_envelope,
        validation_status=c.validation_status,
        discriminator=disc if disc in fields else None,
        variants=variants,
    )


def _check_ref_kinds(kinds: Mapping[str, KindSpec], where: str) -> None:
    def walk(kind: str, fields: Mapping[str, FieldSpec], prefix: str) -> None:
        for f in fields.values():
            target = f.ref_kind or (f.kind if f.type == "reference" else None)
            if target is not None and target not in kinds:
                raise ProfileError(f"{where}: {kind}.{prefix}{f.name} refers to kind {target!r}, which the "
                                   f"document does not have{suggest(target, kinds)}")
            walk(kind, f.fields, f"{prefix}{f.name}.")
            if f.items is not None:
                walk(kind, {f.name: f.items}, prefix)

    for k in kinds.values():
        walk(k.name, k.fields, "")
