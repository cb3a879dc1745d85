"""``--replace KIND/KEY`` end to end, over real loopback HTTP against a sandbox of an API
whose Book has a create-only ``isbn`` and may be deleted: a changed isbn is a warning and
nothing is sent; ``apply --replace`` deletes and recreates the book; the next plan is empty."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from helpers import Result, clear_settings_env, run

from declsync.profile.model import load_profile
from declsync.sandbox import SandboxConfig, SandboxServer

from .test_library_e2e import DOC, MANIFEST

# The library API, with DELETE /books/{id}: a book can be recreated.
DELETABLE = DOC.read_text().replace(
    "              schema: {$ref: '#/components/schemas/Book'}\ncomponents:",
    "              schema: {$ref: '#/components/schemas/Book'}\n"
    "    delete:\n      parameters: [{$ref: '#/components/parameters/Id'}]\n"
    "      responses:\n        '204': {description: deleted}\ncomponents:",
)


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    assert DOC.read_text() != DELETABLE
    (tmp_path / "library-api.yaml").write_text(DELETABLE)
    (tmp_path / "manifests").mkdir()
    (tmp_path / "manifests" / "library.yaml").write_text(MANIFEST)
    monkeypatch.chdir(tmp_path)
    clear_settings_env(monkeypatch)
    return tmp_path


@pytest.fixture
def server(project: Path) -> Iterator[SandboxServer]:
    profile = load_profile(project / "library-api.yaml")
    with SandboxServer(SandboxConfig(db_path=":memory:", profile=profile)) as srv:
        yield srv


def cli(server: SandboxServer, *args: str) -> Result:
    return run([*args, "--profile", "library-api.yaml", "--api-url", server.base_url])


def book(server: SandboxServer) -> dict[str, object]:
    with httpx.Client(base_url=server.base_url + "/", timeout=10) as c:
        found = c.get("books/BOOK-WIZARD", params={"by": "key"})
    assert found.status_code == 200, found.text
    return dict(found.json())


def test_replace_recreates_a_resource_whose_create_only_field_changed(project: Path, server: SandboxServer) -> None:
    assert cli(server, "apply", "--auto-approve").code == 0
    first = book(server)
    manifest = project / "manifests" / "library.yaml"
    manifest.write_text(manifest.read_text().replace("978-0-553-38304-8", "978-0-000-00000-0"))

    held = cli(server, "apply", "--auto-approve")
    assert held.code == 0, held.all
    assert "isbn differs from the live value but can only be set when the resource is created" in held.out
    assert "plan with --replace Book/BOOK-WIZARD" in held.out
    assert book(server) == first  # nothing was sent for it

    planned = cli(server, "plan", "--replace", "Book/BOOK-WIZARD", "--format", "json")
    assert planned.code == 0, planned.all
    (change,) = [c for c in json.loads(planned.out)["changes"] if c["action"] != "noop"]
    assert (change["action"], change["kind"], change["key"], change["id"]) == ("replace", "Book", "BOOK-WIZARD",
                                                                               first["id"])
    assert change["patch"]["isbn"] == "978-0-000-00000-0" and change["patch"]["key"] == "BOOK-WIZARD"

    applied = cli(server, "apply", "--auto-approve", "--replace", "Book/BOOK-WIZARD")
    assert applied.code == 0, applied.all
    assert "1 replaced" in applied.out
    second = book(server)
    assert second["id"] != first["id"] and second["isbn"] == "978-0-000-00000-0"

    after = cli(server, "plan", "--detailed-exitcode")
    assert after.code == 0, after.all
    assert "No changes." in after.out


def test_replace_with_a_saved_plan_applies_what_was_reviewed(project: Path, server: SandboxServer) -> None:
    assert cli(server, "apply", "--auto-approve").code == 0
    first = book(server)
    assert cli(server, "plan", "--replace", "Book/BOOK-WIZARD", "--out", "plan.bin").code == 0
    refused = cli(server, "apply", "plan.bin", "--replace", "Book/BOOK-WIZARD")
    assert refused.code == 1 and "--replace would change the saved plan" in refused.err
    applied = cli(server, "apply", "plan.bin")
    assert applied.code == 0, applied.all
    assert book(server)["id"] != first["id"]
    assert "No changes." in cli(server, "plan").out


@pytest.mark.parametrize(("address", "words"), [
    ("Series/SER-EARTHSEA", "the profile does not let declsync delete a Series"),
    ("Book/BOOK-NOPE", "Book/BOOK-NOPE is not declared in the manifests"),
    ("Bok/BOOK-WIZARD", "is not KIND/KEY of a known kind (did you mean 'Book'?)"),
])
def test_replace_is_refused_where_it_cannot_be_done(project: Path, server: SandboxServer, address: str,
                                                    words: str) -> None:
    assert cli(server, "apply", "--auto-approve").code == 0
    server.reset_stats()
    refused = cli(server, "apply", "--auto-approve", "--replace", address)
    assert refused.code == 1, refused.all
    assert words in refused.err
    assert "Traceback" not in refused.all
    assert "No changes." in cli(server, "plan").out
