"""The reads of users, sessions, memory and messages: each a query or two on a cursor.

Message reads pick ids first and fetch whole rows second, so wide columns stay out
of sorts (`rows_by_id`).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from storage.duckdb.connection import Cursor
from storage.duckdb.filters import Where
from storage.duckdb.rows import (
    MESSAGE_COLUMNS,
    SESSION_COLUMNS,
    SUMMARY_COLUMNS,
    USER_COLUMNS,
    load_json,
    message_from_row,
    parse_uuid,
    session_from_row,
    session_info_from_row,
    summary_info_from_row,
    user_from_row,
)
from storage.errors import NotFoundError
from storage.models import (
    Memory,
    MemoryType,
    Message,
    MessageListResponse,
    Session,
    SessionOrder,
    SessionPage,
    SessionQuery,
    User,
    UserInfo,
    UserPage,
)
from storage.paging import MAX_LIMIT, MAX_OFFSET, MAX_PAGE, check_range

CLOSE_IDS = 2_048
"""Ids this close together are fetched as a range (see `rows_by_id`)."""

_ORDER_COLUMNS = {
    SessionOrder.id: "s.id",
    SessionOrder.created: "s.created_at",
    SessionOrder.updated: "s.updated_at",
    SessionOrder.activity: "s.last_activity",
    SessionOrder.message_count: "s.message_count",
}

# --- users -----------------------------------------------------------------------------


def get_user(cursor: Cursor, user_id: str) -> User:
    """A live user, or NotFoundError."""
    row = cursor.execute(
        f"SELECT {USER_COLUMNS} FROM users WHERE user_id = ? AND deleted_at IS NULL", [user_id]
    ).fetchone()
    if row is None:
        raise NotFoundError(f"user {user_id!r} not found")
    return user_from_row(row)


def list_users(cursor: Cursor, limit: int | None, offset: int) -> list[User]:
    """A page of live users, oldest first."""
    check_range("limit", limit, 0, MAX_LIMIT)
    check_range("cursor", offset, 0, MAX_OFFSET)
    sql = f"SELECT {USER_COLUMNS} FROM users WHERE deleted_at IS NULL ORDER BY id"
    params: list[Any] = []
    if limit:
        sql += " LIMIT ?"
        params.append(limit)
    sql += " OFFSET ?"
    params.append(offset)
    return [user_from_row(row) for row in cursor.execute(sql, params).fetchall()]


def user_sessions(cursor: Cursor, user_id: str) -> list[Session]:
    """The live sessions of a user, oldest first."""
    rows = cursor.execute(
        f"SELECT {SESSION_COLUMNS} FROM sessions s "
        "WHERE s.user_id = ? AND s.deleted_at IS NULL ORDER BY s.id",
        [user_id],
    ).fetchall()
    return [session_from_row(row) for row in rows]


def user_page(cursor: Cursor, limit: int, offset: int, text: str | None = None) -> UserPage:
    """A page of live users, oldest first, each with its number of live sessions;
    `text` keeps the users whose id, email or name contains it (any case)."""
    check_range("limit", limit, 1, MAX_LIMIT)
    check_range("cursor", offset, 0, MAX_OFFSET)
    where = Where("deleted_at IS NULL")
    if text:
        where.add(
            "contains(lower(concat_ws(' ', user_id, email, first_name, last_name)), lower(?))",
            text,
        )
    # The users' columns are unqualified (USER_COLUMNS): the joined counts are named apart.
    rows = cursor.execute(
        f"SELECT {USER_COLUMNS}, coalesce(c.sessions, 0), count(*) OVER () FROM users "
        "LEFT JOIN (SELECT user_id AS owner, count(*) AS sessions FROM sessions "
        "WHERE deleted_at IS NULL GROUP BY user_id) c ON c.owner = users.user_id "
        f"WHERE {where.sql} ORDER BY id LIMIT ? OFFSET ?",
        [*where.params, limit, offset],
    ).fetchall()
    if rows:
        total = int(rows[0][-1])
    else:
        row = cursor.execute(f"SELECT count(*) FROM users WHERE {where.sql}", where.params)
        total = int(row.fetchone()[0])  # type: ignore[index]
    end = offset + len(rows)
    return UserPage(
        users=[
            UserInfo.model_construct(user=user_from_row(row[:-2]), session_count=int(row[-2]))
            for row in rows
        ],
        total_count=total,
        next_cursor=end if end < total else None,
    )


# --- sessions --------------------------------------------------------------------------


def session_key(cursor: Cursor, session_id: str, *, deleted_too: bool = False) -> int:
    """The key (`sessions.id`) of a live session (or a deleted one, `deleted_too`), or
    NotFoundError."""
    live = "" if deleted_too else " AND deleted_at IS NULL"
    row = cursor.execute(
        f"SELECT id FROM sessions WHERE session_id = ?{live}", [session_id]
    ).fetchone()
    if row is None:
        raise NotFoundError(f"session {session_id!r} not found")
    return int(row[0])


def live_session_row(cursor: Cursor, columns: str, session_id: str) -> tuple[Any, ...]:
    """`columns` of a live session (`s`), or NotFoundError."""
    row = cursor.execute(
        f"SELECT {columns} FROM sessions s WHERE s.session_id = ? AND s.deleted_at IS NULL",
        [session_id],
    ).fetchone()
    if row is None:
        raise NotFoundError(f"session {session_id!r} not found")
    return tuple(row)


def get_session(cursor: Cursor, session_id: str) -> Session:
    """A live session, or NotFoundError."""
    return session_from_row(live_session_row(cursor, SESSION_COLUMNS, session_id))


_DELETED_WITH_SESSION = "m.session_key = s.id AND m.deleted_at = s.deleted_at"
DELETED_SESSION_COLUMNS = SESSION_COLUMNS.replace(
    "s.message_count, s.total_tokens",
    f"(SELECT count(*) FROM messages m WHERE {_DELETED_WITH_SESSION}), "
    f"(SELECT coalesce(sum(m.token_count), 0) FROM messages m WHERE {_DELETED_WITH_SESSION})",
)
"""SESSION_COLUMNS of a deleted session, counting the messages deleted with it (what
restoring it brings back) where a live session has its aggregates."""


def session_page(cursor: Cursor, query: SessionQuery, *, deleted: bool = False) -> SessionPage:
    """A filtered, sorted page of live sessions with their aggregates (or of deleted
    sessions, with the messages deleted with each)."""
    check_range("limit", query.limit, 0, MAX_LIMIT)
    check_range("cursor", query.cursor, 0, MAX_OFFSET)
    where = Where("s.deleted_at IS NOT NULL" if deleted else "s.deleted_at IS NULL")
    where.common(query, table="s")
    if query.text:
        # The id, the user, or the title the app shows (imported chats have one).
        where.add(
            "(contains(lower(s.session_id), lower(?)) "
            "OR contains(lower(coalesce(s.user_id, '')), lower(?)) "
            "OR contains(lower(coalesce(json_extract_string(s.metadata, '$.title'), '')), "
            "lower(?)))",
            *[query.text] * 3,
        )
    order_column = _ORDER_COLUMNS[query.order_by]
    direction = "DESC" if query.descending else "ASC"
    columns = DELETED_SESSION_COLUMNS if deleted else SESSION_COLUMNS
    sql = (
        f"SELECT {columns}, count(*) OVER () FROM sessions s "
        f"WHERE {where.sql} ORDER BY {order_column} {direction}, s.id {direction}"
    )
    params = list(where.params)
    if query.limit:
        sql += " LIMIT ?"
        params.append(query.limit)
    sql += " OFFSET ?"
    params.append(query.cursor)
    rows = cursor.execute(sql, params).fetchall()
    if rows:
        total = int(rows[0][-1])
    else:
        count_sql = f"SELECT count(*) FROM sessions s WHERE {where.sql}"
        count_row = cursor.execute(count_sql, where.params).fetchone()
        total = int(count_row[0]) if count_row else 0
    end = query.cursor + len(rows)
    return SessionPage(
        sessions=[session_info_from_row(row) for row in rows],
        total_count=total,
        next_cursor=end if end < total else None,
    )


# --- memory and messages -------------------------------------------------------------


@dataclass(frozen=True)
class SessionHead:
    """What a session's memory reads besides its messages' rows, as stored: the
    session's key and facts (JSON text), its newest live summary (SUMMARY_COLUMNS) if
    any, and the ids of its live messages after that summary, at most the window;
    and its number of live messages (a search of it reads this)."""

    key: int
    facts: str | None
    summary: tuple[Any, ...] | None
    recent: tuple[int, ...]
    messages: int


def memory_head(cursor: Cursor, session_id: str, window: int) -> SessionHead:
    """The head of a live session's memory, or NotFoundError."""
    # Small queries, each filtering on a constant (the session's key once known), so
    # that DuckDB's zone maps skip all but the few row groups that hold the session:
    # a subquery as the filter would scan the whole column instead.
    key, facts, messages = live_session_row(cursor, "s.id, s.facts, s.message_count", session_id)
    summary = cursor.execute(
        f"SELECT {SUMMARY_COLUMNS} FROM summaries x "
        "WHERE x.session_key = ? AND x.deleted_at IS NULL ORDER BY x.id DESC LIMIT 1",
        [key],
    ).fetchone()
    point = int(summary[-1]) if summary is not None else 0
    return SessionHead(
        int(key),
        facts,
        None if summary is None else tuple(summary),
        _newest(cursor, key, point, window),
        int(messages),
    )


def _newest(cursor: Cursor, key: int, after: int, count: int) -> tuple[int, ...]:
    """The ids of the session's newest `count` live messages after id `after`, oldest
    first."""
    # `max(id, n)` is cheaper than a sort for the newest n.
    row = cursor.execute(
        "SELECT max(id, ?) FROM messages WHERE session_key = ? AND deleted_at IS NULL AND id > ?",
        [count, key, after],
    ).fetchone()
    return tuple(sorted(int(i) for i in (row[0] if row else None) or []))


def memory_heads(cursor: Cursor, limit: int, window: int) -> list[tuple[str, SessionHead]]:
    """The heads of the `limit` most recently active live sessions, by session id, in
    one query (one scan of each table instead of three queries per session)."""
    rows = cursor.execute(
        "WITH newest AS (SELECT session_key, max(id) AS id FROM summaries "
        "WHERE deleted_at IS NULL GROUP BY session_key), "
        "heads AS (SELECT s.id AS key, s.session_id, s.facts, s.message_count, n.id AS summary_id, "
        "coalesce(x.recent_message_id, 0) AS point FROM sessions s "
        "LEFT JOIN newest n ON n.session_key = s.id LEFT JOIN summaries x ON x.id = n.id "
        "WHERE s.deleted_at IS NULL ORDER BY s.last_activity DESC, s.id DESC LIMIT $limit), "
        "recent AS (SELECT m.session_key AS key, max(m.id, $window) AS ids FROM messages m "
        "JOIN heads h ON h.key = m.session_key WHERE m.deleted_at IS NULL AND m.id > h.point "
        "GROUP BY m.session_key) "
        "SELECT h.session_id, h.key, h.facts, r.ids, h.message_count, h.summary_id IS NOT NULL, "
        f"{SUMMARY_COLUMNS} "
        "FROM heads h LEFT JOIN summaries x ON x.id = h.summary_id "
        "LEFT JOIN recent r ON r.key = h.key",
        {"limit": limit, "window": window},
    ).fetchall()
    return [
        (
            str(row[0]),
            SessionHead(
                int(row[1]),
                row[2],
                tuple(row[6:]) if row[5] else None,
                tuple(sorted(int(i) for i in row[3] or [])),
                int(row[4]),
            ),
        )
        for row in rows
    ]


def get_memory(
    cursor: Cursor, head: SessionHead, memory_type: MemoryType, lastn: int | None
) -> Memory:
    """Zep's memory of the session of `head`: its newest summary and its recent messages
    (with `lastn`, its last `lastn`; else those of `head`, after the summary point)."""
    check_range("lastn", lastn, 0, MAX_LIMIT)
    # Without lastn, Zep v0.27.2 returns the messages after the summary point, capped
    # at the window.
    ids = _newest(cursor, head.key, 0, lastn) if lastn else head.recent
    return memory_from(head, rows_by_id(cursor, list(ids), head.key), memory_type)


def memory_from(head: SessionHead, rows: list[tuple[Any, ...]], memory_type: MemoryType) -> Memory:
    """The memory of `head`'s session with the messages of `rows` (MESSAGE_COLUMNS)."""
    summary = summary_info_from_row(head.summary).summary if head.summary else None
    facts = load_json(head.facts)
    return Memory(
        messages=[message_from_row(row) for row in rows],
        summary=summary,
        facts=(facts or []) if memory_type is MemoryType.perpetual else None,
    )


def default_memories(
    cursor: Cursor, heads: list[tuple[str, SessionHead]]
) -> Iterator[tuple[str, SessionHead, Memory]]:
    """The default memory (perpetual, no lastn) of each session of `heads`, its
    messages' rows read in one query."""
    ids = [message_id for _session_id, head in heads for message_id in head.recent]
    rows = cursor.execute(
        f"SELECT m.id, {MESSAGE_COLUMNS} FROM messages m "
        "WHERE m.id IN (SELECT unnest(?::BIGINT[]))",
        [ids],
    ).fetchall()
    by_id = {row[0]: row[1:] for row in rows}
    for session_id, head in heads:
        rows_of_head = [by_id.get(message_id) for message_id in head.recent]
        if all(row is not None for row in rows_of_head):  # else purged since: left out
            yield session_id, head, memory_from(head, rows_of_head, MemoryType.perpetual)  # type: ignore[arg-type]


def rows_by_id(cursor: Cursor, ids: list[int], key: int) -> list[tuple[Any, ...]]:
    """Full message rows (MESSAGE_COLUMNS) for `ids` of session `key`, oldest first.

    Choosing ids first and fetching whole rows second keeps wide columns out
    of sorts. When the ids lie close together (a session's recent messages
    usually do), a plain id range lets DuckDB's zone maps skip the rest of the
    table, and the few rows in between are dropped here. Otherwise the session's
    key does (messages lie mostly in the order of their session's key): the ids
    alone made it a scan of the whole table's ids, a quarter more CPU.
    """
    if not ids:
        return []
    low, high = min(ids), max(ids)
    if high - low < CLOSE_IDS:
        wanted = set(ids)
        rows = cursor.execute(
            f"SELECT m.id, {MESSAGE_COLUMNS} FROM messages m "
            "WHERE m.id BETWEEN ? AND ? ORDER BY m.id",
            [low, high],
        ).fetchall()
        return [row[1:] for row in rows if row[0] in wanted]
    return cursor.execute(
        f"SELECT {MESSAGE_COLUMNS} FROM messages m "
        "WHERE m.session_key = ? AND m.id IN (SELECT unnest(?::BIGINT[])) ORDER BY m.id",
        [key, ids],
    ).fetchall()


def list_messages(cursor: Cursor, session_id: str, limit: int, page: int) -> MessageListResponse:
    """A page (1-based `page`; all with `limit` 0) of a session's live messages."""
    check_range("limit", limit, 0, MAX_LIMIT)
    check_range("cursor", page, 0, MAX_PAGE)
    key = session_key(cursor, session_id)
    total_row = cursor.execute(
        "SELECT count(*) FROM messages WHERE session_key = ? AND deleted_at IS NULL", [key]
    ).fetchone()
    total = int(total_row[0]) if total_row else 0
    sql = "SELECT id FROM messages WHERE session_key = ? AND deleted_at IS NULL ORDER BY id"
    params: list[Any] = [key]
    if limit > 0:
        sql += " LIMIT ? OFFSET ?"
        params += [limit, max(page - 1, 0) * limit]
    ids = [int(row[0]) for row in cursor.execute(sql, params).fetchall()]
    messages = [message_from_row(row) for row in rows_by_id(cursor, ids, key)]
    return MessageListResponse(messages=messages, total_count=total, row_count=len(messages))


def message_position(cursor: Cursor, session_id: str, message_uuid: str) -> int:
    """The 0-based position of a live message in its session's history."""
    key = session_key(cursor, session_id)
    row = cursor.execute(
        "SELECT count(*) FILTER (WHERE m.id < t.id), count(t.id) FROM messages m, "
        "(SELECT id FROM messages WHERE session_key = $key AND uuid = $uuid::UUID "
        " AND deleted_at IS NULL) t "
        "WHERE m.session_key = $key AND m.deleted_at IS NULL",
        {"key": key, "uuid": parse_uuid(message_uuid)},
    ).fetchone()
    if row is None or not row[1]:
        raise NotFoundError(f"message {message_uuid} not found in session {session_id!r}")
    return int(row[0])


def get_message(cursor: Cursor, session_id: str, message_uuid: str) -> Message:
    """A live message of a live session, or NotFoundError."""
    key = session_key(cursor, session_id)
    row = cursor.execute(
        f"SELECT {MESSAGE_COLUMNS} FROM messages m WHERE m.session_key = ? "
        "AND m.uuid = ?::UUID AND m.deleted_at IS NULL",
        [key, parse_uuid(message_uuid)],
    ).fetchone()
    if row is None:
        raise NotFoundError(f"message {message_uuid} not found in session {session_id!r}")
    return message_from_row(row)
