"""Promise 5: hostile input is refused clearly, in bounded time and memory.

Whatever bytes the manifest files hold, loading gives either resources or one
``ManifestError`` whose problems are ``file:line: message`` strings, never another
exception. Through the CLI (``validate``, ``plan``): exit 1, no traceback, nothing
sent to the API. Alias bombs, deep nesting (which used to crash the C parser),
multi-megabyte strings, thousands of documents, non-UTF-8 bytes, symlink loops,
FIFOs and devices: a clear error in bounded time and memory, checked in a child
process with an address-space limit. (tests/test_manifest.py has the unit cases.)
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from declsync.errors import ManifestError
from declsync.manifests.loader import load_manifests
from declsync.sandbox import SandboxServer

from .conftest import PROFILE, REPO, child_env, run

# DECLSYNC_FUZZ_EXAMPLES raises the number of examples per property (e.g. 5000 for a long hunt).
EXAMPLES = int(os.environ.get("DECLSYNC_FUZZ_EXAMPLES", "150"))
FUZZ = settings(max_examples=EXAMPLES, deadline=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
KINDS = sorted(PROFILE.kinds)
FIELDS = sorted({name for kind in PROFILE.kinds.values() for name in kind.fields})
EXAMPLE = (REPO / "manifests" / "orders.yaml").read_text() if (REPO / "manifests" / "orders.yaml").exists() else ""


def _outcome(directory: Path) -> list[Any]:
    """Load ``directory``; check the promise; the resources, or [] after a ManifestError."""
    try:
        resources = load_manifests([directory], PROFILE)
    except ManifestError as exc:
        assert exc.problems, "a ManifestError without problems"
        for problem in exc.problems:
            text = str(problem)
            assert re.fullmatch(r"[^\n]*?:\d+: .+", text, re.S), text
            assert problem.file.startswith(str(directory)), text
            assert problem.line >= 0
        return []
    for res in resources:
        assert res.kind in PROFILE.kinds and isinstance(res.key, str) and isinstance(res.spec, dict)
    return resources


def _write(tmp_path: Path, name: str, content: str | bytes) -> Path:
    directory = tmp_path / f"case-{time.monotonic_ns()}"
    directory.mkdir()
    target = directory / name
    if isinstance(content, bytes):
        target.write_bytes(content)
    else:
        target.write_text(content, encoding="utf-8", errors="surrogatepass")
    return directory


# --------------------------------------------------------------------------- fuzzing the loader

TOKENS = [
    "kind: ", "key: ", "spec:", "\n", "\n  ", "\n    ", "- ", "[", "]", "{", "}", ", ", ": ", "? ", "---\n",
    "...\n", "&a ", "*a", "&b ", "*b", "<<: ", "!!int ", "!!float ", "!!bool ", "!!timestamp ", "!!binary ",
    "!!str ", "!!set ", "!!omap ", "!!python/object:os.system ", "!custom ", "%YAML 1.1\n", "%TAG ! tag:x,1:\n",
    "'", '"', "# c\n", "|\n  ", ">-\n  ", "~", "null", "true", "no", "0x1F", "0o17", "1e999", "-.inf", ".nan",
    "2025-13-45", "2025-01-22T09:00:00", "2025-01-22T09:00:00Z", "9" * 4400, "Customer", "Order", "Location",
    "Shipment", "Carrier", "CUST-1", "name", "status", "ACTIVE", "stops", "freight", "weight", "{$ref: Customer/X}",
    "{key: K}", "\t", "\x00", "\x85", "\u2028", "\ufeff", "é", "😀",
]
yaml_soup = st.lists(st.sampled_from(TOKENS), max_size=60).map("".join)
# A valid manifest with a few characters replaced, removed or inserted.
mutations = st.lists(st.tuples(st.integers(0, 10_000), st.sampled_from(["", " ", "\n", ":", "-", "[", "'", "&x", "*x", "\t"])),
                     min_size=1, max_size=6)

scalars = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), st.text(max_size=15),
                    st.dates(), st.datetimes(), st.sampled_from(["2025-01-22T09:00:00-05:00", "USD", "FTL", "x" * 600]))
values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=3)
                      | st.dictionaries(st.sampled_from([*FIELDS, "key", "id", "$ref", "x"]), inner, max_size=3),
                      max_leaves=10)
documents = st.fixed_dictionaries(
    {},
    optional={
        "kind": st.one_of(st.sampled_from(KINDS), scalars),
        "key": st.one_of(st.text(max_size=20), scalars, st.lists(scalars, max_size=2)),
        "spec": st.one_of(st.dictionaries(st.sampled_from([*FIELDS, "id", "createdAt", "bogus"]), values, max_size=6),
                          values),
        "extra": scalars,
    },
)


@FUZZ
@given(text=st.text(max_size=400))
def test_random_text(tmp_path: Path, text: str) -> None:
    _outcome(_write(tmp_path, "a.yaml", text))


@FUZZ
@given(raw=st.binary(max_size=400))
def test_random_bytes(tmp_path: Path, raw: bytes) -> None:
    _outcome(_write(tmp_path, "a.yaml", raw))


@FUZZ
@given(text=yaml_soup)
def test_yaml_token_soup(tmp_path: Path, text: str) -> None:
    _outcome(_write(tmp_path, "a.yaml", text))


@FUZZ
@given(edits=mutations)
def test_mutated_valid_manifest(tmp_path: Path, edits: list[tuple[int, str]]) -> None:
    text = EXAMPLE or "kind: Customer\nkey: C\nspec: {name: A, status: NEW}\n"
    for position, replacement in edits:
        at = position % (len(text) + 1)
        text = text[:at] + replacement + text[at + 1:]
    _outcome(_write(tmp_path, "a.yaml", text))


@FUZZ
@given(docs=st.lists(documents, max_size=4))
def test_random_documents(tmp_path: Path, docs: list[dict[str, Any]]) -> None:
    text = yaml.safe_dump_all(docs, allow_unicode=True)
    _outcome(_write(tmp_path, "a.yaml", text))


# --------------------------------------------------------------------------- bombs, in a child process

MEMORY_LIMIT = 1536 * 1024 * 1024  # address space of the child: bounded memory or MemoryError
# Peak RSS from VmHWM: ru_maxrss would carry over the (large) pytest parent's peak across exec.
_CHILD = """
import atexit, re, resource, runpy, sys
resource.setrlimit(resource.RLIMIT_AS, ({limit}, {limit}))
def peak():
    try:
        with open("/proc/self/status") as fh:
            return int(re.search(r"VmHWM:\\s+(\\d+)", fh.read()).group(1))
    except (OSError, AttributeError):
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
atexit.register(lambda: sys.stderr.write("\\nMAXRSS_KB=%d\\n" % peak()))
sys.argv = ["declsync", *sys.argv[1:]]
runpy.run_module("declsync", run_name="__main__", alter_sys=True)
"""


def _hostile_tree(root: Path) -> dict[str, str | None]:
    """Files that once crashed, hung or exhausted a loader, and the problem each must give."""
    root.mkdir()
    bomb = ["a: &a [x, x, x, x, x, x, x, x, x]"]
    for i in range(1, 10):  # 9^10 values if expanded
        prev, cur = chr(96 + i), chr(97 + i)
        bomb.append(f"{cur}: &{cur} [" + ", ".join([f"*{prev}"] * 9) + "]")
    files: dict[str, str | bytes] = {
        "bomb.yaml": "kind: Customer\nkey: C\nspec:\n" + "\n".join("  " + x for x in bomb) + "\n",
        "deep-flow.yaml": "kind: Customer\nkey: C\nspec:\n  name: " + "[" * 200_000 + "]" * 200_000 + "\n",
        "deep-map.yaml": "{a: " * 100_000 + "1" + "}" * 100_000 + "\n",
        "deep-block.yaml": "- " * 100_000 + "x\n",
        "staircase.yaml": "".join(" " * i + f"k{i}:\n" for i in range(3000)) + " " * 3000 + "v\n",
        "empty-docs.yaml": "---\n" * 100_001,
        "latin1.yaml": "kind: Customer\nkey: C\nspec: {name: Caf\u00e9}\n".encode("latin-1"),
        "utf16.yaml": "kind: Customer\nkey: C\n".encode("utf-16"),
        "bigint.yaml": "kind: Customer\nkey: " + "9" * 5000 + "\n",
        "month13.yaml": "kind: Customer\nkey: C13\nspec:\n  name: 2025-13-45\n",
        "controls.yaml": "kind: Customer\nkey: C\x00\n",
        "pyobject.yaml": "!!python/object/apply:os.system ['echo pwned']\n",
    }
    for name, content in files.items():
        if isinstance(content, bytes):
            (root / name).write_bytes(content)
        else:
            (root / name).write_text(content)
    with (root / "huge.yaml").open("wb") as fh:
        fh.truncate(17 * 1024 * 1024)  # sparse: over the 16 MiB limit without using the disk
    os.symlink("loop-b.yaml", root / "loop-a.yaml")
    os.symlink("loop-a.yaml", root / "loop-b.yaml")
    os.mkfifo(root / "fifo.yaml")
    os.symlink("/dev/zero", root / "zero.yaml")
    (root / "dir-loop").symlink_to(root, target_is_directory=True)
    return {
        "bomb.yaml": "document expands to more than",
        "deep-flow.yaml": "nested more than 64 levels",
        "deep-map.yaml": "nested more than 64 levels",
        "deep-block.yaml": "nested more than 64 levels",
        "staircase.yaml": "nested more than 64 levels",
        "empty-docs.yaml": "more than 100000 documents",
        "latin1.yaml": "not valid UTF-8",
        "utf16.yaml": "not valid UTF-8",
        "bigint.yaml": None,
        "month13.yaml": None,
        "controls.yaml": None,
        "pyobject.yaml": None,
        "huge.yaml": "limited to 16777216 bytes",
        "loop-a.yaml": "cannot read file: Too many levels of symbolic links",
        "fifo.yaml": "not a regular file",
        "zero.yaml": "not a regular file",
    }


def _child(args: list[str], cwd: Path, env: dict[str, str] | None = None) -> tuple[int, str, str, float, int]:
    started = time.monotonic()
    done = subprocess.run([sys.executable, "-c", _CHILD.format(limit=MEMORY_LIMIT), *args], cwd=cwd,
                          env=env or child_env(), capture_output=True, text=True, timeout=120)
    seconds = time.monotonic() - started
    match = re.search(r"\nMAXRSS_KB=(\d+)\n", done.stderr)
    err = done.stderr[: match.start()] if match else done.stderr
    return done.returncode, done.stdout, err, seconds, int(match.group(1)) if match else -1


def test_hostile_files_are_refused_quickly_with_bounded_memory(tmp_path: Path, sandbox: SandboxServer,
                                                                figures: dict[str, Any]) -> None:
    expected = _hostile_tree(tmp_path / "hostile")
    code, out, err, seconds, rss_kb = _child(["validate", "hostile"], tmp_path)
    assert code == 1, (code, out, err[-3000:])
    assert "Traceback" not in err and "internal error" not in err
    for name, message in expected.items():
        lines = [line for line in err.splitlines() if f"hostile/{name}:" in line]
        # None: the YAML library words that problem; the promise is file:line, not its wording.
        assert lines and (message is None or message in lines[0]), (name, message, lines)
        assert re.match(rf"(Error: )?hostile/{re.escape(name)}:\d+(:\d+)?: ", lines[0]), lines[0]  # line, column where known
    assert seconds < 30 and 0 < rss_kb < 1024 * 1024, (seconds, rss_kb)
    # plan refuses the same before any request: not one reached the API.
    sandbox.reset_stats()
    code, _, err, _, _ = _child(["plan", "hostile", "--api-url", sandbox.base_url], tmp_path)
    assert code == 1 and "Traceback" not in err and "nothing was sent to the API" in err
    assert sandbox.stats()["total"] == 0
    figures["hostile_files"] = {"files": len(expected), "seconds": round(seconds, 2), "max_rss_mb": rss_kb // 1024}


def test_big_but_valid_input_stays_bounded(tmp_path: Path, figures: dict[str, Any]) -> None:
    """A 10 MB string and 20 000 documents in one file: accepted, in bounded time and memory."""
    root = tmp_path / "big"
    root.mkdir()
    (root / "big-string.yaml").write_text("kind: Customer\nkey: BIG\nspec:\n  name: '" + "x" * 10_000_000
                                          + "'\n  status: NEW\n")
    (root / "many-docs.yaml").write_text("".join(f"---\nkind: Customer\nkey: C-{i}\nspec: {{name: n, status: NEW}}\n"
                                                 for i in range(20_000)))
    code, out, err, seconds, rss_kb = _child(["validate", "big"], tmp_path)
    assert code == 0, err[-2000:]
    assert "20001 resources valid." in out
    assert seconds < 60 and 0 < rss_kb < 1024 * 1024, (seconds, rss_kb)
    figures["big_valid_input"] = {"resources": 20_001, "seconds": round(seconds, 2), "max_rss_mb": rss_kb // 1024}


# --------------------------------------------------------------------------- the CLI on fuzzed input


@settings(max_examples=max(25, EXAMPLES // 6), deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=yaml_soup)
def test_cli_validate_and_plan_on_garbage(tmp_path: Path, sandbox: SandboxServer, text: str) -> None:
    directory = _write(tmp_path, "m.yaml", text)
    sandbox.reset_stats()
    for args in (["validate", str(directory)], ["plan", str(directory), "--api-url", sandbox.base_url]):
        result = run(args)
        assert "Traceback" not in result.all and "internal error" not in result.all, result.all
        if result.code != 0:
            assert result.code == 1 and result.err.startswith("Error: "), result.all
            assert sandbox.stats()["writes"] == 0
    if load_or_none(directory) is None:
        assert sandbox.stats()["total"] == 0


def load_or_none(directory: Path) -> list[Any] | None:
    try:
        return load_manifests([directory], PROFILE)
    except ManifestError:
        return None

