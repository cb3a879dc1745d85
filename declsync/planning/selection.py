"""Choosing what to plan: ``--target``, ``--exclude`` and ``--kind``.

Patterns match a resource's address ``Kind/KEY`` with shell globs (``fnmatch``,
case-sensitive): ``Order/ERP-*``, ``*/CUST-ACME``; a pattern without ``/`` names a
whole kind (``Order`` = ``Order/*``). A resource is selected when its kind is one of
``--kind`` (if any), it matches a ``--target`` (if any), and it matches no
``--exclude``. Selection happens after validation and before anything is fetched;
resources left out are not planned, and references to them resolve against the API.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from fnmatch import fnmatchcase

from declsync.errors import ConfigError
from declsync.manifests.loader import Resource
from declsync.profile.model import Profile, suggest

__all__ = ["Selection", "select"]


def _normalise(pattern: str) -> str:
    return pattern if "/" in pattern else f"{pattern}/*"


@dataclass(frozen=True)
class Selection:
    targets: tuple[str, ...] = ()
    excludes: tuple[str, ...] = ()
    kinds: tuple[str, ...] = ()

    @property
    def active(self) -> bool:
        return bool(self.targets or self.excludes or self.kinds)

    @property
    def flags(self) -> str:
        used = [name for name, given in (("--target", self.targets), ("--exclude", self.excludes),
                                         ("--kind", self.kinds)) if given]
        return "/".join(used)

    def matches(self, res: Resource) -> bool:
        return self.matches_address(res.kind, res.key)

    def matches_address(self, kind: str, key: str) -> bool:
        address = f"{kind}/{key}"
        if self.kinds and kind not in self.kinds:
            return False
        if self.targets and not any(fnmatchcase(address, _normalise(p)) for p in self.targets):
            return False
        return not any(fnmatchcase(address, _normalise(p)) for p in self.excludes)

    def check(self, profile: Profile) -> None:
        """Refuse kinds the profile does not know (a typo would silently select nothing)."""
        problems: list[str] = []
        for kind in self.kinds:
            if kind not in profile.kinds:
                problems.append(f"--kind {kind!r}: unknown kind{suggest(kind, profile.kinds)}; "
                                f"known kinds: {', '.join(profile.kinds)}")
        for flag, patterns in (("--target", self.targets), ("--exclude", self.excludes)):
            for p in patterns:
                kind_part = _normalise(p).split("/", 1)[0]
                if not any(ch in kind_part for ch in "*?[") and kind_part not in profile.kinds:
                    problems.append(f"{flag} {p!r}: unknown kind {kind_part!r}{suggest(kind_part, profile.kinds)}; "
                                    "patterns look like Kind/KEY, e.g. Order/ERP-*")
        if problems:
            raise ConfigError("; ".join(problems))


def select(
    resources: Sequence[Resource], selection: Selection, profile: Profile
) -> tuple[list[Resource], list[Resource], list[str]]:
    """``(selected, left_out, notes)``; without any selection flag, everything and no note."""
    if not selection.active:
        return list(resources), [], []
    selection.check(profile)
    selected: list[Resource] = []
    left_out: list[Resource] = []
    for res in resources:
        (selected if selection.matches(res) else left_out).append(res)
    unmatched = [p for p in selection.targets
                 if not any(fnmatchcase(r.address, _normalise(p)) for r in resources)]
    if unmatched:
        raise ConfigError(f"--target {', '.join(repr(p) for p in unmatched)} matches no declared resource; "
                          "patterns look like Kind/KEY, e.g. Order/ERP-*")
    note = f"restricted by {selection.flags}: {len(selected)} of {len(resources)} resources planned"
    return selected, left_out, [note]
