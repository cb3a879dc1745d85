"""Validate one HTTP exchange against the published contract documents (openapi-core).

The documents are every OpenAPI file in ``declsync/profiles/mvmnt/`` (whatever is there: other
helpers add kinds by adding documents), loaded and compiled ONCE per process (``contract()``),
never per request. Two deliberate edits of the loaded documents, both outside what the
contract says about shapes:

- ``servers`` is replaced by one test host, so a loopback sandbox at any port matches the
  documents' ``/v1`` base without caring which host the published document names;
- ``security`` is dropped: authentication is the sandbox's own tested extension
  (tests/sandbox/test_auth.py); the e2e sandbox runs open, and a missing bearer token is not
  a shape violation declsync could cause.

Only ``/v1`` exchanges are the contract's; the token endpoint, ``/_admin``, ``/healthz`` and
``/openapi.json`` are sandbox extensions and are not checked. A request whose path or method no
document names IS a violation (e.g. the sandbox's ``GET /v1/customers?key=K`` extension).
"""

from __future__ import annotations

import copy
import functools
import re
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

import yaml
from openapi_core import OpenAPI
from openapi_core.datatypes import RequestParameters
from openapi_core.templating.paths.exceptions import OperationNotFound, PathNotFound, PathsNotFound
from werkzeug.datastructures import Headers, ImmutableMultiDict

import declsync

DOCUMENTS = Path(declsync.__file__).parent / "profiles" / "mvmnt"
HOST = "http://contract.test"
BASE = "/v1"
_NOT_FOUND = (PathNotFound, PathsNotFound, OperationNotFound)


@dataclass(frozen=True)
class Violation:
    """One way an exchange broke the contract: ``side`` is ``request`` (declsync, or a test,
    sent what the contract rejects) or ``response`` (the sandbox answered outside it)."""

    side: str
    method: str
    path: str
    status: int | None
    problem: str

    def __str__(self) -> str:
        status = f" -> {self.status}" if self.status is not None else ""
        return f"{self.side}: {self.method} {self.path}{status}: {self.problem}"


class _Request:
    """openapi-core's Request protocol for one recorded exchange."""

    def __init__(self, method: str, path: str, query: str, headers: Iterable[tuple[str, str]], body: bytes) -> None:
        self.host_url = HOST
        self.path = path
        self.method = method.lower()
        self.body: bytes | None = body or None
        hdrs = Headers(list(headers))
        self.content_type = (hdrs.get("content-type") or "application/json").lower()
        self.parameters = RequestParameters(
            query=ImmutableMultiDict(parse_qsl(query, keep_blank_values=True)),
            header=hdrs,
            cookie=ImmutableMultiDict(),
        )


class _Response:
    def __init__(self, status: int, headers: Iterable[tuple[str, str]], body: bytes) -> None:
        self.status_code = status
        self.data = body
        self.headers = Headers(list(headers))
        self.content_type = (self.headers.get("content-type") or "application/json").lower()


def _is_openapi(document: Any) -> bool:
    return isinstance(document, dict) and "openapi" in document and "paths" in document


def _strip_security(document: dict[str, Any]) -> dict[str, Any]:
    doc = copy.deepcopy(document)
    doc.pop("security", None)
    doc["servers"] = [{"url": HOST + BASE}]
    for item in (doc.get("paths") or {}).values():
        for operation in item.values():
            if isinstance(operation, dict):
                operation.pop("security", None)
                # A response object without `description` is invalid OpenAPI; our own fragment
                # (orders-shipments.yaml) omits them, and openapi-core needs none to validate.
                for response in (operation.get("responses") or {}).values():
                    if isinstance(response, dict) and "$ref" not in response:
                        response.setdefault("description", "")
    return doc


def _problem(exc: BaseException, excused: Callable[[str], bool] = lambda _: False) -> str:
    """One line: the schema errors under ``exc`` (field path: message), else its message;
    "" when every schema error is ``excused``."""
    chain: list[BaseException] = []
    cause: BaseException | None = exc
    while cause is not None and cause not in chain:
        chain.append(cause)
        cause = cause.__cause__ or cause.__context__
    for link in chain:
        schema_errors = getattr(link, "schema_errors", None)
        if schema_errors:
            fields = [f"{'/'.join(map(str, e.absolute_path)) or '(body)'}: {e.message}" for e in schema_errors]
            fields = [f for f in fields if not excused(f)]
            return f"{type(exc).__name__}: " + "; ".join(fields) if fields else ""
    return f"{type(exc).__name__}: {exc}"


# Where the published documents contradict each other, so that no server can satisfy both; an
# answer is not held to the stricter side. Each entry: (what the violation says, why it is excused).
CONTRADICTIONS: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"(^|/)customer/status: '(NEW|CONTACTED|QUALIFIED|QUOTED|NURTURING|PENDING|BLOCKED|CLOSED)' "
                r"is not one of \['PROSPECT', 'ACTIVE', 'INACTIVE', 'CHURNED'\]$"),
     "customers accept ten statuses (CustomerStatus) but the contacts documents' CustomerReference "
     "lists four: a contact of a QUALIFIED customer embeds a status its own schema refuses"),
)


def _contradiction(field_error: str) -> bool:
    return any(pattern.search(field_error) for pattern, _why in CONTRADICTIONS)


class Contract:
    """The compiled documents of one directory; ``check`` an exchange, ``record`` violations."""

    def __init__(self, directory: Path = DOCUMENTS) -> None:
        """``directory``: every OpenAPI document in it; or one document's file."""
        # Unknown request fields are not flagged: openapi-core's "forbid" policy applies
        # additionalProperties: false to each allOf/oneOf part separately, which refuses every
        # valid Carrier body (its schemas are composed), so it cannot be used on this contract.
        self.documents: dict[str, OpenAPI] = {}
        files = [directory] if directory.is_file() else sorted(directory.glob("*.y*ml")) + sorted(directory.glob("*.json"))
        for path in files:
            raw = yaml.safe_load(path.read_text())
            if _is_openapi(raw):
                # from_dict also validates the document itself (openapi-spec-validator).
                self.documents[path.name] = OpenAPI.from_dict(_strip_security(raw))
        if not self.documents:
            raise RuntimeError(f"no OpenAPI documents in {directory}")
        self._lock = threading.Lock()
        self.violations: list[Violation] = []
        self.exchanges = 0

    def _owner(self, request: _Request) -> tuple[OpenAPI, list[Exception]] | None:
        """The document naming this operation, with the request's errors against it."""
        for spec in self.documents.values():
            errors = list(spec.iter_request_errors(request))
            if not any(isinstance(e, _NOT_FOUND) for e in errors):
                return spec, errors
        return None

    def check(
        self,
        method: str,
        path: str,
        query: str,
        request_headers: Iterable[tuple[str, str]],
        request_body: bytes,
        status: int,
        response_headers: Iterable[tuple[str, str]],
        response_body: bytes,
    ) -> list[Violation]:
        """The violations of one exchange ([] for paths outside ``/v1``)."""
        if path != BASE and not path.startswith(BASE + "/"):
            return []
        request = _Request(method, path, query, request_headers, request_body)
        response = _Response(status, response_headers, response_body)
        where = path + (f"?{query}" if query else "")
        owner = self._owner(request)
        if owner is None:
            return [Violation("request", method, where, status, "no contract document names this operation")]
        spec, errors = owner
        found = [Violation("request", method, where, status, _problem(e)) for e in errors]
        found += [Violation("response", method, where, status, problem)
                  for e in spec.iter_response_errors(request, response)
                  if (problem := _problem(e, excused=_contradiction))]
        return found

    def record(self, violations: list[Violation]) -> None:
        with self._lock:
            self.exchanges += 1
            self.violations.extend(violations)

    def take(self) -> list[Violation]:
        """The violations recorded since the last ``take`` (and forget them, and the count)."""
        with self._lock:
            taken, self.violations = self.violations, []
            self.exchanges = 0
            return taken


@functools.cache
def contract(directory: Path = DOCUMENTS) -> Contract:
    """The one ``Contract`` of ``directory`` per process (compiling the documents is the cost)."""
    return Contract(directory)


def summary(violations: Iterable[Violation]) -> str:
    return "\n".join(f"  {v}" for v in violations)


__all__ = ["Contract", "Violation", "contract", "summary"]
