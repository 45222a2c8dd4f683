"""Search: the rows that best match a query's words, ranked with Okapi BM25 over the
full-text index (storage/duckdb/search.py), or, without words, the newest rows that
match its filters; optionally re-ranked by maximal marginal relevance (storage/mmr.py).

Where the time goes, and what is done about it (bench/bench_server.py measures it):

* A term's document frequency counts its postings: for a common term that is a scan of
  a hundred thousand rows. The corpus statistics (rows, their average length) scan the
  whole table. Both are kept in `IndexStatistics` between queries, valid until the next
  write (`Database.generation`), so they are exact.
* A session's search scores that session's rows only. A small session's rows are
  read in one plain query and scored in Python (`_scored_here`): a query of many joins
  costs milliseconds to plan, DuckDB compiles the Unicode term pattern anew for each
  query, and the postings of a common term are a scan of a hundred thousand rows. A
  large session, and a search across sessions, are ranked in SQL from the postings
  (`bm25_sql`).
* An ASCII query is tokenised in Python (`ascii_terms`), other texts once each.

* A session whose key and message count the caller knows (the store's memory cache
  keeps them in the session's head) has its small rows read by key, without the join
  that finds the session by its id: 4.96 -> 3.86 ms of CPU per search.
* The memory cache also keeps a small session's rows between searches without
  filters (storage/duckdb/search_rows.py), and a server reads ahead every term's
  document frequency (`IndexStatistics.warm`) and the rows of the sessions that fit:
  a search then costs no query (store CPU per search about 1 ms instead of 4-5).

Measured on bench_store's 1,000,000 messages (CPU per search of one session, in the
store): 19-28 ms before, about 4 ms after.
"""

from __future__ import annotations

import math
import threading
from collections import Counter
from collections.abc import Callable, Sequence
from typing import Any

from storage import mmr
from storage.duckdb import search_rows
from storage.duckdb.connection import Cursor
from storage.duckdb.filters import Where
from storage.duckdb.memory_cache import MemoryCache
from storage.duckdb.reads import live_session_row
from storage.duckdb.rows import (
    MESSAGE_COLUMNS,
    SUMMARY_COLUMNS,
    message_from_row,
    summary_info_from_row,
)
from storage.duckdb.terms import (
    ASCII_TERM,
    MESSAGES,
    SUMMARIES,
    Corpus,
    ascii_terms,
    tokens_sql,
)
from storage.errors import InvalidInputError
from storage.models import SearchQuery, SearchResult, SearchScope

# Okapi BM25 parameters (the usual defaults, as in Lucene and DuckDB's fts).
BM25_K1 = 1.2
BM25_B = 0.75

SMALL_SESSION = 500
"""A session with at most this many messages is scored from its rows' text (messages,
or summaries); a larger one from the postings."""
MMR_TERM_CHARACTERS = 20_000
"""MMR compares candidates by the terms of their first this many characters."""
MAX_CACHED_TERMS = 250_000
"""Document frequencies (and query texts' terms) kept between queries, at most (then
the cache starts again; about 25 MiB). `IndexStatistics.warm` reads every term's if
there are at most half as many (95,816 in bench_store's 1,000,000 messages)."""


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
        self._complete: set[str] = set()
        """Tables whose every term's frequency `_df` holds (`warm`): a term not there is
        in no row."""
        self._terms: dict[str, list[str]] = {}
        """A query's terms (which do not depend on the data)."""

    def terms(self, cursor: Cursor, text: str) -> list[str]:
        """The distinct index terms of `text`, sorted: the index's tokeniser's."""
        if text.isascii():  # the same terms, without a query (see `ascii_terms`)
            return sorted(set(ascii_terms(text)))
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
                self._complete = set()
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
        if missing and corpus.table not in self._complete:
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
                    self._df, self._complete = {}, set()
                self._df.update({(corpus.table, term): df for term, df in fresh.items()})

            self._keep(generation, keep)
        return {term: int(df or 0) for term, df in found.items()}

    def warm(self, cursor: Cursor) -> None:
        """Read the document frequencies of every term of the messages at once (a
        server before it listens): one scan, instead of a query for each new term of
        a search (a few milliseconds each), unless there are too many to keep."""
        generation = self._current()
        counted = cursor.execute(
            f"SELECT term, count(*) FROM {MESSAGES.postings} GROUP BY term"
        ).fetchall()
        if len(counted) > MAX_CACHED_TERMS // 2:
            return

        def keep() -> None:
            others = {key: df for key, df in self._df.items() if key[0] != MESSAGES.table}
            self._df = others | {(MESSAGES.table, term): int(df) for term, df in counted}
            self._complete.add(MESSAGES.table)

        self._keep(generation, keep)

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
        SELECT {d}.id, s.session_id, sc.score, {_FOUND[corpus.table].columns}
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
        SELECT {d}.id, s.session_id, 0.0 AS score, {_FOUND[corpus.table].columns}
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


def _session(cursor: Cursor, session_id: str) -> tuple[int, int]:
    """(key, live messages) of a live session; NotFoundError otherwise."""
    key, messages = live_session_row(cursor, "s.id, s.message_count", session_id)
    return int(key), int(messages)


def search(
    cursor: Cursor,
    query: SearchQuery,
    statistics: IndexStatistics,
    *,
    small_session: int = SMALL_SESSION,
    session: tuple[int, int] | None = None,
    kept: MemoryCache | None = None,
) -> list[SearchResult]:
    """The live messages (or summaries) that best match `query.text`, best first, within
    its filters; with empty text, those matching its filters, newest first.

    `session` is the (key, live messages) of the live session `query.session_id`
    when the caller knows it (the store's memory cache keeps it): a query fewer, and a
    small session's rows read by key, without a join (a third less CPU); `kept` keeps
    those rows between searches without filters (storage/duckdb/search_rows.py)."""
    corpus = SUMMARIES if query.scope is SearchScope.summary else MESSAGES
    text = query.text.strip()
    if not text and not _has_filters(query):
        raise InvalidInputError("give the words to search for, or a metadata filter")
    filters = _filters(query, corpus)
    if query.user_id is not None:
        session = None  # its filter is on the session's row, read with it
    if text:
        wanted = query.limit if query.mmr_lambda is None else mmr.candidates(query.limit)
        hits = _ranked(
            cursor, corpus, text, query, filters, wanted, statistics, small_session, session, kept
        )
    else:
        if query.session_id is not None:
            key, _ = session or _session(cursor, query.session_id)
            filters.equals(f"{corpus.alias}.session_key", key)
        sql = newest_sql(corpus, filters.sql)
        hits = cursor.execute(sql, [*filters.params, query.limit]).fetchall()
    if not hits:
        return []
    if text and query.mmr_lambda is not None:
        scores = [float(hit[2]) for hit in hits]
        order = mmr.rerank(scores, _terms(cursor, corpus, hits), query.mmr_lambda, query.limit)
        hits = [hits[position] for position in order]
    found = _FOUND[corpus.table]
    return [found.result(hit[3:], normalised(float(hit[2])), str(hit[1])) for hit in hits]


def _ranked(
    cursor: Cursor,
    corpus: Corpus,
    text: str,
    query: SearchQuery,
    filters: Where,
    wanted: int,
    statistics: IndexStatistics,
    small_session: int,
    session: tuple[int, int] | None,
    kept: MemoryCache | None,
) -> list[Any]:
    """(id, session_id, raw score, the row's `_FOUND` columns...) of the `wanted` best
    rows for `text`, best first.

    A session's rows are first read whole if it is small (at most `small_session`
    messages; one query that also finds the session), and scored here
    (`_scored_here`); otherwise, and across sessions, the postings are ranked in SQL.
    """
    terms = statistics.terms(cursor, text)
    rows: list[Any] = []
    packed = (  # whether the session's rows are kept (their times as numbers)
        kept is not None
        and kept.keeps_rows
        and session is not None
        and session[1] <= small_session
        and corpus is MESSAGES
        and not filters.conditions
    )
    if query.session_id is not None and terms:
        rows = (
            search_rows.session_rows(cursor, kept, session[0], query.session_id)
            if packed and kept is not None and session is not None
            else _small_session_rows(
                cursor, corpus, query.session_id, filters, small_session, session
            )
        )
    key = None
    if query.session_id is not None and not rows:
        key, messages = session or _session(cursor, query.session_id)  # unknown: NotFoundError
        if messages <= small_session:
            return []  # no row of it passes the filters
    if not terms:
        return []
    documents, average_length = statistics.corpus(cursor, corpus)
    df = statistics.document_frequencies(cursor, corpus, terms)
    idf = [math.log(1 + (documents - df[term] + 0.5) / (df[term] + 0.5)) for term in terms]
    lowest = query.min_score / (1 - query.min_score) if query.min_score < 1 else math.inf
    if rows:
        scorer = _Scorer(dict(zip(terms, idf, strict=True)), average_length)
        best = _scored_here(cursor, corpus, rows, scorer, lowest, wanted)
        return search_rows.with_times(best) if packed else best
    hits_sql = _postings_hits(corpus, in_session=key is not None)
    return cursor.execute(
        bm25_sql(corpus, hits_sql, filters.sql),
        [
            terms,
            idf,
            *([] if key is None else [key]),
            max(average_length, 1.0),
            *filters.params,
            lowest,
            wanted,
        ],
    ).fetchall()


def _small_session_rows(
    cursor: Cursor,
    corpus: Corpus,
    session_id: str,
    filters: Where,
    small_session: int,
    session: tuple[int, int] | None,
) -> list[Any]:
    """(id, session_id, search_len, the `_FOUND` columns...) of the session's live rows
    that pass `filters`, if it is live and holds at most `small_session` messages
    (`session`: its key and live messages, if known)."""
    d = corpus.alias
    columns = f"{d}.id, ?, {d}.search_len, {_FOUND[corpus.table].columns}"
    if session is not None:
        key, messages = session
        if messages > small_session:
            return []
        return cursor.execute(
            f"SELECT {columns} FROM {corpus.table} {d} "
            f"WHERE {d}.session_key = ? AND {d}.deleted_at IS NULL AND {filters.sql}",
            [session_id, key, *filters.params],
        ).fetchall()
    return cursor.execute(
        f"SELECT {d}.id, s.session_id, {d}.search_len, {_FOUND[corpus.table].columns} "
        f"FROM {corpus.table} {d} JOIN sessions s ON s.id = {d}.session_key "
        "WHERE s.session_id = ? AND s.deleted_at IS NULL AND s.message_count <= ? "
        f"AND {d}.deleted_at IS NULL AND {filters.sql}",
        [session_id, small_session, *filters.params],
    ).fetchall()


class _Scorer:
    """BM25 in Python, as `bm25_sql` computes it, for rows read whole."""

    def __init__(self, idf: dict[str, float], average_length: float) -> None:
        self.idf = idf
        self.average_length = max(average_length, 1.0)

    def score(self, frequencies: dict[str, int], length: int) -> float:
        norm = BM25_K1 * (1 - BM25_B + BM25_B * length / self.average_length)
        return sum(
            self.idf[term] * tf * (BM25_K1 + 1) / (tf + norm)
            for term, tf in sorted(frequencies.items())
        )


def _scored_here(
    cursor: Cursor,
    corpus: Corpus,
    rows: list[Any],
    scorer: _Scorer,
    lowest: float,
    wanted: int,
) -> list[Any]:
    """`_ranked` of a small session's `rows` (`_small_session_rows`), scored here.

    A query of many joins costs milliseconds to plan, and DuckDB compiles the Unicode
    term pattern anew for each query (about 2 ms); reading a few hundred rows does not.
    An ASCII text is tokenised here if it holds a query term as a substring (every text
    with the term does): on ASCII, `[a-z0-9]+` reads exactly the index's terms
    (storage/duckdb/terms.py; lower-cased ASCII is ASCII). The terms of other texts are
    read from the postings.
    """
    terms = sorted(scorer.idf)
    content = _FOUND[corpus.table].content + 3
    frequencies: dict[int, dict[str, int]] = {}
    others = []
    for row in rows:
        if not row[content].isascii():
            others.append(row[0])  # (Python does not lower-case every letter as DuckDB)
            continue
        text = row[content].lower()
        if any(term in text for term in terms):
            counts = Counter(ASCII_TERM.findall(text))
            frequencies[row[0]] = {term: counts[term] for term in terms if counts[term]}
    if others:
        for doc, term, tf in cursor.execute(
            f"SELECT {corpus.key}, term, tf FROM {corpus.postings} "
            "WHERE term IN (SELECT unnest(?::VARCHAR[])) "
            f"AND {corpus.key} IN (SELECT unnest(?::BIGINT[]))",
            [terms, others],
        ).fetchall():
            frequencies.setdefault(doc, {})[term] = tf
    scored = [
        (scorer.score(frequencies[row[0]], row[2]), row) for row in rows if frequencies.get(row[0])
    ]
    best = sorted(
        (item for item in scored if item[0] >= lowest), key=lambda item: (-item[0], -item[1][0])
    )
    return [(row[0], row[1], score, *row[3:]) for score, row in best[:wanted]]


def _terms(cursor: Cursor, corpus: Corpus, hits: Sequence[Any]) -> list[Counter[str]]:
    """Each hit's term frequencies (the index's terms of its first MMR_TERM_CHARACTERS
    characters): ASCII texts read here, the others in one query."""
    content = _FOUND[corpus.table].content + 3
    found: dict[int, Counter[str]] = {}
    for hit in hits:
        text = hit[content][:MMR_TERM_CHARACTERS]
        if text.isascii():
            found[hit[0]] = Counter(ascii_terms(text))
    others = [hit[0] for hit in hits if hit[0] not in found]
    if others:
        rows = cursor.execute(
            f"SELECT id, {tokens_sql(f'left(content, {MMR_TERM_CHARACTERS})')} "
            f"FROM {corpus.table} WHERE id IN (SELECT unnest(?::BIGINT[]))",
            [others],
        ).fetchall()
        found.update({int(row_id): Counter(words) for row_id, words in rows})
    return [found.get(hit[0], Counter()) for hit in hits]


class _Found:
    """The columns a search reads of the rows it finds (`content` is the position of
    the text among them), and the result it makes of them."""

    def __init__(
        self,
        columns: str,
        content: int,
        result: Callable[[Sequence[Any], float, str], SearchResult],
    ) -> None:
        self.columns = columns
        self.content = content
        self.result = result


_FOUND = {
    "messages": _Found(
        MESSAGE_COLUMNS,
        5,
        lambda row, score, session_id: SearchResult(
            message=message_from_row(row), score=score, session_id=session_id
        ),
    ),
    "summaries": _Found(
        SUMMARY_COLUMNS,
        2,
        lambda row, score, session_id: SearchResult(
            summary=summary_info_from_row(row).summary, score=score, session_id=session_id
        ),
    ),
}
