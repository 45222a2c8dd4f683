"""The most recently active sessions, read from a file without the store.

The app lists these the moment it starts. Loading the store takes longer than the
app's whole first frame (the pydantic models, the `duckdb` package around DuckDB's
engine, the file's checks), so this module needs neither: it opens the file
read-only with the engine module alone (`_duckdb`, about 10 ms to import, and it
lets other threads run while it opens the file and queries), reads one page in the
order `session_page` lists by activity, and closes it.

It never raises and never waits for a lock: a file that is not a DuckDB database
or not of this schema version, one held by another process, or a value Python
cannot represent gives None, and the store's own answer (which replaces this page
anyway) says what is wrong. Importing it imports neither pydantic nor `duckdb`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from storage.duckdb import schema

_MAGIC = (8, b"DUCK")
"""DuckDB's file magic and where it is: a file without it is not opened at all."""

_RECENT_SQL = (
    "SELECT session_id, json_extract(metadata, '$.title'), user_id, message_count, "
    "total_tokens, last_activity, count(*) OVER () FROM sessions "
    "WHERE deleted_at IS NULL ORDER BY last_activity DESC, id DESC LIMIT ?"
)


@dataclass(frozen=True)
class SessionPeek:
    """What a session list shows of a session."""

    session_id: str
    title: Any
    """The session's `title` metadata (None without one; any JSON value)."""
    user_id: str | None
    message_count: int
    total_tokens: int
    last_activity: datetime


def recent_sessions(path: Path, limit: int) -> tuple[list[SessionPeek], int] | None:
    """The `limit` most recently active sessions of the zeptui store at `path` and
    how many sessions it has, or None if that cannot be read at once."""
    try:
        with path.open("rb") as file:
            offset, magic = _MAGIC
            if file.read(offset + len(magic))[offset:] != magic:
                return None
        rows = _query(path, limit)
        if rows is None:
            return None
        sessions = [
            SessionPeek(
                session_id=row[0],
                title=None if row[1] is None else json.loads(row[1]),
                user_id=row[2],
                message_count=row[3],
                total_tokens=row[4],
                last_activity=row[5].replace(tzinfo=UTC),
            )
            for row in rows
        ]
    except Exception:  # anything unusual: the store reads it and says what is wrong
        return None
    return sessions, int(rows[0][-1]) if rows else 0


def _query(path: Path, limit: int) -> list[tuple[Any, ...]] | None:
    try:
        import _duckdb as engine
    except ImportError:  # a duckdb release that names its engine module otherwise
        import duckdb as engine  # type: ignore[no-redef]
    connection = engine.connect(str(path), read_only=True)
    try:
        found = schema.read_version(
            connection.execute("SELECT key, value FROM zeptui_meta").fetchall()
        )
        if found != (schema.FORMAT_NAME, schema.SCHEMA_VERSION):
            return None
        return connection.execute(_RECENT_SQL, [limit]).fetchall()
    finally:
        connection.close()
