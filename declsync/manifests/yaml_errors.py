"""YAML syntax errors that point at the character: line and column, the offending line
with a caret under the column, and a hint for the usual causes (tabs, a missing space
after a colon, an unquoted value that YAML reads as syntax, inconsistent indentation).

PyYAML's messages ("found character that cannot start any token") name the parser's
state, not the user's mistake; the hints below name the mistake and how to fix it.
"""

from __future__ import annotations

import re

import yaml

from declsync.errors import Problem

__all__ = ["syntax_problem"]

_INDENT = re.compile(r"^[ \t]*")
# ``name:value`` — a key glued to its value (a URL's ``http://`` is not one).
_NO_SPACE = re.compile(r"^\s*(?:- )?[A-Za-z_][\w.-]*:[^\s:/]")
# ``key: value: more`` or ``- value: more`` after a key: an unquoted value holding ": ".
_COLON_IN_VALUE = re.compile(r"^\s*(?:- )?[^\s:#'\"][^:#]*: +[^'\"\s#][^#]*: ")
_RESERVED_START = {"@": "'@'", "`": "a backtick", "%": "'%'"}


def _shown(line: str, column: int) -> tuple[str, str]:
    """The source line as printed (tabs shown as ``\\t``, like every control character
    in declsync's output) and a caret under ``column`` (0-based) of the original."""
    before = line[:column].replace("\t", "\\t")
    return line.replace("\t", "\\t"), " " * len(before) + "^"


def _hint(problem: str, lines: list[str], row: int, column: int) -> str | None:
    line = lines[row] if row < len(lines) else ""
    ch = line[column] if column < len(line) else ""
    indent = _INDENT.match(line)
    if ch == "\t" or (indent and "\t" in indent.group()) or "'\\t'" in problem:
        return "YAML does not allow tabs; indent with spaces"
    if "cannot start any token" in problem and ch in _RESERVED_START:
        return (f"a plain value cannot start with {_RESERVED_START[ch]}; put the value in quotes, "
                f"e.g. \"{line[column:].strip()}\"")
    if "mapping values are not allowed" in problem and _COLON_IN_VALUE.match(line):
        key, _, value = line.strip().removeprefix("- ").partition(": ")
        return f"a value containing ': ' must be quoted, e.g. {key}: \"{value}\""
    for where, candidate in (("", line), (f" on line {row}", lines[row - 1] if 0 < row <= len(lines) else "")):
        if _NO_SPACE.match(candidate):
            return f"put a space after the colon{where}: {candidate.strip().replace(':', ': ', 1)!r}"
    if any(word in problem for word in ("expected <block end>", "did not find expected", "mapping values",
                                        "could not find expected ':'")):
        return "check the indentation: keys of one mapping must start in the same column, with spaces"
    return None


def syntax_problem(display: str, text: str, exc: yaml.MarkedYAMLError) -> Problem:
    """One ``Problem`` for a YAML syntax error in ``text`` (the file ``display``)."""
    mark = exc.problem_mark or exc.context_mark
    what = (exc.problem or str(exc)).strip()
    if mark is None:
        return Problem(display, 1, f"invalid YAML: {what}")
    lines = text.splitlines()
    row, column = mark.line, mark.column
    message = f"invalid YAML: {what}"
    hint = _hint(what, lines, row, column)
    if hint:
        message += f" ({hint})"
    detail: tuple[str, ...] = ()
    if row < len(lines):
        source, caret = _shown(lines[row], column)
        detail = (f"  {source}", f"  {caret}")
    return Problem(display, row + 1, message, column=column + 1, detail=detail)
