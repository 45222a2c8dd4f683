"""Looking after the data as a whole: purging what is soft-deleted, and counting."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from storage.duckdb.connection import Cursor
from storage.duckdb.reads import session_key
from storage.models import PurgeResult, StoreStats


def purge(cursor: Cursor, session_ids: Sequence[str] | None) -> PurgeResult:
    """Hard-delete what is soft-deleted (everywhere, or in `session_ids`), in the
    caller's transaction; `Maintenance.purge` says what goes."""
    params: list[Any]
    if session_ids is None:
        scope, params = "TRUE", []
    else:
        keys = [session_key(cursor, id_, deleted_too=True) for id_ in dict.fromkeys(session_ids)]
        scope, params = "session_key IN (SELECT unnest(?::BIGINT[]))", [keys]
    dead = "session_key IN (SELECT id FROM sessions WHERE deleted_at IS NOT NULL)"
    gone = f"({scope}) AND (deleted_at IS NOT NULL OR {dead})"
    cursor.execute(
        f"CREATE OR REPLACE TEMP TABLE purged_messages AS SELECT id FROM messages WHERE {gone}",
        params,
    )
    cursor.execute(
        "DELETE FROM search_postings WHERE message_id IN (SELECT id FROM purged_messages)"
    )
    cursor.execute(
        f"DELETE FROM summary_postings WHERE summary_id IN (SELECT id FROM summaries WHERE {gone})",
        params,
    )
    summaries = cursor.execute(f"DELETE FROM summaries WHERE {gone}", params).fetchone()
    messages = cursor.execute(
        "DELETE FROM messages WHERE id IN (SELECT id FROM purged_messages)"
    ).fetchone()
    sessions = cursor.execute(
        f"DELETE FROM sessions WHERE deleted_at IS NOT NULL AND "
        f"({scope.replace('session_key', 'id')})",
        params,
    ).fetchone()
    cursor.execute("DROP TABLE purged_messages")
    users = None
    if session_ids is None:
        users = cursor.execute("DELETE FROM users WHERE deleted_at IS NOT NULL").fetchone()
    return PurgeResult(
        users=int(users[0]) if users else 0,
        sessions=int(sessions[0]) if sessions else 0,
        messages=int(messages[0]) if messages else 0,
        summaries=int(summaries[0]) if summaries else 0,
    )


def stats(cursor: Cursor) -> StoreStats:
    """Counts of live users, sessions, messages and summaries."""
    row = cursor.execute(
        "SELECT (SELECT count(*) FROM users WHERE deleted_at IS NULL), "
        "(SELECT count(*) FROM sessions WHERE deleted_at IS NULL), "
        "(SELECT count(*) FROM messages WHERE deleted_at IS NULL), "
        "(SELECT count(*) FROM summaries WHERE deleted_at IS NULL)"
    ).fetchone()
    assert row is not None
    return StoreStats(users=row[0], sessions=row[1], messages=row[2], summaries=row[3])
