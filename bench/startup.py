"""Start-up cost of the command line, as a ratio to importing its own dependencies.

    python bench/startup.py                 # 15 runs of each, medians
    python bench/startup.py --runs 30 --json bench/results/startup.json

Measures, each in a fresh interpreter, the wall time of:

* ``baseline``: ``python -c "import click, httpx, yaml"`` (what any click + httpx CLI pays);
* ``--help``: ``declsync --help``;
* ``validate``: ``declsync validate manifests`` (offline);
* ``import-cli``: ``python -c "import declsync.cli"``;

and reports each median as a ratio to the baseline (target for ``--help``: within 2x),
plus the heavy modules each one loaded (starlette, uvicorn, deepdiff, jsonpatch, rich):
none is needed to print help or validate.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
HEAVY = ("starlette", "uvicorn", "deepdiff", "jsonpatch", "rich")
# Reports which heavy modules a command loaded, on the way out of the interpreter.
_PROBE = ("import atexit, sys\n"
          "atexit.register(lambda: sys.stderr.write('LOADED ' + ' '.join(sorted({m.split('.')[0] for m in sys.modules}"
          f" & {set(HEAVY)!r})) + '\\n'))\n")


def _cli(*args: str) -> list[str]:
    code = f"import sys; from declsync.cli import main; sys.argv = ['declsync', *{list(args)!r}]; main()"
    return [sys.executable, "-c", code]


COMMANDS: dict[str, list[str]] = {
    "baseline": [sys.executable, "-c", "import click, httpx, yaml"],
    "--help": _cli("--help"),
    "validate": _cli("validate", str(REPO / "manifests")),
    "import-cli": [sys.executable, "-c", "import declsync.cli"],
}


def _once(cmd: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(cmd, check=True, capture_output=True, cwd=REPO)
    return time.perf_counter() - start


def _loaded(cmd: list[str]) -> list[str]:
    probed = [cmd[0], "-c", _PROBE + cmd[2]]
    err = subprocess.run(probed, check=True, capture_output=True, text=True, cwd=REPO).stderr
    line = next((x for x in err.splitlines() if x.startswith("LOADED")), "LOADED")
    return line.split()[1:]


def measure(runs: int) -> dict[str, dict[str, object]]:
    for cmd in COMMANDS.values():
        _once(cmd)  # warm the file cache and the bytecode
    times: dict[str, list[float]] = {name: [] for name in COMMANDS}
    for _ in range(runs):  # interleaved, so a busy moment hits every command alike
        for name, cmd in COMMANDS.items():
            times[name].append(_once(cmd))
    base = statistics.median(times["baseline"])
    return {
        name: {"median_s": round(statistics.median(t), 4), "min_s": round(min(t), 4),
               "ratio": round(statistics.median(t) / base, 2), "heavy_modules": _loaded(COMMANDS[name])}
        for name, t in times.items()
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--json", type=Path, help="Also write the results to this file.")
    args = parser.parse_args()
    results = measure(args.runs)
    print(f"{'command':<12} {'median':>8} {'min':>8} {'ratio':>6}  heavy modules loaded")
    for name, r in results.items():
        print(f"{name:<12} {r['median_s']:>7.3f}s {r['min_s']:>7.3f}s {r['ratio']:>5.2f}x  "
              f"{' '.join(r['heavy_modules']) or '-'}")  # type: ignore[arg-type]
    if args.json:
        args.json.write_text(json.dumps({"python": sys.version.split()[0], "runs": args.runs, "results": results},
                                        indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
