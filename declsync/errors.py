"""The declsync exception tree.

Every error the product raises on purpose derives from ``DeclsyncError``; the CLI
(``cli.py``) is the only place that catches it, prints ``str(err)`` and exits with
``err.exit_code``. Messages say what happened and how to fix it, and never carry a
token or client secret: every message is scrubbed when the error is made
(``declsync.scrub``): secrets redacted in any representation, and control characters
escaped so that a key or a server's message cannot forge a line. Multi-line messages
keep only their indented continuation lines (``"\\n  "``); ``ManifestError`` escapes
each problem itself. ``ApiError`` messages are one line.

    DeclsyncError
    ├── ProfileError          the resource profile file is unreadable or malformed
    ├── ManifestError         one or more manifest problems, each ``file:line: message``
    ├── PlanError             the plan cannot be computed (e.g. a create lacks a required field)
    ├── StateError            the state store is unreadable
    │   └── StateLockError    another apply holds the state lock
    ├── ApiError              the API answered with an error or could not be reached
    │   ├── ConnectError      unreachable host, TLS failure, timeout
    │   ├── AuthError         401 / 403 / token endpoint refused
    │   └── ConflictError     409 (e.g. DUPLICATE_KEY)
    ├── StalePlanError        a saved plan no longer matches live state
    ├── ApplyError            apply finished with failed resources
    └── ConfigError           invalid settings (URL, credentials, flags)
        ├── PlanFileError     a saved plan file is unreadable, malformed or of an unknown version
        └── MassDeleteError   prune would delete more than the allowed fraction of managed resources

Errors about a policy carry what and how many as fields (``MassDeleteError.deletes``,
``.managed``, ``.max_fraction``), not which command-line flag to pass: the CLI words them.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

from declsync.scrub import escape_controls, redact, register_secret, safe_text

__all__ = [
    "ApiError",
    "ApplyError",
    "AuthError",
    "ConfigError",
    "ConflictError",
    "ConnectError",
    "DeclsyncError",
    "ManifestError",
    "MassDeleteError",
    "PlanError",
    "PlanFileError",
    "Problem",
    "ProfileError",
    "StalePlanError",
    "StateError",
    "StateLockError",
    "redact",
    "register_secret",
]

# The separator of the indented continuation lines of a multi-line message.
CONTINUATION = "\n  "


class DeclsyncError(Exception):
    """Base of all expected errors; ``exit_code`` is what the CLI exits with."""

    exit_code: int = 1
    # Which line breaks survive in the message: continuation lines, or none at all.
    _keep: ClassVar[str] = CONTINUATION

    def __init__(self, message: str) -> None:
        super().__init__(safe_text(message, keep=self._keep))

    @property
    def message(self) -> str:
        return str(self)


class ProfileError(DeclsyncError):
    pass


class ConfigError(DeclsyncError):
    pass


@dataclass(frozen=True, order=True)
class Problem:
    """One manifest problem, located at ``file:line``."""

    file: str
    line: int
    message: str
    # 1-based column where known (0: unknown), and lines shown under the message
    # (the offending source line and a caret under the column).
    column: int = 0
    detail: tuple[str, ...] = ()

    def __str__(self) -> str:
        where = self.file if self.line <= 0 else f"{self.file}:{self.line}"
        if self.line > 0 and self.column > 0:
            where += f":{self.column}"
        return escape_controls(f"{where}: {self.message}")


class ManifestError(DeclsyncError):
    """All problems found in the manifests, reported together, one line each."""

    _keep = "\n"

    def __init__(self, problems: Iterable[Problem]) -> None:
        self.problems: list[Problem] = sorted(problems)
        n = len(self.problems)
        lines = [line for p in self.problems for line in (str(p), *(escape_controls(d) for d in p.detail))]
        lines.append(f"{n} problem{'s' if n != 1 else ''} found in manifests; {self._nothing}")
        super().__init__("\n".join(lines))

    _nothing = "nothing was sent to the API."


class PlanError(ManifestError):
    """The manifests are valid on their own but cannot be planned against live state."""

    # Planning reads from the API (reference lookups were sent): only writes did not happen.
    _nothing = "nothing was written."


class StateError(DeclsyncError):
    pass


class StateLockError(StateError):
    pass


class ApiError(DeclsyncError):
    """An error answer from the API, or no answer at all.

    ``status`` is the HTTP status (0 when no response arrived), ``code`` the API's
    error code (``validation_error``, ``DUPLICATE_KEY`` …) and ``details`` its
    per-field details, each ``{"field", "message"}``. The message is one line: a
    server's message cannot add lines to it.
    """

    _keep = ""

    def __init__(
        self,
        message: str,
        *,
        status: int = 0,
        code: str | None = None,
        details: Sequence[dict[str, Any]] = (),
        retryable: bool = False,
    ) -> None:
        self.status = status
        self.code = code
        self.details = list(details)
        self.retryable = retryable
        super().__init__(message)


class ConnectError(ApiError):
    pass


class AuthError(ApiError):
    pass


class ConflictError(ApiError):
    pass


class StalePlanError(DeclsyncError):
    """A saved plan refused before any write. ``reasons``: one line per resource that moved
    (``Customer/C changed since the plan (updatedAt … → …)``); empty when the whole plan is
    refused (another target or state file)."""

    def __init__(self, message: str, *, reasons: Sequence[str] = ()) -> None:
        self.reasons = tuple(reasons)
        super().__init__(message)


class ApplyError(DeclsyncError):
    pass


class PlanFileError(ConfigError):
    """A saved plan that cannot be used: ``path``, the place inside it (``location``,
    e.g. ``changes[3].action``; empty for the whole file) and what is wrong (``reason``)."""

    def __init__(self, path: str, reason: str, *, location: str = "") -> None:
        self.path = path
        self.reason = reason
        self.location = location
        where = f"{location}: " if location else ""
        super().__init__(f"{path} is not a saved declsync plan ({where}{reason})")


class MassDeleteError(ConfigError):
    """Prune would delete ``len(deletes)`` of the ``managed`` resources, more than ``max_fraction``.

    ``deletes`` are the addresses (``Kind/KEY``). ``hint`` is the last sentence of the
    message: how to allow it; the library's default names its own parameters."""

    def __init__(self, deletes: Sequence[str], managed: int, max_fraction: float,
                 hint: str = "pass allow_mass_delete=True (or raise max_delete_fraction)") -> None:
        self.deletes = tuple(deletes)
        self.managed = managed
        self.max_fraction = max_fraction
        self.hint = hint
        super().__init__(self.describe(hint))

    @property
    def fraction(self) -> float:
        return len(self.deletes) / max(1, self.managed)

    def describe(self, hint: str) -> str:
        """The message, ending with ``hint`` (how to allow it, in the caller's words)."""
        shown = ", ".join(self.deletes[:10]) + (", …" if len(self.deletes) > 10 else "")
        return (f"refusing to prune {len(self.deletes)} of the {self.managed} resources declsync manages "
                f"({self.fraction:.0%}, more than the {self.max_fraction:.0%} allowed): {shown}. "
                f"If that is intended, {hint}. Nothing was changed.")
