"""The compiled profile without compiling (``profile/compiled.py``, ``profile/codec.py``): the
precompiled bundled profile and the cached ones equal a fresh compile, order included; an
edited document, overlay or precompiled file is never believed; a corrupt, truncated or
foreign cache entry is ignored with a note; ``--no-cache`` neither reads nor writes the cache."""

from __future__ import annotations

import datetime
import json
import shutil
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from helpers import run
from hypothesis import given, settings
from hypothesis import strategies as st

from declsync.errors import ProfileError
from declsync.profile import codec, compiled
from declsync.profile.model import FieldSpec, KindSpec, Profile, load_profile
from declsync.profile.openapi import load_openapi_dir

DATA = Path(__file__).parent / "data"
REPO = Path(__file__).resolve().parents[2]
USER_DOCUMENTS = [DATA / "library-api.yaml", DATA / "pets-api-30.yaml", REPO / "tests/fixtures/handwritten-mvmnt.yaml"]


def ordered(profile: Profile) -> str:
    """The profile as text, kinds and fields in their order (``==`` on dicts ignores order)."""
    return json.dumps(codec.encode(profile))


def same(a: Profile, b: Profile) -> bool:
    return a == b and ordered(a) == ordered(b)


# --------------------------------------------------------------------------- the bundled profile


def test_the_precompiled_bundled_profile_is_current_and_equals_a_fresh_compile() -> None:
    digest = compiled.sources_digest(compiled.BUNDLED_PROFILE, compiled._BUNDLED_LABEL)
    assert digest is not None
    # Read directly: a stale file would silently fall back to compiling (correct, but slow).
    try:
        stored = compiled.read_entry(compiled.BUNDLED_COMPILED, digest)
    except (OSError, ValueError) as exc:
        pytest.fail(f"{compiled.BUNDLED_COMPILED} is stale ({exc}): run python -m declsync.profile.compiled")
    fresh = compiled.compile_bundled()
    assert same(replace(stored, source=fresh.source), fresh)
    assert same(compiled.bundled_profile(), fresh)


def test_the_precompiled_profile_does_not_depend_on_where_it_was_built(tmp_path: Path) -> None:
    copy = tmp_path / "mvmnt"
    shutil.copytree(compiled.BUNDLED_PROFILE, copy)
    assert same(load_openapi_dir(copy), replace(compiled.bundled_profile(), source=str(copy)))
    assert str(compiled.BUNDLED_PROFILE) not in compiled.BUNDLED_COMPILED.read_text()


def test_edited_bundled_documents_are_compiled_again_not_read_from_the_stale_file(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    copy = tmp_path / "mvmnt"
    shutil.copytree(compiled.BUNDLED_PROFILE, copy)
    overlay = copy / "declsync.yaml"
    overlay.write_text(overlay.read_text().replace('Vendor: {friendlyIdPrefix: "V"}', 'Vendor: {friendlyIdPrefix: "W"}'))
    monkeypatch.setattr(compiled, "BUNDLED_PROFILE", copy)
    edited = compiled.bundled_profile()
    assert same(edited, load_openapi_dir(copy))
    assert edited.kinds["Vendor"].friendly_id_prefix == "W"


@pytest.mark.parametrize("damage", ["truncate", "flip", "foreign"])
def test_a_damaged_precompiled_file_is_not_believed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                    damage: str) -> None:
    target = tmp_path / "mvmnt.compiled.json"
    text = compiled.BUNDLED_COMPILED.read_text()
    target.write_text({"truncate": text[: len(text) // 2],
                       "flip": text.replace('"required": true', '"required": false', 1),
                       "foreign": text.split("\n", 1)[0] + "\n[]"}[damage])
    monkeypatch.setattr(compiled, "BUNDLED_COMPILED", target)
    assert same(compiled.bundled_profile(), compiled.compile_bundled())


# --------------------------------------------------------------------------- the codec


@pytest.mark.parametrize("document", USER_DOCUMENTS, ids=lambda p: p.name)
def test_user_profiles_survive_the_codec_exactly(document: Path) -> None:
    profile = load_profile(document)
    assert same(codec.decode(json.loads(json.dumps(codec.encode(profile)))), profile)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(), inner, max_size=3),
    max_leaves=8,
)
names = st.text(min_size=1, max_size=8)
field_specs = st.recursive(
    st.builds(FieldSpec, name=names, type=st.sampled_from(["string", "number", "boolean", "enum"]),
              nullable=st.booleans(), default=json_values, has_default=st.booleans(),
              values=st.lists(names, max_size=3).map(tuple), max_length=st.none() | st.integers(0, 500),
              format=st.none() | st.sampled_from(["uuid", "email", "date"]), create_nullable=st.none() | st.booleans(),
              read_nullable=st.none() | st.booleans(), patch_required=st.booleans(), sum=st.none() | names),
    lambda inner: st.builds(FieldSpec, name=names, type=st.just("object"),
                            fields=st.dictionaries(names, inner, max_size=3))
    | st.builds(FieldSpec, name=names, type=st.just("array"), items=inner, required=st.booleans()),
    max_leaves=6,
)
kind_specs = st.builds(
    KindSpec, name=names, path=names, fields=st.dictionaries(names, field_specs, max_size=4),
    read_only=st.frozensets(names, max_size=4), computed=st.dictionaries(names, field_specs, max_size=1),
    page_size=st.integers(1, 1000), delete=st.dictionaries(st.text(max_size=5), json_values, max_size=2),
    lookup_filter=st.booleans(), validation_status=st.sampled_from([400, 422]),
    discriminator=st.none() | names, variants=st.dictionaries(names, st.frozensets(names, max_size=3), max_size=2),
    constants=st.dictionaries(names, json_values, max_size=2), id_from=st.dictionaries(names, names, max_size=2),
)
profiles = st.builds(Profile, name=names, kinds=st.dictionaries(names, kind_specs, max_size=3), source=st.text(),
                     notes=st.lists(st.text(), max_size=3).map(tuple))


@settings(max_examples=60, deadline=None)
@given(profile=profiles)
def test_any_profile_survives_the_codec_exactly(profile: Profile) -> None:
    text = json.dumps(codec.encode(profile), allow_nan=False)
    assert same(codec.decode(json.loads(text)), profile)


@pytest.mark.parametrize("value", [datetime.date(2024, 1, 1), (1, 2), {1: "a"}, float("nan"), {"a": [b"x"]}],
                         ids=["date", "tuple", "int-key", "nan", "bytes"])
def test_a_value_json_cannot_carry_exactly_is_refused(value: Any) -> None:
    profile = load_profile(DATA / "pets-api-30.yaml")
    kind = next(iter(profile.kinds.values()))
    name, spec = next(iter(kind.fields.items()))
    odd = replace(profile, kinds={kind.name: replace(kind, fields={name: replace(spec, default=value,
                                                                                      has_default=True)})})
    with pytest.raises(ValueError):
        codec.encode(odd)


def _mutate(raw: dict[str, Any], how: str) -> None:
    kind = next(iter(raw["kinds"].values()))
    field = next(iter(kind["fields"].values()))
    {"kinds": lambda: raw.update(kinds=[]),
     "field-type": lambda: field.update(type=7),
     "read-only": lambda: kind.update(read_only="id"),
     "page-size": lambda: kind.update(page_size="250"),
     "bool-as-int": lambda: field.update(nullable=1),
     "values": lambda: field.update(values=[1]),
     "unknown": lambda: field.update(evil="x"),
     "missing-name": lambda: field.pop("name"),
     "variants": lambda: kind.update(variants={"A": "x"})}[how]()


@pytest.mark.parametrize("how", ["kinds", "field-type", "read-only", "page-size", "bool-as-int", "values",
                                 "unknown", "missing-name", "variants"])
def test_decoding_checks_the_type_of_every_value(how: str) -> None:
    raw = codec.encode(load_profile(DATA / "library-api.yaml"))
    _mutate(raw, how)
    with pytest.raises((ValueError, TypeError)):
        codec.decode(raw)


# --------------------------------------------------------------------------- the cache


@pytest.fixture
def library(tmp_path: Path) -> Path:
    copy = tmp_path / "api" / "library-api.yaml"
    copy.parent.mkdir()
    shutil.copy(DATA / "library-api.yaml", copy)
    return copy


def test_a_cached_profile_equals_a_fresh_compile(tmp_path: Path, library: Path) -> None:
    cache = compiled.ProfileCache(tmp_path / "cache")
    cold = load_profile(library, cache)
    warm = load_profile(library, compiled.ProfileCache(tmp_path / "cache"))
    fresh = load_profile(library)
    assert same(cold, fresh) and same(warm, fresh)
    assert cache.misses == 1 and cache.hits == 0
    assert len(list((tmp_path / "cache" / "profiles").iterdir())) == 1  # one entry, no temporary file left
    assert (tmp_path / "cache" / ".gitignore").read_text() == "*\n"


def test_a_cached_directory_profile_equals_a_fresh_compile(tmp_path: Path) -> None:
    api = tmp_path / "mvmnt"
    shutil.copytree(compiled.BUNDLED_PROFILE, api)
    load_profile(api, compiled.ProfileCache(tmp_path / "cache"))
    warm_cache = compiled.ProfileCache(tmp_path / "cache")
    assert same(load_profile(api, warm_cache), load_openapi_dir(api))
    assert warm_cache.hits == 1


def test_an_edited_document_or_overlay_misses(tmp_path: Path, library: Path) -> None:
    load_profile(library, compiled.ProfileCache(tmp_path / "cache"))
    before = load_profile(library)
    library.write_text(library.read_text().replace("minimum: 1, maximum: 100", "minimum: 1, maximum: 99"))
    edited = compiled.ProfileCache(tmp_path / "cache")
    after = load_profile(library, edited)
    assert edited.hits == 0 and after.kinds["Author"].page_size == 99 != before.kinds["Author"].page_size
    assert same(after, load_profile(library))
    # The overlay beside the document (their-api.declsync.yaml) is part of the key.
    (library.parent / "library-api.declsync.yaml").write_text("name: renamed\n")
    overlaid = compiled.ProfileCache(tmp_path / "cache")
    profile = load_profile(library, overlaid)
    assert overlaid.hits == 0 and profile.name == "renamed" and same(profile, load_profile(library))


def test_a_copy_elsewhere_is_its_own_entry(tmp_path: Path, library: Path) -> None:
    """Paths are part of a profile (its source, its messages): same bytes elsewhere, another key."""
    load_profile(library, compiled.ProfileCache(tmp_path / "cache"))
    other = tmp_path / "other" / library.name
    other.parent.mkdir()
    shutil.copy(library, other)
    cache = compiled.ProfileCache(tmp_path / "cache")
    assert load_profile(other, cache).source == str(other) and cache.hits == 0


@pytest.mark.parametrize("damage", ["truncate", "alter", "foreign", "garbage", "empty", "other-digest"])
def test_a_damaged_entry_is_ignored_with_a_note(tmp_path: Path, library: Path, damage: str) -> None:
    load_profile(library, compiled.ProfileCache(tmp_path / "cache"))
    (entry,) = (tmp_path / "cache" / "profiles").glob("*.json")
    text = entry.read_text()
    header, body = text.split("\n", 1)
    entry.write_text({
        "truncate": text[: len(text) * 2 // 3],
        "alter": text.replace('"nullable":true', '"nullable":false', 1),
        # A well-formed entry whose body is not a profile (checksum right: someone wrote it on purpose).
        "foreign": json.dumps({**json.loads(header), "check": compiled.hashlib.sha256(b'{"kinds":"x"}').hexdigest()})
                   + '\n{"kinds":"x"}',
        "garbage": "\x00\xff not json",
        "empty": "",
        "other-digest": json.dumps({**json.loads(header), "digest": "0" * 64}) + "\n" + body,
    }[damage])
    cache = compiled.ProfileCache(tmp_path / "cache")
    assert same(load_profile(library, cache), load_profile(library))
    assert cache.hits == 0
    assert any("profile cache: ignored corrupt or foreign entry" in note for note in cache.notes), cache.notes
    # ... and replaced by a good one.
    again = compiled.ProfileCache(tmp_path / "cache")
    load_profile(library, again)
    assert again.hits == 1 and not again.notes


def test_an_unwritable_cache_directory_is_a_note_not_an_error(tmp_path: Path, library: Path) -> None:
    blocked = tmp_path / "cache"
    blocked.write_text("a file where the directory would be")
    cache = compiled.ProfileCache(blocked)
    assert same(load_profile(library, cache), load_profile(library))
    assert any("cannot write" in note for note in cache.notes)
    assert blocked.read_text() == "a file where the directory would be"


def test_a_profile_that_fails_to_compile_is_never_cached(tmp_path: Path, library: Path) -> None:
    library.write_text("openapi: 3.1.0\ninfo: {title: x, version: '1'}\npaths: {}\n")
    cache = compiled.ProfileCache(tmp_path / "cache")
    with pytest.raises(ProfileError, match="paths"):
        load_profile(library, cache)
    assert not (tmp_path / "cache").exists()


# --------------------------------------------------------------------------- through the CLI


def test_the_cli_caches_a_profile_and_no_cache_bypasses_it(tmp_path: Path, library: Path,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("DECLSYNC_NO_CACHE", raising=False)
    entries = tmp_path / ".declsync" / "cache" / "profiles"
    uncached = run(["--no-cache", "profile", "show", "Book", "--profile", str(library)])
    also = run(["profile", "show", "Book", "--profile", str(library)], env={"DECLSYNC_NO_CACHE": "1"})
    assert not (tmp_path / ".declsync").exists(), "--no-cache (or DECLSYNC_NO_CACHE) writes no cache"
    cold = run(["profile", "show", "Book", "--profile", str(library)])
    (entry,) = entries.glob("*.json")
    warm = run(["profile", "show", "Book", "--profile", str(library)])
    entry.write_text(entry.read_text()[:100])
    damaged = run(["-v", "profile", "show", "Book", "--profile", str(library)])
    assert uncached.code == also.code == cold.code == warm.code == damaged.code == 0, damaged.all
    assert uncached.out == also.out == cold.out == warm.out == damaged.out
    assert "profile cache: ignored corrupt or foreign entry" in damaged.err
    # The bundled profile ships precompiled: no cache entry for it.
    shutil.rmtree(tmp_path / ".declsync")
    assert run(["profile", "show"]).code == 0
    assert not (tmp_path / ".declsync").exists()


# --------------------------------------------------------------------------- the compiler's memory


class Forgetful(dict):  # type: ignore[type-arg]
    """A ``Document.shapes`` that remembers nothing: every schema flattened afresh."""

    def __setitem__(self, key: Any, value: Any) -> None:
        pass


def _forgetful_documents(monkeypatch: pytest.MonkeyPatch) -> None:
    from declsync.profile.openapi import compile as compile_module

    real = compile_module._document

    def forgetful(*args: Any) -> Any:
        doc = real(*args)
        doc.shapes = Forgetful()
        return doc

    monkeypatch.setattr(compile_module, "_document", forgetful)


@pytest.mark.parametrize("document", [compiled.BUNDLED_PROFILE, *USER_DOCUMENTS[:2]], ids=lambda p: p.name)
def test_remembering_flattened_schemas_changes_no_compiled_profile(document: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    remembered = load_profile(document)
    _forgetful_documents(monkeypatch)
    assert same(load_profile(document), remembered)


_REFS = [f"#/components/schemas/S{i}" for i in range(4)]
schemas = st.recursive(
    st.sampled_from([{"type": "string"}, {"type": "integer", "nullable": True}, {"type": "null"},
                     {"type": "string", "enum": ["A", "B"]}, {"required": ["a"]}])
    | st.sampled_from(_REFS).map(lambda r: {"$ref": r}),
    lambda inner: st.fixed_dictionaries({"type": st.just("object"),
                                         "properties": st.dictionaries(st.sampled_from("abc"), inner, max_size=3)})
    | st.lists(inner, min_size=1, max_size=3).map(lambda xs: {"allOf": xs})
    | st.lists(inner, min_size=1, max_size=3).map(lambda xs: {"oneOf": xs})
    | st.lists(inner, min_size=1, max_size=3).map(lambda xs: {"anyOf": xs})
    | st.tuples(st.lists(st.sampled_from(_REFS).map(lambda r: {"$ref": r}), min_size=1, max_size=3),
                st.sampled_from(["a", "b"])).map(lambda t: {"oneOf": t[0], "discriminator": {"propertyName": t[1]}})
    | st.tuples(inner, st.sampled_from(_REFS)).map(lambda t: {"$ref": t[1], "properties": {"c": t[0]}}),
    max_leaves=10,
)


def _outcome(flatten: Any, doc: Any, ref: str) -> Any:
    try:
        return flatten(doc, {"$ref": ref}, "#/paths/x")
    except Exception as exc:  # the same failure either way is the promise
        return (type(exc), str(exc))


@settings(max_examples=200, deadline=None)
@given(components=st.lists(schemas, min_size=4, max_size=4))
def test_flattening_with_or_without_memory_gives_the_same_shapes(components: list[Any]) -> None:
    from declsync.profile.openapi.document import Document
    from declsync.profile.openapi.shapes import flatten

    data = {"openapi": "3.1.0", "components": {"schemas": {f"S{i}": s for i, s in enumerate(components)}}}
    remembering = Document(data, "doc.yaml")
    forgetting = Document(data, "doc.yaml")
    forgetting.shapes = Forgetful()
    for ref in [*_REFS, *_REFS]:  # twice: the second round answers from memory
        assert _outcome(flatten, remembering, ref) == _outcome(flatten, forgetting, ref)


def test_validate_with_the_bundled_profile_never_loads_the_compiler(tmp_path: Path) -> None:
    """The start-up promise, in a fresh interpreter: the bundled profile comes precompiled."""
    import subprocess
    import sys

    code = ("import sys\nfrom declsync.cli.main import main\n"
            f"sys.argv = ['declsync', '--no-cache', 'validate', {str(REPO / 'manifests')!r}]\n"
            "try:\n    main()\nfinally:\n"
            "    print('COMPILER', 'declsync.profile.openapi' in sys.modules)\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path, timeout=120)
    assert "COMPILER False" in done.stdout, done.stdout + done.stderr


def test_the_parse_cache_key_follows_every_change_of_the_profile() -> None:
    """The parse cache keys its entries by the profile's codec picture: any change, order
    included, is another key; a profile JSON cannot hold exactly still has one."""
    from declsync.manifests.cache import _fingerprint
    from declsync.manifests.yamlload import Limits

    base = load_profile(DATA / "library-api.yaml")
    book = base.kinds["Book"]
    name, spec = next(iter(book.fields.items()))
    changed = replace(base, kinds={**base.kinds, "Book": replace(book, fields={
        **book.fields, name: replace(spec, max_length=(spec.max_length or 0) + 1)})})
    reordered = replace(base, kinds=dict(reversed(list(base.kinds.items()))))
    dated = replace(base, kinds={**base.kinds, "Book": replace(book, fields={
        **book.fields, name: replace(spec, default=datetime.date(2024, 1, 1), has_default=True)})})
    keys = [_fingerprint(p, Limits()) for p in (base, changed, reordered, dated)]
    assert len(set(keys)) == 4
    assert _fingerprint(load_profile(DATA / "library-api.yaml"), Limits()) == keys[0]


def test_an_edited_compiler_misses_and_unreadable_compiler_sources_store_nothing(
        tmp_path: Path, library: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Same declsync version, other compiler code (a development checkout): never served what
    the old code compiled, from the cache or from the precompiled file."""
    load_profile(library, compiled.ProfileCache(tmp_path / "cache"))
    monkeypatch.setattr(compiled, "compiler_digest", lambda: "0" * 64)
    edited = compiled.ProfileCache(tmp_path / "cache")
    load_profile(library, edited)
    assert edited.hits == 0 and edited.misses == 1
    digest = compiled.sources_digest(compiled.BUNDLED_PROFILE, compiled._BUNDLED_LABEL)
    assert digest is not None
    with pytest.raises(ValueError, match="not an entry"):
        compiled.read_entry(compiled.BUNDLED_COMPILED, digest)
    monkeypatch.setattr(compiled, "compiler_digest", lambda: None)
    shutil.rmtree(tmp_path / "cache")
    unknown = compiled.ProfileCache(tmp_path / "cache")
    assert same(load_profile(library, unknown), load_profile(library))
    assert not (tmp_path / "cache").exists()
