"""The PostgreSQL backend runs the conformance suite (each test in its own workspace)."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from .conformance import Conformance


class TestPostgresBackend(Conformance):
    @pytest.fixture
    def url(self, pg_cluster: Any) -> str:
        return str(pg_cluster.dsn(workspace="w" + uuid.uuid4().hex[:10]))
