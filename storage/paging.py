"""Bounds of the paging arguments every store takes: page sizes, offsets, page numbers
and `lastn`.

Beyond them a store refuses the call with `InvalidInputError` instead of handing the
value to the database, which fails on them (DuckDB's newest-n aggregate takes fewer than a
million; an offset past 2^63 overflows). Cheap to import: the CLI builds its option
ranges from these.
"""

from __future__ import annotations

from storage.errors import InvalidInputError

MAX_LIMIT = 100_000
"""Items in one page or one memory (`lastn`); 0 ("all"), where allowed, is not capped."""
MAX_OFFSET = 10**12
"""Items a page may skip (sessions and users are paged by offset)."""
MAX_PAGE = 10**7
"""A page number (messages are paged by number); MAX_PAGE × MAX_LIMIT = MAX_OFFSET."""


def check_range(name: str, value: int | None, low: int, high: int) -> None:
    """InvalidInputError unless `value` is None or within [low, high]."""
    if value is not None and not low <= value <= high:
        raise InvalidInputError(f"{name} must be between {low:,} and {high:,}, not {value:,}")
