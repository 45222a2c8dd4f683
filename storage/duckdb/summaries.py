"""The DuckDB side of Zep's summaries: what the scheduler reads (each session's backlog
after its summary point) and writes (drafts, unless the point moved meanwhile), the
summaries a session lists, and another store's summaries written as they are
(sync). The policy and the work are storage/summary_policy.py and
storage/summary_scheduler.py.
"""

from __future__ import annotations

import json
from bisect import bisect_left
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from functools import partial
from typing import TYPE_CHECKING, Any

from storage import ids
from storage.duckdb import search
from storage.duckdb.connection import Cursor
from storage.duckdb.reads import session_key
from storage.duckdb.rows import (
    SUMMARY_COLUMNS,
    dump_json,
    read_role_type,
    summary_info_from_row,
    to_db_time,
    utc,
)
from storage.duckdb.terms import SUMMARIES
from storage.duckdb.writes import reserve_ids
from storage.models import RoleType, Summary, SummaryInfo

if TYPE_CHECKING:
    from storage.summary_scheduler import Backlog, Draft, SessionDrafts, StoredMessage
    from storage.summary_workers import SpanDraft

Written = tuple[int, str, "Draft"]
"""A summary stored: its id, the uuid of the last message it covers, its draft."""


def list_summaries(cursor: Cursor, session_id: str) -> list[SummaryInfo]:
    """The live summaries of a live session, oldest first."""
    key = session_key(cursor, session_id)
    rows = cursor.execute(
        f"SELECT {SUMMARY_COLUMNS} FROM summaries x WHERE x.session_key = ? "
        "AND x.deleted_at IS NULL ORDER BY x.id",
        [key],
    ).fetchall()
    return [summary_info_from_row(row) for row in rows]


def backlogs(
    cursor: Cursor,
    keys: Sequence[int],
    *,
    again: bool,
    prepared: dict[int, Sequence[StoredMessage]] | None = None,
) -> list[Backlog]:
    """The live sessions among `keys`, each with its newest summary and the live
    messages after it (all of them, `again`).

    `prepared` may hold sessions' messages as an import kept them (taken out of it
    here): a session's are used instead of reading its messages back when they are
    still all it has (no summary, the same live messages: same count, same newest).
    """
    from storage.summary_scheduler import Backlog

    sessions = cursor.execute(
        "SELECT s.id, coalesce(max(x.id), 0), arg_max(x.content, x.id), "
        "coalesce(arg_max(x.recent_message_id, x.id), 0) FROM sessions s "
        "LEFT JOIN summaries x ON x.session_key = s.id AND x.deleted_at IS NULL "
        "WHERE s.deleted_at IS NULL AND s.id IN (SELECT unnest(?::BIGINT[])) "
        "GROUP BY s.id ORDER BY s.id",
        [list(keys)],
    ).fetchall()
    kept = _still_whole(cursor, keys, prepared) if prepared else {}
    if not sessions:
        return []
    messages: dict[int, Sequence[StoredMessage]] = {int(row[0]): [] for row in sessions}
    unread = [key for key in messages if key not in kept]
    points = {int(row[0]): 0 if again else int(row[3]) for row in sessions}
    rows = (
        cursor.execute(
            "SELECT m.session_key, m.id, m.uuid::VARCHAR, m.role, m.role_type, m.content, "
            "m.token_count "
            "FROM messages m "
            "JOIN (SELECT unnest(?::BIGINT[]) AS key, unnest(?::BIGINT[]) AS point) p "
            "ON m.session_key = p.key AND m.id > p.point "
            "WHERE m.deleted_at IS NULL ORDER BY m.session_key, m.id",
            [unread, [points[key] for key in unread]],
        ).fetchall()
        if unread
        else []
    )
    if rows:
        messages.update(backlog_messages(*zip(*rows, strict=True)))
    return [
        Backlog(
            key=int(key),
            point=int(point),
            previous=None if again else previous,
            messages=kept.get(int(key)) or messages[int(key)],
        )
        for key, point, previous, _ in sessions
    ]


def _still_whole(
    cursor: Cursor, keys: Sequence[int], prepared: dict[int, Sequence[StoredMessage]]
) -> dict[int, Sequence[StoredMessage]]:
    """The prepared messages among `keys` (taken out of `prepared`) of the sessions
    that have no summary and whose live messages are still exactly those."""
    taken = {key: found for key in keys if (found := prepared.pop(key, None))}
    if not taken:
        return {}
    whole = cursor.execute(
        "SELECT m.session_key, count(*), max(m.id) FROM messages m "
        "WHERE m.deleted_at IS NULL AND m.session_key IN (SELECT unnest(?::BIGINT[])) "
        "AND NOT EXISTS (SELECT 1 FROM summaries x WHERE x.session_key = m.session_key "
        "AND x.deleted_at IS NULL) GROUP BY m.session_key",
        [list(taken)],
    ).fetchall()
    return {
        key: taken[key]
        for key, live, newest in whole
        if live == len(taken[key]) and newest == taken[key][-1].id
    }


def new_backlogs(
    columns: Sequence[Sequence[Any]], counts: Sequence[int], first_new: int
) -> dict[int, Sequence[StoredMessage]]:
    """The backlogs of the sessions from key `first_new` on (an import's new ones), of
    counted rows given as columns as `backlog_messages` takes them (key, id, uuid, role,
    role type, content; ordered by session key) and their token counts."""
    start = bisect_left(columns[0], first_new)
    keys, ids, uuids, roles, role_types, contents = (column[start:] for column in columns[:6])
    return backlog_messages(keys, ids, uuids, roles, role_types, contents, counts[start:])


def backlog_messages(
    keys: Sequence[int],
    ids: Sequence[int],
    uuids: Sequence[str],
    roles: Sequence[str],
    role_types: Sequence[str | None],
    contents: Sequence[str],
    tokens: Sequence[int],
) -> dict[int, Sequence[StoredMessage]]:
    """Messages given as columns (ordered by session key) as backlogs hold them, by
    session key (`ColumnMessages`: each message made when a summary needs it)."""
    from storage.summary_scheduler import ColumnMessages, MessageColumns

    # As every read shows them (read_role_type), looked up once per kind: an import's
    # backlog is every message it added.
    known: dict[str | None, RoleType] = {kind.value: kind for kind in RoleType}
    known[None] = RoleType.norole
    kinds = list(map(known.get, role_types))
    if None in kinds:
        kinds = [
            kind or read_role_type(stored, f"message {uuid}")
            for kind, stored, uuid in zip(kinds, role_types, uuids, strict=True)
        ]
    columns = MessageColumns(ids, uuids, roles, kinds, contents, tokens)
    ends = [n for n in range(1, len(keys)) if keys[n] != keys[n - 1]]
    return {
        keys[start]: ColumnMessages(columns, start, end)
        for start, end in zip([0, *ends], [*ends, len(keys)], strict=True)
        if start < end
    }


def write(cursor: Cursor, batches: Sequence[SessionDrafts], now: datetime) -> list[Written]:
    """Store the drafts of each session whose newest live summary is still the one they
    were planned from (and which is still live), in the caller's transaction; with
    `replace`, its live summaries are soft-deleted first. Returns what was stored."""
    current = dict(
        cursor.execute(
            "SELECT s.id, coalesce(max(x.id), 0) FROM sessions s "
            "LEFT JOIN summaries x ON x.session_key = s.id AND x.deleted_at IS NULL "
            "WHERE s.deleted_at IS NULL AND s.id IN (SELECT unnest(?::BIGINT[])) "
            "GROUP BY s.id",
            [[batch.key for batch in batches]],
        ).fetchall()
    )
    kept = [batch for batch in batches if current.get(batch.key) == batch.point]
    replaced = [batch.key for batch in kept if batch.replace]
    if replaced:
        cursor.execute(
            "UPDATE summaries SET deleted_at = ? WHERE deleted_at IS NULL "
            "AND session_key IN (SELECT unnest(?::BIGINT[]))",
            [now, replaced],
        )
    rows = [(batch.key, draft) for batch in kept for draft in batch.drafts]
    if not rows:
        return []
    recent = [draft.last.uuid for _, draft in rows]
    # A summary's uuid follows from the last message it covers (made in SQL: a
    # big run writes tens of thousands); summarising again gives the next
    # revision, unique beside the soft-deleted one.
    # (Found by session alone: binding the drafts' uuids as a list cost more than the
    # rest of the query; a big run's new sessions have no summaries at all.)
    revisions: dict[str, int] = dict(
        cursor.execute(
            "SELECT recent_message_uuid::VARCHAR, count(*) FROM summaries "
            "WHERE session_key IN (SELECT unnest(?::BIGINT[])) GROUP BY 1",
            [sorted({key for key, _ in rows})],
        ).fetchall()
    )
    # Ids order a session's summaries (the newest is the summary point).
    summary_ids = reserve_ids(cursor, "summaries_id_seq", len(rows))
    terms = search.read_terms([draft.content for _, draft in rows])
    cursor.execute(
        f"INSERT INTO summaries SELECT id, {ids.summary_uuid_sql('recent', 'revision')}, "
        "session_key, content, token_count, recent, recent_id, first, message_count, "
        "metadata, $now::TIMESTAMP, NULL, search_len FROM ("
        "SELECT unnest($ids::BIGINT[]) AS id, unnest($keys::BIGINT[]) AS session_key, "
        "unnest($contents::VARCHAR[]) AS content, unnest($tokens::INTEGER[]) AS token_count, "
        "unnest($recent::UUID[]) AS recent, unnest($revisions::INTEGER[]) AS revision, "
        "unnest($recent_ids::BIGINT[]) AS recent_id, unnest($first::UUID[]) AS first, "
        "unnest($counts::INTEGER[]) AS message_count, unnest($metadata::JSON[]) AS metadata, "
        "unnest($lengths::INTEGER[]) AS search_len)",
        {
            "ids": summary_ids,
            "keys": [key for key, _ in rows],
            "contents": [draft.content for _, draft in rows],
            "tokens": [draft.token_count for _, draft in rows],
            "recent": recent,
            "revisions": [revisions.get(last, 0) for last in recent],
            "recent_ids": [draft.last.id for _, draft in rows],
            "first": [draft.first.uuid for _, draft in rows],
            "counts": [draft.message_count for _, draft in rows],
            "metadata": [dump_json(draft.metadata) for _, draft in rows],
            "now": now,
            "lengths": search.search_lengths(terms),
        },
    )
    search.index_new(cursor, SUMMARIES, summary_ids, terms)
    return list(zip(summary_ids, recent, [draft for _, draft in rows], strict=True))


FirstSummary = tuple[int, int, int, str, str | None, int]
"""A session's first summaries as `insert_first` takes them: the ids of the first and
last messages covered, how many, content, metadata (JSON text), tokens."""


def first_summaries(
    messages: Sequence[StoredMessage], spans: Sequence[SpanDraft]
) -> list[FirstSummary]:
    """The drafts of a backlog's spans (positions in `messages`, as workers return
    them) as `insert_first` stores them."""
    from storage.summary_scheduler import ColumnMessages

    message_id: Callable[[int], int]
    if isinstance(messages, ColumnMessages):  # no message made
        message_id = messages.message_id
    else:
        message_id = partial(_message_id, messages)
    return [
        (message_id(first), message_id(last), count, content, dump_json(data), tokens)
        for first, last, count, content, data, tokens in spans
    ]


def _message_id(messages: Sequence[StoredMessage], position: int) -> int:
    return messages[position].id


def insert_first(
    cursor: Cursor, drafted: Sequence[tuple[int, Sequence[FirstSummary]]], now: datetime
) -> list[int]:
    """Store the first summaries of sessions that have none (an import's new sessions,
    in its transaction), each given as its key and its drafts (`first_summaries`): what
    `write` stores for the same drafts, but for the search index (`index_new`, once for
    them all). Returns their ids."""
    keys = [key for key, made in drafted for _ in made]
    if not keys:
        return []
    rows = [summary for _, made in drafted for summary in made]
    first_ids, last_ids, counts, contents, metadata, tokens = map(list, zip(*rows, strict=True))
    summary_ids = reserve_ids(cursor, "summaries_id_seq", len(keys))
    # The messages' uuids are looked up by id (binding them costs more); numbers go as
    # JSON text (a bound list goes element by element).
    cursor.execute(
        f"INSERT INTO summaries SELECT d.id, {ids.summary_uuid_sql('l.uuid', '0')}, "
        "d.session_key, d.content, d.token_count, l.uuid, d.last_id, f.uuid, "
        "d.message_count, d.metadata, $now::TIMESTAMP, NULL, 0 FROM ("
        "SELECT unnest($ids::JSON::BIGINT[]) AS id, "
        "unnest($keys::JSON::BIGINT[]) AS session_key, unnest($contents::VARCHAR[]) AS content, "
        "unnest($tokens::JSON::INTEGER[]) AS token_count, "
        "unnest($first::JSON::BIGINT[]) AS first_id, unnest($last::JSON::BIGINT[]) AS last_id, "
        "unnest($counts::JSON::INTEGER[]) AS message_count, "
        "unnest($metadata::JSON[]) AS metadata"
        ") d JOIN messages f ON f.id = d.first_id JOIN messages l ON l.id = d.last_id "
        "ORDER BY d.id",
        {
            "ids": json.dumps(summary_ids),
            "keys": json.dumps(keys),
            "contents": contents,
            "tokens": json.dumps(tokens),
            "first": json.dumps(first_ids),
            "last": json.dumps(last_ids),
            "counts": json.dumps(counts),
            "metadata": metadata,
            "now": now,
        },
    )
    return summary_ids


def index_new(cursor: Cursor, summary_ids: Sequence[int]) -> None:
    """Index the summaries an `insert_first` stored (their terms, postings and lengths),
    read as the range of ids they are (`reserve_ids`): binding the list of them cost a
    fifth of the work."""
    if summary_ids:
        search.index_where(
            cursor, SUMMARIES, "id BETWEEN ? AND ?", [summary_ids[0], summary_ids[-1]]
        )


def stored(cursor: Cursor, written: Sequence[Written], now: datetime) -> list[SummaryInfo]:
    """The summaries `write` stored at `now`, as reads show them."""
    uuids = dict(
        cursor.execute(
            "SELECT id, uuid::VARCHAR FROM summaries WHERE id IN (SELECT unnest(?::BIGINT[]))",
            [[summary_id for summary_id, _, _ in written]],
        ).fetchall()
    )
    return [
        SummaryInfo(
            summary=Summary(
                uuid=uuids[summary_id],
                created_at=utc(now),
                content=draft.content,
                token_count=draft.token_count,
                recent_message_uuid=last,
                metadata=draft.metadata,
            ),
            first_message_uuid=draft.first.uuid,
            message_count=draft.message_count,
        )
        for summary_id, last, draft in written
    ]


def import_summaries(
    cursor: Cursor, by_session: Mapping[str, Sequence[SummaryInfo]], now: datetime
) -> int:
    """Store other stores' summaries of live sessions as `SummaryImport` says, in the
    caller's transaction, a handful of statements for them all; returns how many."""
    keys = dict(
        cursor.execute(
            "SELECT session_id, id FROM sessions WHERE deleted_at IS NULL "
            "AND session_id IN (SELECT unnest(?::VARCHAR[]))",
            [list(by_session)],
        ).fetchall()
    )
    infos = [
        (keys[name], info) for name, found in by_session.items() if name in keys for info in found
    ]
    if not infos:
        return 0
    known = {
        str(row[0])
        for row in cursor.execute(
            "SELECT uuid FROM summaries WHERE uuid IN (SELECT unnest(?::UUID[]))",
            [[info.summary.uuid for _, info in infos]],
        ).fetchall()
    }
    ends = {
        (int(row[0]), str(row[1])): int(row[2])
        for row in cursor.execute(
            "SELECT session_key, uuid, id FROM messages WHERE deleted_at IS NULL "
            "AND uuid IN (SELECT unnest(?::UUID[]))",
            [[info.summary.recent_message_uuid for _, info in infos]],
        ).fetchall()
    }
    points = dict(
        cursor.execute(
            "SELECT session_key, arg_max(recent_message_id, id) FROM summaries "
            "WHERE deleted_at IS NULL AND session_key IN (SELECT unnest(?::BIGINT[])) "
            "GROUP BY session_key",
            [sorted(set(keys.values()))],
        ).fetchall()
    )
    kept: list[tuple[int, SummaryInfo, int]] = []
    for key, info in infos:
        end = ends.get((key, info.summary.recent_message_uuid))
        if info.summary.uuid in known or end is None or end <= points.get(key, 0):
            continue
        kept.append((key, info, end))
        known.add(info.summary.uuid)
        points[key] = end
    if not kept:
        return 0
    summary_ids = reserve_ids(cursor, "summaries_id_seq", len(kept))
    terms = search.read_terms([info.summary.content for _, info, _ in kept])
    cursor.execute(
        "INSERT INTO summaries SELECT unnest(?::BIGINT[]), unnest(?::UUID[]), "
        "unnest(?::BIGINT[]), unnest(?::VARCHAR[]), unnest(?::INTEGER[]), unnest(?::UUID[]), "
        "unnest(?::BIGINT[]), unnest(?::UUID[]), unnest(?::INTEGER[]), unnest(?::JSON[]), "
        "unnest(?::TIMESTAMP[]), NULL, unnest(?::INTEGER[])",
        [
            summary_ids,
            [info.summary.uuid for _, info, _ in kept],
            [key for key, _, _ in kept],
            [info.summary.content for _, info, _ in kept],
            [info.summary.token_count for _, info, _ in kept],
            [info.summary.recent_message_uuid for _, info, _ in kept],
            [end for _, _, end in kept],
            [info.first_message_uuid for _, info, _ in kept],
            [info.message_count for _, info, _ in kept],
            [dump_json(info.summary.metadata) for _, info, _ in kept],
            [to_db_time(info.summary.created_at or now) for _, info, _ in kept],
            search.search_lengths(terms),
        ],
    )
    search.index_new(cursor, SUMMARIES, summary_ids, terms)
    return len(kept)
