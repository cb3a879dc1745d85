"""declsync.scrub: secrets redacted in every representation, control characters escaped."""

from __future__ import annotations

import html
import json
from collections.abc import Callable
from urllib.parse import quote, quote_plus

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from declsync.errors import ApiError, ConfigError, ManifestError, Problem
from declsync.scrub import MARK, WINDOW, Redactor, escape_controls

SECRET = "SECRET-TOKEN-7f3a9c21"

# How a secret is encoded on its way to output, computed here independently of
# declsync.scrub (the text around it is added by the tests).
ENCODINGS: dict[str, Callable[[str], str]] = {
    "raw": lambda s: s,
    "repr": lambda s: repr(s)[1:-1],
    "bytes repr (an HTTP library's header error)": lambda s: repr(s.encode("utf-8", "surrogatepass"))[2:-1],
    "json ascii-only": lambda s: json.dumps(s, ensure_ascii=True)[1:-1],
    "json unicode": lambda s: json.dumps(s, ensure_ascii=False)[1:-1],
    "url": lambda s: quote(s, safe=""),
    "url path": lambda s: quote(s),
    "form": quote_plus,
    "html": html.escape,
    "escaped controls": escape_controls,
}
# The text around it: an HTTP library's header error, a JSON body echoed back, a URL.
WRAPPERS: dict[str, Callable[[str], str]] = {
    "header error": lambda e: f"Illegal header value b'Bearer {e}'",
    "json body": lambda e: f'{{"error": "bad token", "token": "{e}"}}',
    "url": lambda e: f"https://api.example/v1?access_token={e}&x=1",
}


def pieces(text: str) -> set[str]:
    return {text[i:i + WINDOW] for i in range(len(text) - WINDOW + 1)}


def leaked(secret: str, output: str) -> list[str]:
    """Every WINDOW-long piece of any encoding of ``secret`` that ``output`` contains."""
    return sorted(p for name, enc in ENCODINGS.items() for p in pieces(enc(secret)) if p in output)


@pytest.mark.parametrize("wrapper", list(WRAPPERS))
@pytest.mark.parametrize("name", list(ENCODINGS))
def test_every_representation_is_redacted(name: str, wrapper: str) -> None:
    secret = SECRET + "/+ é\n"
    r = Redactor([secret])
    shown = WRAPPERS[wrapper](ENCODINGS[name](secret))
    out = r.redact(f"Error: server said {shown} (POST /v1/orders)")
    assert leaked(secret, out) == [], out
    assert out.startswith("Error: server said ") and out.endswith(" (POST /v1/orders)")
    assert MARK in out


def test_a_secret_cut_by_truncation_is_redacted() -> None:
    # The bug: a server echoing the Authorization header, cut at 200 characters with "…".
    r = Redactor([SECRET])
    for n in range(4, len(SECRET)):
        for ellipsis in ("…", "..."):
            out = r.redact(f"502: upstream said Authorization: Bearer {SECRET[:n]}{ellipsis}")
            assert SECRET[:n] not in out, out
            assert out == f"502: upstream said Authorization: Bearer {MARK}{ellipsis}"


def test_a_piece_from_the_middle_is_redacted() -> None:
    r = Redactor([SECRET])
    assert r.redact(f"…{SECRET[5:15]} and more") == f"…{MARK} and more"


def test_short_secrets_are_removed_whole_and_shorter_values_are_not_registered() -> None:
    r = Redactor(["ab\ncd", "xyz"])
    assert r.redact("got 'ab\\ncd' and ab%0Acd and xyz") == f"got '{MARK}' and {MARK} and xyz"


def test_unrelated_text_is_untouched() -> None:
    r = Redactor([SECRET])
    text = "Plan: 2 to create, 0 to update, 0 unchanged. SECRETS are Tokens… TOKEN-7 SECRET-"
    assert r.redact(text) == text


def test_values_are_redacted_deeply() -> None:
    r = Redactor([SECRET])
    value = {"a": [SECRET, {"b": f"x{SECRET}"}], SECRET: 1, "n": 3}
    assert r.redact_value(value) == {"a": [MARK, {"b": f"x{MARK}"}], MARK: 1, "n": 3}
    assert r.contains_secret(value) and not r.contains_secret({"a": "b"})


secrets = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), min_size=WINDOW, max_size=40)
# Text around a secret in output: ordinary words, punctuation, other noise.
noise = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=40)


@settings(max_examples=300, deadline=None)
@given(secret=secrets, encoding=st.sampled_from(sorted(ENCODINGS)), before=noise, after=noise,
       wrapper=st.sampled_from(sorted(WRAPPERS)), cut=st.one_of(st.none(), st.integers(0, 200)),
       ellipsis=st.sampled_from(["", "…", "..."]))
def test_no_piece_of_a_secret_survives_redaction(secret: str, encoding: str, before: str, after: str,
                                                 wrapper: str, cut: int | None, ellipsis: str) -> None:
    """The promise: for any secret and any wrapping/truncation, no WINDOW-character piece of
    any representation of the secret is left in the output; when the text was cut right
    after a 4+ character beginning of a representation and marked with an ellipsis, that
    beginning is gone too."""
    r = Redactor([secret])
    text = before + WRAPPERS[wrapper](ENCODINGS[encoding](secret))
    if cut is not None:
        text = text[:cut] + ellipsis
    text += after
    out = r.redact(text)
    assert leaked(secret, out) == []


@settings(max_examples=200, deadline=None)
@given(secret=st.text("abcdefghij", min_size=WINDOW, max_size=30), n=st.integers(4, WINDOW - 1),
       encoding=st.sampled_from(["raw", "url", "repr"]), before=st.text("klmnop ", max_size=20))
def test_a_cut_off_beginning_before_an_ellipsis_is_redacted(secret: str, n: int, encoding: str, before: str) -> None:
    r = Redactor([secret])
    head = ENCODINGS[encoding](secret)[:n]
    out = r.redact(f"{before}{head}…")
    assert out == f"{before}{MARK}…"


@settings(max_examples=200, deadline=None)
@given(secret=st.text("abcdefghij", min_size=WINDOW, max_size=30), text=st.text("klmnopqrstuvwxyz …:\n", max_size=80))
def test_text_sharing_nothing_with_a_secret_is_unchanged(secret: str, text: str) -> None:
    assert Redactor([secret]).redact(text) == text


def test_a_secret_containing_the_mark_cannot_be_rebuilt_around_it() -> None:
    secret = "a***bcdefgh***ijk"
    r = Redactor([secret])
    out = r.redact(f"x{secret}y {secret[:9]}…")
    assert leaked(secret, out) == []


# ---------------------------------------------------------------- control characters


@pytest.mark.parametrize("raw, shown", [
    ("a\nb", "a\\nb"), ("a\r\nb", "a\\r\\nb"), ("\x1b[2J", "\\x1b[2J"), ("a\tb", "a\\tb"),
    ("\x7f\x85", "\\x7f\\x85"), ("a\u2028b", "a\\u2028b"), ("\u202eabc", "\\u202eabc"), ("\ud800", "\\ud800"),
    ("plain – ünïcode ✓", "plain – ünïcode ✓"),
])
def test_control_characters_are_escaped(raw: str, shown: str) -> None:
    assert escape_controls(raw) == shown


def test_a_kept_separator_survives_but_a_bare_newline_does_not() -> None:
    assert escape_controls("head\n  one\ntwo", keep="\n  ") == "head\n  one\\ntwo"


@given(st.text())
def test_escaped_text_is_one_line(text: str) -> None:
    out = escape_controls(text)
    assert out.splitlines() == ([out] if out else [])
    assert "\x1b" not in out


def test_errors_escape_what_they_quote() -> None:
    api = ApiError("PATCH /v1/orders/1: 400: bad value 'x\nNo changes.\x1b[2J'")
    assert "\n" not in str(api) and "\x1b" not in str(api)
    config = ConfigError("cannot import:\n  Order/X\nNo changes.: bad")
    assert str(config).split("\n") == ["cannot import:", "  Order/X\\nNo changes.: bad"]
    manifest = ManifestError([Problem("m.yaml", 3, "refers to Customer/X\nNo changes."),
                              Problem("m\n.yaml", 1, "bad\r")])
    lines = str(manifest).split("\n")
    assert sorted(lines[:2]) == ["m.yaml:3: refers to Customer/X\\nNo changes.", "m\\n.yaml:1: bad\\r"]
    assert len(lines) == 3


def test_values_that_are_not_json_are_checked_too() -> None:
    r = Redactor([SECRET])
    assert r.contains_secret({("a", 1): [SECRET]}) and not r.contains_secret({("a", 1): ["b"]})
