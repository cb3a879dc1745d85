"""Compiling OpenAPI documents into profiles: what the document alone says, and the overlay."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import yaml

from declsync.errors import ProfileError
from declsync.profile.model import default_profile, load_profile
from declsync.profile.openapi import Document, compile_document

DATA = Path(__file__).parent / "data"
LIBRARY = DATA / "library-api.yaml"
MVMNT = Path(__file__).resolve().parents[2] / "declsync" / "profiles" / "mvmnt" / "customers-locations-carriers.yaml"


@pytest.fixture(scope="module")
def library() -> Any:
    return load_profile(LIBRARY)


def test_kinds_are_named_after_the_schema_get_answers_with(library: Any) -> None:
    assert list(library.kinds) == ["Author", "Series", "Book"]
    assert library.name == "Library API"
    assert {k.name: k.path for k in library.kinds.values()} == {"Author": "authors", "Series": "series", "Book": "books"}


def test_lookup_envelope_page_size_status_and_delete_come_from_the_paths(library: Any) -> None:
    author, series, book = (library.kinds[k] for k in ("Author", "Series", "Book"))
    assert (author.lookup_filter, author.page_size, author.page_envelope) == (True, 100, "pageInfo")
    assert (book.lookup_filter, book.page_size, book.page_envelope) == (True, 50, "pagination")
    # No /series/filter: the contract's other lookup, GET /series/{key}?by=key.
    assert (series.lookup_filter, series.lookup_by_key) == (False, True)
    assert (author.validation_status, book.validation_status) == (400, 422)
    assert dict(author.delete) == {"method": "delete"}
    assert dict(book.delete) == {"method": "refuse"}  # the document has no DELETE /books/{id}


def test_fields_types_formats_nullability_and_required(library: Any) -> None:
    author = library.kinds["Author"]
    assert set(author.fields) == {"name", "email", "born"}
    assert author.fields["name"].required and not author.fields["name"].nullable
    # Nullable: the patch schema's `type: [string, 'null']` (PATCH with null is what clears).
    assert author.fields["email"].nullable and author.fields["email"].format == "email"
    assert author.fields["born"].format == "date"
    assert {"id", "createdAt", "updatedAt"} <= author.read_only
    book = library.kinds["Book"].fields
    assert book["genre"].type == "enum" and book["genre"].values == ("FICTION", "POETRY", "HISTORY", "SCIENCE")
    assert book["genre"].nullable  # anyOf [$ref, {type: null}]
    assert book["publisher"].type == "object" and book["publisher"].fields["name"].required
    assert book["publisher"].fields["city"].nullable
    assert book["tags"].type == "array" and book["tags"].items is not None and book["tags"].items.type == "string"
    assert "rating" in library.kinds["Book"].read_only  # answered, never writable


def test_create_only_discriminator_and_variants(library: Any) -> None:
    book = library.kinds["Book"]
    assert book.fields["isbn"].create_only
    assert not any(f.create_only for n, f in book.fields.items() if n != "isbn")
    assert book.discriminator == "type"
    assert book.fields["type"].values == ("PRINT", "EBOOK") and book.fields["type"].required
    assert "pages" in book.variants["PRINT"] and "pages" not in book.variants["EBOOK"]
    assert "fileSizeMb" in book.variants["EBOOK"]


def test_references_by_object_and_by_bare_uuid(library: Any) -> None:
    book = library.kinds["Book"].fields
    assert (book["series"].type, book["series"].kind) == ("reference", "Series")
    assert (book["authorId"].type, book["authorId"].ref_kind) == ("string", "Author")
    assert library.kinds["Book"].ref_fields == ("authorId", "series")


def test_the_old_profile_format_keeps_working() -> None:
    assert load_profile(None) is default_profile()
    assert "Order" in default_profile().kinds


def test_openapi_30_nullable_and_a_json_document(tmp_path: Path) -> None:
    doc = yaml.safe_load(LIBRARY.read_text())
    doc["openapi"] = "3.0.3"
    doc["components"]["schemas"]["AuthorPatch"]["properties"]["email"] = {
        "type": "string", "format": "email", "nullable": True}
    doc["components"]["schemas"]["AuthorPatch"]["properties"]["born"] = {
        "allOf": [{"type": "string", "format": "date"}], "nullable": True}
    path = tmp_path / "api.json"
    path.write_text(json.dumps(doc))
    author = load_profile(path).kinds["Author"]
    assert author.fields["email"].nullable and author.fields["email"].format == "email"
    assert author.fields["born"].nullable and author.fields["born"].format == "date"


def test_overlay_file_beside_the_document(tmp_path: Path) -> None:
    (tmp_path / "lib.yaml").write_text(LIBRARY.read_text())
    (tmp_path / "lib.declsync.yaml").write_text(
        "name: library\nkinds:\n  Book:\n    friendlyIdPrefix: BK-\n    sensitive: [isbn]\n"
        "    delete: {patch: {title: withdrawn}}\n    pageSize: 10\n")
    profile = load_profile(tmp_path / "lib.yaml")
    book = profile.kinds["Book"]
    assert profile.name == "library"
    assert (book.friendly_id_prefix, book.page_size, dict(book.delete)) == ("BK-", 10, {"patch": {"title": "withdrawn"}})
    assert book.fields["isbn"].sensitive and book.sensitive_paths() == frozenset({"isbn"})


def test_overlay_in_the_document_names_an_id_field_kind() -> None:
    doc = yaml.safe_load(LIBRARY.read_text())
    doc["components"]["schemas"]["BookBase"]["properties"]["editorId"] = {"type": "string", "format": "uuid"}
    doc["x-declsync"] = {"kinds": {"Book": {"refKinds": {"editorId": "Author"}}}}
    profile = compile_document(Document(doc, "lib.yaml"))
    assert profile.kinds["Book"].fields["editorId"].ref_kind == "Author"


def test_overlay_defaults_are_what_the_server_fills_in() -> None:
    doc = yaml.safe_load(LIBRARY.read_text())
    plain = compile_document(Document(doc, "lib.yaml")).kinds["Book"].fields["genre"]
    book = compile_document(Document(doc, "lib.yaml"), {"kinds": {"Book": {"defaults": {"genre": "FICTION"}}}})
    genre = book.kinds["Book"].fields["genre"]
    assert not plain.has_default and (genre.has_default, genre.default) == (True, "FICTION")


@pytest.mark.parametrize(
    ("overlay", "message"),
    [
        ({"kinds": {"Bok": {}}}, "kinds.Bok: no such kind in lib.yaml (did you mean 'Book'?)"),
        ({"kinds": {"Book": {"friendlyPrefix": "B"}}}, "unknown overlay setting 'friendlyPrefix' (did you mean 'friendlyIdPrefix'?)"),
        ({"kinds": {"Book": {"refKinds": {"isbn": "Publisher"}}}}, "Book.isbn refers to kind 'Publisher'"),
        ({"kinds": {"Book": {"pageSize": 0}}}, "pageSize must be an integer between 1 and 1000"),
        ({"kinds": {"Book": {"refKinds": ["editorId"]}}}, "kinds.Book.refKinds must be a mapping of field name to kind"),
        ({"kinds": {"Book": {"sensitive": "isbn"}}}, "kinds.Book.sensitive must be a list of field names"),
        ({"kinds": ["Book"]}, "kinds must be a mapping of kind name to settings"),
        ({"nmae": "x"}, "unknown overlay setting 'nmae' (did you mean 'name'?)"),
        ({"kinds": {"Book": {"defaults": {"titel": "x"}}}}, "defaults.titel: not a writable field (did you mean 'title'?)"),
        ({"kinds": {"Book": {"defaults": ["title"]}}}, "kinds.Book.defaults must be a mapping of field name"),
    ],
)
def test_bad_overlays_are_refused_clearly(overlay: dict[str, Any], message: str) -> None:
    doc = yaml.safe_load(LIBRARY.read_text())
    with pytest.raises(ProfileError) as err:
        compile_document(Document(doc, "lib.yaml"), overlay)
    assert message in str(err.value)


def test_a_broken_reference_is_reported_with_file_and_line(tmp_path: Path) -> None:
    text = LIBRARY.read_text().replace("'#/components/schemas/AuthorInput'", "'#/components/schemas/AuthorInptu'")
    path = tmp_path / "api.yaml"
    path.write_text(text)
    with pytest.raises(ProfileError) as err:
        load_profile(path)
    line = next(i for i, s in enumerate(text.splitlines(), 1) if "AuthorInptu" in s)
    assert f"{path}:{line} " in str(err.value) and "points at nothing" in str(err.value)


def test_a_document_without_kinds_says_why(tmp_path: Path) -> None:
    path = tmp_path / "api.yaml"
    path.write_text("openapi: 3.1.0\ninfo: {title: t, version: '1'}\npaths:\n  /things:\n    get: {responses: {'200': {description: ok}}}\n")
    with pytest.raises(ProfileError, match="no resource kinds found"):
        load_profile(path)
    path.write_text("openapi: 2.0\npaths: {}\n")
    with pytest.raises(ProfileError, match=r"not supported; use a 3\.0 or 3\.1 document"):
        load_profile(path)


def test_the_published_mvmnt_contract_compiles() -> None:
    profile = load_profile(MVMNT)
    assert list(profile.kinds) == ["Customer", "Location", "Carrier"]
    customer, location, carrier = (profile.kinds[k] for k in profile.kinds)
    assert (customer.validation_status, customer.page_envelope) == (422, "pagination")
    assert (carrier.validation_status, carrier.page_envelope) == (400, "pageInfo")
    assert len(customer.fields["currency"].values) == 17
    address = customer.fields["corporateAddress"].fields
    assert {n for n, f in address.items() if f.required} == {"line1", "city", "country", "market"}
    assert address["latitude"].type == "string" and "state" not in address
    assert location.fields["customerId"].ref_kind == "Customer"
    assert carrier.discriminator == "type" and len(carrier.variants) == 7
    assert carrier.fields["email"].format == "email"


def test_the_contract_says_more_than_the_hand_written_profile() -> None:
    """The differences issue 11 measured with a validating proxy, found by the compiler alone."""
    contract = load_profile(MVMNT)
    hand = load_profile(Path(__file__).parents[1] / "fixtures" / "handwritten-mvmnt.yaml")  # the old format loads
    extra = {k: set(contract.kinds[k].fields) - set(hand.kinds[k].fields) for k in contract.kinds}
    assert (len(extra["Customer"]), len(extra["Carrier"]), len(extra["Location"])) == (26, 39, 0)
    assert not any(set(hand.kinds[k].fields) - set(contract.kinds[k].fields) for k in contract.kinds)
    c, h = contract.kinds["Customer"].fields, hand.kinds["Customer"].fields
    assert (len(h["currency"].values), len(c["currency"].values)) == (5, 17)
    assert (len(h["defaultMode"].values), len(c["defaultMode"].values)) == (7, 11)
    assert hand.kinds["Carrier"].discriminator is None and contract.kinds["Carrier"].discriminator == "type"


def test_the_bundled_default_profile_follows_the_contract() -> None:
    """Issue 11 §2: Customer, Location, Carrier as the contract says; Order and Shipment kept from the guides."""
    bundled, contract = default_profile(), load_profile(MVMNT)
    for name in ("Customer", "Location", "Carrier"):
        # The overlay adds only what the document cannot say: Carrier's server default status.
        # paymentTerm(Id): an object / a string alone, a reference once payment-terms.yaml brings PaymentTerm
        fields = {n: f for n, f in contract.kinds[name].fields.items() if not n.startswith("paymentTerm")}
        if name == "Carrier":
            fields["status"] = replace(fields["status"], default="ACTIVE", has_default=True)
        assert {n: f for n, f in bundled.kinds[name].fields.items() if not n.startswith("paymentTerm")} == fields
    assert bundled.kinds["Customer"].fields["paymentTerm"].kind == "PaymentTerm"
    address = bundled.kinds["Customer"].fields["corporateAddress"].fields
    assert {n for n, f in address.items() if f.required} == {"line1", "city", "country", "market"}
    assert "state" not in address and "postalCode" not in address
    assert address["latitude"].type == "string" and address["longitude"].type == "string"
    carrier = bundled.kinds["Carrier"]
    assert carrier.discriminator == "type" and carrier.fields["email"].format == "email"
    assert len(bundled.kinds["Customer"].fields["currency"].values) == 17
    assert bundled.kinds["Customer"].validation_status == 422 and bundled.kinds["Customer"].page_envelope == "pagination"
    order = bundled.kinds["Order"]
    assert order.fields["status"].values == ("draft", "quoted", "booked", "dispatched", "in_transit", "delivered",
                                             "canceled")
    assert order.delete == {"patch": {"status": "canceled"}} and order.computed["totalRevenue"].sum == "charges.amount"
    assert order.fields["stops"].items is not None and order.fields["freight"].type == "object"
    assert bundled.kinds["Shipment"].fields["order"].kind == "Order"
    assert bundled.kinds["Order"].friendly_id_prefix == "ORD-"


def test_a_directory_of_documents_is_one_api(tmp_path: Path) -> None:
    """One API split by resource (as MVMNT publishes it): kinds refer across documents."""
    doc = yaml.safe_load(LIBRARY.read_text())
    authors = {**doc, "paths": {p: v for p, v in doc["paths"].items() if p.startswith("/authors")}}
    books = {**doc, "paths": {p: v for p, v in doc["paths"].items() if not p.startswith("/authors")}}
    (tmp_path / "authors.yaml").write_text(yaml.safe_dump(authors))
    (tmp_path / "books.json").write_text(json.dumps(books))
    (tmp_path / "declsync.yaml").write_text("name: split-library\nkinds: {Book: {friendlyIdPrefix: BK-}}\n")
    profile = load_profile(tmp_path)
    assert profile.name == "split-library" and sorted(profile.kinds) == ["Author", "Book", "Series"]
    assert profile.kinds["Book"].fields["authorId"].ref_kind == "Author"  # Author lives in the other document
    assert profile.kinds["Book"].friendly_id_prefix == "BK-"
    (tmp_path / "notes.yaml").write_text("just: notes\n")
    with pytest.raises(ProfileError, match=r"notes\.yaml: not an OpenAPI document"):
        load_profile(tmp_path)


def test_the_bundled_contract_directory_compiles() -> None:
    assert sorted(load_profile(MVMNT.parent).kinds) == [
        "Carrier", "CarrierContact", "Customer", "CustomerContact", "Location", "LocationContact", "Order",
        "PaymentTerm", "Shipment", "Vendor"]


def test_allof_inheritance_with_a_discriminator_on_the_base() -> None:
    pet = load_profile(DATA / "pets-api-30.yaml").kinds["Pet"]
    assert pet.discriminator == "petType"
    assert pet.fields["petType"].values == ("Cat", "Dog")  # no mapping: the schema names
    assert {"huntingSkill", "packSize", "name"} <= set(pet.fields)
    assert "packSize" not in pet.variants["Cat"] and "huntingSkill" in pet.variants["Cat"]
    assert pet.fields["nickname"].nullable and pet.fields["name"].required


def test_the_profile_file_format_says_the_same_things(tmp_path: Path) -> None:
    """What a compiled document records can be written by hand too (createOnly, discriminator, …)."""
    path = tmp_path / "p.yaml"
    path.write_text(
        "kinds:\n  Book:\n    path: books\n    lookup: {filter: false, byKey: true, envelope: pagination}\n"
        "    validationStatus: 422\n    discriminator: type\n    variants: {PRINT: [type, pages], EBOOK: [type]}\n"
        "    fields:\n      type: {type: enum, values: [PRINT, EBOOK], required: true}\n"
        "      pages: {type: integer}\n      isbn: {type: string, format: isbn, createOnly: true}\n")
    book = load_profile(path).kinds["Book"]
    assert (book.lookup_by_key, book.page_envelope, book.validation_status) == (True, "pagination", 422)
    assert book.discriminator == "type" and book.variants["EBOOK"] == frozenset({"type"})
    assert book.fields["isbn"].create_only
    for bad, message in (("validationStatus: 422", "validationStatus: 418"),
                         ("discriminator: type", "discriminator: tpye"),
                         ("EBOOK: [type]", "EBOOK: [type, fileSize]")):
        path.write_text(path.read_text().replace(bad, message))
        with pytest.raises(ProfileError):
            load_profile(path)
        path.write_text(path.read_text().replace(message, bad))
