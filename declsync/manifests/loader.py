"""Loading and validating manifests: YAML files → ``Resource`` objects.

Every problem in every file is collected and raised together as one
``ManifestError`` (``file:line: message`` each), before anything touches the
network. The stages live beside this module: ``discover`` (which files),
``yamlload`` (YAML with line numbers and limits), ``validate`` (one document →
a Resource), ``cache`` (the parse cache); here they are run over every file (in
worker processes for large sets) and the cross-file checks made.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from declsync.errors import ManifestError, Problem
from declsync.manifests.discover import discover
from declsync.manifests.resource import Resource
from declsync.manifests.validate import check_document
from declsync.manifests.yamlload import Limits, parse_file
from declsync.profile.model import Profile

if TYPE_CHECKING:
    from declsync.manifests.cache import ManifestCache

__all__ = ["Limits", "Resource", "load_manifests"]


def _load_file(path: Path, display: str, profile: Profile, limits: Limits) -> tuple[list[Resource], list[Problem]]:
    """Parse and validate one file (runs in a worker process for large manifest sets)."""
    problems: list[Problem] = []
    resources: list[Resource] = []
    for doc in parse_file(path, display, limits, problems):
        if doc.data is None:
            continue  # an empty document, e.g. a trailing '---'
        res = check_document(doc.data, doc.line, display, doc.key_lines, profile, problems, doc.key_columns)
        if res is not None:
            resources.append(res)
    return resources, problems


# Below this many bytes of YAML, starting worker processes costs more than it saves.
PARALLEL_MIN_BYTES = 2 * 1024 * 1024


def _load_all(files: list[tuple[Path, str]], profile: Profile, limits: Limits) -> list[tuple[list[Resource], list[Problem]]]:
    workers = min(os.cpu_count() or 1, 8, len(files))
    try:
        total = sum(p.stat().st_size for p, _ in files)
    except OSError:
        total = 0
    if workers < 2 or total < PARALLEL_MIN_BYTES:
        return [_load_file(p, d, profile, limits) for p, d in files]
    # YAML parsing is CPU-bound Python: spread files over processes, keep file order.
    # (Imported here: multiprocessing is only worth its import time for large manifest sets.)
    from concurrent.futures import ProcessPoolExecutor

    with ProcessPoolExecutor(max_workers=workers) as pool:
        return list(pool.map(_load_file, *zip(*files, strict=True), [profile] * len(files), [limits] * len(files)))


def _check_renames(resources: Sequence[Resource], declared: Mapping[tuple[str, str], Resource]) -> list[Problem]:
    """A previous key may be claimed by one manifest only, and may not still be declared."""
    problems: list[Problem] = []
    claimed: dict[tuple[str, str], Resource] = {}
    for res in resources:
        line = res.top_lines.get("previousKeys", res.line)
        for old in res.previous_keys:
            ident = (res.kind, old)
            other = declared.get(ident)
            if other is not None:
                problems.append(Problem(res.file, line, f"previousKeys: {res.kind}/{old} is still declared at "
                                        f"{other.source}; a key cannot be renamed and kept"))
            elif ident in claimed:
                first = claimed[ident]
                problems.append(Problem(res.file, line, f"previousKeys: {res.kind}/{old} is also a previous key of "
                                        f"{first.address} at {first.source}; only one resource can be renamed from it"))
            else:
                claimed[ident] = res
    return problems


def _load_cached(
    files: list[tuple[Path, str]], profile: Profile, limits: Limits, cache: ManifestCache | None
) -> list[tuple[list[Resource], list[Problem]]]:
    """Per file (in order): its resources and problems, from ``cache`` where it has them."""
    if cache is None:
        return _load_all(files, profile, limits)
    cache.bind(profile, limits)
    results: list[tuple[list[Resource], list[Problem]] | None] = []
    misses: list[tuple[int, str | None]] = []
    for i, (path, display) in enumerate(files):
        digest, cached = cache.get(path, display, limits)
        results.append(None if cached is None else (cached, []))
        if cached is None:
            misses.append((i, digest))
    parsed = _load_all([files[i] for i, _ in misses], profile, limits)
    for (i, digest), result in zip(misses, parsed, strict=True):
        results[i] = result
        if digest is not None and not result[1]:  # only clean files: errors always come from a real parse
            cache.put(digest, files[i][0], files[i][1], limits, result[0])
    return [r for r in results if r is not None]


def load_manifests(
    paths: Sequence[str | Path], profile: Profile, limits: Limits | None = None, *,
    cache: ManifestCache | None = None,
) -> list[Resource]:
    """Load and validate every manifest under ``paths``; raise ``ManifestError`` with
    all problems if there is any (so nothing is planned from a partly valid set).
    ``cache``: reuse per-file results of earlier runs (``declsync.manifests.cache``);
    cross-file checks (uniqueness, renames) always run on the whole set."""
    limits = limits or Limits()
    problems: list[Problem] = []
    files = discover(paths, problems)
    resources: list[Resource] = []
    first_seen: dict[tuple[str, str], Resource] = {}
    for file_resources, file_problems in _load_cached(files, profile, limits, cache):
        problems.extend(file_problems)
        for res in file_resources:
            ident = (res.kind, res.key)
            if ident in first_seen:
                other = first_seen[ident]
                problems.append(
                    Problem(res.file, res.line, f"{res.address} is declared twice: here and at {other.source}; "
                            "keys must be unique per kind")
                )
                continue
            first_seen[ident] = res
            resources.append(res)
    problems.extend(_check_renames(resources, first_seen))
    if not files and not problems:
        shown = ", ".join(str(p) for p in paths)
        problems.append(Problem(shown, 0, "no manifest files (*.yaml, *.yml) found"))
    if problems:
        raise ManifestError(problems)
    return resources
