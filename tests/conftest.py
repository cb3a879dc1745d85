import sys
from pathlib import Path

import pytest

# Test helpers live beside the tests; make them importable as `helpers`.
sys.path.insert(0, str(Path(__file__).parent))


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
