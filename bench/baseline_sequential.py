"""The client pattern from the seed documents, written plainly: for each manifest,
``GET {path}?key=K``, compare the declared fields, PATCH the ones that differ — one
request at a time with a sequential ``httpx.Client``, as an integration team would
first write it. The benchmark runs it beside ``declsync plan`` for comparison.

    python bench/baseline_sequential.py MANIFEST_DIR BASE_URL [--apply]
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

import httpx
import yaml

PATHS = {"Customer": "customers", "Carrier": "carriers", "Location": "locations", "Order": "orders",
         "Shipment": "shipments"}


def load(manifest_dir: Path) -> list[dict[str, Any]]:
    docs: list[dict[str, Any]] = []
    for path in sorted(manifest_dir.rglob("*.yaml")):
        with path.open() as fh:
            docs.extend(d for d in yaml.safe_load_all(fh) if d)
    return docs


def run(manifest_dir: Path, base_url: str, apply: bool = False) -> dict[str, int]:
    counts = {"requests": 0, "changed": 0, "missing": 0}
    with httpx.Client(base_url=base_url.rstrip("/") + "/", timeout=30) as client:
        for doc in load(manifest_dir):
            path = PATHS[doc["kind"]]
            response = client.get(path, params={"key": doc["key"]})
            counts["requests"] += 1
            if response.status_code == 404:
                counts["missing"] += 1
                continue
            live = response.json()
            changed = {k: v for k, v in (doc.get("spec") or {}).items() if live.get(k) != v}
            if changed:
                counts["changed"] += 1
                if apply:
                    client.patch(f"{path}/{live['id']}", json=changed).raise_for_status()
                    counts["requests"] += 1
    return counts


if __name__ == "__main__":
    start = time.perf_counter()
    result = run(Path(sys.argv[1]), sys.argv[2], "--apply" in sys.argv)
    print(result, f"{time.perf_counter() - start:.2f}s")
