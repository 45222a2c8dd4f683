"""The full-text index kept in DuckDB's own tables: kept up to date on every write,
and re-sorted after bulk work. The query is storage/duckdb/ranking.py.

DuckDB's `fts` extension is downloaded at run time, which offline machines
cannot do, so the store keeps its own postings tables (storage/duckdb/terms.py) and
tokenises with the same SQL expression when indexing and when querying. Messages and
summaries are indexed alike.
"""

from __future__ import annotations

from typing import Any

from storage.duckdb.connection import Cursor
from storage.duckdb.terms import MESSAGES, SUMMARIES, Corpus, index_sql

COMPACT_AFTER_MESSAGES = 50_000
"""An import adding at least this many messages re-sorts the search index."""


def index(cursor: Cursor, where_sql: str, params: list[Any]) -> None:
    """Add the messages matching `where_sql` to the full-text index."""
    _index(cursor, MESSAGES, where_sql, params)


def index_summaries(cursor: Cursor, where_sql: str, params: list[Any]) -> None:
    """Add the summaries matching `where_sql` to the full-text index."""
    _index(cursor, SUMMARIES, where_sql, params)


def _index(cursor: Cursor, corpus: Corpus, where_sql: str, params: list[Any]) -> None:
    for number, statement in enumerate(index_sql(corpus, where_sql)):
        cursor.execute(statement, params if number == 0 else [])


def compact(cursor: Cursor) -> None:
    """Rewrite the postings sorted by term, so zone maps prune most of a query's scan."""
    for corpus in (MESSAGES, SUMMARIES):
        cursor.execute(
            "CREATE OR REPLACE TEMP TABLE postings_sorted AS "
            f"SELECT * FROM {corpus.postings} ORDER BY term, {corpus.key}"
        )
        cursor.execute(f"DELETE FROM {corpus.postings}")
        cursor.execute(f"INSERT INTO {corpus.postings} SELECT * FROM postings_sorted")
        cursor.execute("DROP TABLE postings_sorted")


def compact_after_import(cursor: Cursor, added: int) -> bool:
    """Re-sort the index after an import that made a large share of it; whether it did.

    A re-sort costs time in proportion to the whole index, so it runs only when the
    import added at least COMPACT_AFTER_MESSAGES messages and at least a fifth of all
    messages; `optimize()` re-sorts on request.
    """
    if added < COMPACT_AFTER_MESSAGES:
        return False
    row = cursor.execute("SELECT count(*) FROM messages").fetchone()
    if row is not None and added * 5 < int(row[0]):
        return False
    compact(cursor)
    return True
