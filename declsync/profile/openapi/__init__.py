"""Profiles from OpenAPI documents: ``--profile their-api.yaml`` reads an OpenAPI 3.0/3.1
document (YAML or JSON) and compiles it into the same ``Profile`` a declsync profile file
gives, so the validator, planner, sandbox, importer and ``declsync schema`` serve any
API whose resources carry a client key.

    >>> from declsync.profile.model import load_profile
    >>> profile = load_profile("tests/data/library-api.yaml")   # doctest: +SKIP
    >>> profile.kinds["Book"].discriminator                      # doctest: +SKIP
    'type'

Modules: ``document`` (``$ref`` and error locations), ``shapes`` (schema composition
flattened), ``fields`` (shapes → profile fields), ``kinds`` (resource kinds from the
paths), ``overlay`` (what a document cannot say), ``compile`` (the profile).
"""

from declsync.profile.openapi.compile import compile_document, compile_documents, load_openapi, load_openapi_dir
from declsync.profile.openapi.document import Document, is_openapi
from declsync.profile.openapi.overlay import overlay_path

__all__ = ["Document", "compile_document", "compile_documents", "is_openapi", "load_openapi", "load_openapi_dir",
           "overlay_path"]
