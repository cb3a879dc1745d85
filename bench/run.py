"""declsync benchmarks against the sandbox with injected latency.

    python bench/run.py                 # all scenarios (several minutes: seeds 10,000 orders)
    python bench/run.py --quick         # smaller N, for a smoke run
    python bench/run.py --only plan-nochange
    python bench/run.py --scale         # adds the 10k and 100k scenarios (issue 14; many minutes, not in CI)
    python bench/run.py --scale --only scale --scale-sizes 20000

Each scenario starts a fresh sandbox (SQLite file in a temp dir), seeds it with the
resources through ``declsync apply`` at zero latency, then sets the latency (20 ms per
request by default) and measures the command in a subprocess: wall time, CPU time
and peak RSS of that process, and the requests the sandbox received. Prints a table
and writes ``bench/results/<timestamp>.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from generate import write_manifests  # noqa: E402

from declsync.sandbox import SandboxConfig, SandboxServer  # noqa: E402


@dataclass
class Measurement:
    scenario: str
    n: int
    wall_s: float
    cpu_s: float
    peak_rss_mb: float
    requests: int
    note: str = ""


def _run_measured(cmd: list[str], env: dict[str, str], cwd: Path) -> tuple[float, float, float, str]:
    """Run ``cmd``; wall seconds, CPU seconds and peak RSS (MB) of that process alone
    (``wait4`` gives the rusage of exactly this child, not of every child so far)."""
    start = time.perf_counter()
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        proc = subprocess.Popen(cmd, env=env, cwd=cwd, stdout=out, stderr=err, text=True)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - start
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read(), err.read()
    if proc.returncode not in (0, 2):
        raise RuntimeError(f"{' '.join(cmd)} failed ({proc.returncode}):\n{stdout[-2000:]}\n{stderr[-2000:]}")
    return wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024, stdout


def _declsync(*args: str) -> list[str]:
    return [sys.executable, "-m", "declsync", *args]


class Scenario:
    def __init__(self, latency: float, parallelism: int) -> None:
        self.latency = latency
        self.parallelism = parallelism
        self.tmp = Path(tempfile.mkdtemp(prefix="declsync-bench-"))
        self.server = SandboxServer(SandboxConfig(db_path=str(self.tmp / "sandbox.sqlite"))).start()
        self.env = {**os.environ, "DECLSYNC_API_URL": self.server.base_url,
                    "DECLSYNC_STATE": str(self.tmp / "state.json"), "NO_COLOR": "1"}

    def seed(self, n: int) -> Path:
        manifests = write_manifests(n, self.tmp / "manifests")
        self.server.set_latency(0.0)
        subprocess.run(_declsync("apply", "--auto-approve", "--parallelism", str(self.parallelism), str(manifests)),
                       env=self.env, cwd=self.tmp, check=True, capture_output=True)
        return manifests

    def change(self, n: int, fraction: float) -> set[int]:
        step = max(1, round(1 / fraction)) if fraction else 0
        changed = set(range(0, n, step)) if step else set()
        write_manifests(n, self.tmp / "manifests", changed=changed)
        return changed

    def measure(self, name: str, n: int, cmd: list[str], note: str = "") -> Measurement:
        self.server.set_latency(self.latency)
        self.server.reset_stats()
        wall, cpu, rss, _ = _run_measured(cmd, self.env, self.tmp)
        requests = int(self.server.stats()["total"])
        # Each row as soon as it is measured: a long --scale run shows (and keeps) its progress.
        print(f"  {name}: N={n} wall {wall:.2f} s, cpu {cpu:.2f} s, peak {rss:.1f} MB, {requests} requests",
              file=sys.stderr, flush=True)
        return Measurement(name, n, round(wall, 2), round(cpu, 2), round(rss, 1), requests, note)

    def close(self) -> None:
        self.server.stop()
        shutil.rmtree(self.tmp, ignore_errors=True)

    def __enter__(self) -> Scenario:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def scenario_plan(n: int, args: argparse.Namespace) -> list[Measurement]:
    with Scenario(args.latency, args.parallelism) as sc:
        sc.seed(n)
        sc.change(n, 0.01)
        warm = sc.measure("plan, 1% changed", n, _declsync("plan", "manifests"))
        # --no-cache: every manifest parsed and validated again (what schema validation costs).
        cold = sc.measure("plan, 1% changed (--no-cache)", n, _declsync("--no-cache", "plan", "manifests"))
        return [warm, cold]


def scenario_vs_baseline(n: int, args: argparse.Namespace) -> list[Measurement]:
    with Scenario(args.latency, args.parallelism) as sc:
        sc.seed(n)
        sc.change(n, 0.01)
        ours = sc.measure("declsync plan", n, _declsync("plan", "manifests"))
        base = sc.measure("baseline sequential GET+compare", n,
                          [sys.executable, str(HERE / "baseline_sequential.py"), "manifests", sc.server.base_url])
        ratio = base.wall_s / ours.wall_s if ours.wall_s else float("inf")
        ours.note = f"{ratio:.1f}x faster than baseline"
        return [ours, base]


def scenario_apply(n: int, args: argparse.Namespace) -> list[Measurement]:
    with Scenario(args.latency, args.parallelism) as sc:
        sc.seed(n)
        sc.change(n, 1.0)
        m = sc.measure("apply updates", n, _declsync("apply", "--auto-approve", "--parallelism",
                                                      str(args.parallelism), "manifests"))
        m.note = f"{n / m.wall_s:.0f} updates/s (process wall time, incl. start-up and plan)"
        return [m]


def scenario_nochange(n: int, args: argparse.Namespace) -> list[Measurement]:
    with Scenario(args.latency, args.parallelism) as sc:
        sc.seed(n)
        return [sc.measure("plan, no changes", n, _declsync("plan", "--detailed-exitcode", "manifests"))]


SCENARIOS: dict[str, tuple[Callable[[int, argparse.Namespace], list[Measurement]], list[int], list[int]]] = {
    # name: (function, full sizes, quick sizes)
    "plan": (scenario_plan, [1000, 10000], [200, 1000]),
    "vs-baseline": (scenario_vs_baseline, [2000], [300]),
    "apply": (scenario_apply, [1000], [200]),
    "plan-nochange": (scenario_nochange, [10000], [1000]),
}


def _scale(n: int, args: argparse.Namespace) -> list[Measurement]:
    from scale import scenario_scale

    return scenario_scale(n, args)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="smaller sizes (smoke run)")
    parser.add_argument("--only", choices=sorted([*SCENARIOS, "scale"]), action="append",
                        help="run only these scenarios")
    parser.add_argument("--scale", action="store_true", help="add the 100k scenarios, floor beside them (minutes)")
    parser.add_argument("--scale-sizes", default="", metavar="N,N", help="--scale sizes (default 10000,100000)")
    parser.add_argument("--latency", type=float, default=0.020, help="seconds added per request (default 0.020)")
    parser.add_argument("--parallelism", type=int, default=16)
    args = parser.parse_args()
    results: list[Measurement] = []
    scenarios = dict(SCENARIOS)
    if args.scale or (args.only and "scale" in args.only):
        from scale import scale_sizes

        sizes = scale_sizes(args)
        scenarios["scale"] = (_scale, sizes, sizes)
    for name in args.only or list(scenarios):
        fn, full, quick = scenarios[name]
        for n in quick if args.quick else full:
            print(f"running {name} N={n} …", file=sys.stderr, flush=True)
            results.extend(fn(n, args))
    header = f"{'scenario':40} {'N':>6} {'wall s':>8} {'cpu s':>7} {'peak MB':>8} {'requests':>9}  note"
    print(header)
    print("-" * len(header))
    for m in results:
        print(f"{m.scenario:40} {m.n:>6} {m.wall_s:>8.2f} {m.cpu_s:>7.2f} {m.peak_rss_mb:>8.1f} {m.requests:>9}  {m.note}")
    plans = {m.n: m.wall_s for m in results if m.scenario == "plan, 1% changed"}
    if 1000 in plans and 10000 in plans:
        print(f"plan growth N=1,000 → 10,000: {plans[10000] / plans[1000]:.1f}x")
    cold = {m.n: m.wall_s for m in results if m.scenario.startswith("plan, no changes (cold, --no-cache)")}
    if 10000 in cold and 100000 in cold:
        print(f"cold plan growth N=10,000 → 100,000: {cold[100000] / cold[10000]:.1f}x")
    out_dir = HERE / "results"
    out_dir.mkdir(exist_ok=True)
    stamp = time.strftime("%Y%m%dT%H%M%S")
    doc: dict[str, Any] = {
        "when": stamp, "latency_s": args.latency, "parallelism": args.parallelism, "quick": args.quick,
        "machine": {"python": platform.python_version(), "cpus": os.cpu_count(), "platform": platform.platform()},
        "results": [asdict(m) for m in results],
    }
    (out_dir / f"{stamp}.json").write_text(json.dumps(doc, indent=2) + "\n")
    print(f"results written to bench/results/{stamp}.json", file=sys.stderr)


if __name__ == "__main__":
    main()
