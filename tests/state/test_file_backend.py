"""The file backend runs the conformance suite."""

from __future__ import annotations

from pathlib import Path

import pytest

from .conformance import Conformance


class TestFileBackend(Conformance):
    @pytest.fixture
    def url(self, tmp_path: Path) -> str:
        return str(tmp_path / ".declsync" / "state.json")
