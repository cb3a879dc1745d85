"""The ``--scale`` scenarios of ``bench/run.py`` (issue 14): N orders at zero latency, each
row in seconds and as a ratio to the PyYAML floor measured in the same run (the time
PyYAML's C loader alone takes to read the same files in one process).

Rows: the floor; ``apply`` of N creates (the seeding step, measured); cold ``plan`` with
no changes (``--no-cache``); the first cached ``plan`` (fills ``.declsync/cache``); warm
``plan`` (nothing edited); ``apply --target`` of 100 updates on the N-resource state;
``plan --format json --out`` with every order changed (peak memory of the biggest plan).
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import argparse

    from run import Measurement, Scenario

FLOOR_SCRIPT = """
import sys, yaml
from pathlib import Path
loader = getattr(yaml, "CSafeLoader")
n = 0
for p in sorted(Path(sys.argv[1]).glob("*.yaml")):
    n += sum(1 for _ in yaml.load_all(p.read_bytes(), Loader=loader))
print(n)
"""

TARGETED = 100

__all__ = ["FLOOR_SCRIPT", "scale_sizes", "scenario_scale"]


def scenario_scale(n: int, args: argparse.Namespace) -> list[Measurement]:
    from run import Scenario, _declsync

    with Scenario(0.0, args.parallelism) as sc:
        rows: list[Measurement] = []
        sc.change(n, 0.0)  # writes the manifests (nothing changed yet)
        floor = sc.measure("PyYAML C loader only (floor)", n, [sys.executable, "-c", FLOOR_SCRIPT, "manifests"])
        rows.append(floor)
        create = sc.measure(f"apply {n} creates", n, _declsync("--no-cache", "apply", "--auto-approve",
                                                                 "--parallelism", str(args.parallelism), "manifests"))
        create.note = f"{n / create.wall_s:.0f} creates/s"
        rows.append(create)
        rows.append(sc.measure("plan, no changes (cold, --no-cache)", n,
                               _declsync("--no-cache", "plan", "--detailed-exitcode", "manifests")))
        rows.append(sc.measure("plan, no changes (cold, fills cache)", n,
                               _declsync("plan", "--detailed-exitcode", "manifests")))
        rows.append(sc.measure("plan, no changes (warm cache)", n,
                               _declsync("plan", "--detailed-exitcode", "manifests")))
        rows.append(_targeted(sc, n, args))
        sc.change(n, 1.0)
        rows.append(sc.measure("plan --format json --out, all changed", n,
                               _declsync("plan", "--format", "json", "--out", "plan.out", "manifests")))
        for m in rows[1:]:
            m.note = "; ".join(filter(None, [f"{m.wall_s / floor.wall_s:.2f}x floor" if floor.wall_s else "", m.note]))
        return rows


def _targeted(sc: Scenario, n: int, args: argparse.Namespace) -> Measurement:
    from generate import order_key, write_manifests
    from run import _declsync

    changed = set(range(min(TARGETED, n)))
    write_manifests(n, sc.tmp / "manifests", changed=changed)
    targets = [a for i in sorted(changed) for a in ("--target", f"Order/{order_key(i)}")]
    m = sc.measure(f"apply --target of {len(changed)} updates", n,
                   _declsync("apply", "--auto-approve", "--parallelism", str(args.parallelism), *targets, "manifests"))
    return m


def scale_sizes(args: argparse.Namespace) -> list[int]:
    return [int(s) for s in args.scale_sizes.split(",")] if args.scale_sizes else [10_000, 100_000]


