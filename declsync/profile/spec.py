"""The profile's data: frozen ``Profile`` / ``KindSpec`` / ``FieldSpec`` objects, and the
small helpers every stage shares (field paths, "did you mean", validation results).

Parsing lives in ``profile/model.py``, per-type behaviour in ``profile/types.py`` and
body validation in ``profile/validation.py``; this module imports none of them, so each
can build on it.
"""

from __future__ import annotations

import difflib
import functools
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from declsync.errors import ProfileError

__all__ = [
    "KEY_MAX_LENGTH",
    "FieldSpec",
    "KindSpec",
    "Mode",
    "PathPart",
    "Profile",
    "Violation",
    "format_path",
    "is_ref_marker",
    "suggest",
]

KEY_MAX_LENGTH = 512

Mode = Literal["create", "patch", "manifest"]
PathPart = str | int


@dataclass(frozen=True)
class FieldSpec:
    """One field of a kind (or of a nested object / array item)."""

    name: str
    type: str
    nullable: bool = False
    required: bool = False
    default: Any = None
    has_default: bool = False
    values: tuple[str, ...] = ()
    max_length: int | None = None
    format: str | None = None
    ref_kind: str | None = None
    kind: str | None = None
    fields: Mapping[str, FieldSpec] = field(default_factory=dict)
    items: FieldSpec | None = None
    sensitive: bool = False
    sum: str | None = None
    # In the create schema but not the patch schema: sent on create, never in a patch.
    create_only: bool = False
    # Whether a create may send null, where the create schema says otherwise than the patch
    # schema (``nullable``: a PATCH with null clears a field); None: as ``nullable``.
    create_nullable: bool | None = None
    # A member of a nested object that the patch schema requires whenever the object is sent
    # (the contract's AddressInput: line1, city, country, market even in a PATCH).
    patch_required: bool = False
    # Whether an answer may carry null here, where the read schema says otherwise than the
    # patch schema (a user's Book: publishedOn clearable by PATCH, never null when read);
    # None: as ``nullable``.
    read_nullable: bool | None = None

    def nullable_in(self, mode: Mode) -> bool:
        """Whether a body of ``mode`` may send null for this field."""
        if mode == "create" and self.create_nullable is not None:
            return self.create_nullable
        return self.nullable

    @property
    def answers_null(self) -> bool:
        """Whether an answer may show this field as null (else an unset field is left out)."""
        return self.nullable if self.read_nullable is None else self.read_nullable


@dataclass(frozen=True)
class KindSpec:
    """One resource kind: where it lives in the API and what its fields are."""

    name: str
    path: str
    fields: Mapping[str, FieldSpec]
    read_only: frozenset[str]
    computed: Mapping[str, FieldSpec]
    friendly_id_prefix: str = ""
    lookup_filter: bool = True
    page_size: int = 250
    delete: Mapping[str, Any] = field(default_factory=lambda: {"method": "delete"})
    # Without a filter endpoint: GET {path}/{key}?by=key (True) or GET {path}?key=K (False).
    lookup_by_key: bool = False
    # The list answer's page-info member: "pageInfo" or "pagination".
    page_envelope: str = "pageInfo"
    # The status the API answers invalid bodies with (400 or 422).
    validation_status: int = 400
    # A oneOf kind told apart by this field (e.g. Carrier by ``type``): every PATCH carries it.
    discriminator: str | None = None
    # Discriminator value -> the fields that variant accepts (empty: no variant checks).
    variants: Mapping[str, frozenset[str]] = field(default_factory=dict)
    # Read-only fields with one possible value, which every answer carries (``object: CUSTOMER``).
    constants: Mapping[str, Any] = field(default_factory=dict)
    # Id fields the API's answer does not repeat: field -> the answer's object whose ``id`` holds
    # it (MVMNT's CustomerContact takes ``customerId`` and answers ``customer: {id, ...}``).
    id_from: Mapping[str, str] = field(default_factory=dict)

    @functools.cached_property
    def ref_fields(self) -> tuple[str, ...]:
        """Top-level fields that may hold a reference somewhere inside (so that
        reference scans can skip all the others)."""

        # Imported here: the type registry is built on this module's FieldSpec.
        from declsync.profile.types import holds_ref

        return tuple(name for name, f in self.fields.items() if holds_ref(f))

    def sensitive_paths(self) -> frozenset[str]:
        """Dotted paths of fields marked ``sensitive`` (nested objects included)."""
        from declsync.profile.types import field_type

        out: set[str] = set()

        def walk(fields: Mapping[str, FieldSpec], prefix: str) -> None:
            for name, spec in fields.items():
                if spec.sensitive:
                    out.add(prefix + name)
                if field_type(spec).merges:
                    walk(spec.fields, prefix + name + ".")

        walk(self.fields, "")
        return frozenset(out)


@dataclass(frozen=True)
class Profile:
    name: str
    kinds: Mapping[str, KindSpec]
    source: str
    # What a compiled OpenAPI document left out, and why (``declsync profile show`` lists it).
    notes: tuple[str, ...] = ()

    def kind(self, name: str) -> KindSpec:
        try:
            return self.kinds[name]
        except KeyError:
            raise ProfileError(f"unknown kind {name!r}{suggest(name, self.kinds)}") from None

    def kind_by_path(self, path: str) -> KindSpec | None:
        for spec in self.kinds.values():
            if spec.path == path:
                return spec
        return None


def suggest(word: str, choices: Any) -> str:
    """`` (did you mean 'x'?)`` for the closest choice, or an empty string."""
    names = [str(c) for c in choices]
    # Case is the usual slip (``mode: ftl`` for ``FTL``): compared case-insensitively.
    by_fold = {n.casefold(): n for n in names}
    close = difflib.get_close_matches(str(word).casefold(), list(by_fold), n=1, cutoff=0.6)
    close = [by_fold[c] for c in close]
    return f" (did you mean {close[0]!r}?)" if close else ""


def format_path(path: tuple[PathPart, ...]) -> str:
    """``("stops", 1, "notes")`` → ``stops[1].notes``."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            # str(): a YAML mapping key may be anything (null, a number, a date) until validated.
            out += ("." if out else "") + str(part)
    return out



@dataclass(frozen=True)
class Violation:
    """A validation failure at a field path (``()`` for the whole body)."""

    path: tuple[PathPart, ...]
    message: str

    @property
    def field(self) -> str:
        return format_path(self.path)


def is_ref_marker(value: Any) -> bool:
    """A manifest's ``{$ref: Kind/KEY}`` placeholder for another resource's id."""
    return type(value) is dict and len(value) == 1 and "$ref" in value
