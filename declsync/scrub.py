"""Scrubbing text on its way out of declsync: secrets redacted, control characters escaped.

Two concerns, one module, because every output path needs both:

* **Redaction.** A secret (API token, client secret, an access token fetched with
  client credentials) reaches output in many shapes: as is, escaped by ``repr`` (an
  HTTP library's ``b'Bearer …\\n'``), URL-encoded, JSON-escaped, HTML-escaped, and
  cut short by truncation (``Bearer SECRET-TOKE…``). ``Redactor.redact`` removes
  every run of ``WINDOW`` (8) or more characters that occurs in any representation
  of a registered secret, and a shorter (4+ character) beginning of one that ends
  where text was visibly cut (right before ``…`` or ``...``). The promise, tested
  with hypothesis in ``tests/test_scrub.py``: *no 8-character piece of any
  representation of a registered secret survives ``redact``*. Secrets shorter than 8
  characters (4 at least) are removed whole in every representation.

* **Control characters.** CR/LF, ESC, the other C0/C1 controls, Unicode line and
  paragraph separators, bidirectional overrides and lone surrogates in keys, values
  and server messages could forge or hide lines of a reviewed plan or an error (a
  key ``"x\\nNo changes."``). ``escape_controls`` writes each as a visible escape
  (``\\n``, ``\\x1b``, ``\\u202e``).

``redact``/``register_secret`` act on one process-wide ``Redactor`` (the CLI's);
tests and library users who want isolation make their own. declsync logs nothing
itself; ``RedactingFilter`` scrubs the records of the HTTP libraries it uses (installed
on their loggers by ``declsync.remote.auth``), and can be added to any handler.
"""

from __future__ import annotations

import html
import json
import logging
import re
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, quote_plus

__all__ = [
    "MARK",
    "MIN_SECRET",
    "WINDOW",
    "RedactingFilter",
    "Redactor",
    "escape_controls",
    "install_log_filter",
    "redact",
    "redact_value",
    "register_secret",
    "representations",
    "safe_text",
]

MARK = "***"
# Runs this long that occur in a secret are removed wherever they appear.
WINDOW = 8
# Shorter values are not worth registering (they would blank ordinary words); a cut-off
# beginning of a secret this long is removed where the text was truncated.
MIN_SECRET = 4
_ELLIPSES = ("…", "...")

# C0 and C1 controls, DEL, lone surrogates, line/paragraph separators, and the
# bidirectional formatting characters (a "Trojan Source" override can reorder a line).
_UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f\ud800-\udfff\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069\ufeff]")
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _escape_one(match: re.Match[str]) -> str:
    ch = match.group()
    code = ord(ch)
    return _NAMED.get(ch) or (f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}")


def escape_controls(text: str, *, keep: str = "") -> str:
    """``text`` with every control or line-breaking character written as an escape.
    ``keep``: a separator left alone (e.g. ``"\\n  "``, the indented continuation lines
    of multi-line errors); a bare control character is still escaped."""
    if not keep:
        return _UNSAFE.sub(_escape_one, text)
    return keep.join(_UNSAFE.sub(_escape_one, part) for part in text.split(keep))


def representations(secret: str) -> set[str]:
    """The shapes in which ``secret`` may reach output."""
    forms = {
        secret,
        repr(secret)[1:-1],
        repr(secret.encode("utf-8", "surrogatepass"))[2:-1],  # b'…', as HTTP libraries show headers
        secret.encode("unicode_escape").decode("ascii"),
        json.dumps(secret)[1:-1],
        json.dumps(secret, ensure_ascii=False)[1:-1],
        quote(secret, safe=""),
        quote(secret),
        quote_plus(secret),
        html.escape(secret),
        escape_controls(secret),
    }
    return {f for f in forms if f}


@dataclass(frozen=True)
class _Index:
    whole: tuple[str, ...]  # representations shorter than WINDOW: removed whole
    grams: frozenset[str]  # every WINDOW-long piece of the longer representations
    heads: tuple[str, ...]  # the longer representations, for cut-off beginnings
    pattern: re.Pattern[str] | None  # finds where any of ``grams`` starts


_EMPTY = _Index((), frozenset(), (), None)


def _trie(words: Iterable[str]) -> str:
    """A regex matching any of ``words`` (all of one length), as a trie: the regex engine
    then scans at C speed, trying each position against a few branches, not all words."""
    root: dict[str, Any] = {}
    for word in words:
        node = root
        for ch in word:
            node = node.setdefault(ch, {})

    def build(node: dict[str, Any]) -> str:
        branches = [re.escape(ch) + build(child) for ch, child in sorted(node.items())]
        if len(branches) <= 1:
            return "".join(branches)
        return "(?:" + "|".join(branches) + ")"

    return build(root)


class Redactor:
    """A set of secrets and the function that removes them from text."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        self._lock = threading.Lock()
        self._secrets: set[str] = set()
        self._index = _EMPTY
        for secret in secrets:
            self.register(secret)

    def register(self, secret: str | None) -> None:
        """Remember ``secret`` (ignored when shorter than ``MIN_SECRET``)."""
        if not secret or len(secret) < MIN_SECRET:
            return
        with self._lock:
            if secret in self._secrets:
                return
            self._secrets.add(secret)
            forms = {f for s in self._secrets for f in representations(s)}
            longer = sorted((f for f in forms if len(f) >= WINDOW), key=len, reverse=True)
            grams = frozenset(f[i:i + WINDOW] for f in longer for i in range(len(f) - WINDOW + 1))
            self._index = _Index(
                whole=tuple(sorted((f for f in forms if len(f) < WINDOW), key=len, reverse=True)),
                grams=grams,
                heads=tuple(longer),
                pattern=re.compile(f"(?=({_trie(grams)}))", re.DOTALL) if grams else None,
            )

    @property
    def active(self) -> bool:
        return bool(self._secrets)

    def redact(self, text: str) -> str:
        """``text`` without any trace of a registered secret (see the module docstring)."""
        index = self._index
        if index is _EMPTY or not text:
            return text
        for form in index.whole:
            if form in text:
                text = text.replace(form, MARK)
        # Repeat until nothing matches: a MARK next to the leftovers could complete a
        # piece of a secret that itself contains '*'. Every pass shortens the text.
        while True:
            spans = self._spans(text, index)
            if not spans:
                return text
            text = _replace(text, spans)

    @staticmethod
    def _spans(text: str, index: _Index) -> list[tuple[int, int]]:
        # Every position where a piece starts (a lookahead, so overlapping pieces all count).
        spans = [(m.start(), m.start() + WINDOW) for m in index.pattern.finditer(text)] if index.pattern else []
        ends: list[int] = []
        for ellipsis in _ELLIPSES:
            at = text.find(ellipsis)
            while at != -1:
                ends.append(at)
                at = text.find(ellipsis, at + 1)
        if not ends:
            return spans
        for end in ends:
            for head in index.heads:
                # The longest cut-off beginning of ``head`` that ends at ``end``.
                for n in range(min(len(head), end, WINDOW - 1), MIN_SECRET - 1, -1):
                    if text.startswith(head[:n], end - n):
                        spans.append((end - n, end))
                        break
        return spans

    def redact_value(self, value: Any) -> Any:
        """``value`` (JSON-like data) with every string, and every mapping key, redacted."""
        if isinstance(value, str):
            return self.redact(value)
        if not self.contains_secret(value):
            return value
        return self._walk(value)

    def _walk(self, value: Any) -> Any:
        if isinstance(value, str):
            return self.redact(value)
        if isinstance(value, Mapping):
            return {self.redact(str(k)): self._walk(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [self._walk(v) for v in value]
        return value

    def contains_secret(self, value: Any) -> bool:
        """Whether any string in ``value`` (JSON-like data) holds a trace of a secret.
        One scan of its JSON text: a secret's JSON-escaped forms are among those redacted."""
        if self._index is _EMPTY:
            return False
        if isinstance(value, str):
            return self.redact(value) != value
        try:
            text = json.dumps(value, ensure_ascii=False, default=str)
        except (TypeError, ValueError):  # e.g. a tuple as a mapping key: check string by string
            return self._any(value)
        return self.redact(text) != text

    def _any(self, value: Any) -> bool:
        if isinstance(value, Mapping):
            return any(self._any(str(k)) or self._any(v) for k, v in value.items())
        if isinstance(value, list | tuple):
            return any(self._any(v) for v in value)
        return isinstance(value, str) and self.redact(value) != value


def _replace(text: str, spans: list[tuple[int, int]]) -> str:
    """``text`` with each (merged) span replaced by one ``MARK``."""
    spans.sort()
    out: list[str] = []
    pos = 0
    start, end = spans[0]
    for s, e in spans[1:]:
        if s <= end:
            end = max(end, e)
            continue
        out += [text[pos:start], MARK]
        pos, (start, end) = end, (s, e)
    out += [text[pos:start], MARK, text[end:]]
    return "".join(out)


DEFAULT = Redactor()


def register_secret(value: str | None) -> None:
    """Remember a secret so that ``redact`` removes it from any output."""
    DEFAULT.register(value)


def redact(text: str) -> str:
    """``text`` without any representation of a registered secret."""
    return DEFAULT.redact(text)


def redact_value(value: Any) -> Any:
    return DEFAULT.redact_value(value)


def safe_text(text: str, *, keep: str = "") -> str:
    """Text fit for a terminal or a log: control characters escaped, then secrets redacted."""
    return DEFAULT.redact(escape_controls(text, keep=keep))


class RedactingFilter(logging.Filter):
    """Scrubs a log record's message (arguments merged in) before any handler sees it."""

    def __init__(self, redactor: Redactor | None = None) -> None:
        super().__init__()
        self.redactor = redactor or DEFAULT

    def filter(self, record: logging.LogRecord) -> bool:
        if self.redactor.active:
            record.msg = escape_controls(self.redactor.redact(record.getMessage()))
            record.args = None
        return True


# The loggers of the HTTP stack (a filter on a logger does not see its children's records).
HTTP_LOGGERS = ("httpx", "httpcore.connection", "httpcore.http11", "httpcore.http2", "httpcore.proxy")


def install_log_filter() -> None:
    """Put one ``RedactingFilter`` on each HTTP library logger (idempotent)."""
    for name in HTTP_LOGGERS:
        logger = logging.getLogger(name)
        if not any(isinstance(f, RedactingFilter) for f in logger.filters):
            logger.addFilter(RedactingFilter())
