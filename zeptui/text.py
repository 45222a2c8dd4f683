"""Untrusted text made fit to show: control characters as visible escapes.

Message content, ids and metadata are data: ANSI escapes and other control
characters in them must never reach a terminal. No Rich or Textual here, so the
services and the CLI's error lines use it without loading a UI library.
"""

from __future__ import annotations

import re

__all__ = ["json_safe", "plural", "sanitize", "title_or_id"]

# C0 controls except tab and newline, DEL, C1 controls, Unicode line/paragraph
# separators, the bidi embedding/override/isolate controls, and lone surrogates (how
# Python keeps bytes of a command line that are not UTF-8; they cannot be printed).
_UNSAFE = re.compile(
    "[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069\ud800-\udfff]"
)


def _visible(match: re.Match[str]) -> str:
    code = ord(match.group())
    if 0xDC80 <= code <= 0xDCFF:  # a byte that was not UTF-8, kept by surrogateescape
        return f"\\x{code - 0xDC00:02x}"
    return f"\\x{code:02x}" if code <= 0xFF else f"\\u{code:04x}"


def sanitize(value: str) -> str:
    """`value` with control characters (except newline and tab) shown as `\\xNN` escapes."""
    return _UNSAFE.sub(_visible, value)


def _json_escape(match: re.Match[str]) -> str:
    return f"\\u{ord(match.group()):04x}"


def json_safe(text: str) -> str:
    """JSON text with the control characters `json.dumps` leaves raw (DEL, C1, bidi and
    line separators) written as `\\uXXXX` escapes: the same JSON, safe on a terminal.
    (Tab and newline only ever appear between values, where they are layout.)"""
    return _UNSAFE.sub(_json_escape, text)


def title_or_id(session_id: str, title: object) -> str:
    """`title` (a session's `title` metadata) when it is non-blank text, else the id."""
    return title.strip() if isinstance(title, str) and title.strip() else session_id


def plural(count: int, word: str, words: str | None = None) -> str:
    """`1 message`, `2 messages` (`words`: the plural, when not `word` + s)."""
    return f"{count:,} {word if count == 1 else words or word + 's'}"
