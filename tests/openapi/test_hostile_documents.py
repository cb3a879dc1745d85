"""A malformed OpenAPI document is a clear ProfileError, never a traceback."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from declsync.errors import ProfileError
from declsync.profile.model import Profile
from declsync.profile.openapi import Document, compile_document

BASE = yaml.safe_load((Path(__file__).parent / "data" / "library-api.yaml").read_text())

JUNK = st.one_of(st.none(), st.booleans(), st.integers(), st.text(max_size=5), st.lists(st.integers(), max_size=2),
                 st.just({}), st.just({"$ref": "#/nowhere"}), st.just({"$ref": "http://x/y"}),
                 st.just({"type": ["string", 3]}), st.just({"enum": "A"}), st.just({"properties": []}),
                 st.just({"allOf": {}}), st.just({"oneOf": [None]}), st.just({"discriminator": {"propertyName": 1}}),
                 st.just({"$ref": "#/components/schemas/BookInput"}))


def paths(node: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix]
    if isinstance(node, dict):
        for k, v in node.items():
            out += paths(v, (*prefix, k))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            out += paths(v, (*prefix, i))
    return out


ALL_PATHS = [p for p in paths(BASE) if p]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(st.sampled_from(ALL_PATHS), JUNK), min_size=1, max_size=3))
def test_any_mutation_compiles_or_is_refused_clearly(mutations: list[tuple[tuple[Any, ...], Any]]) -> None:
    doc = copy.deepcopy(BASE)
    for path, junk in mutations:
        node: Any = doc
        for part in path[:-1]:
            if not isinstance(node, dict | list):
                break
            try:
                node = node[part]
            except (KeyError, IndexError, TypeError):
                break
        else:
            if isinstance(node, dict) or (isinstance(node, list) and isinstance(path[-1], int) and path[-1] < len(node)):
                node[path[-1]] = junk
    try:
        profile = compile_document(Document(doc, "api.yaml"))
    except ProfileError as exc:
        assert str(exc).startswith("api.yaml")
    else:
        assert isinstance(profile, Profile)


def test_a_schema_that_contains_itself_through_a_yaml_alias(tmp_path: Path) -> None:
    text = (Path(__file__).parent / "data" / "library-api.yaml").read_text().replace(
        "    Genre: {type: string, enum: [FICTION, POETRY, HISTORY, SCIENCE]}",
        "    Genre: &loop {type: object, properties: {again: *loop}}")
    path = tmp_path / "api.yaml"
    path.write_text(text)
    from declsync.profile.model import load_profile

    try:
        load_profile(path)
    except ProfileError as exc:
        assert "contains itself" in str(exc)
    else:
        raise AssertionError("a self-containing schema was accepted")


def test_an_in_memory_document_that_contains_itself_is_refused_clearly() -> None:
    # The library face takes documents built in memory too, where no YAML reader saw the cycle.
    doc = copy.deepcopy(BASE)
    loop: dict[str, Any] = {"type": "object"}
    loop["properties"] = {"again": loop}
    doc["components"]["schemas"]["Genre"] = loop
    try:
        compile_document(Document(doc, "api.yaml"))
    except ProfileError as exc:
        assert str(exc).startswith("api.yaml") and "contains itself" in str(exc)
    else:
        raise AssertionError("a self-containing document was accepted")
