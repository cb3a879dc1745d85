"""The kinds the bundled MVMNT profile gained from the published contract (issue 11 §2):
customer, location and carrier contacts, vendors and payment terms, as their documents say."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from declsync.profile.model import KindSpec, default_profile, load_profile
from declsync.profile.openapi import Document, compile_document
from declsync.remote.dialect import with_ids

BUNDLED = Path(__file__).resolve().parents[2] / "declsync" / "profiles" / "mvmnt"
DOCUMENTS = {
    "customer-contacts.yaml": "CustomerContact", "location-contacts.yaml": "LocationContact",
    "carrier-contacts.yaml": "CarrierContact", "vendors.yaml": "Vendor", "payment-terms.yaml": "PaymentTerm",
}


@pytest.fixture(scope="module")
def kinds() -> dict[str, KindSpec]:
    return dict(default_profile().kinds)


@pytest.mark.parametrize("file", sorted(DOCUMENTS))
def test_each_transcription_names_its_source_and_has_no_descriptions(file: str) -> None:
    text = (BUNDLED / file).read_text()
    assert text.startswith("# The published MVMNT contract")
    assert f"openapi/mvmnt-{file.removesuffix('.yaml')}-api-openapi.yml in api-evangelist/mvmnt" in text
    doc = yaml.safe_load(text)
    assert "x-parsed-md-description:" not in text and "example:" not in text
    assert doc["openapi"] == "3.1.0" and all(isinstance(v, dict) for v in doc["paths"].values())


@pytest.mark.parametrize("file", sorted(DOCUMENTS))
def test_each_document_alone_compiles_to_its_kind(file: str) -> None:
    assert list(load_profile(BUNDLED / file).kinds) == [DOCUMENTS[file]]


def test_contacts_take_their_parent_by_id_and_read_it_back_from_the_parent_object(kinds: dict[str, KindSpec]) -> None:
    customer_contact, carrier_contact = kinds["CustomerContact"], kinds["CarrierContact"]
    cid = customer_contact.fields["customerId"]
    assert (cid.ref_kind, cid.required, cid.create_only, cid.format) == ("Customer", True, True, "uuid")
    assert carrier_contact.fields["carrierId"].ref_kind == "Carrier" and carrier_contact.fields["carrierId"].create_only
    # The answers carry customer {id, ...} / carrier {id, ...}, never the id field itself.
    assert dict(customer_contact.id_from) == {"customerId": "customer"}
    assert dict(carrier_contact.id_from) == {"carrierId": "carrier"}
    assert "customer" in customer_contact.read_only and "invitedUser" in customer_contact.read_only


def test_contact_info_is_a_nested_object_required_on_create(kinds: dict[str, KindSpec]) -> None:
    for name in ("CustomerContact", "CarrierContact"):
        info = kinds[name].fields["contactInfo"]
        assert info.type == "object" and info.required
        assert {n for n, f in info.fields.items() if f.required} == {"name"}
        assert info.fields["email"].format == "email" and info.fields["title"].nullable
    assert kinds["CustomerContact"].fields["contactTypes"].items.values[:2] == ("ACCOUNT_MANAGER", "BILLING")  # type: ignore[union-attr]
    assert kinds["CarrierContact"].fields["contactTypes"].items.values[-1] == "OWNER"  # type: ignore[union-attr]


def test_location_contacts_link_a_location_and_a_customer_contact(kinds: dict[str, KindSpec]) -> None:
    link = kinds["LocationContact"]
    assert link.fields["locationId"].ref_kind == "Location" and not link.fields["locationId"].create_only
    assert link.fields["customerContactId"].ref_kind == "CustomerContact"
    assert link.fields["isPrimary"].required and not link.id_from  # the answer repeats both ids
    assert {"location", "customerContact"} <= link.read_only


def test_vendors_and_payment_terms(kinds: dict[str, KindSpec]) -> None:
    vendor, term = kinds["Vendor"], kinds["PaymentTerm"]
    assert vendor.fields["paymentTermId"].ref_kind == "PaymentTerm" and dict(vendor.id_from) == {
        "paymentTermId": "paymentTerm"}
    assert vendor.fields["currency"].values == ("USD", "CAD", "MXN", "EUR", "GBP")
    assert {n for n, f in vendor.fields["corporateAddress"].fields.items() if f.required} == {
        "line1", "city", "country", "market"}
    assert vendor.fields["status"].type == "string"  # the contract's VendorPatch/VendorInput: a free string
    assert (term.fields["days"].type, term.fields["quickPayFee"].type, term.fields["name"].required) == (
        "integer", "number", True)
    # Payment terms are the contract's only new kind with 422 and the `pagination` envelope.
    assert (term.validation_status, term.page_envelope, vendor.validation_status, vendor.page_envelope) == (
        422, "pagination", 400, "pageInfo")
    # Carrier and Customer refer to the PaymentTerm kind now (by id, and by {id}/{key}).
    assert kinds["Carrier"].fields["paymentTermId"].ref_kind == "PaymentTerm"
    assert dict(kinds["Carrier"].id_from) == {"paymentTermId": "paymentTerm"}


@pytest.mark.parametrize("name", sorted(DOCUMENTS.values()))
def test_new_kinds_are_looked_up_by_filter_and_soft_deleted(kinds: dict[str, KindSpec], name: str) -> None:
    kind = kinds[name]
    assert kind.lookup_filter and kind.page_size == 250
    assert dict(kind.delete) == {"method": "delete"}
    assert {"id", "createdAt", "deletedAt", "object"} <= kind.read_only


def test_vendor_contacts_have_no_client_key_and_are_left_out(kinds: dict[str, KindSpec]) -> None:
    # mvmnt-vendor-contacts-api-openapi.yml: no `key` in VendorContactInput, VendorContact or its filter.
    assert "VendorContact" not in kinds and not (BUNDLED / "vendor-contacts.yaml").exists()


def test_kinds_come_in_the_overlays_order() -> None:
    # The directory's files sort carrier-contacts.yaml first; declsync.yaml lists the order shown.
    assert list(default_profile().kinds) == ["Customer", "Location", "Carrier", "CustomerContact", "LocationContact",
                                             "CarrierContact", "Vendor", "PaymentTerm", "Order", "Shipment"]


def _tiny_api(answer_has_id_field: bool) -> dict:  # type: ignore[type-arg]
    ref = {"type": "object", "properties": {"id": {"type": "string", "format": "uuid"}, "name": {"type": "string"}}}
    note = {"type": "object", "properties": {
        "id": {"type": "string", "readOnly": True}, "key": {"type": ["string", "null"]}, "text": {"type": "string"},
        "author": ref, **({"authorId": {"type": "string", "format": "uuid"}} if answer_has_id_field else {})}}
    author = {"type": "object", "properties": {"id": {"type": "string", "readOnly": True},
                                               "key": {"type": ["string", "null"]}, "name": {"type": "string"}}}

    def crud(inp: str, out: str) -> dict:  # type: ignore[type-arg]
        body = {"content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{inp}"}}}}
        answer = {"content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{out}"}}}}
        return {"post": {"requestBody": body, "responses": {"201": answer}},
                "item": {"get": {"responses": {"200": answer}}, "patch": {"requestBody": body,
                                                                          "responses": {"200": answer}}}}

    paths = {}
    for r, (inp, out) in {"notes": ("NoteInput", "Note"), "authors": ("AuthorInput", "Author")}.items():
        ops = crud(inp, out)
        paths[f"/{r}"] = {"post": ops["post"]}
        paths[f"/{r}/{{id}}"] = ops["item"]
    note_input = {"type": "object", "properties": {"key": {"type": "string"}, "text": {"type": "string"},
                                                   "authorId": {"type": "string", "format": "uuid"}}}
    author_input = {"type": "object", "properties": {"key": {"type": "string"}, "name": {"type": "string"}}}
    return {"openapi": "3.1.0", "info": {"title": "notes", "version": "1"}, "paths": paths,
            "components": {"schemas": {"Note": note, "NoteInput": note_input, "Author": author,
                                       "AuthorInput": author_input}}}


@pytest.mark.parametrize("answer_has_id_field", [False, True])
def test_an_id_field_the_answer_holds_only_as_an_object_is_read_back_from_it(answer_has_id_field: bool) -> None:
    profile = compile_document(Document(_tiny_api(answer_has_id_field), "notes.yaml"))
    note = profile.kinds["Note"]
    assert note.fields["authorId"].ref_kind == "Author"
    assert dict(note.id_from) == ({} if answer_has_id_field else {"authorId": "author"})
    if not answer_has_id_field:
        assert with_ids(note, {"id": "n1", "author": {"id": "a1", "name": "Ann"}})["authorId"] == "a1"
        assert with_ids(note, {"id": "n1", "author": None})["authorId"] is None
        # An answer that has the field itself wins; an answer without the object is left alone.
        assert with_ids(note, {"id": "n1", "authorId": "a2", "author": {"id": "a1"}})["authorId"] == "a2"
        assert "authorId" not in with_ids(note, {"id": "n1"})
