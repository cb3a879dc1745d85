"""Before/after: the README's manifests planned and applied through the validating proxy,
with the old hand-written profile (and the manifests written for it) and with the bundled
contract profile. Prints, per run, the requests sent and the contract violations.

    python -m tests.contract.count          (from the repository root)

Each run: apply the manifests, rename every customer and carrier (an update of each),
apply again, plan again (which must be empty). The sandbox behind the proxy serves the
run's own profile, so a run goes on past a request the real API would refuse: the proxy
counts what the published contract says about each request and answer.
"""

from __future__ import annotations

import os
import re
import shutil
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
sys.path.insert(0, str(HERE.parent))

from helpers import run  # noqa: E402

from contract.checker import Violation, contract  # noqa: E402
from contract.proxy import validating_proxy  # noqa: E402
from declsync.profile.model import load_profile  # noqa: E402
from declsync.sandbox import SandboxConfig, SandboxServer  # noqa: E402

HANDWRITTEN = REPO / "tests" / "fixtures" / "handwritten-mvmnt.yaml"
RUNS = {
    "hand-written profile": (HANDWRITTEN, REPO / "tests" / "fixtures" / "handwritten-manifests"),
    "bundled contract profile": (None, REPO / "manifests"),
}
_NAME = re.compile(r"^(  name: )(.+)$", re.MULTILINE)


@dataclass
class Figures:
    requests: int
    violations: list[Violation]
    converged: bool


def _rename(directory: Path) -> None:
    for name in ("customers.yaml", "carriers.yaml"):
        path = directory / name
        path.write_text(_NAME.sub(r"\1\2 (renamed)", path.read_text()))


def measure(profile: Path | None, manifests: Path) -> Figures:
    """One run in a scratch directory (the cwd is restored after)."""
    checker = contract()
    config = SandboxConfig(db_path=":memory:", profile=load_profile(profile) if profile else None)
    previous = Path.cwd()
    with tempfile.TemporaryDirectory() as tmp, SandboxServer(config) as sandbox, \
            validating_proxy(sandbox.url, checker) as proxy:
        shutil.copytree(manifests, Path(tmp) / "manifests")
        args = ["--api-url", proxy + "/v1", *(["--profile", str(profile)] if profile else [])]
        try:
            os.chdir(tmp)
            checker.take()
            first = run(["apply", "--auto-approve", *args])
            _rename(Path(tmp) / "manifests")
            second = run(["apply", "--auto-approve", *args])
            again = run(["plan", "--detailed-exitcode", *args])
            requests = checker.exchanges
            violations = checker.take()
        finally:
            os.chdir(previous)
    converged = first.code == 0 and second.code == 0 and again.code == 0
    return Figures(requests, violations, converged)


def main() -> None:
    for label, (profile, manifests) in RUNS.items():
        figures = measure(profile, manifests)
        rejected = len({(v.method, v.path) for v in figures.violations if v.side == "request"})
        print(f"{label}: {figures.requests} requests, {rejected} rejected by the contract, "
              f"{len(figures.violations)} violations, converged={figures.converged}")
        for v in figures.violations:
            print(f"  {v}")


if __name__ == "__main__":
    main()
