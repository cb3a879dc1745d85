"""Demo data for the sandbox: a few customers, carriers, locations, orders and a
shipment, every key prefixed ``DEMO-``.

Seeding goes through ``ResourceService`` (not raw SQL), so the demo resources
are validated, defaulted and reference-checked like any API write. It is
idempotent: a resource whose key already exists is left as it is.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from declsync.errors import ConfigError
from declsync.profile.model import Profile
from declsync.sandbox.replies import Reply
from declsync.sandbox.service import ResourceService
from declsync.sandbox.store import Store

__all__ = ["DEMO_PREFIX", "DEMO_RESOURCES", "SeedResult", "seed_demo"]

DEMO_PREFIX = "DEMO-"

# The contract's AddressInput: line1, city, country and market required; coordinates are strings.
_ACME_HQ = {"line1": "100 Market St", "city": "Chicago", "country": "US", "market": "Chicago",
            "latitude": "41.8819", "longitude": "-87.6278"}

# (kind, body with key). {"$ref": "Kind/KEY"} stands for that resource's id, for
# fields that take a plain id (Location.customerId); reference fields use {key}.
DEMO_RESOURCES: tuple[tuple[str, Mapping[str, Any]], ...] = (
    ("Customer", {"key": "DEMO-CUST-ACME", "name": "Acme Foods", "status": "ACTIVE", "currency": "USD",
                  "creditLimit": 250000, "defaultMode": "FTL", "corporateAddress": _ACME_HQ,
                  "billingAddress": _ACME_HQ}),
    ("Customer", {"key": "DEMO-CUST-GLOBEX", "name": "Globex Retail", "status": "QUALIFIED", "currency": "USD",
                  "website": "https://globex.example"}),
    ("Customer", {"key": "DEMO-CUST-INITECH", "name": "Initech Parts", "status": "NEW", "currency": "CAD"}),
    ("Carrier", {"key": "DEMO-CARRIER-FASTLANE", "name": "Fastlane Trucking", "type": "TRUCKLOAD",
                 "scac": "FSTL", "mcNumber": "MC-123456", "equipments": ["VAN", "REEFER"], "isHazmat": False}),
    ("Carrier", {"key": "DEMO-CARRIER-PRAIRIE", "name": "Prairie Rail", "type": "RAIL",
                 "equipments": ["CONTAINER"]}),
    ("Location", {"key": "DEMO-LOC-ACME-CHI", "customerId": {"$ref": "Customer/DEMO-CUST-ACME"},
                  "name": "Acme Chicago DC", "type": "SHIPPER", "isAppointmentRequired": True}),
    ("Location", {"key": "DEMO-LOC-ACME-DAL", "customerId": {"$ref": "Customer/DEMO-CUST-ACME"},
                  "name": "Acme Dallas Store", "type": "RECEIVER", "isAppointmentRequired": False}),
    ("Location", {"key": "DEMO-LOC-GLOBEX-ATL", "customerId": {"$ref": "Customer/DEMO-CUST-GLOBEX"},
                  "name": "Globex Atlanta DC", "isAppointmentRequired": True}),
    ("Order", {
        "key": "DEMO-ORD-1001", "status": "booked", "mode": "FTL", "customer": {"key": "DEMO-CUST-ACME"},
        "externalNotes": "Keep frozen at -10F.",
        "freight": {"weight": 38000, "handlingUnits": 20, "handlingUnitType": "PALLET",
                    "commodityDescription": "Frozen vegetables"},
        "stops": [
            {"type": "PICKUP", "location": {"key": "DEMO-LOC-ACME-CHI"},
             "requestedStart": "2025-01-20T08:00:00-06:00", "appointmentRequired": True},
            {"type": "DELIVERY", "location": {"key": "DEMO-LOC-ACME-DAL"},
             "requestedStart": "2025-01-22T14:00:00Z"},
        ],
        "charges": [
            {"chargeCodeId": "550e8400-e29b-41d4-a716-446655440000", "amount": 1500, "description": "Linehaul"},
            {"chargeCodeId": "550e8400-e29b-41d4-a716-446655440001", "amount": 125.5,
             "description": "Fuel surcharge"},
        ],
    }),
    ("Order", {
        "key": "DEMO-ORD-1002", "status": "quoted", "mode": "LTL", "customer": {"key": "DEMO-CUST-GLOBEX"},
        "freight": {"weight": 4200, "handlingUnits": 6, "handlingUnitType": "SKID"},
        "stops": [{"type": "PICKUP", "location": {"key": "DEMO-LOC-GLOBEX-ATL"}}],
        "charges": [{"chargeCodeId": "550e8400-e29b-41d4-a716-446655440000", "amount": 640}],
    }),
    ("Shipment", {"key": "DEMO-SHP-1001", "order": {"key": "DEMO-ORD-1001"},
                  "carrier": {"key": "DEMO-CARRIER-FASTLANE"}, "trackingNumber": "FSTL-000123",
                  "estimatedDelivery": "2025-01-22T09:00:00-05:00"}),
)


@dataclass(frozen=True)
class SeedResult:
    created: int
    existing: int


def _ids(value: Any, service: ResourceService) -> Any:
    """``value`` with every ``{"$ref": "Kind/KEY"}`` replaced by that resource's id."""
    if isinstance(value, dict):
        if set(value) == {"$ref"}:
            kind_name, _, key = str(value["$ref"]).partition("/")
            row = service.store.find(kind_name, "key", key)
            if row is None:
                raise ConfigError(f"demo data refers to {value['$ref']}, which does not exist")
            return row.id
        return {k: _ids(v, service) for k, v in value.items()}
    if isinstance(value, list):
        return [_ids(v, service) for v in value]
    return value


def _failure(kind: str, key: str, reply: Reply) -> ConfigError:
    return ConfigError(
        f"cannot seed {kind}/{key}: the sandbox answered {reply.status} {reply.content.decode(errors='replace')}; "
        "the demo data fits the bundled MVMNT profile only"
    )


def seed_demo(store: Store, profile: Profile) -> SeedResult:
    """Create the demo resources that are not there yet."""
    service = ResourceService(profile, store)
    missing = sorted({kind for kind, _ in DEMO_RESOURCES} - set(profile.kinds))
    if missing:
        raise ConfigError(f"the demo data needs kinds the profile lacks: {', '.join(missing)}")
    created = existing = 0
    for kind_name, template in DEMO_RESOURCES:
        kind = profile.kinds[kind_name]
        key = str(template["key"])
        if store.find(kind_name, "key", key) is not None:
            existing += 1
            continue
        reply = service.create(kind, _ids(template, service))
        if reply.status == 409:  # created meanwhile by someone else: that is fine too
            existing += 1
        elif reply.status != 201:
            raise _failure(kind_name, key, reply)
        else:
            created += 1
    return SeedResult(created, existing)
