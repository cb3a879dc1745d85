import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import settings

# Test helpers live beside the tests; make them importable as `helpers`.
sys.path.insert(0, str(Path(__file__).parent))

# No per-example deadline: CI machines are shared and slow at times, and a deadline there fails
# tests for the machine's load, not for declsync (performance is measured in bench/, never here).
settings.register_profile("declsync", deadline=None)
settings.load_profile("declsync")


def pytest_addoption(parser: pytest.Parser) -> None:
    # Declared here (the tests' root conftest) so that `pytest tests --soak` knows the option.
    parser.addoption("--soak", action="store_true", default=False,
                     help="Also run the long reliability variants (tests marked soak).")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if config.getoption("--soak"):
        return
    skip = pytest.mark.skip(reason="long soak variant: run with --soak")
    for item in items:
        if "soak" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def pg_cluster() -> Iterator[Any]:
    """A throwaway PostgreSQL cluster (tests/pgcluster.py): skipped without one, failed in CI."""
    from pgcluster import cluster

    with cluster() as found:
        yield found
