"""`declsync profile show [KIND]`: what may be declared, from any profile."""

from __future__ import annotations

from pathlib import Path

from helpers import run

DOC = str(Path(__file__).parent / "data" / "library-api.yaml")


def test_lists_the_kinds_of_an_openapi_document() -> None:
    result = run(["profile", "show", "--profile", DOC])
    assert result.code == 0, result.all
    assert "Profile Library API" in result.out
    for line in ("Author  /authors  3 fields; lookup POST /authors/filter (pages of 100, pageInfo)",
                 "Series  /series  1 field; lookup GET /series/{key}?by=key",
                 "Book    /books  11 fields, told apart by type"):
        assert line in result.out


def test_shows_a_kinds_fields_with_type_nullability_create_only_and_enum_values() -> None:
    out = run(["profile", "show", "Book", "--profile", DOC]).out
    lines = [line.strip() for line in out.splitlines()]
    assert "isbn         string  (create-only)" in lines
    assert "genre        enum  (nullable; one of: FICTION, POETRY, HISTORY, SCIENCE)" in lines
    assert "authorId     string  (required; format uuid; the id of an Author: {$ref: Author/KEY})" in lines
    assert "name  string  (required)" in lines  # publisher.name, nested
    assert "tags         array of string" in lines
    assert any(line.startswith("read-only (never in a manifest):") and "rating" in line for line in lines)


def test_the_bundled_profile_and_an_unknown_kind() -> None:
    assert "Order" in run(["profile", "show"]).out
    bad = run(["profile", "show", "Ordr"])
    assert bad.code == 1 and "unknown kind 'Ordr' (did you mean 'Order'?)" in bad.err
