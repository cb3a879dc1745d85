"""Small builders shared by unit tests."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import pytest
from click.testing import CliRunner

from declsync.cli.main import main
from declsync.manifests.loader import Resource

# Every setting declsync reads from the environment: a test run must not pick up the developer's.
SETTINGS_ENV_VARS = ("DECLSYNC_API_URL", "DECLSYNC_TOKEN", "DECLSYNC_CLIENT_ID", "DECLSYNC_CLIENT_SECRET",
                     "DECLSYNC_STATE", "DECLSYNC_PROFILE", "DECLSYNC_TOKEN_URL")


def clear_settings_env(monkeypatch: pytest.MonkeyPatch, *extra: str) -> None:
    """Unset declsync's settings (and ``extra`` variables, e.g. NO_COLOR) for this test."""
    for var in (*SETTINGS_ENV_VARS, *extra):
        monkeypatch.delenv(var, raising=False)


@dataclass
class Result:
    code: int
    out: str
    err: str

    @property
    def all(self) -> str:
        return self.out + self.err


def run(args: Sequence[str], env: dict[str, str] | None = None, input: str | None = None) -> Result:
    """The CLI in-process, exactly as ``main()`` runs it (exit code mapping included)."""
    runner = CliRunner()
    with runner.isolation(input=input, env=env) as streams:
        try:
            main(list(args))
            code = 0
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        out = streams[0].getvalue().decode()
        err = streams[1].getvalue().decode()
    return Result(code, out, err)


def resource(kind: str, key: str, spec: dict[str, Any], file: str = "m.yaml", line: int = 1) -> Resource:
    return Resource(kind=kind, key=key, spec=spec, file=file, line=line)


def live_order(**fields: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "id": "11111111-1111-4111-8111-111111111111",
        "friendlyId": "ORD-10001",
        "key": "O-1",
        "organizationId": "org",
        "createdAt": "2025-01-01T00:00:00.000Z",
        "updatedAt": "2025-01-01T00:00:00.000Z",
        "status": "draft",
        "externalNotes": None,
        "internalNotes": None,
        "mode": None,
        "customer": None,
        "freight": None,
        "stops": [],
        "charges": [],
        "totalRevenue": None,
    }
    base.update(fields)
    return base
