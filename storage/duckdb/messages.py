"""Appending messages to sessions: uuids checked against the store (the same message
is skipped or restored, another session's is a conflict), tokens counted, ids reserved
in order, the rows inserted and indexed, and the sessions' aggregates updated.
"""

from __future__ import annotations

import uuid as uuid_lib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from storage.duckdb import search
from storage.duckdb.connection import Cursor
from storage.duckdb.rows import dump_json, parse_uuid, to_db_time
from storage.duckdb.terms import MESSAGES
from storage.duckdb.writes import reserve_ids
from storage.errors import MessageConflictError
from storage.models import Message, RoleType
from storage.tokens import checked_counts, count_tokens_batch, message_text


@dataclass
class InsertOutcome:
    """Messages of a write that were not inserted, by reason."""

    skipped: int = 0
    restored: int = 0
    conflicting: int = 0


@dataclass
class _SessionDelta:
    """How one session's aggregates change after inserting messages."""

    key: int
    messages: int = 0
    tokens: int = 0
    last_activity: datetime | None = None


@dataclass
class _NewRows:
    """The new messages of a write, in order: a column each."""

    keys: list[int] = field(default_factory=list)
    uuids: list[str] = field(default_factory=list)
    created: list[datetime] = field(default_factory=list)
    """Naive UTC, as stored."""
    given: list[Message] = field(default_factory=list)
    """The messages as given (validated when they were built)."""
    batches: list[int] = field(default_factory=list)
    """The batch each came in."""
    tokens: list[int] = field(default_factory=list)


def insert_messages(
    cursor: Cursor,
    batches: Sequence[tuple[int, list[Message]]],
    now: datetime,
    on_conflict: Callable[[MessageConflictError], None] | None = None,
    outcome: InsertOutcome | None = None,
    *,
    counted: bool = False,
) -> int:
    """Append messages to sessions and index them, as `insert_message_batches`;
    returns how many were inserted (an import needs no answer)."""
    return len(_insert(cursor, batches, now, on_conflict, outcome, counted).uuids)


def insert_message_batches(
    cursor: Cursor,
    batches: Sequence[tuple[int, list[Message]]],
    now: datetime,
    on_conflict: Callable[[MessageConflictError], None] | None = None,
    outcome: InsertOutcome | None = None,
) -> list[list[Message]]:
    """Append messages to sessions and index them; returns the messages inserted
    from each batch.

    A uuid already stored in the same session is the same message: skipped if it
    is live, restored (undeleted, re-indexed) if it was soft-deleted. A uuid that
    belongs to another session is a conflict: `on_conflict` decides (it may raise,
    or note it and let the message be left out); without one it raises.
    """
    rows = _insert(cursor, batches, now, on_conflict, outcome, counted=False)
    inserted: list[list[Message]] = [[] for _ in batches]
    updated = now.replace(tzinfo=UTC)
    for batch, message_uuid, created, message, tokens in zip(
        rows.batches, rows.uuids, rows.created, rows.given, rows.tokens, strict=True
    ):
        inserted[batch].append(
            Message.model_construct(
                uuid=message_uuid,
                created_at=created.replace(tzinfo=UTC),
                updated_at=updated,
                role=message.role,
                role_type=message.role_type or RoleType.norole,
                content=message.content,
                token_count=tokens,
                metadata=message.metadata,
            )
        )
    return inserted


def _insert(
    cursor: Cursor,
    batches: Sequence[tuple[int, list[Message]]],
    now: datetime,
    on_conflict: Callable[[MessageConflictError], None] | None,
    outcome: InsertOutcome | None,
    counted: bool,
) -> _NewRows:
    """`insert_message_batches`' work; returns the rows inserted. With `counted`,
    the messages' own token counts are kept if `checked_counts` finds them right."""
    outcome = outcome if outcome is not None else InsertOutcome()
    # Each supplied uuid is checked and normalised once.
    given = [[parse_uuid(m.uuid) if m.uuid else None for m in messages] for _, messages in batches]
    supplied = [value for values in given for value in values if value is not None]
    # uuid -> (session key, message id or None if new in this call, deleted)
    known: dict[str, tuple[int, int | None, bool]] = {}
    if supplied:
        for row in cursor.execute(
            "SELECT uuid::VARCHAR, session_key, id, deleted_at IS NOT NULL FROM messages "
            "WHERE uuid IN (SELECT unnest(?::UUID[]))",
            [supplied],
        ).fetchall():
            known[row[0]] = (int(row[1]), int(row[2]), bool(row[3]))
    new = _NewRows()
    restore: list[int] = []
    for batch, ((key, messages), uuids) in enumerate(zip(batches, given, strict=True)):
        for message, message_uuid in zip(messages, uuids, strict=True):
            message_uuid = message_uuid or str(uuid_lib.uuid4())
            found = known.get(message_uuid)
            if found is not None:
                holder, message_id, deleted = found
                if holder != key:
                    conflict = MessageConflictError(
                        message_uuid,
                        _session_name(cursor, key),
                        _session_name(cursor, holder),
                    )
                    if on_conflict is None:
                        raise conflict
                    on_conflict(conflict)
                    outcome.conflicting += 1
                elif deleted and message_id is not None:
                    restore.append(message_id)
                    known[message_uuid] = (holder, message_id, False)
                else:
                    outcome.skipped += 1
                continue
            known[message_uuid] = (key, None, False)
            new.keys.append(key)
            new.uuids.append(message_uuid)
            new.created.append(to_db_time(message.created_at) if message.created_at else now)
            new.given.append(message)
            new.batches.append(batch)
    if restore:
        restore_messages(cursor, restore, now)
        outcome.restored += len(restore)
    if not new.uuids:
        return new
    texts = [message_text(m.role, m.content) for m in new.given]
    if counted:
        new.tokens = checked_counts(texts, [m.token_count for m in new.given])
    else:
        new.tokens = count_tokens_batch(texts)
    ids = reserve_ids(cursor, "messages_id_seq", len(new.uuids))
    terms = search.read_terms([m.content for m in new.given])
    cursor.execute(
        "INSERT INTO messages (id, uuid, session_key, role, role_type, content, token_count, "
        "metadata, created_at, updated_at, search_len) SELECT unnest(?::BIGINT[]), "
        "unnest(?::UUID[]), unnest(?::BIGINT[]), unnest(?::VARCHAR[]), unnest(?::VARCHAR[]), "
        "unnest(?::VARCHAR[]), unnest(?::INTEGER[]), unnest(?::JSON[]), "
        "unnest(?::TIMESTAMP[]), ?::TIMESTAMP, unnest(?::INTEGER[])",
        [
            ids,
            new.uuids,
            new.keys,
            [m.role for m in new.given],
            [(m.role_type or RoleType.norole).value for m in new.given],
            [m.content for m in new.given],
            new.tokens,
            [dump_json(m.metadata) for m in new.given],
            new.created,
            now,
            search.search_lengths(terms),
        ],
    )
    search.index_new(cursor, MESSAGES, ids, terms)
    deltas: dict[int, _SessionDelta] = {}
    for key, tokens, created in zip(new.keys, new.tokens, new.created, strict=True):
        delta = deltas.setdefault(key, _SessionDelta(key))
        delta.messages += 1
        delta.tokens += tokens
        if delta.last_activity is None or created > delta.last_activity:
            delta.last_activity = created
    changes = list(deltas.values())
    cursor.execute(
        "UPDATE sessions SET message_count = message_count + d.n, "
        "total_tokens = total_tokens + d.tokens, "
        "last_activity = greatest(last_activity, d.newest), updated_at = $now "
        "FROM (SELECT unnest($keys::BIGINT[]) AS id, unnest($counts::BIGINT[]) AS n, "
        "unnest($tokens::BIGINT[]) AS tokens, unnest($newest::TIMESTAMP[]) AS newest) d "
        "WHERE sessions.id = d.id",
        {
            "keys": [d.key for d in changes],
            "counts": [d.messages for d in changes],
            "tokens": [d.tokens for d in changes],
            "newest": [d.last_activity for d in changes],
            "now": now,
        },
    )
    return new


def restore_messages(cursor: Cursor, message_ids: list[int], now: datetime) -> None:
    """Undelete messages (the same messages imported again), with their index entries,
    their sessions' aggregates, and the summaries that end on them and were deleted
    with them (not those replaced earlier by summarising the session again)."""
    cursor.execute(
        "UPDATE summaries SET deleted_at = NULL FROM messages m "
        "WHERE m.id IN (SELECT unnest(?::BIGINT[])) AND summaries.recent_message_id = m.id "
        "AND summaries.deleted_at = m.deleted_at",
        [message_ids],
    )
    cursor.execute(
        "UPDATE messages SET deleted_at = NULL, updated_at = ? "
        "WHERE id IN (SELECT unnest(?::BIGINT[]))",
        [now, message_ids],
    )
    search.index(cursor, "id IN (SELECT unnest(?::BIGINT[]))", [message_ids])
    cursor.execute(
        "UPDATE sessions SET message_count = sessions.message_count + a.n, "
        "total_tokens = sessions.total_tokens + a.tokens, "
        "last_activity = greatest(sessions.last_activity, a.newest), updated_at = $now "
        "FROM (SELECT session_key, count(*) AS n, sum(token_count) AS tokens, "
        "max(created_at) AS newest FROM messages WHERE id IN (SELECT unnest($ids::BIGINT[])) "
        "GROUP BY session_key) a WHERE sessions.id = a.session_key",
        {"ids": message_ids, "now": now},
    )


def _session_name(cursor: Cursor, key: int) -> str:
    row = cursor.execute("SELECT session_id FROM sessions WHERE id = ?", [key]).fetchone()
    return str(row[0]) if row else f"#{key}"
