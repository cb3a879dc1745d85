"""The field-type registry: everything declsync does with a value, per profile type, in one place.

A ``FieldSpec.type`` ("string", "number", "object", …) names one ``FieldType`` in
``REGISTRY``; every stage asks it instead of comparing type names: the validator
(``check``), the planner (``equal``, ``project``, ``merges``/``whole``), the manifest
loader (``from_yaml``), the importer (``import_value``), ``declsync schema`` and the
sandbox's OpenAPI document (``json_schema``), ``profile show`` (``display``) and every
walk through nested values (``children``, ``nested``). Adding a type touches this file.

``check`` and ``equal`` are never handed null: callers settle nullability first, so
each type speaks only of its own values.
"""

from __future__ import annotations

# Imported for their @register side effect: after this, REGISTRY holds every type.
from declsync.profile.fieldtypes import composite, scalars
from declsync.profile.fieldtypes.base import (
    OMIT,
    REGISTRY,
    FieldType,
    check_value,
    field_type,
    from_yaml,
    holds_ref,
    import_value,
    map_children,
    project,
    ref_members,
    values_equal,
)

__all__ = [
    "OMIT",
    "REGISTRY",
    "FieldType",
    "check_value",
    "composite",
    "field_type",
    "from_yaml",
    "holds_ref",
    "import_value",
    "map_children",
    "project",
    "ref_members",
    "scalars",
    "values_equal",
]
