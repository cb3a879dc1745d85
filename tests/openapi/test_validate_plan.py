"""What a compiled profile makes the validator and the planner do: formats, create-only
fields, discriminated kinds."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from helpers import resource
from hypothesis import given, settings
from hypothesis import strategies as st

from declsync.plan import Action
from declsync.planning.planner import make_plan
from declsync.profile.model import load_profile, validate_body

PROFILE = load_profile(Path(__file__).parent / "data" / "library-api.yaml")
BOOK = PROFILE.kinds["Book"]
AUTHOR = PROFILE.kinds["Author"]
AUTHOR_ID = "0b0e4a4e-7a55-4d6e-9a39-3f1c2d2c0001"


def messages(kind: Any, body: dict[str, Any], mode: Any = "manifest") -> dict[str, str]:
    return {v.field: v.message for v in validate_body(kind, body, mode)}


def live_book(**fields: Any) -> dict[str, Any]:
    return {"id": "b0000000-0000-4000-8000-000000000001", "key": "B-1", "type": "PRINT", "title": "Old",
            "isbn": "111", "authorId": AUTHOR_ID, "pages": 100, "tags": [], "publisher": None,
            "updatedAt": "2025-01-01T00:00:00.000Z", **fields}


def plan_book(spec: dict[str, Any], live: dict[str, Any] | None, applied: dict[str, Any] | None = None) -> Any:
    res = resource("Book", "B-1", spec)
    live_map = {("Book", "B-1"): live} if live is not None else {}
    applied_map = {("Book", "B-1"): applied} if applied is not None else {}
    (change,) = make_plan([res], live_map, applied_map, PROFILE).changes
    return change


def test_formats_are_checked_with_the_expected_shape_in_the_message() -> None:
    got = messages(AUTHOR, {"email": "ops-at-example", "born": "1929-13-01"})
    assert got["email"] == "expected an email address such as ops@example.com, got 'ops-at-example'"
    assert got["born"] == "expected a date YYYY-MM-DD such as 2025-01-22, got '1929-13-01'"
    assert messages(AUTHOR, {"email": "ops@example.com", "born": "1929-10-21"}) == {}
    got = messages(BOOK, {"authorId": "not-a-uuid"})
    assert got["authorId"] == "expected a UUID (or {$ref: Author/KEY}), got 'not-a-uuid'"


@given(st.emails())
def test_every_valid_email_passes(email: str) -> None:
    assert messages(AUTHOR, {"email": email}) == {}


def test_a_manifest_may_declare_a_create_only_field_a_patch_may_not() -> None:
    assert messages(BOOK, {"isbn": "978"}) == {}
    assert messages(BOOK, {"type": "PRINT", "isbn": "978"}, "patch") == {
        "isbn": "can only be set when the resource is created"}


def test_a_patch_to_a_discriminated_kind_must_name_its_variant() -> None:
    assert messages(BOOK, {"title": "x"}, "patch") == {
        "type": "a Book patch must carry 'type' (it tells the variants apart)"}
    assert messages(BOOK, {"type": "PRINT", "title": "x"}, "patch") == {}


def test_fields_of_another_variant_are_refused_in_every_mode() -> None:
    for mode in ("manifest", "patch", "create"):
        got = messages(BOOK, {"type": "PRINT", "title": "t", "authorId": AUTHOR_ID, "fileSizeMb": 2}, mode)
        assert got == {"fileSizeMb": "not a field of Book with type PRINT; it belongs to type EBOOK"}


def test_nested_required_fields_apply_on_create() -> None:
    body = {"key": "B-1", "type": "PRINT", "title": "t", "authorId": AUTHOR_ID, "publisher": {"city": "Berkeley"}}
    assert messages(BOOK, body, "create") == {"publisher.name": "This field is required"}
    assert messages(BOOK, {"type": "PRINT", "publisher": {"city": "Berkeley"}}, "patch") == {}


def test_a_changed_create_only_field_is_a_warning_never_sent() -> None:
    change = plan_book({"type": "PRINT", "title": "New", "isbn": "222"}, live_book())
    assert change.action is Action.UPDATE
    assert change.patch == {"type": "PRINT", "title": "New"}
    assert [c.path for c in change.field_changes] == ["title"]
    assert any("isbn" in w and "can only be set when the resource is created" in w for w in change.warnings)


def test_only_a_create_only_change_is_no_change_with_a_warning() -> None:
    change = plan_book({"type": "PRINT", "isbn": "222"}, live_book())
    assert change.action is Action.NOOP and change.patch is None
    assert any("can only be set when the resource is created" in w for w in change.warnings)


def test_a_create_sends_create_only_fields() -> None:
    change = plan_book({"type": "PRINT", "title": "T", "isbn": "222", "authorId": AUTHOR_ID}, None)
    assert change.action is Action.CREATE and change.patch["isbn"] == "222"


def test_an_unchanged_discriminator_is_sent_even_when_not_declared() -> None:
    # The manifest does not declare `type`: the live variant goes with the patch.
    change = plan_book({"title": "New"}, live_book(type="EBOOK"))
    assert change.patch == {"type": "EBOOK", "title": "New"}
    # ... and it is not shown as a change: it did not change.
    assert [c.path for c in change.field_changes] == ["title"]
    assert "type" not in change.after


def test_a_changed_discriminator_is_sent_as_declared() -> None:
    change = plan_book({"type": "EBOOK", "pages": None}, live_book(), applied={"type": "PRINT", "pages": 100})
    assert change.patch == {"type": "EBOOK", "pages": None}


@settings(max_examples=60, deadline=None)
@given(
    title=st.sampled_from(["Old", "New", None]),
    isbn=st.sampled_from(["111", "222", None]),
    pages=st.sampled_from([100, 200, None]),
    kind=st.sampled_from(["PRINT", None]),
)
def test_every_book_patch_carries_type_and_never_isbn(title: Any, isbn: Any, pages: Any, kind: Any) -> None:
    spec = {k: v for k, v in {"type": kind, "title": title, "isbn": isbn, "pages": pages}.items() if v is not None}
    change = plan_book(spec, live_book())
    if change.patch is not None:
        assert change.patch.get("type") == "PRINT"
        assert "isbn" not in change.patch
        # Whatever the plan sends, the sandbox's patch validation accepts.
        assert validate_body(BOOK, change.patch, "patch") == []
