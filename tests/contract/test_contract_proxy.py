"""declsync → validating proxy (the published contract) → sandbox, over real loopback HTTP:
a realistic manifest set converges with zero contract violations, and the checker is not
vacuous (the old hand-written profile's requests are caught)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from helpers import Result, run

from contract.checker import Contract, contract, summary
from contract.count import HANDWRITTEN, RUNS, measure
from contract.proxy import validating_proxy
from declsync.sandbox import SandboxConfig, SandboxServer

MANIFESTS = {
    "customers.yaml": """\
kind: Customer
key: CUST-ACME
spec:
  name: Acme Foods
  status: ACTIVE
  currency: USD
  creditLimit: 250000
  corporateAddress:
    line1: 1200 Market St
    city: Chicago
    country: US
    market: Chicago
    latitude: "41.8661"
    longitude: "-87.6500"
---
kind: Customer
key: CUST-GLOBEX
spec:
  name: Globex Retail
  status: QUALIFIED
  corporateAddress:
    line1: 55 Peachtree Rd
    line2: Suite 400
    city: Atlanta
    country: US
    market: Atlanta
""",
    "carriers.yaml": """\
kind: Carrier
key: CARR-SWIFT
spec:
  name: Swiftline Trucking
  type: TRUCKLOAD
  mcNumber: "MC-123456"
  email: dispatch@swiftline.example
  equipments: [VAN, REEFER]
---
kind: Carrier
key: CARR-LTL
spec:
  name: Parcel Pals LTL
  type: LTL
  email: ops@parcelpals.example
""",
    "locations.yaml": """\
kind: Location
key: LOC-ACME-CHI
spec:
  customerId: {$ref: Customer/CUST-ACME}
  name: Acme Chicago DC
  type: SHIPPER
  isAppointmentRequired: true
---
kind: Location
key: LOC-GLOBEX-ATL
spec:
  customerId: {$ref: Customer/CUST-GLOBEX}
  name: Globex Atlanta Warehouse
  type: RECEIVER
  isAppointmentRequired: false
""",
    "orders.yaml": """\
kind: Order
key: ERP-ORDER-1
spec:
  status: booked
  mode: FTL
  customer: {key: CUST-ACME}
  stops:
    - type: PICKUP
      location: {key: LOC-ACME-CHI}
    - type: DELIVERY
      location: {key: LOC-GLOBEX-ATL}
  charges:
    - chargeCodeId: 550e8400-e29b-41d4-a716-446655440000
      amount: 1500
""",
}


@pytest.fixture
def checked() -> Iterator[tuple[Contract, str]]:
    """(the contract's recorder, the proxy's /v1 URL) in front of a fresh sandbox."""
    checker = contract()
    with SandboxServer(SandboxConfig(db_path=":memory:")) as sandbox, \
            validating_proxy(sandbox.url, checker) as proxy:
        checker.take()
        yield checker, proxy + "/v1"
    checker.take()


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    (tmp_path / "manifests").mkdir()
    for name, text in MANIFESTS.items():
        (tmp_path / "manifests" / name).write_text(text)
    monkeypatch.chdir(tmp_path)
    for var in ("DECLSYNC_API_URL", "DECLSYNC_TOKEN", "DECLSYNC_STATE", "DECLSYNC_PROFILE"):
        monkeypatch.delenv(var, raising=False)
    return tmp_path


def _edit(project: Path, name: str, old: str, new: str) -> None:
    path = project / "manifests" / name
    assert old in path.read_text()
    path.write_text(path.read_text().replace(old, new))


def _converges(url: str) -> Result:
    applied = run(["apply", "--auto-approve", "--api-url", url])
    assert applied.code == 0, applied.all
    again = run(["plan", "--detailed-exitcode", "--api-url", url])
    assert again.code == 0 and "No changes." in again.out, again.all
    return applied


def test_realistic_manifests_converge_with_zero_contract_violations(
    project: Path, checked: tuple[Contract, str]
) -> None:
    checker, url = checked
    created = _converges(url)
    assert "Apply complete: 7 created, 0 updated." in created.out
    # Both carriers updated (a field other than `type`: the patch must still carry `type`),
    # a customer's address and a location changed.
    _edit(project, "carriers.yaml", "name: Swiftline Trucking", "name: Swiftline Trucking Co")
    _edit(project, "carriers.yaml", "ops@parcelpals.example", "dispatch@parcelpals.example")
    _edit(project, "customers.yaml", "line2: Suite 400", "line2: Suite 410")
    _edit(project, "locations.yaml", "name: Acme Chicago DC", "name: Acme Chicago DC 2")
    updated = _converges(url)
    assert "Apply complete: 0 created, 4 updated." in updated.out
    assert checker.exchanges > 10  # the proxy really saw the traffic
    violations = checker.take()
    assert violations == [], summary(violations)


def test_the_checker_catches_what_the_old_hand_written_profile_sends() -> None:
    """Before/after (python -m tests.contract.count): the hand-written profile's customers
    lack the address's required `market`, its carrier update lacks `type`; the bundled
    contract profile sends nothing the contract refuses."""
    before = measure(*RUNS["hand-written profile"])
    after = measure(*RUNS["bundled contract profile"])
    assert RUNS["hand-written profile"][0] == HANDWRITTEN
    refused = {(v.method, v.path.split("/")[2]) for v in before.violations if v.side == "request"}
    assert {("POST", "customers"), ("PATCH", "carriers")} <= refused, summary(before.violations)
    assert after.violations == [], summary(after.violations)
    assert before.converged and after.converged
