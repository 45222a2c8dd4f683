"""The full-text index kept in DuckDB's own tables: kept up to date on every write,
and re-sorted after bulk work. The query is storage/duckdb/ranking.py.

DuckDB's `fts` extension is downloaded at run time, which offline machines
cannot do, so the store keeps its own postings tables (storage/duckdb/terms.py) and
tokenises with the same SQL expression when indexing and when querying. Messages and
summaries are indexed alike.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Any

from storage.duckdb.connection import Cursor
from storage.duckdb.terms import MESSAGES, SUMMARIES, Corpus, index_sql, term_counts

COMPACT_AFTER_MESSAGES = 50_000
"""An import adding at least this many messages re-sorts the search index."""
FEW_CHARACTERS = 100_000
"""New rows with up to this much text (in all) are tokenised in Python (`read_terms`);
more by DuckDB, which tokenises a big batch on every core, and whose six indexing
statements cost milliseconds whatever the rows (an API append writes a few). Measured:
the two cost the same CPU near 400 messages of 240 characters; Python's postings,
bound as lists, cost about 2 µs a term beyond that (a sync batch's 600 summaries)."""


def index(cursor: Cursor, where_sql: str, params: list[Any], *, in_order: bool = False) -> None:
    """Add the messages matching `where_sql` to the full-text index (`in_order`: see
    `terms.index_sql`)."""
    index_where(cursor, MESSAGES, where_sql, params, in_order)


def index_where(
    cursor: Cursor, corpus: Corpus, where_sql: str, params: list[Any], in_order: bool = False
) -> None:
    """Add the rows of `corpus` matching `where_sql` to its index (`in_order`: see
    `terms.index_sql`)."""
    for number, statement in enumerate(index_sql(corpus, where_sql, in_order=in_order)):
        cursor.execute(statement, params if number == 0 else [])


def read_terms(texts: Sequence[str]) -> list[Counter[str] | None]:
    """The term frequencies of new rows' texts, for `search_lengths` and `index_new`:
    of the ASCII texts among few (`FEW_CHARACTERS`, `terms.term_counts`); None for
    the texts whose terms DuckDB reads."""
    few = sum(len(text) for text in texts) <= FEW_CHARACTERS
    return term_counts(texts) if few else [None] * len(texts)


def search_lengths(counts: Sequence[Counter[str] | None]) -> list[int]:
    """Each row's number of terms (`search_len`) from `read_terms`; 0 where DuckDB
    reads the terms (`index_new` sets them)."""
    return [0 if found is None else found.total() for found in counts]


def index_new(
    cursor: Cursor, corpus: Corpus, ids: Sequence[int], counts: Sequence[Counter[str] | None]
) -> None:
    """Index new rows of `corpus` (`ids`, stored with `search_lengths(counts)`): the
    postings of the texts read in Python (`read_terms`) in one statement, the others
    by DuckDB's tokeniser (`terms.index_sql`)."""
    terms: list[str] = []
    rows: list[int] = []
    tfs: list[int] = []
    lengths: list[int] = []
    others: list[int] = []
    for row_id, found in zip(ids, counts, strict=True):
        if found is None:
            others.append(row_id)
            continue
        terms += found.keys()
        tfs += found.values()
        rows += [row_id] * len(found)
        lengths += [found.total()] * len(found)
    if terms:
        cursor.execute(
            f"INSERT INTO {corpus.postings} SELECT unnest(?::VARCHAR[]), unnest(?::BIGINT[]), "
            "unnest(?::INTEGER[]), unnest(?::INTEGER[])",
            [terms, rows, tfs, lengths],
        )
    if others:
        index_where(cursor, corpus, "id IN (SELECT unnest(?::BIGINT[]))", [others])


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
    """Re-sort the index after an import that made a large share of it; whether it did."""
    if not compact_due(cursor, added):
        return False
    compact(cursor)
    return True


def compact_due(cursor: Cursor, added: int, *, stored: bool = True) -> bool:
    """Whether an import that added `added` messages (`stored` already, or about to be)
    makes a re-sort due.

    A re-sort costs time in proportion to the whole index, so it is due only when the
    import added at least COMPACT_AFTER_MESSAGES messages and at least a fifth of all
    messages; `optimize()` re-sorts on request.
    """
    if added < COMPACT_AFTER_MESSAGES:
        return False
    row = cursor.execute("SELECT count(*) FROM messages").fetchone()
    return row is None or added * 5 >= int(row[0]) + (0 if stored else added)


def is_empty(cursor: Cursor) -> bool:
    """Whether the index holds no posting (of messages or summaries)."""
    row = cursor.execute(
        f"SELECT NOT EXISTS (SELECT 1 FROM {MESSAGES.postings}) "
        f"AND NOT EXISTS (SELECT 1 FROM {SUMMARIES.postings})"
    ).fetchone()
    return bool(row and row[0])
