"""Whole sessions imported in one transaction, streamed in chunks: a chunk of sessions
costs a handful of statements, whatever its size, and memory holds one chunk.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from datetime import datetime
from typing import Any

from storage import ids
from storage.duckdb import search
from storage.duckdb.connection import Cursor
from storage.duckdb.messages import InsertOutcome, insert_messages
from storage.duckdb.rows import dump_json, load_json, to_db_time
from storage.duckdb.writes import drop_tombstones, insert_user, reserve_ids, user_exists
from storage.errors import MessageConflictError
from storage.metadata import merge_metadata, without_system
from storage.models import CreateUserRequest, ImportResult, SessionImport

IMPORT_CHUNK_MESSAGES = 20_000
"""Messages buffered per insert while importing (bounds memory)."""
IMPORT_CHUNK_SESSIONS = 2_000
"""Sessions buffered per chunk while importing."""


def import_sessions(
    cursor: Cursor,
    sessions: Iterable[SessionImport],
    users: Sequence[CreateUserRequest],
    clock: Callable[[], datetime],
    on_conflict: Callable[[MessageConflictError], None] | None,
    *,
    dry_run: bool,
    counted: bool = False,
) -> tuple[ImportResult, set[int]]:
    """Import `sessions` (and create the missing `users`) in the caller's transaction,
    as `BulkImport.import_sessions` describes; returns the counts and the keys of the
    sessions touched. `clock` gives the time of each chunk's rows."""
    result = ImportResult()
    touched: set[int] = set()
    for user in users:
        if not user_exists(cursor, user.user_id):
            insert_user(cursor, user, clock())
            result.users_created += 1
    chunk: list[SessionImport] = []
    buffered = 0
    previous: str | None = None  # the session the last chunk ended with
    for item in sessions:
        chunk.append(item)
        buffered += len(item.messages)
        if buffered >= IMPORT_CHUNK_MESSAGES or len(chunk) >= IMPORT_CHUNK_SESSIONS:
            _import_chunk(cursor, chunk, clock(), result, touched, on_conflict, previous, counted)
            previous = chunk[-1].session_id
            chunk, buffered = [], 0
    _import_chunk(cursor, chunk, clock(), result, touched, on_conflict, previous, counted)
    if not dry_run:
        search.compact_after_import(cursor, result.messages_added)
    return result, touched


def _import_chunk(
    cursor: Cursor,
    chunk: list[SessionImport],
    now: datetime,
    result: ImportResult,
    touched: set[int],
    on_conflict: Callable[[MessageConflictError], None] | None,
    previous: str | None = None,
    counted: bool = False,
) -> None:
    """Store a chunk of sessions with a handful of statements, whatever its size.

    The effect is that of applying the sessions one by one, in order. A session
    that follows one of the same id (`previous` before the chunk) is a part of it
    and is not counted again.
    """
    if not chunk:
        return
    # Users named by the sessions, created in order of first appearance.
    named = list(dict.fromkeys(item.user_id for item in chunk if item.user_id))
    known_users = {
        row[0]
        for row in cursor.execute(
            "SELECT user_id FROM users WHERE user_id IN (SELECT unnest(?::VARCHAR[])) "
            "AND deleted_at IS NULL",
            [named],
        ).fetchall()
    }
    missing = [user_id for user_id in named if user_id not in known_users]
    if missing:
        drop_tombstones(cursor, missing)
        cursor.execute(
            "INSERT INTO users (id, uuid, user_id, created_at, updated_at) "
            "SELECT unnest($keys::BIGINT[]), unnest($uuids::UUID[]), "
            "unnest($ids::VARCHAR[]), $now, $now",
            {
                "keys": reserve_ids(cursor, "users_id_seq", len(missing)),
                "uuids": [ids.user_uuid(u) for u in missing],
                "ids": missing,
                "now": now,
            },
        )
        result.users_created += len(missing)
    # Sessions: what exists, then the chunk's effect on each, then two statements.
    session_ids = list(dict.fromkeys(item.session_id for item in chunk))
    existing: dict[str, list[Any]] = {
        row[0]: [int(row[1]), load_json(row[2]), row[3]]
        for row in cursor.execute(
            "SELECT session_id, id, metadata, user_id FROM sessions "
            "WHERE session_id IN (SELECT unnest(?::VARCHAR[]))",
            [session_ids],
        ).fetchall()
    }
    created: dict[str, list[Any]] = {}
    for item in chunk:
        part, previous = item.session_id == previous, item.session_id
        state = existing.get(item.session_id) or created.get(item.session_id)
        if state is None:
            first = item.created_at or min(
                (m.created_at for m in item.messages if m.created_at is not None),
                default=None,
            )
            created[item.session_id] = [
                None,
                item.metadata,
                item.user_id,
                to_db_time(first) if first else now,
            ]
            result.sessions_created += 1
            continue
        # An update, unprivileged as in Zep: the reserved `system` key stays as it is.
        state[1] = merge_metadata(state[1], without_system(item.metadata))
        state[2] = state[2] if state[2] is not None else item.user_id
        if not part:
            result.sessions_updated += 1
    if existing:
        updates = list(existing.values())
        cursor.execute(
            "UPDATE sessions SET deleted_at = NULL, updated_at = $now, "
            "metadata = v.metadata, user_id = v.user_id FROM (SELECT unnest($keys::BIGINT[]) "
            "AS id, unnest($metadata::JSON[]) AS metadata, unnest($users::VARCHAR[]) AS user_id"
            ") v WHERE sessions.id = v.id",
            {
                "keys": [state[0] for state in updates],
                "metadata": [dump_json(state[1]) for state in updates],
                "users": [state[2] for state in updates],
                "now": now,
            },
        )
    if created:
        names = list(created)
        new_keys = reserve_ids(cursor, "sessions_id_seq", len(names))
        cursor.execute(
            "INSERT INTO sessions (id, uuid, session_id, user_id, metadata, created_at, "
            "updated_at, last_activity) SELECT v.id, v.uuid, "
            "v.session_id, v.user_id, v.metadata, v.created_at, $now, v.created_at FROM ("
            "SELECT unnest($keys::BIGINT[]) AS id, unnest($uuids::UUID[]) AS uuid, "
            "unnest($names::VARCHAR[]) AS session_id, "
            "unnest($users::VARCHAR[]) AS user_id, unnest($metadata::JSON[]) AS metadata, "
            "unnest($created::TIMESTAMP[]) AS created_at) v",
            {
                "keys": new_keys,
                "uuids": [ids.session_uuid(name) for name in names],
                "names": names,
                "users": [created[name][2] for name in names],
                "metadata": [dump_json(created[name][1]) for name in names],
                "created": [created[name][3] for name in names],
                "now": now,
            },
        )
        for key, name in zip(new_keys, names, strict=True):
            created[name][0] = key
    keys = {name: state[0] for name, state in (existing | created).items()}
    batches = [(keys[item.session_id], item.messages) for item in chunk]
    touched.update(keys.values())
    outcome = InsertOutcome()
    result.messages_added += insert_messages(
        cursor, batches, now, on_conflict, outcome, counted=counted
    )
    result.messages_skipped += outcome.skipped
    result.messages_restored += outcome.restored
    result.messages_conflicting += outcome.conflicting
