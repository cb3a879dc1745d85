"""The sandbox held to the contract (issue 11 §3): whatever a client sends, valid or not,
every answer is one the contract documents (status code and body), with the error status the
contract names per resource, both lookups and each resource's page envelope."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from contract.asgi import ContractMiddleware
from contract.checker import Contract, contract, summary
from declsync.profile.model import default_profile
from declsync.sandbox import SandboxConfig, SandboxServer

ADDRESS = {"line1": "1 Main St", "city": "Chicago", "country": "US", "market": "Chicago"}
VALID: dict[str, dict[str, Any]] = {
    "customers": {"key": "C-1", "name": "Acme", "status": "ACTIVE", "corporateAddress": ADDRESS},
    "carriers": {"key": "CA-1", "name": "Swift", "type": "TRUCKLOAD"},
}
# Bodies the contract refuses, and the status its document names for each resource.
INVALID: dict[str, tuple[dict[str, Any], int]] = {
    "customers": ({"key": "C-2", "name": "Acme", "status": "NOPE"}, 422),
    "locations": ({"key": "L-2", "name": "Dock"}, 400),
    "carriers": ({"key": "CA-2", "name": "No type"}, 400),
}


@pytest.fixture(scope="module")
def checked() -> Iterator[tuple[Contract, httpx.Client]]:
    checker = contract()
    with SandboxServer(SandboxConfig(db_path=":memory:"), middleware=ContractMiddleware.around(checker)) as server, \
            httpx.Client(base_url=server.base_url + "/", timeout=10) as client:
        yield checker, client


def _answers_only(checker: Contract) -> list[Any]:
    return [v for v in checker.take() if v.side == "response"]


@pytest.mark.parametrize("path", sorted(INVALID))
def test_invalid_bodies_get_the_contracts_status_with_details(checked: tuple[Contract, httpx.Client],
                                                              path: str) -> None:
    checker, client = checked
    checker.take()
    body, status = INVALID[path]
    answer = client.post(path, json=body)
    assert answer.status_code == status, answer.text
    assert answer.json()["details"], answer.text
    requests = [v for v in checker.violations if v.side == "request"]
    assert requests, "the checker must see that this body is outside the contract"
    violations = _answers_only(checker)
    assert violations == [], summary(violations)


def test_both_lookups_and_the_envelope_of_each_resource(checked: tuple[Contract, httpx.Client]) -> None:
    checker, client = checked
    checker.take()
    customer = client.post("customers", json=VALID["customers"])
    assert customer.status_code == 201, customer.text
    assert customer.json()["object"] == "CUSTOMER"  # the contract's constant, on every answer
    address = customer.json()["corporateAddress"]
    assert address["isSmartyValidated"] is False and address["obeysDst"] is True
    location = client.post("locations", json={"key": "L-1", "name": "Dock", "customerId": customer.json()["id"],
                                                  "isAppointmentRequired": False})
    carrier = client.post("carriers", json=VALID["carriers"])
    assert (location.status_code, carrier.status_code) == (201, 201), (location.text, carrier.text)
    profile = default_profile()
    for kind in profile.kinds.values():
        page = client.post(f"{kind.path}/filter", json={"filter": {"key": {"in": ["C-1", "L-1", "CA-1"]}}})
        assert page.status_code == 200 and kind.page_envelope in page.json(), page.text
        for item in page.json()["data"]:
            by_key = client.get(f"{kind.path}/{item['key']}", params={"by": "key"})
            assert by_key.status_code == 200 and by_key.json()["id"] == item["id"]
        missing = client.get(f"{kind.path}/NO-SUCH-KEY", params={"by": "key"})
        assert missing.status_code == 404
    assert {k.path: k.page_envelope for k in profile.kinds.values()}["customers"] == "pagination"
    violations = checker.take()
    assert violations == [], summary(violations)
