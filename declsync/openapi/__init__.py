"""Profiles from OpenAPI documents: ``--profile their-api.yaml`` reads an OpenAPI 3.0/3.1
document (YAML or JSON) and compiles it into the same ``Profile`` a declsync profile file
gives, so the validator, planner, sandbox, importer and ``declsync schema`` serve any
API whose resources carry a client key.

    >>> from declsync.profile import load_profile
    >>> profile = load_profile("tests/data/library-api.yaml")   # doctest: +SKIP
    >>> profile.kinds["Book"].discriminator                      # doctest: +SKIP
    'type'

Modules: ``document`` (``$ref`` and error locations), ``shapes`` (schema composition
flattened), ``fields`` (shapes → profile fields), ``kinds`` (resource kinds from the
paths), ``compile`` (the profile, with the overlay).
"""

from declsync.openapi.compile import compile_document, load_openapi, overlay_path
from declsync.openapi.document import Document, is_openapi

__all__ = ["Document", "compile_document", "is_openapi", "load_openapi", "overlay_path"]
