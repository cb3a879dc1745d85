"""`declsync schema` and the sandbox's served OpenAPI for a profile compiled from a document."""

from __future__ import annotations

from pathlib import Path

import jsonschema
import yaml

from declsync.profile.model import load_profile
from declsync.profile.schema import manifest_schema

from .test_library_e2e import MANIFEST

PROFILE = load_profile(Path(__file__).parent / "data" / "library-api.yaml")


def test_the_manifest_schema_accepts_the_example_and_checks_formats() -> None:
    schema = manifest_schema(PROFILE)
    jsonschema.Draft202012Validator.check_schema(schema)
    validator = jsonschema.Draft202012Validator(schema, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER)
    docs = [d for d in yaml.safe_load_all(MANIFEST) if d]
    for doc in docs:
        assert list(validator.iter_errors(doc)) == [], doc["key"]
    author = {**docs[0], "spec": {**docs[0]["spec"], "email": "not-an-email", "born": "1929-13-45"}}
    bad = {".".join(map(str, e.absolute_path)) for e in validator.iter_errors(author)}
    assert bad == {"spec.email", "spec.born"}
