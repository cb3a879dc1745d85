"""Generate N realistic Order manifests (plus the customers and locations they
reference) for benchmarks: 2–4 stops, 2–3 charges, nested freight.

    python bench/generate.py 10000 /tmp/bench-manifests
"""

from __future__ import annotations

import random
import sys
from pathlib import Path
from typing import Any

import yaml

__all__ = ["CUSTOMERS", "LOCATIONS", "order_spec", "support_resources", "write_manifests"]

CUSTOMERS = 50
LOCATIONS = 200
CHARGE_CODES = [f"550e8400-e29b-41d4-a716-44665544{i:04d}" for i in range(8)]


def support_resources() -> list[dict[str, Any]]:
    """Customers and locations the orders reference (created once by the seeding step)."""
    docs: list[dict[str, Any]] = []
    for c in range(CUSTOMERS):
        docs.append({"kind": "Customer", "key": f"BENCH-CUST-{c:03d}",
                     "spec": {"name": f"Bench Customer {c}", "status": "ACTIVE", "currency": "USD"}})
    for i in range(LOCATIONS):
        docs.append({"kind": "Location", "key": f"BENCH-LOC-{i:04d}",
                     "spec": {"customerId": {"$ref": f"Customer/BENCH-CUST-{i % CUSTOMERS:03d}"},
                              "name": f"Bench DC {i}", "type": "BOTH", "isAppointmentRequired": i % 3 == 0}})
    return docs


def order_key(i: int) -> str:
    return f"BENCH-ORD-{i:06d}"


def order_spec(i: int, variant: int = 0) -> dict[str, Any]:
    """The spec of order ``i``; ``variant`` > 0 changes a few fields (status, weight, notes)."""
    rnd = random.Random(i)
    n_stops = rnd.randint(2, 4)
    stops = []
    for s in range(n_stops):
        day = 1 + (i + s) % 27
        stops.append({
            "type": "PICKUP" if s == 0 else "DELIVERY",
            "location": {"key": f"BENCH-LOC-{rnd.randrange(LOCATIONS):04d}"},
            "requestedStart": f"2025-02-{day:02d}T{8 + s:02d}:00:00-06:00",
            "requestedEnd": f"2025-02-{day:02d}T{12 + s:02d}:00:00-06:00",
            "appointmentRequired": s == 0,
            "notes": f"Dock {rnd.randint(1, 20)}",
        })
    charges = [{"chargeCodeId": CHARGE_CODES[c], "amount": round(rnd.uniform(50, 2500), 2),
                "description": f"Charge {c}"} for c in range(rnd.randint(2, 3))]
    spec: dict[str, Any] = {
        "status": "booked",
        "mode": rnd.choice(["FTL", "LTL", "INTERMODAL"]),
        "customer": {"key": f"BENCH-CUST-{i % CUSTOMERS:03d}"},
        "externalNotes": f"Order {i} from ERP",
        "freight": {
            "weight": rnd.randint(500, 44000),
            "handlingUnits": rnd.randint(1, 26),
            "handlingUnitType": rnd.choice(["PALLET", "SKID", "CRATE"]),
            "commodityDescription": rnd.choice(["Frozen food", "Paper goods", "Auto parts", "Beverages"]),
            "hazmat": False,
        },
        "stops": stops,
        "charges": charges,
    }
    if variant:
        spec["status"] = "dispatched"
        spec["freight"]["weight"] += variant
        spec["externalNotes"] = f"Order {i} revised {variant}"
    return spec


def write_manifests(n: int, out: Path, *, per_file: int = 500, changed: set[int] | None = None) -> Path:
    """Write the support resources and ``n`` orders under ``out``; orders in ``changed``
    get a modified spec (so a plan against the seeded sandbox shows them as updates)."""
    out.mkdir(parents=True, exist_ok=True)
    for old in out.glob("*.yaml"):
        old.unlink()
    dumper: Any = getattr(yaml, "CSafeDumper", yaml.SafeDumper)
    (out / "00-support.yaml").write_text(yaml.dump_all(support_resources(), Dumper=dumper, sort_keys=False))
    changed = changed or set()
    for start in range(0, n, per_file):
        docs = [{"kind": "Order", "key": order_key(i), "spec": order_spec(i, 1 if i in changed else 0)}
                for i in range(start, min(n, start + per_file))]
        (out / f"orders-{start // per_file:04d}.yaml").write_text(yaml.dump_all(docs, Dumper=dumper, sort_keys=False))
    return out


if __name__ == "__main__":
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 1000
    target = Path(sys.argv[2]) if len(sys.argv) > 2 else Path("bench-manifests")
    write_manifests(count, target)
    print(f"wrote {count} orders to {target}")
