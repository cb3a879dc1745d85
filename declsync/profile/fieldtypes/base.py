"""The field type's interface, the registry and the walks every stage shares.

Each type registers itself (``@register``) from ``scalars.py`` or ``composite.py``;
``declsync.profile.types`` imports both, so the registry is complete wherever it is used.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import Any, ClassVar, TypeVar

from declsync.profile.spec import FieldSpec, Mode, PathPart, Violation

__all__ = [
    "OMIT",
    "REGISTRY",
    "FieldType",
    "LookupKey",
    "Path",
    "SubSchema",
    "check_value",
    "field_type",
    "from_yaml",
    "holds_ref",
    "import_value",
    "map_children",
    "project",
    "ref_members",
    "register",
    "values_equal",
]

Path = tuple[PathPart, ...]
# Renders a nested field's whole schema (nullability and descriptions included): ``profile/schema.py``.
SubSchema = Callable[[FieldSpec, str, bool], dict[str, Any]]
LookupKey = Callable[[str, str], "str | None"]


class _Omit:
    """An imported value that says nothing worth declaring (null, an empty reference)."""

    def __repr__(self) -> str:
        return "OMIT"


OMIT: Any = _Omit()


class FieldType:
    """The behaviour shared by every type; a subclass overrides what its values need."""

    name: ClassVar[str]
    # Merge patches recurse into it, field by field (objects), and its fields are dotted paths.
    merges: ClassVar[bool] = False
    # Compared and sent whole, its changes shown item by item (arrays).
    whole: ClassVar[bool] = False
    # A ``{key: …}`` / ``{id: …}`` reference object to another kind.
    is_reference: ClassVar[bool] = False
    # The sandbox stores it in one canonical form (``canonical``): date-times in UTC.
    stored_canonical: ClassVar[bool] = False
    # The profile setting a field of this type cannot do without ("values" of an enum).
    needs: ClassVar[str | None] = None

    def check(self, spec: FieldSpec, value: Any, path: Path, mode: Mode, out: list[Violation]) -> None:
        """Append why the (non-null) ``value`` is not a valid ``spec`` value."""

    def equal(self, spec: FieldSpec, desired: Any, live: Any) -> bool:
        """Whether ``live`` (non-null, not identical) already satisfies ``desired``."""
        # True == 1 in Python; never in a manifest.
        return bool(desired == live) and isinstance(desired, bool) == isinstance(live, bool)

    def normalise(self, spec: FieldSpec, value: Any) -> Any:
        """The canonical form of a valid value: equal values normalise alike."""
        return value

    def canonical(self, spec: FieldSpec, value: Any) -> Any:
        """The one stored form of a valid value; ValueError/OverflowError when it has none."""
        return value

    def from_yaml(self, spec: FieldSpec, value: Any) -> Any:
        """A YAML-loaded value as the JSON value the API speaks."""
        return map_children(spec, value, lambda sub, v: from_yaml(sub, v))

    def children(self, spec: FieldSpec, value: Any) -> Iterator[tuple[PathPart, Any, FieldSpec | None]]:
        """``(part, sub-value, sub-spec)`` of the values nested in ``value`` (none for scalars)."""
        return iter(())

    def nested(self, spec: FieldSpec) -> Mapping[str, FieldSpec]:
        """Fields nested under this one that a dotted path may name (``stops.notes``)."""
        return {}

    def project(self, spec: FieldSpec, live: Any, desired: Any) -> Any:
        """``live`` cut down to the shape ``desired`` declares (for display)."""
        return live

    def import_value(self, spec: FieldSpec, value: Any, lookup_key: LookupKey) -> tuple[Any, Any]:
        """``(manifest value, state value)`` of a non-null live value, or ``(OMIT, OMIT)``."""
        if spec.ref_kind and isinstance(value, str):
            key = lookup_key(spec.ref_kind, value)
            if key is not None:
                return {"$ref": f"{spec.ref_kind}/{key}"}, value
        return value, value

    def json_schema(self, spec: FieldSpec, mode: str, item: bool, sub: SubSchema) -> dict[str, Any]:
        return {"type": self.name}

    def display(self, spec: FieldSpec) -> str:
        return self.name


REGISTRY: dict[str, FieldType] = {}
T = TypeVar("T", bound=type[FieldType])


def register(cls: T) -> T:
    """Class decorator: one instance of ``cls`` serves every field of its type."""
    REGISTRY[cls.name] = cls()
    return cls


def field_type(spec: FieldSpec) -> FieldType:
    """The registered type of ``spec``."""
    return REGISTRY[spec.type]


def check_value(spec: FieldSpec, value: Any, path: Path, mode: Mode, out: list[Violation]) -> None:
    """Append the violations of one field value (null included) to ``out``."""
    if value is None:
        if not spec.nullable_in(mode):
            out.append(Violation(path, "must not be null (the field is not nullable); remove it or give a value"))
        return
    REGISTRY[spec.type].check(spec, value, path, mode, out)


def values_equal(desired: Any, live: Any, spec: FieldSpec | None) -> bool:
    """True when ``live`` already satisfies ``desired`` for a field shaped like ``spec``
    (``declsync.normalize`` documents it); ``spec`` None means "no profile knowledge":
    plain equality, mappings and lists member by member."""
    if desired is None or live is None:
        return desired is None and live is None
    if desired == live and type(desired) is type(live):
        return True
    if spec is not None:
        return REGISTRY[spec.type].equal(spec, desired, live)
    if type(desired) is dict and type(live) is dict:
        return desired.keys() == live.keys() and all(values_equal(v, live[k], None) for k, v in desired.items())
    if type(desired) is list and type(live) is list:
        return len(desired) == len(live) and all(
            values_equal(d, v, None) for d, v in zip(desired, live, strict=True)
        )
    return bool(desired == live) and isinstance(desired, bool) == isinstance(live, bool)


def from_yaml(spec: FieldSpec | None, value: Any) -> Any:
    """``value`` as loaded from YAML, turned into what the API speaks (date-times as ISO strings)."""
    return value if spec is None else REGISTRY[spec.type].from_yaml(spec, value)


def map_children(spec: FieldSpec, value: Any, fn: Callable[[FieldSpec | None, Any], Any]) -> Any:
    """``value`` rebuilt with ``fn(sub-spec, sub-value)`` applied to each nested value (objects and
    arrays; a scalar is returned as it is)."""
    ftype = REGISTRY[spec.type]
    if ftype.merges and isinstance(value, dict):
        return {k: fn(s, v) for k, v, s in ftype.children(spec, value)}
    if ftype.whole and isinstance(value, list):
        return [fn(s, v) for _, v, s in ftype.children(spec, value)]
    return value


def project(spec: FieldSpec | None, live: Any, desired: Any) -> Any:
    """``live`` cut down to the shape of ``desired`` (for display): only the members ``desired``
    declares, references in the form the manifest used."""
    if spec is None or live is None or desired is None:
        return live
    return REGISTRY[spec.type].project(spec, live, desired)


def import_value(spec: FieldSpec, value: Any, lookup_key: LookupKey) -> tuple[Any, Any]:
    """``(manifest value, state value)`` of one live value, or ``(OMIT, OMIT)``."""
    if value is None:
        return OMIT, OMIT
    return REGISTRY[spec.type].import_value(spec, value, lookup_key)


# id(spec) -> (spec, answer): a FieldSpec holds dicts, so it cannot be a cache key itself; the
# spec is kept so that its id is never reused. Reference scans ask for every nested value.
_HOLDS_REF: dict[int, tuple[FieldSpec, bool]] = {}


def holds_ref(spec: FieldSpec) -> bool:
    """Whether a reference (object or id string with a ``refKind``) may sit anywhere in the field."""
    hit = _HOLDS_REF.get(id(spec))
    if hit is None or hit[0] is not spec:
        hit = _HOLDS_REF[id(spec)] = (spec, _holds_ref(spec))
    return hit[1]


_REF_MEMBERS: dict[int, tuple[FieldSpec, frozenset[str]]] = {}


def ref_members(spec: FieldSpec) -> frozenset[str]:
    """The nested fields of ``spec`` that may hold a reference (a scan walks only these)."""
    hit = _REF_MEMBERS.get(id(spec))
    if hit is None or hit[0] is not spec:
        hit = _REF_MEMBERS[id(spec)] = (spec, frozenset(n for n, f in spec.fields.items() if holds_ref(f)))
    return hit[1]


def _holds_ref(spec: FieldSpec) -> bool:
    if REGISTRY[spec.type].is_reference or spec.ref_kind:
        return True
    if spec.items is not None and holds_ref(spec.items):
        return True
    return any(holds_ref(sub) for sub in spec.fields.values())
