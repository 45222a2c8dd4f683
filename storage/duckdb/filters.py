"""WHERE clauses from the filters of a query: one builder for session pages and search.

Both filter by user, by metadata `key=value` (a dotted key reaches into nested
objects) and by a range of creation times: those conditions are written here once,
on whichever table's columns the caller names.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Protocol

from storage.duckdb.rows import to_db_time
from storage.metadata import json_path


class Filtered(Protocol):
    """The filters session pages and search share (SessionQuery, SearchQuery)."""

    @property
    def user_id(self) -> str | None: ...
    @property
    def metadata(self) -> dict[str, str]: ...
    @property
    def created_after(self) -> datetime | None: ...
    @property
    def created_before(self) -> datetime | None: ...


class Where:
    """Conditions joined by AND, with their parameters in order."""

    def __init__(self, *conditions: str) -> None:
        self.conditions = list(conditions)
        self.params: list[Any] = []

    def add(self, condition: str, *params: Any) -> None:
        """One condition and its parameters."""
        self.conditions.append(condition)
        self.params.extend(params)

    def equals(self, column: str, value: Any) -> None:
        """`column = value`, unless `value` is None (no filter)."""
        if value is not None:
            self.add(f"{column} = ?", value)

    def metadata(self, column: str, pairs: dict[str, str]) -> None:
        """The JSON object in `column` has each `key=value` (dotted keys go deep)."""
        for key, value in sorted(pairs.items()):
            self.add(f"json_extract_string({column}, ?) = ?", json_path(key), value)

    def created(self, column: str, after: datetime | None, before: datetime | None) -> None:
        """`after <= column < before`, each bound when given."""
        if after is not None:
            self.add(f"{column} >= ?", to_db_time(after))
        if before is not None:
            self.add(f"{column} < ?", to_db_time(before))

    def common(self, query: Filtered, table: str) -> None:
        """What session pages and search both filter on: the session's user (`s`), and
        `table`'s metadata and creation time."""
        self.equals("s.user_id", query.user_id)
        self.metadata(f"{table}.metadata", query.metadata)
        self.created(f"{table}.created_at", query.created_after, query.created_before)

    @property
    def sql(self) -> str:
        """The conditions as one SQL condition (TRUE when there are none)."""
        return " AND ".join(self.conditions) if self.conditions else "TRUE"
