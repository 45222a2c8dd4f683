"""What the store accepts: one set of rules for every way in (CLI, imports, the API).

Each rule exists because a value outside it breaks something later: a timestamp
Python cannot represent makes every read of its row crash; metadata nested
thousands deep overflows every JSON encoder; a lone surrogate cannot be stored
as UTF-8; an id with a newline or NUL cannot be typed or shown. Checking at the
door keeps the file readable by everything. The limits are documented in the
README ("Limits").
"""

from __future__ import annotations

import math
import unicodedata
from datetime import UTC, datetime
from typing import Any

MAX_ID_CHARS = 512
"""Session and user ids (a path inside an archive plus a line number fits)."""
MAX_NAME_CHARS = 1_000
"""Roles (speaker names), emails, first and last names."""
MAX_CONTENT_BYTES = 8 * 1024 * 1024
"""A message's content, in UTF-8 bytes (Zep's own request limit is 5 MB)."""
MAX_METADATA_DEPTH = 32
"""Objects and arrays nested inside one metadata object."""
MAX_METADATA_BYTES = 1024 * 1024
"""A metadata object, as UTF-8 JSON."""
EARLIEST = datetime(1, 1, 1, tzinfo=UTC)
LATEST = datetime(9999, 12, 31, 23, 59, 59, 999_999, tzinfo=UTC)
"""Timestamps, in UTC: what every reader (Python, JSON clients) can represent."""


class LimitError(ValueError):
    """A value outside the store's limits; the message says which and why."""


def _check_encodable(value: str, what: str) -> None:
    if not value.isascii():
        try:
            value.encode("utf-8")
        except UnicodeEncodeError as error:
            raise LimitError(
                f"{what} contains a lone surrogate ({value[error.start]!r}), "
                "which is not text that can be stored"
            ) from None


def _has_control_characters(value: str) -> bool:
    if value.isascii():
        return any(ord(char) < 32 or ord(char) == 127 for char in value)
    return any(unicodedata.category(char) == "Cc" for char in value)


def check_id(value: str, what: str = "session_id") -> str:
    """An id: not blank, at most MAX_ID_CHARS, no control characters (NUL, newline...)."""
    if not value.strip():
        raise LimitError(f"{what} cannot be empty or only spaces")
    if len(value) > MAX_ID_CHARS:
        raise LimitError(f"{what} is {len(value):,} characters long (at most {MAX_ID_CHARS})")
    _check_encodable(value, what)
    if _has_control_characters(value):
        raise LimitError(f"{what} {value!r} contains control characters (newline, tab, NUL...)")
    return value


def check_name(value: str | None, what: str) -> str | None:
    """A short text such as a role or an email: encodable, at most MAX_NAME_CHARS."""
    if value is None:
        return None
    if len(value) > MAX_NAME_CHARS:
        raise LimitError(f"{what} is {len(value):,} characters long (at most {MAX_NAME_CHARS:,})")
    _check_encodable(value, what)
    return value


def check_content(value: str, what: str = "content") -> str:
    """Message content: encodable, at most MAX_CONTENT_BYTES."""
    _check_encodable(value, what)
    # A character is at most 4 bytes: shorter strings need no encoding to be sure.
    if len(value) > MAX_CONTENT_BYTES // 4:
        size = len(value.encode("utf-8"))
        if size > MAX_CONTENT_BYTES:
            raise LimitError(
                f"{what} is {size / 1024 / 1024:.1f} MiB "
                f"(at most {MAX_CONTENT_BYTES // 1024 // 1024} MiB per message)"
            )
    return value


def check_metadata(value: dict[str, Any] | None, what: str = "metadata") -> dict[str, Any] | None:
    """Metadata: JSON values only, nested at most MAX_METADATA_DEPTH deep, at most
    MAX_METADATA_BYTES, every string encodable, every number finite.

    Walks the value without recursion, so a hostile depth cannot overflow the stack.
    """
    if value is None:
        return None
    size = 0
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict | list):
            if depth > MAX_METADATA_DEPTH:
                raise LimitError(
                    f"{what} is nested more than {MAX_METADATA_DEPTH} levels deep "
                    f"(at most {MAX_METADATA_DEPTH})"
                )
            if isinstance(item, dict):
                for key, child in item.items():
                    if not isinstance(key, str):
                        raise LimitError(f"{what} has a key that is not a string: {key!r}")
                    _check_encodable(key, f"a key in {what}")
                    size += len(key) + 4
                    stack.append((child, depth + 1))
            else:
                stack.extend((child, depth + 1) for child in item)
                size += 2
        elif isinstance(item, str):
            _check_encodable(item, f"a value in {what}")
            size += len(item) + 2
        elif isinstance(item, float):
            if not math.isfinite(item):
                raise LimitError(f"{what} contains {item!r}, which JSON cannot hold")
            size += 24
        elif item is None or isinstance(item, bool | int):
            size += 8
        else:
            raise LimitError(f"{what} contains a {type(item).__name__}, which is not JSON")
        if size > MAX_METADATA_BYTES:
            raise LimitError(f"{what} is larger than {MAX_METADATA_BYTES // 1024:,} KiB")
    return value


def check_timestamp(value: datetime | None, what: str = "created_at") -> datetime | None:
    """A timestamp between years 1 and 9999 in UTC (naive ones are UTC)."""
    if value is None:
        return None
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    try:
        return value.astimezone(UTC)
    except OverflowError:
        raise LimitError(
            f"{what} {value.isoformat()} is out of range (years 1 to 9999, in UTC)"
        ) from None
