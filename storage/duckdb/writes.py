"""The writes of users and sessions, and the edits of single messages, each inside a
transaction the caller holds (`Database.write`); plus the ids rows are written with.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from storage import ids, limits
from storage.duckdb.connection import Cursor
from storage.duckdb.reads import session_key
from storage.duckdb.rows import dump_json, load_json, parse_uuid, to_db_time, within_limits
from storage.errors import ConflictError, InvalidInputError, NotFoundError, StoreError
from storage.metadata import merge_metadata, without_system
from storage.models import CreateUserRequest, UpdateUserRequest


def reserve_ids(cursor: Cursor, sequence: str, count: int) -> list[int]:
    """`count` consecutive ids from `sequence`, in order, for rows about to be inserted.

    Ids are the insertion order (Zep orders messages by id), so they are handed out
    here and written explicitly: `nextval()` inside a bulk INSERT is evaluated in
    whatever order DuckDB's parallel plan produces rows, not in the source's order.
    Writes are serialised, so the block is contiguous.
    """
    if count <= 0:
        return []
    row = cursor.execute(
        f"SELECT min(v), max(v) FROM (SELECT nextval('{sequence}') AS v FROM range(?))", [count]
    ).fetchone()
    assert row is not None
    first, last = int(row[0]), int(row[1])
    if last - first + 1 != count:
        raise StoreError(f"{sequence}: ids were taken by another writer during this write")
    return list(range(first, last + 1))


# --- users -----------------------------------------------------------------------------


def user_exists(cursor: Cursor, user_id: str) -> bool:
    """Whether a live (not deleted) user has that id."""
    row = cursor.execute(
        "SELECT 1 FROM users WHERE user_id = ? AND deleted_at IS NULL", [user_id]
    ).fetchone()
    return row is not None


def drop_tombstones(cursor: Cursor, user_ids: list[str]) -> None:
    """Remove what is left of deleted users with these ids, before they are created
    again: the new user is a new row (its `updated_at` tells a change feed)."""
    cursor.execute(
        "DELETE FROM users WHERE user_id IN (SELECT unnest(?::VARCHAR[])) "
        "AND deleted_at IS NOT NULL",
        [user_ids],
    )


def insert_user(cursor: Cursor, request: CreateUserRequest, now: datetime) -> None:
    """A new user; ConflictError if the id is taken."""
    if not request.user_id.strip():
        raise InvalidInputError("user_id cannot be empty")
    if user_exists(cursor, request.user_id):
        raise ConflictError(f"user already exists with user_id: {request.user_id}")
    drop_tombstones(cursor, [request.user_id])
    cursor.execute(
        "INSERT INTO users (id, uuid, user_id, email, first_name, last_name, metadata, "
        "created_at, updated_at) VALUES (nextval('users_id_seq'), ?, ?, ?, ?, ?, ?, ?, ?)",
        [
            ids.user_uuid(request.user_id),
            request.user_id,
            request.email,
            request.first_name,
            request.last_name,
            dump_json(request.metadata),
            now,
            now,
        ],
    )


def update_user(cursor: Cursor, user_id: str, request: UpdateUserRequest, now: datetime) -> None:
    """Set the given fields of a live user and merge its metadata (privileged: `system` too)."""
    row = cursor.execute(
        "SELECT email, first_name, last_name, metadata FROM users "
        "WHERE user_id = ? AND deleted_at IS NULL",
        [user_id],
    ).fetchone()
    if row is None:
        raise NotFoundError(f"user {user_id!r} not found")
    email, first_name, last_name = (
        new or old
        for new, old in zip(
            (request.email, request.first_name, request.last_name), row[:3], strict=True
        )
    )
    # User updates are privileged in Zep: the `system` key may be set.
    metadata = merge_metadata(load_json(row[3]), request.metadata)
    cursor.execute(
        "UPDATE users SET email = ?, first_name = ?, last_name = ?, metadata = ?, "
        "updated_at = ? WHERE user_id = ? AND deleted_at IS NULL",
        [email, first_name, last_name, dump_json(metadata), now, user_id],
    )


def delete_user(cursor: Cursor, user_id: str, now: datetime) -> int:
    """Soft-delete a user and its sessions; returns how many sessions."""
    if not user_exists(cursor, user_id):
        raise NotFoundError(f"user {user_id!r} not found")
    keys = cursor.execute(
        "SELECT id FROM sessions WHERE user_id = ? AND deleted_at IS NULL", [user_id]
    ).fetchall()
    for (key,) in keys:
        soft_delete_session(cursor, key, now)
    # The sessions go with the user (Zep cascades the delete): detached, they can
    # never pass to a new user created later with the same id.
    cursor.execute("UPDATE sessions SET user_id = NULL WHERE user_id = ?", [user_id])
    cursor.execute(
        "UPDATE users SET deleted_at = ? WHERE user_id = ? AND deleted_at IS NULL", [now, user_id]
    )
    return len(keys)


# --- sessions --------------------------------------------------------------------------


def add_session(
    cursor: Cursor,
    session_id: str,
    user_id: str | None,
    metadata: dict[str, Any] | None,
    now: datetime,
) -> None:
    """A new session (Zep's create): ConflictError if the id was ever used."""
    if not session_id.strip():
        raise InvalidInputError("session_id cannot be empty")
    if cursor.execute("SELECT 1 FROM sessions WHERE session_id = ?", [session_id]).fetchone():
        raise ConflictError(f"session already exists with session_id: {session_id}")
    if user_id is not None and not user_exists(cursor, user_id):
        raise InvalidInputError(f"user does not exist with user_id: {user_id}")
    insert_session(cursor, session_id, user_id, metadata, now)


def insert_session(
    cursor: Cursor,
    session_id: str,
    user_id: str | None,
    metadata: dict[str, Any] | None,
    now: datetime,
    created_at: datetime | None = None,
) -> int:
    """Insert a session row; returns its key."""
    created = to_db_time(created_at) if created_at else now
    row = cursor.execute(
        "INSERT INTO sessions (id, uuid, session_id, user_id, metadata, created_at, "
        "updated_at, last_activity) "
        "VALUES (nextval('sessions_id_seq'), ?, ?, ?, ?, ?, ?, ?) RETURNING id",
        [
            ids.session_uuid(session_id),
            session_id,
            user_id,
            dump_json(metadata),
            created,
            now,
            created,
        ],
    ).fetchone()
    assert row is not None
    return int(row[0])


def ensure_sessions(cursor: Cursor, session_ids: Sequence[str], now: datetime) -> dict[str, int]:
    """Each session's key, creating it or undeleting it (Zep's upsert on add); new
    sessions are created in the order of `session_ids`."""
    wanted = list(dict.fromkeys(session_ids))
    keys: dict[str, int] = {
        str(session_id): int(key)
        for session_id, key in cursor.execute(
            "SELECT session_id, id FROM sessions WHERE session_id IN (SELECT unnest(?::VARCHAR[]))",
            [wanted],
        ).fetchall()
    }
    if keys:
        cursor.execute(
            "UPDATE sessions SET deleted_at = NULL, updated_at = ? "
            "WHERE id IN (SELECT unnest(?::BIGINT[]))",
            [now, list(keys.values())],
        )
    for session_id in wanted:
        if session_id not in keys:
            keys[session_id] = insert_session(cursor, session_id, None, None, now)
    return keys


def update_session(
    cursor: Cursor, session_id: str, metadata: dict[str, Any] | None, now: datetime
) -> int:
    """Merge `metadata` into the session's (unprivileged: `system` is kept); undeletes
    it. Returns its key."""
    within_limits(limits.check_metadata, metadata, "metadata")
    row = cursor.execute(
        "SELECT id, metadata FROM sessions WHERE session_id = ?", [session_id]
    ).fetchone()
    if row is None:
        raise NotFoundError(f"session {session_id!r} not found")
    merged = merge_metadata(load_json(row[1]), without_system(metadata))
    cursor.execute(
        "UPDATE sessions SET metadata = ?, updated_at = ?, deleted_at = NULL WHERE id = ?",
        [dump_json(merged), now, row[0]],
    )
    return int(row[0])


def soft_delete_session(cursor: Cursor, key: int, now: datetime) -> None:
    """Soft-delete a session with its messages (out of the index) and summaries."""
    cursor.execute(
        "DELETE FROM search_postings WHERE message_id IN "
        "(SELECT id FROM messages WHERE session_key = ? AND deleted_at IS NULL)",
        [key],
    )
    cursor.execute(
        "UPDATE messages SET deleted_at = ? WHERE session_key = ? AND deleted_at IS NULL",
        [now, key],
    )
    cursor.execute(
        "UPDATE summaries SET deleted_at = ? WHERE session_key = ? AND deleted_at IS NULL",
        [now, key],
    )
    cursor.execute(
        "UPDATE sessions SET deleted_at = ?, message_count = 0, total_tokens = 0 WHERE id = ?",
        [now, key],
    )


# --- single messages -------------------------------------------------------------------


def _live_message(cursor: Cursor, key: int, session_id: str, message_uuid: str) -> tuple[Any, ...]:
    """(id, token_count, metadata) of a live message of the session, or NotFoundError."""
    row = cursor.execute(
        "SELECT id, token_count, metadata FROM messages WHERE session_key = ? "
        "AND uuid = ?::UUID AND deleted_at IS NULL",
        [key, parse_uuid(message_uuid)],
    ).fetchone()
    if row is None:
        raise NotFoundError(f"message {message_uuid} not found in session {session_id!r}")
    return row


def update_message_metadata(
    cursor: Cursor, session_id: str, message_uuid: str, metadata: dict[str, Any], now: datetime
) -> int:
    """Merge `metadata` into the message's (unprivileged: `system` is kept); returns
    its session's key."""
    within_limits(limits.check_metadata, metadata, "metadata")
    key = session_key(cursor, session_id)
    message_id, _, stored = _live_message(cursor, key, session_id, message_uuid)
    merged = merge_metadata(load_json(stored), without_system(metadata))
    cursor.execute(
        "UPDATE messages SET metadata = ?, updated_at = ? WHERE id = ?",
        [dump_json(merged), now, message_id],
    )
    return key


def delete_message(cursor: Cursor, session_id: str, message_uuid: str, now: datetime) -> int:
    """Soft-delete one message: out of the index and its session's aggregates. Returns
    its session's key."""
    key = session_key(cursor, session_id)
    message_id, tokens, _ = _live_message(cursor, key, session_id, message_uuid)
    cursor.execute("DELETE FROM search_postings WHERE message_id = ?", [message_id])
    cursor.execute("UPDATE messages SET deleted_at = ? WHERE id = ?", [now, message_id])
    cursor.execute(
        "UPDATE sessions SET message_count = message_count - 1, "
        "total_tokens = total_tokens - ?, updated_at = ? WHERE id = ?",
        [int(tokens), now, key],
    )
    return key
