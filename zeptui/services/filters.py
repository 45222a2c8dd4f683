"""The session filter language, one parser for the CLI, the app and the API server.

A filter is words separated by spaces:

- `user:NAME`: the user's sessions only;
- `KEY=VALUE`: metadata KEY equals VALUE (as text); a dotted key (`topic.name=x`)
  reaches into nested objects;
- `>DATE` / `<DATE`: created on or after / before DATE (`2024-05-01`, or with a time:
  `2024-05-01T13:30`, `...Z`, `...+02:00`; without a zone, UTC);
- any other word: part of the text the session's title, id or user id must contain
  (the words, joined by single spaces).

Double quotes make a part literal, spaces and all: `"two words"`, `title="a = b"`,
`user:"Ana María"`, `"user:x"` (the text `user:x`); `\\"` and `\\\\` inside quotes are
a quote and a backslash. `parse_session_filter` turns a filter into `SessionFilter`
(fields of a `SessionQuery`) or raises `FilterError` with a one-line reason;
`format_session_filter` writes one back, so that parsing it gives the same filter.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from zeptui.services import ServiceError

__all__ = ["FilterError", "SessionFilter", "format_session_filter", "parse_session_filter"]

DATE_HINT = "use YYYY-MM-DD, optionally with a time: 2024-05-01T13:30"


class FilterError(ServiceError, ValueError):
    """A filter that cannot be parsed; the message says what and where."""


@dataclass(frozen=True)
class SessionFilter:
    """What a filter asks for: the filter fields of a `SessionQuery`."""

    text: str | None = None
    """Part of the session's title, id or user id (case-insensitive)."""
    user_id: str | None = None
    metadata: tuple[tuple[str, str], ...] = ()
    """(key, value) pairs, in the order given; a key appears once."""
    created_after: datetime | None = None
    """Created on or after."""
    created_before: datetime | None = None
    """Created before."""

    def query_fields(self) -> dict[str, Any]:
        """Keyword arguments for `storage.models.SessionQuery`."""
        return {
            "text": self.text,
            "user_id": self.user_id,
            "metadata": dict(self.metadata),
            "created_after": self.created_after,
            "created_before": self.created_before,
        }


_Token = list[tuple[str, bool]]
"""A word as (character, quoted) pairs: quoted characters never act as syntax."""


def _tokens(text: str) -> list[_Token]:
    """The words of `text`: split at unquoted whitespace, quotes removed."""
    words: list[_Token] = []
    word: _Token = []
    in_word = quoted = False
    characters = iter(text)
    for char in characters:
        if quoted:
            if char == '"':
                quoted = False
            elif char == "\\":
                escaped = next(characters, None)
                if escaped is None:
                    break
                word.append((escaped, True))
            else:
                word.append((char, True))
        elif char == '"':
            quoted = in_word = True
        elif char.isspace():
            if in_word:
                words.append(word)
            word, in_word = [], False
        else:
            word.append((char, False))
            in_word = True
    if quoted:
        raise FilterError(f"a quote is not closed: {text.strip()}")
    if in_word:
        words.append(word)
    return words


def _plain(word: _Token) -> str:
    return "".join(char for char, _ in word)


def _syntax_at(word: _Token, index: int, char: str) -> bool:
    return index < len(word) and word[index] == (char, False)


def _first_syntax(word: _Token, char: str) -> int | None:
    """Where `char` first stands unquoted in `word`."""
    return next((index for index, found in enumerate(word) if found == (char, False)), None)


def _parse_date(word: _Token) -> datetime:
    """The date of a `>DATE` / `<DATE` word (aware; UTC when no zone is given)."""
    sign, date = _plain(word[:1]), _plain(word[1:])
    if not date:
        raise FilterError(f"{sign} needs a date, like {sign}2024-05-01")
    try:
        when = datetime.fromisoformat(date)
    except ValueError:
        raise FilterError(f"not a date: {sign}{date} ({DATE_HINT})") from None
    return when if when.tzinfo else when.replace(tzinfo=UTC)


def parse_session_filter(text: str) -> SessionFilter:
    """`text` in the filter language as the fields of a session query.

    Raises `FilterError` for an unclosed quote, `user:` or a date sign without a
    value, a date that is not one, a metadata word without a key, and a user, a date
    bound or a metadata key given twice with different values."""
    words: list[str] = []
    user_id: str | None = None
    metadata: dict[str, str] = {}
    bounds: dict[str, datetime] = {}
    for word in _tokens(text):
        if all(_syntax_at(word, index, char) for index, char in enumerate("user:")):
            name = _plain(word[5:])
            if not name:
                raise FilterError("user: needs a name, like user:ana")
            if user_id is not None and user_id != name:
                raise FilterError(f"two users: user:{user_id} and user:{name} (give one)")
            user_id = name
        elif _syntax_at(word, 0, ">") or _syntax_at(word, 0, "<"):
            sign = word[0][0]
            when = _parse_date(word)
            if bounds.get(sign, when) != when:
                raise FilterError(f"two {sign} dates: give one")
            bounds[sign] = when
        elif (equals := _first_syntax(word, "=")) is not None:
            key, value = _plain(word[:equals]), _plain(word[equals + 1 :])
            if not key:
                raise FilterError(f"a metadata filter needs a key: KEY=VALUE, not ={value}")
            if metadata.get(key, value) != value:
                raise FilterError(f"two values for {key}: {metadata[key]} and {value} (give one)")
            metadata[key] = value
        elif word:  # `""` is no text
            words.append(_plain(word))
    return SessionFilter(
        text=" ".join(words) or None,
        user_id=user_id,
        metadata=tuple(metadata.items()),
        created_after=bounds.get(">"),
        created_before=bounds.get("<"),
    )


def _quoted(part: str) -> str:
    """`part` as a literal: quoted when it holds anything the language reads."""
    if part and not any(char.isspace() or char in '"\\=<>:' for char in part):
        return part
    return '"' + part.replace("\\", "\\\\").replace('"', '\\"') + '"'


def format_session_filter(session_filter: SessionFilter) -> str:
    """`session_filter` in the filter language (parsing it gives `session_filter`)."""
    words = []
    if session_filter.user_id is not None:
        words.append("user:" + _quoted(session_filter.user_id))
    words += [f"{_quoted(key)}={_quoted(value)}" for key, value in session_filter.metadata]
    if session_filter.created_after is not None:
        words.append(">" + session_filter.created_after.isoformat())
    if session_filter.created_before is not None:
        words.append("<" + session_filter.created_before.isoformat())
    if session_filter.text:
        words.append(_quoted(session_filter.text))
    return " ".join(words)
