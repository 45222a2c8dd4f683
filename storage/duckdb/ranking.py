"""Search: the rows that best match a query's words, ranked with Okapi BM25 over the
full-text index (storage/duckdb/search.py), or, without words, the newest rows that
match its filters; optionally re-ranked by maximal marginal relevance (storage/mmr.py).

Where the time goes, and what is done about it (bench/bench_server.py measures it):

* A term's document frequency counts its postings: for a common term that is a scan of
  a hundred thousand rows. The corpus statistics (rows, their average length) scan the
  whole table. Both are kept in `IndexStatistics` between queries, valid until the next
  write (`Database.generation`), so they are exact.
* A session's search scores that session's rows only. A small session's rows are read
  and tokenised on the spot (the same tokeniser as the index, so the same terms): a few
  hundred short texts, where the postings of a common term are a large scan. Long texts
  and large sessions are read from the postings.
"""

from __future__ import annotations

import math
import threading
from collections import Counter
from collections.abc import Callable, Sequence
from typing import Any

from storage import mmr
from storage.duckdb.connection import Cursor
from storage.duckdb.filters import Where
from storage.duckdb.reads import live_session_row
from storage.duckdb.rows import (
    MESSAGE_COLUMNS,
    SUMMARY_COLUMNS,
    message_from_row,
    summary_info_from_row,
)
from storage.duckdb.terms import (
    MESSAGES,
    SUMMARIES,
    TERM,
    WHOLE_CHARACTERS,
    Corpus,
    tokens_sql,
)
from storage.errors import InvalidInputError
from storage.models import SearchQuery, SearchResult, SearchScope

# Okapi BM25 parameters (the usual defaults, as in Lucene and DuckDB's fts).
BM25_K1 = 1.2
BM25_B = 0.75

SMALL_SESSION = 2_000
"""A session with at most this many rows (messages, or summaries) is scored from its
rows' text; a larger one from the postings."""
MMR_TERM_CHARACTERS = 20_000
"""MMR compares candidates by the terms of their first this many characters."""
MAX_CACHED_TERMS = 100_000
"""Document frequencies (and query texts' terms) kept between queries, at most (then
the cache starts again)."""


def normalised(score: float) -> float:
    """A BM25 score (0 and up) as 0..1, order kept: `score / (score + 1)`, the same
    whatever the query, so a `min_score` means the same for every query."""
    return max(score, 0.0) / (max(score, 0.0) + 1.0)


class IndexStatistics:
    """Corpus statistics and document frequencies of the index, computed from the file
    at one `generation` and dropped when it changes (a write, or the file let go)."""

    def __init__(self, generation: Callable[[], int]) -> None:
        self._generation = generation
        self._lock = threading.Lock()
        self._seen = -1
        self._corpus: dict[str, tuple[int, float]] = {}
        self._df: dict[tuple[str, str], int] = {}
        self._terms: dict[str, list[str]] = {}
        """A query's terms (which do not depend on the data)."""

    def terms(self, cursor: Cursor, text: str) -> list[str]:
        """The distinct index terms of `text`, sorted: the index's tokeniser's."""
        found = self._terms.get(text)
        if found is None:
            row = cursor.execute(f"SELECT list_distinct({tokens_sql('?')})", [text]).fetchone()
            found = sorted(row[0]) if row and row[0] else []
            if len(self._terms) >= MAX_CACHED_TERMS:
                self._terms = {}
            self._terms[text] = found
        return found

    def _current(self) -> int:
        generation = self._generation()
        with self._lock:
            if generation != self._seen:
                self._seen, self._corpus, self._df = generation, {}, {}
        return generation

    def corpus(self, cursor: Cursor, corpus: Corpus) -> tuple[int, float]:
        """(live rows, their average number of terms)."""
        generation = self._current()
        found = self._corpus.get(corpus.table)
        if found is None:
            row = cursor.execute(
                f"SELECT count(*), coalesce(avg(search_len), 1) FROM {corpus.table} "
                "WHERE deleted_at IS NULL"
            ).fetchone()
            found = (int(row[0]), float(row[1])) if row else (0, 1.0)
            self._keep(generation, lambda: self._corpus.__setitem__(corpus.table, found))
        return found

    def document_frequencies(
        self, cursor: Cursor, corpus: Corpus, terms: Sequence[str]
    ) -> dict[str, int]:
        """How many live rows hold each of `terms`."""
        generation = self._current()
        found = {term: self._df.get((corpus.table, term)) for term in terms}
        missing = [term for term, df in found.items() if df is None]
        if missing:
            live = (
                ""
                if corpus is MESSAGES  # the index holds live messages only
                else f"AND {corpus.key} IN (SELECT id FROM {corpus.table} WHERE deleted_at IS NULL)"
            )
            counted = dict(
                cursor.execute(
                    f"SELECT term, count(*) FROM {corpus.postings} "
                    f"WHERE term IN (SELECT unnest(?::VARCHAR[])) {live} GROUP BY term",
                    [missing],
                ).fetchall()
            )
            fresh = {term: int(counted.get(term, 0)) for term in missing}
            found.update(fresh)

            def keep() -> None:
                if len(self._df) + len(fresh) > MAX_CACHED_TERMS:
                    self._df = {}
                self._df.update({(corpus.table, term): df for term, df in fresh.items()})

            self._keep(generation, keep)
        return {term: int(df or 0) for term, df in found.items()}

    def _keep(self, generation: int, store: Callable[[], None]) -> None:
        """Keep what was computed at `generation`, unless the file changed meanwhile."""
        with self._lock:
            if generation == self._seen:
                store()


# --- the SQL ---------------------------------------------------------------------------

_QUERY_TERMS = "query_terms AS (SELECT unnest(?::VARCHAR[]) AS term, unnest(?::DOUBLE[]) AS idf)"


def _postings_hits(corpus: Corpus, *, in_session: bool) -> str:
    """Hits (term, doc, tf, doc_len) from the postings. Parameters: the session's key
    (`in_session`)."""
    live = (
        []
        if corpus is MESSAGES
        else [f"p.{corpus.key} IN (SELECT id FROM {corpus.table} WHERE deleted_at IS NULL)"]
    )
    if in_session:
        live.append(f"p.{corpus.key} IN (SELECT id FROM {corpus.table} WHERE session_key = ?)")
    where = f"WHERE {' AND '.join(live)}" if live else ""
    return f"""
        SELECT p.term, p.{corpus.key} AS doc, p.tf, p.doc_len
        FROM {corpus.postings} p SEMI JOIN query_terms q ON p.term = q.term {where}
    """


def _session_hits(corpus: Corpus) -> str:
    """Hits of one session's rows: short texts tokenised here, long ones from the
    postings. Parameters: the session's key, twice.

    The texts' terms are read as the index reads them, but for the stopword and length
    rules: the query's terms, which they are joined with, follow those already.
    """
    long_text = f"length(content) > {WHOLE_CHARACTERS}"
    return f"""
        SELECT term, doc, count(*)::INTEGER AS tf, any_value(doc_len) AS doc_len
        FROM (
            SELECT id AS doc, search_len AS doc_len,
                   unnest(regexp_extract_all(lower(content), {TERM})) AS term
            FROM {corpus.table}
            WHERE session_key = ? AND deleted_at IS NULL AND NOT {long_text}
        ) SEMI JOIN query_terms USING (term)
        GROUP BY term, doc
        UNION ALL
        SELECT p.term, p.{corpus.key}, p.tf, p.doc_len
        FROM {corpus.postings} p SEMI JOIN query_terms q ON p.term = q.term
        WHERE p.{corpus.key} IN (
            SELECT id FROM {corpus.table}
            WHERE session_key = ? AND deleted_at IS NULL AND {long_text}
        )
    """


def bm25_sql(corpus: Corpus, hits_sql: str, filters_sql: str) -> str:
    """The ranking query over `hits_sql`. Parameters: the query's terms and their idf
    (two lists), those of `hits_sql`, the average row length, those of `filters_sql`,
    the lowest raw score, and the limit. `filters_sql` filters the row
    (`corpus.alias`) and its session (`s`)."""
    d = corpus.alias
    return f"""
        WITH {_QUERY_TERMS},
        hits AS ({hits_sql}),
        scored AS (
            SELECT h.doc,
                   sum(
                       q.idf * h.tf * ({BM25_K1} + 1)
                       / (h.tf + {BM25_K1} * (1 - {BM25_B} + {BM25_B} * h.doc_len / ?))
                   ) AS score
            FROM hits h JOIN query_terms q USING (term)
            GROUP BY h.doc
        )
        SELECT {d}.id, s.session_id, sc.score
        FROM scored sc
        JOIN {corpus.table} {d} ON {d}.id = sc.doc
        JOIN sessions s ON s.id = {d}.session_key
        WHERE {d}.deleted_at IS NULL AND s.deleted_at IS NULL AND {filters_sql}
          AND sc.score >= ?
        ORDER BY sc.score DESC, {d}.id DESC
        LIMIT ?
    """


def newest_sql(corpus: Corpus, filters_sql: str) -> str:
    """Metadata-only search: the live rows matching `filters_sql`, newest first.
    Parameters: those of `filters_sql`, then the limit."""
    d = corpus.alias
    return f"""
        SELECT {d}.id, s.session_id, 0.0 AS score
        FROM {corpus.table} {d} JOIN sessions s ON s.id = {d}.session_key
        WHERE {d}.deleted_at IS NULL AND s.deleted_at IS NULL AND {filters_sql}
        ORDER BY {d}.created_at DESC, {d}.id DESC
        LIMIT ?
    """


# --- the query -------------------------------------------------------------------------


def _filters(query: SearchQuery, corpus: Corpus) -> Where:
    """What the rows found must satisfy besides their session."""
    filters = Where()
    filters.common(query, table=corpus.alias)
    filters.matches(f"{corpus.alias}.metadata", query.where)
    if query.role_types:
        if corpus is SUMMARIES:
            raise InvalidInputError("role types filter messages, not summaries")
        filters.add(
            "coalesce(m.role_type, 'norole') IN (SELECT unnest(?::VARCHAR[]))",
            [role_type.value for role_type in query.role_types],
        )
    return filters


def _has_filters(query: SearchQuery) -> bool:
    return bool(
        query.where is not None
        or query.metadata
        or query.created_after is not None
        or query.created_before is not None
    )


def _session(cursor: Cursor, session_id: str, corpus: Corpus) -> tuple[int, int]:
    """(key, live rows of `corpus`) of a live session; NotFoundError otherwise."""
    count = (
        "s.message_count"
        if corpus is MESSAGES
        else "(SELECT count(*) FROM summaries WHERE session_key = s.id AND deleted_at IS NULL)"
    )
    key, rows = live_session_row(cursor, f"s.id, {count}", session_id)
    return int(key), int(rows)


def search(
    cursor: Cursor,
    query: SearchQuery,
    statistics: IndexStatistics,
    *,
    small_session: int = SMALL_SESSION,
) -> list[SearchResult]:
    """The live messages (or summaries) that best match `query.text`, best first, within
    its filters; with empty text, those matching its filters, newest first."""
    corpus = SUMMARIES if query.scope is SearchScope.summary else MESSAGES
    text = query.text.strip()
    if not text and not _has_filters(query):
        raise InvalidInputError("give the words to search for, or a metadata filter")
    session = None if query.session_id is None else _session(cursor, query.session_id, corpus)
    filters = _filters(query, corpus)
    if text:
        wanted = query.limit if query.mmr_lambda is None else mmr.candidates(query.limit)
        hits = _ranked(
            cursor, corpus, text, session, filters, query, wanted, statistics, small_session
        )
    else:
        filters.equals(f"{corpus.alias}.session_key", None if session is None else session[0])
        sql = newest_sql(corpus, filters.sql)
        hits = cursor.execute(sql, [*filters.params, query.limit]).fetchall()
    if not hits:
        return []
    if text and query.mmr_lambda is not None:
        ids = [int(hit[0]) for hit in hits]
        scores = [float(hit[2]) for hit in hits]
        order = mmr.rerank(scores, _terms(cursor, corpus, ids), query.mmr_lambda, query.limit)
        hits = [hits[position] for position in order]
    read = _READERS[corpus.table]
    found = read(cursor, [int(hit[0]) for hit in hits])
    return [
        read.result(found[int(row_id)], normalised(float(score)), session_id)
        for row_id, session_id, score in hits
    ]


def _ranked(
    cursor: Cursor,
    corpus: Corpus,
    text: str,
    session: tuple[int, int] | None,
    filters: Where,
    query: SearchQuery,
    wanted: int,
    statistics: IndexStatistics,
    small_session: int,
) -> list[Any]:
    """(id, session_id, raw score) of the `wanted` best rows for `text`."""
    terms = statistics.terms(cursor, text)
    if not terms:
        return []
    rows, average_length = statistics.corpus(cursor, corpus)
    df = statistics.document_frequencies(cursor, corpus, terms)
    idf = [math.log(1 + (rows - df[term] + 0.5) / (df[term] + 0.5)) for term in terms]
    if session is not None and session[1] <= small_session:
        hits_sql, hits_params = _session_hits(corpus), [session[0], session[0]]
    else:
        in_session = session is not None
        hits_sql = _postings_hits(corpus, in_session=in_session)
        hits_params = [session[0]] if session is not None else []
    lowest = query.min_score / (1 - query.min_score) if query.min_score < 1 else math.inf
    return cursor.execute(
        bm25_sql(corpus, hits_sql, filters.sql),
        [
            terms,
            idf,
            *hits_params,
            max(average_length, 1.0),
            *filters.params,
            lowest,
            wanted,
        ],
    ).fetchall()


def _terms(cursor: Cursor, corpus: Corpus, ids: Sequence[int]) -> list[Counter[str]]:
    """Each row's term frequencies (of its first MMR_TERM_CHARACTERS characters)."""
    rows = cursor.execute(
        f"SELECT id, {tokens_sql(f'left(content, {MMR_TERM_CHARACTERS})')} "
        f"FROM {corpus.table} WHERE id IN (SELECT unnest(?::BIGINT[]))",
        [list(ids)],
    ).fetchall()
    terms = {int(row_id): Counter(words) for row_id, words in rows}
    return [terms.get(row_id, Counter()) for row_id in ids]


class _Reader:
    """Reads the rows found, by id, and makes them search results."""

    def __init__(
        self,
        sql: str,
        result: Callable[[Any, float, str], SearchResult],
        convert: Callable[[Sequence[Any]], Any],
    ) -> None:
        self.sql = sql
        self.result = result
        self.convert = convert

    def __call__(self, cursor: Cursor, ids: list[int]) -> dict[int, Any]:
        rows = cursor.execute(self.sql, [ids]).fetchall()
        return {int(row[0]): self.convert(row[1:]) for row in rows}


_READERS = {
    "messages": _Reader(
        f"SELECT m.id, {MESSAGE_COLUMNS} FROM messages m "
        "WHERE m.id IN (SELECT unnest(?::BIGINT[]))",
        lambda message, score, session_id: SearchResult(
            message=message, score=score, session_id=session_id
        ),
        message_from_row,
    ),
    "summaries": _Reader(
        f"SELECT x.id, {SUMMARY_COLUMNS} FROM summaries x "
        "WHERE x.id IN (SELECT unnest(?::BIGINT[]))",
        lambda summary, score, session_id: SearchResult(
            summary=summary, score=score, session_id=session_id
        ),
        lambda row: summary_info_from_row(row).summary,
    ),
}
