"""What the file holds, deletions included (`SyncInventory`): sessions by key, each with
its live and deleted message uuids (the live ones with their metadata stamps) and its
live summary uuids, three queries a page; every user, deleted ones too; and whole
sessions (messages and summaries) for many sessions in three queries."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from storage.duckdb.connection import Cursor
from storage.duckdb.rows import (
    MESSAGE_COLUMNS,
    SESSION_COLUMNS,
    SUMMARY_COLUMNS,
    USER_COLUMNS,
    from_db_time,
    message_from_row,
    session_from_row,
    summary_info_from_row,
    to_db_time,
    user_from_row,
)
from storage.metadata import STAMP_LENGTH
from storage.models import (
    InventoryPage,
    InventoryQuery,
    SessionContents,
    SessionInventory,
    User,
)

# `storage.metadata.metadata_stamp` in SQL: the compact JSON text of the metadata
# without its `system` key (json_merge_patch writes it compact), NULL when empty.
_STAMP = (
    "CASE WHEN metadata IS NOT NULL THEN left(md5(nullif(json_merge_patch(metadata, "
    f"'{{\"system\":null}}')::VARCHAR, '{{}}')), {STAMP_LENGTH}) END"
)


def inventory(cursor: Cursor, query: InventoryQuery) -> InventoryPage:
    """A page of sessions (deleted ones too) after `query.after`, by key."""
    where: list[str] = ["s.id > ?"]
    params: list[Any] = [query.after]
    if query.session_ids is not None:
        where.append("s.session_id IN (SELECT unnest(?::VARCHAR[]))")
        params.append(query.session_ids)
    if query.user_id is not None:
        where.append("s.user_id = ?")
        params.append(query.user_id)
    if query.changed_since is not None:
        since = to_db_time(query.changed_since)
        # A message's metadata update touches the message alone: asked of messages.
        where.append(
            "(s.created_at >= ? OR s.updated_at >= ? OR s.last_activity >= ? OR s.deleted_at >= ? "
            "OR s.id IN (SELECT session_key FROM messages WHERE updated_at >= ?))"
        )
        params.extend([since] * 5)
    rows = cursor.execute(
        f"SELECT {SESSION_COLUMNS} FROM sessions s WHERE {' AND '.join(where)} "
        "ORDER BY s.id LIMIT ?",
        [*params, query.limit + 1],
    ).fetchall()
    more = len(rows) > query.limit
    rows = rows[: query.limit]
    keys = [int(row[0]) for row in rows]
    messages = _lists(
        cursor,
        "SELECT session_key, list(uuid::VARCHAR ORDER BY id) FILTER (deleted_at IS NULL), "
        "list(uuid::VARCHAR ORDER BY id) FILTER (deleted_at IS NOT NULL), "
        f"list({_STAMP} ORDER BY id) FILTER (deleted_at IS NULL) FROM messages "
        "WHERE session_key IN (SELECT unnest(?::BIGINT[])) GROUP BY session_key",
        keys,
    )
    summaries = _lists(
        cursor,
        "SELECT session_key, list(uuid::VARCHAR ORDER BY id) FROM summaries "
        "WHERE deleted_at IS NULL AND session_key IN (SELECT unnest(?::BIGINT[])) "
        "GROUP BY session_key",
        keys,
    )
    sessions = []
    for key, row in zip(keys, rows, strict=True):
        live, deleted, stamps = messages.get(key, ([], [], []))
        sessions.append(
            SessionInventory.model_construct(
                session=session_from_row(row),
                messages=live,
                deleted_messages=deleted,
                metadata_stamps=stamps,
                summaries=summaries.get(key, ([],))[0],
            )
        )
    return InventoryPage(sessions=sessions, next_after=keys[-1] if more else None)


def _lists(cursor: Cursor, sql: str, keys: list[int]) -> dict[int, tuple[list[Any], ...]]:
    """The lists a query gives per session key (a missing list as empty)."""
    if not keys:
        return {}
    return {
        int(key): tuple(list(found or []) for found in lists)
        for key, *lists in cursor.execute(sql, [keys]).fetchall()
    }


def user_inventory(cursor: Cursor) -> list[User]:
    """Every user by `id`, deleted ones too (with `deleted_at`)."""
    rows = cursor.execute(f"SELECT {USER_COLUMNS}, deleted_at FROM users ORDER BY id").fetchall()
    users = []
    for row in rows:
        user = user_from_row(row)
        if row[-1] is not None:
            user.deleted_at = from_db_time(row[-1])
        users.append(user)
    return users


def session_contents(cursor: Cursor, session_ids: Sequence[str]) -> list[SessionContents]:
    """Each live session's live messages and summaries, two queries for them all."""
    keys = dict(
        cursor.execute(
            "SELECT session_id, id FROM sessions WHERE deleted_at IS NULL "
            "AND session_id IN (SELECT unnest(?::VARCHAR[]))",
            [list(session_ids)],
        ).fetchall()
    )
    found = {
        key: SessionContents.model_construct(session_id=name, messages=[], summaries=[])
        for name, key in keys.items()
    }
    if not found:
        return []
    for row in cursor.execute(
        f"SELECT m.session_key, {MESSAGE_COLUMNS} FROM messages m WHERE m.deleted_at IS NULL "
        "AND m.session_key IN (SELECT unnest(?::BIGINT[])) ORDER BY m.id",
        [list(found)],
    ).fetchall():
        found[row[0]].messages.append(message_from_row(row[1:]))
    for row in cursor.execute(
        f"SELECT x.session_key, {SUMMARY_COLUMNS} FROM summaries x WHERE x.deleted_at IS NULL "
        "AND x.session_key IN (SELECT unnest(?::BIGINT[])) ORDER BY x.id",
        [list(found)],
    ).fetchall():
        found[row[0]].summaries.append(summary_info_from_row(row[1:]))
    return [found[keys[name]] for name in dict.fromkeys(session_ids) if name in keys]
