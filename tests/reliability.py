"""What must hold of any zeptui store, whatever happened to the process that wrote it.

`problems(path)` reads a store file (read-only, with plain DuckDB, not the store code
under test) and lists every broken invariant: the denormalised session counts, unique
ids and uuids, the full-text index, summary spans. An empty list is a consistent store.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import duckdb

from storage.tokens import count_message_tokens

# Each query returns offending rows; a consistent store returns none.
_CHECKS: dict[str, str] = {
    "session counts differ from their live messages": """
        SELECT s.session_id, s.message_count, s.total_tokens, count(m.id), sum(m.token_count)
        FROM sessions s LEFT JOIN messages m ON m.session_key = s.id AND m.deleted_at IS NULL
        WHERE s.deleted_at IS NULL
        GROUP BY ALL
        HAVING s.message_count <> count(m.id) OR s.total_tokens <> coalesce(sum(m.token_count), 0)
    """,
    "a deleted session keeps live messages or counts": """
        SELECT s.session_id FROM sessions s
        WHERE s.deleted_at IS NOT NULL AND (s.message_count <> 0 OR EXISTS (
            SELECT 1 FROM messages m WHERE m.session_key = s.id AND m.deleted_at IS NULL))
    """,
    "duplicate message uuids": "SELECT uuid FROM messages GROUP BY uuid HAVING count(*) > 1",
    "duplicate message ids": "SELECT id FROM messages GROUP BY id HAVING count(*) > 1",
    "duplicate session ids": (
        "SELECT session_id FROM sessions GROUP BY session_id HAVING count(*) > 1"
    ),
    "duplicate user ids": "SELECT user_id FROM users GROUP BY user_id HAVING count(*) > 1",
    "messages of no session": """
        SELECT m.id FROM messages m ANTI JOIN sessions s ON s.id = m.session_key
    """,
    "ids past their sequence (the next insert would reuse one)": """
        SELECT t.name, t.top, q.last_value FROM (
            SELECT 'users_id_seq' AS name, max(id) AS top FROM users
            UNION ALL SELECT 'sessions_id_seq', max(id) FROM sessions
            UNION ALL SELECT 'messages_id_seq', max(id) FROM messages
            UNION ALL SELECT 'summaries_id_seq', max(id) FROM summaries
        ) t JOIN duckdb_sequences() q
          ON q.sequence_name = t.name AND q.database_name = current_database()
        WHERE t.top > coalesce(q.last_value, 0)
    """,
    "index entries of messages that are gone or deleted": """
        SELECT p.message_id FROM search_postings p
        LEFT JOIN messages m ON m.id = p.message_id
        WHERE m.id IS NULL OR m.deleted_at IS NOT NULL
    """,
    "live messages whose index entries do not add up to their length": """
        SELECT m.id FROM messages m
        LEFT JOIN (SELECT message_id, sum(tf) AS terms, min(doc_len) AS low,
                          max(doc_len) AS high
                   FROM search_postings GROUP BY message_id) p ON p.message_id = m.id
        WHERE m.deleted_at IS NULL
          AND (coalesce(p.terms, 0) <> m.search_len
               OR (p.terms IS NOT NULL AND (p.low <> m.search_len OR p.high <> m.search_len)))
    """,
    "index entries of summaries that are gone": """
        SELECT p.summary_id FROM summary_postings p ANTI JOIN summaries x ON x.id = p.summary_id
    """,
    "summaries whose index entries do not add up to their length": """
        SELECT x.id FROM summaries x
        LEFT JOIN (SELECT summary_id, sum(tf) AS terms FROM summary_postings
                   GROUP BY summary_id) p ON p.summary_id = x.id
        WHERE coalesce(p.terms, 0) <> x.search_len
    """,
    "summaries that point at a message of another session": """
        SELECT x.uuid FROM summaries x JOIN messages m ON m.id = x.recent_message_id
        WHERE m.session_key <> x.session_key OR m.uuid <> x.recent_message_uuid
    """,
}


def _summary_span_problems(conn: duckdb.DuckDBPyConnection) -> list[str]:
    """Live summaries of a session cover consecutive runs of its messages, in order."""
    found: list[str] = []
    rows = conn.execute(
        """
        SELECT x.session_key, x.uuid, x.first_message_uuid, x.recent_message_id, x.message_count,
               (SELECT id FROM messages WHERE uuid = x.first_message_uuid) AS first_id
        FROM summaries x WHERE x.deleted_at IS NULL ORDER BY x.session_key, x.id
        """
    ).fetchall()
    previous: dict[int, int] = {}
    for key, summary, _first_uuid, last_id, count, first_id in rows:
        if first_id is None:
            found.append(f"summary {summary}: its first message is missing")
            continue
        covered = conn.execute(
            "SELECT count(*) FROM messages WHERE session_key = ? AND id BETWEEN ? AND ? "
            "AND trim(content) <> ''",
            [key, first_id, last_id],
        ).fetchone()
        if covered is None or covered[0] != count:
            found.append(f"summary {summary}: covers {covered} messages, says {count}")
        if key in previous:
            gap = conn.execute(
                "SELECT count(*) FROM messages WHERE session_key = ? AND id > ? AND id < ? "
                "AND trim(content) <> ''",
                [key, previous[key], first_id],
            ).fetchone()
            if gap is None or gap[0] != 0:
                found.append(f"summary {summary}: {gap} messages between it and the previous one")
        previous[key] = last_id
    return found


def _token_problems(conn: duckdb.DuckDBPyConnection, sample: int) -> list[str]:
    rows = conn.execute(
        "SELECT uuid, role, content, token_count FROM messages "
        f"USING SAMPLE reservoir({int(sample)} ROWS) REPEATABLE (7)"
    ).fetchall()
    return [
        f"message {uuid}: token_count {stored}, counted {count_message_tokens(role, content)}"
        for uuid, role, content, stored in rows
        if count_message_tokens(role, content) != stored
    ]


def problems(path: Path, *, token_sample: int = 200) -> list[str]:
    """Every broken invariant of the store at `path` (empty: consistent)."""
    found: list[str] = []
    with duckdb.connect(str(path), read_only=True) as conn:
        for name, sql in _CHECKS.items():
            rows = conn.execute(sql).fetchall()
            if rows:
                found.append(f"{name}: {rows[:5]}")
        found += _summary_span_problems(conn)
        found += _token_problems(conn, token_sample)
    return found


def counts(path: Path) -> dict[str, Any]:
    """Live users, sessions, messages and summaries, for before/after comparisons."""
    with duckdb.connect(str(path), read_only=True) as conn:
        row = conn.execute(
            "SELECT (SELECT count(*) FROM users WHERE deleted_at IS NULL), "
            "(SELECT count(*) FROM sessions WHERE deleted_at IS NULL), "
            "(SELECT count(*) FROM messages WHERE deleted_at IS NULL), "
            "(SELECT count(*) FROM summaries WHERE deleted_at IS NULL)"
        ).fetchone()
    assert row is not None
    return dict(zip(("users", "sessions", "messages", "summaries"), row, strict=True))
