"""Undoing soft deletes: a message, a session with what was deleted with it, a user
with the sessions its deletion took along.

What goes together comes back together: the rows a delete touched share its
`deleted_at` (one `now` per transaction), so a session comes back with the messages
and summaries deleted with it, and not with those deleted before it.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from storage.duckdb.connection import Cursor
from storage.duckdb.messages import restore_messages
from storage.duckdb.reads import session_key
from storage.duckdb.rows import parse_uuid
from storage.duckdb.writes import user_exists
from storage.errors import ConflictError, NotFoundError


def restore_message(cursor: Cursor, session_id: str, message_uuid: str, now: datetime) -> None:
    """Undelete one message of a live session (with its index entries, the session's
    counts, and the summaries deleted with it)."""
    key = session_key(cursor, session_id)
    row = cursor.execute(
        "SELECT id, deleted_at IS NOT NULL FROM messages WHERE session_key = ? AND uuid = ?::UUID",
        [key, parse_uuid(message_uuid)],
    ).fetchone()
    if row is None:
        raise NotFoundError(f"message {message_uuid} not found in session {session_id!r}")
    if not row[1]:
        raise ConflictError(f"message {message_uuid} is not deleted")
    restore_messages(cursor, [int(row[0])], now)


def restore_session(cursor: Cursor, session_id: str, now: datetime) -> None:
    """Undelete a session with the messages and summaries deleted with it."""
    key = session_key(cursor, session_id, deleted_too=True)
    deleted_at = _deleted_at(cursor, "sessions", "id", key)
    if deleted_at is None:
        raise ConflictError(f"session {session_id!r} is not deleted")
    _restore_session_rows(cursor, key, deleted_at, now)


def _restore_session_rows(cursor: Cursor, key: int, deleted_at: datetime, now: datetime) -> None:
    messages = [
        int(row[0])
        for row in cursor.execute(
            "SELECT id FROM messages WHERE session_key = ? AND deleted_at = ?", [key, deleted_at]
        ).fetchall()
    ]
    cursor.execute(
        "UPDATE summaries SET deleted_at = NULL WHERE session_key = ? AND deleted_at = ?",
        [key, deleted_at],
    )
    cursor.execute("UPDATE sessions SET deleted_at = NULL, updated_at = ? WHERE id = ?", [now, key])
    if messages:  # their index entries and the session's counts come back with them
        restore_messages(cursor, messages, now)


def restore_user(cursor: Cursor, user_id: str, now: datetime) -> int:
    """Undelete a user and the sessions deleted with it (given back to it); returns
    how many sessions."""
    if user_exists(cursor, user_id):
        raise ConflictError(f"user {user_id!r} is not deleted")
    deleted_at = _deleted_at(cursor, "users", "user_id", user_id)
    assert deleted_at is not None  # a live user was refused above
    # Deleting the user detached its sessions in the same transaction: the detached
    # sessions deleted at that instant are the user's.
    keys = [
        int(row[0])
        for row in cursor.execute(
            "SELECT id FROM sessions WHERE user_id IS NULL AND deleted_at = ? ORDER BY id",
            [deleted_at],
        ).fetchall()
    ]
    for key in keys:
        _restore_session_rows(cursor, key, deleted_at, now)
    cursor.execute(
        "UPDATE sessions SET user_id = ? WHERE id IN (SELECT unnest(?::BIGINT[]))",
        [user_id, keys],
    )
    cursor.execute(
        "UPDATE users SET deleted_at = NULL, updated_at = ? WHERE user_id = ?", [now, user_id]
    )
    return len(keys)


def _deleted_at(cursor: Cursor, table: str, column: str, value: Any) -> datetime | None:
    """When the row of `table` whose `column` is `value` was deleted (None: live)."""
    row = cursor.execute(
        f"SELECT deleted_at FROM {table} WHERE {column} = ? ORDER BY deleted_at DESC NULLS FIRST",
        [value],
    ).fetchone()
    if row is None:
        raise NotFoundError(f"{table[:-1]} {value!r} not found")
    deleted_at: datetime | None = row[0]
    return deleted_at
