"""Start-up cost of the command line, as a ratio to importing its own dependencies.

    python bench/startup.py                 # 15 runs of each, medians
    python bench/startup.py --runs 30 --json bench/results/startup.json

Measures, each in a fresh interpreter, the wall time of:

* ``baseline``: ``python -c "import click, httpx, yaml"`` (what any click + httpx CLI pays);
* ``--help``: ``declsync --help``;
* ``validate``: ``declsync validate manifests`` (offline);
* ``import-cli``: ``python -c "import declsync.cli.main"``;

and reports the median wall and CPU time of each as a ratio to the baseline (target for
``--help``: within 2x; on a shared machine trust the CPU ratio, wall time measures the neighbours),
plus the heavy modules each one loaded (starlette, uvicorn, deepdiff, jsonpatch, jsonschema, rich):
none is needed to print help or validate.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
# Run from an empty directory: with ``python -c`` the working directory comes first on sys.path,
# and it must not decide which declsync is measured (PYTHONPATH=<other tree> compares releases).
CWD = Path(tempfile.mkdtemp(prefix="declsync-startup-"))
HEAVY = ("starlette", "uvicorn", "deepdiff", "jsonpatch", "jsonschema", "rich")
# Reports which heavy modules a command loaded, on the way out of the interpreter.
_PROBE = ("import atexit, sys\n"
          "atexit.register(lambda: sys.stderr.write('LOADED ' + ' '.join(sorted({m.split('.')[0] for m in sys.modules}"
          f" & {set(HEAVY)!r})) + '\\n'))\n")


def _cli(*args: str) -> list[str]:
    code = f"import sys; from declsync.cli.main import main; sys.argv = ['declsync', *{list(args)!r}]; main()"
    return [sys.executable, "-c", code]


COMMANDS: dict[str, list[str]] = {
    "baseline": [sys.executable, "-c", "import click, httpx, yaml"],
    "--help": _cli("--help"),
    "validate": _cli("validate", str(REPO / "manifests")),
    "import-cli": [sys.executable, "-c", "import declsync.cli.main"],
}


def _once(cmd: list[str]) -> tuple[float, float]:
    """Wall and CPU seconds (user + system, of this child alone: ``wait4``). CPU time is the
    steadier figure on a shared machine, where wall time mostly measures the neighbours."""
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=CWD, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"{cmd} failed")
    return wall, usage.ru_utime + usage.ru_stime


def _loaded(cmd: list[str]) -> list[str]:
    probed = [cmd[0], "-c", _PROBE + cmd[2]]
    err = subprocess.run(probed, check=True, capture_output=True, text=True, cwd=CWD).stderr
    line = next((x for x in err.splitlines() if x.startswith("LOADED")), "LOADED")
    return line.split()[1:]


def measure(runs: int) -> dict[str, dict[str, object]]:
    for cmd in COMMANDS.values():
        _once(cmd)  # warm the file cache and the bytecode
    walls: dict[str, list[float]] = {name: [] for name in COMMANDS}
    cpus: dict[str, list[float]] = {name: [] for name in COMMANDS}
    for _ in range(runs):  # interleaved, so a busy moment hits every command alike
        for name, cmd in COMMANDS.items():
            wall, cpu = _once(cmd)
            walls[name].append(wall)
            cpus[name].append(cpu)
    base_wall, base_cpu = statistics.median(walls["baseline"]), statistics.median(cpus["baseline"])
    return {
        name: {"wall_median_s": round(statistics.median(walls[name]), 4),
               "wall_ratio": round(statistics.median(walls[name]) / base_wall, 2),
               "cpu_median_s": round(statistics.median(cpus[name]), 4),
               "cpu_ratio": round(statistics.median(cpus[name]) / base_cpu, 2),
               "heavy_modules": _loaded(COMMANDS[name])}
        for name in COMMANDS
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--json", type=Path, help="Also write the results to this file.")
    args = parser.parse_args()
    import declsync  # which tree is measured (PYTHONPATH decides, as for the runs)

    print(f"declsync from {Path(declsync.__file__).parent}")
    results = measure(args.runs)
    shutil.rmtree(CWD)  # validate leaves its parse cache (.declsync/cache/) there
    print(f"{'command':<12} {'wall':>8} {'ratio':>6} {'CPU':>8} {'ratio':>6}  heavy modules loaded")
    for name, r in results.items():
        print(f"{name:<12} {r['wall_median_s']:>7.3f}s {r['wall_ratio']:>5.2f}x {r['cpu_median_s']:>7.3f}s "
              f"{r['cpu_ratio']:>5.2f}x  {' '.join(r['heavy_modules']) or '-'}")  # type: ignore[arg-type]
    if args.json:
        args.json.write_text(json.dumps({"python": sys.version.split()[0], "runs": args.runs, "results": results},
                                        indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
