"""Full-text search kept in DuckDB's own tables, ranked with BM25 in SQL: the index
kept up to date on every write, re-sorted after bulk work, and the ranking query.

DuckDB's `fts` extension is downloaded at run time, which offline machines
cannot do, so the store keeps its own postings table (`search_postings`) and
tokenises with the same SQL expression when indexing and when querying.
"""

from __future__ import annotations

from string import ascii_lowercase
from typing import Any

from storage.duckdb.connection import Cursor
from storage.duckdb.filters import Where
from storage.duckdb.reads import session_key
from storage.duckdb.rows import MESSAGE_COLUMNS, message_from_row
from storage.errors import InvalidInputError
from storage.models import SearchQuery, SearchResult

# Okapi BM25 parameters (the usual defaults, as in Lucene and DuckDB's fts).
BM25_K1 = 1.2
BM25_B = 0.75
MAX_TERM_LENGTH = 64

# Common English words that carry no meaning for search; single letters are added.
_STOPWORD_TEXT = """
a about above after again against all am an and any are as at be because been before
being below between both but by can could did do does doing down during each few for
from further had has have having he her here hers herself him himself his how i if in
into is it its itself just me more most my myself no nor not now of off on once only or
other our ours ourselves out over own same she should so some such than that the their
theirs them themselves then there these they this those through to too under until up
very was we were what when where which while who whom why will with would you your yours
yourself yourselves ll re ve don doesn didn isn wasn aren weren won wouldn couldn shouldn
"""
STOPWORDS: tuple[str, ...] = tuple(sorted(set(_STOPWORD_TEXT.split()) | set(ascii_lowercase)))

_STOPWORD_SQL = ", ".join(f"'{word}'" for word in STOPWORDS)
_STOPWORD_LIST = f"[{_STOPWORD_SQL}]"
_TERM = "'[\\p{L}\\p{N}]+'"
"""A term: a run of letters and digits, in any script."""


def tokens_sql(text_sql: str) -> str:
    """A SQL expression turning `text_sql` into its list of index terms.

    Lower-cased runs of letters and digits (any script), without stopwords and
    over-long runs (base64 blobs and the like). Indexing applies the same rules.
    """
    return (
        f"list_filter(regexp_extract_all(lower({text_sql}), {_TERM}), "
        f"lambda t: length(t) <= {MAX_TERM_LENGTH} AND NOT list_contains({_STOPWORD_LIST}, t))"
    )


PIECE_CHARACTERS = 200
"""Long texts are tokenised in pieces of about this many characters (see `_pieces_sql`)."""
WHOLE_CHARACTERS = 20_000
"""Texts up to this long are tokenised whole: quicker, and their lists are short."""


def _pieces_sql(text_sql: str) -> str:
    """`text_sql` as a list of pieces that split no term, for long texts.

    DuckDB unnests a list of strings in time that grows with the square of its length,
    so one 32 MB message took minutes to index. Each piece is up to PIECE_CHARACTERS
    characters plus the rest of the term it ends in, so the next piece starts at a
    character that is not part of a term: the terms of the pieces are exactly those of
    the whole text. (RE2 runs a longer repetition as a slow NFA on mixed scripts:
    500 characters took 13 s per MiB of mixed CJK, Cyrillic and emoji; 200, 0.1 s.)
    """
    return (
        f"CASE WHEN length({text_sql}) <= {WHOLE_CHARACTERS} THEN [{text_sql}] "
        f"ELSE regexp_extract_all({text_sql}, "
        f"'[\\s\\S]{{1,{PIECE_CHARACTERS}}}[\\p{{L}}\\p{{N}}]*') END"
    )


def index_messages_sql(where_sql: str, *, in_order: bool = False) -> list[str]:
    """Statements that index the messages matching `where_sql` (run in order).

    The first takes the parameters of `where_sql`; the others take none. Each
    message is tokenised once, into a temp table that feeds both its postings
    and its document length (`messages.search_len`). With `in_order`, the postings
    are written sorted as `compact` leaves them (into an empty index: no re-sort after).
    """
    return [
        f"""
        CREATE OR REPLACE TEMP TABLE new_terms AS
        SELECT id, term FROM (
            SELECT id, unnest(regexp_extract_all(piece, {_TERM})) AS term FROM (
                SELECT id, unnest({_pieces_sql("text")}) AS piece
                FROM (SELECT id, lower(content) AS text FROM messages WHERE {where_sql})
            )
        )
        WHERE length(term) <= {MAX_TERM_LENGTH} AND term NOT IN ({_STOPWORD_SQL})
        """,
        """
        CREATE OR REPLACE TEMP TABLE new_lengths AS
        SELECT id, count(*)::INTEGER AS n FROM new_terms GROUP BY id
        """,
        """
        INSERT INTO search_postings
        SELECT t.term, t.id, t.tf, l.n
        FROM (SELECT term, id, count(*)::INTEGER AS tf FROM new_terms GROUP BY term, id) t
        JOIN new_lengths l USING (id)
        """
        + (" ORDER BY t.term, t.id" if in_order else ""),
        """
        UPDATE messages SET search_len = l.n FROM new_lengths l WHERE messages.id = l.id
        """,
        "DROP TABLE new_terms",
        "DROP TABLE new_lengths",
    ]


def bm25_sql(filters_sql: str) -> str:
    """The ranking query. Parameters: the query text, then those of `filters_sql`,
    then the limit. `filters_sql` (a condition) filters the joined `m` (messages) and
    `s` (sessions)."""
    return f"""
        WITH query_terms AS (
            SELECT DISTINCT unnest({tokens_sql("?")}) AS term
        ),
        hits AS (
            SELECT p.term, p.message_id, p.tf, p.doc_len
            FROM search_postings p SEMI JOIN query_terms q ON p.term = q.term
        ),
        corpus AS (
            SELECT count(*) AS n, coalesce(avg(search_len), 1) AS avgdl
            FROM messages WHERE deleted_at IS NULL
        ),
        term_df AS (
            SELECT term, count(*) AS df FROM hits GROUP BY term
        ),
        scored AS (
            SELECT h.message_id,
                   sum(
                       ln(1 + (c.n - d.df + 0.5) / (d.df + 0.5))
                       * h.tf * ({BM25_K1} + 1)
                       / (h.tf + {BM25_K1} * (1 - {BM25_B} + {BM25_B} * h.doc_len
                          / greatest(c.avgdl, 1)))
                   ) AS score
            FROM hits h JOIN term_df d USING (term) CROSS JOIN corpus c
            GROUP BY h.message_id
        )
        SELECT m.id, s.session_id, sc.score
        FROM scored sc
        JOIN messages m ON m.id = sc.message_id
        JOIN sessions s ON s.id = m.session_key
        WHERE m.deleted_at IS NULL AND s.deleted_at IS NULL AND {filters_sql}
        ORDER BY sc.score DESC, m.id DESC
        LIMIT ?
    """


COMPACT_AFTER_MESSAGES = 50_000
"""An import adding at least this many messages re-sorts the search index."""


def index(cursor: Cursor, where_sql: str, params: list[Any], *, in_order: bool = False) -> None:
    """Add the messages matching `where_sql` to the full-text index (`in_order`: see
    `index_messages_sql`)."""
    for number, statement in enumerate(index_messages_sql(where_sql, in_order=in_order)):
        cursor.execute(statement, params if number == 0 else [])


def compact(cursor: Cursor) -> None:
    """Rewrite the postings sorted by term, so zone maps prune most of a query's scan."""
    cursor.execute(
        "CREATE OR REPLACE TEMP TABLE postings_sorted AS "
        "SELECT * FROM search_postings ORDER BY term, message_id"
    )
    cursor.execute("DELETE FROM search_postings")
    cursor.execute("INSERT INTO search_postings SELECT * FROM postings_sorted")
    cursor.execute("DROP TABLE postings_sorted")


def compact_after_import(cursor: Cursor, added: int) -> bool:
    """Re-sort the index after an import that made a large share of it; whether it did."""
    if not compact_due(cursor, added):
        return False
    compact(cursor)
    return True


def compact_due(cursor: Cursor, added: int) -> bool:
    """Whether an import that added `added` messages (stored already) makes a re-sort due.

    A re-sort costs time in proportion to the whole index, so it is due only when the
    import added at least COMPACT_AFTER_MESSAGES messages and at least a fifth of all
    messages; `optimize()` re-sorts on request.
    """
    if added < COMPACT_AFTER_MESSAGES:
        return False
    row = cursor.execute("SELECT count(*) FROM messages").fetchone()
    return row is None or added * 5 >= int(row[0])


def is_empty(cursor: Cursor) -> bool:
    """Whether the index holds no posting."""
    row = cursor.execute("SELECT NOT EXISTS (SELECT 1 FROM search_postings)").fetchone()
    return bool(row and row[0])


def search(cursor: Cursor, query: SearchQuery) -> list[SearchResult]:
    """The live messages that best match `query.text`, best first, within its filters."""
    if not query.text.strip():
        raise InvalidInputError("search text is empty")
    where = Where()
    if query.session_id is not None:
        session_key(cursor, query.session_id)  # unknown: NotFoundError
        where.equals("s.session_id", query.session_id)
    where.common(query, table="m")
    if query.role_types:
        where.add(
            "coalesce(m.role_type, 'norole') IN (SELECT unnest(?::VARCHAR[]))",
            [role_type.value for role_type in query.role_types],
        )
    hits = cursor.execute(bm25_sql(where.sql), [query.text, *where.params, query.limit]).fetchall()
    if not hits:
        return []
    rows = cursor.execute(
        f"SELECT m.id, {MESSAGE_COLUMNS} FROM messages m "
        "WHERE m.id IN (SELECT unnest(?::BIGINT[]))",
        [[hit[0] for hit in hits]],
    ).fetchall()
    by_id = {row[0]: message_from_row(row[1:]) for row in rows}
    return [
        SearchResult(message=by_id[message_id], score=float(score), session_id=session_id)
        for message_id, session_id, score in hits
    ]
