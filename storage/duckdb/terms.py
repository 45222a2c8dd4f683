"""The full-text index's terms and how they are written: the tokeniser (one SQL
expression for indexing and for queries, and its equal in Python for ASCII text) and
the statements that index a table's rows.

Two tables are indexed the same way: messages (`search_postings`) and summaries
(`summary_postings`). Pure SQL text, no database: the schema's migrations use it too
(storage.duckdb.peek reads the schema module without the duckdb package).
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from string import ascii_lowercase

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
TERM = "'[\\p{L}\\p{N}]+'"
"""A term: a run of letters and digits, in any script."""


def tokens_sql(text_sql: str) -> str:
    """A SQL expression turning `text_sql` into its list of index terms.

    Lower-cased runs of letters and digits (any script), without stopwords and
    over-long runs (base64 blobs and the like). Indexing applies the same rules.
    """
    return (
        f"list_filter(regexp_extract_all(lower({text_sql}), {TERM}), "
        f"lambda t: length(t) <= {MAX_TERM_LENGTH} AND NOT list_contains({_STOPWORD_LIST}, t))"
    )


def ascii_terms(text: str) -> list[str]:
    """The index terms of an ASCII `text`, in order, repeats kept: on ASCII, `tokens_sql`
    reads runs of `[a-z0-9]` of the lower-cased text, without stopwords and runs over
    MAX_TERM_LENGTH (so Python reads them without a query)."""
    return [
        word
        for word in ASCII_TERM.findall(text.lower())
        if word not in _STOPWORD_SET and len(word) <= MAX_TERM_LENGTH
    ]


ASCII_TERM = re.compile("[a-z0-9]+")
"""`TERM` on lower-cased ASCII text."""
_STOPWORD_SET = frozenset(STOPWORDS)


def term_counts(texts: Sequence[str]) -> list[Counter[str] | None]:
    """Each text's term frequencies, read in Python where the text is ASCII; None for
    the others (their terms are DuckDB's to read: Python does not lower-case or class
    every letter as DuckDB does)."""
    return [Counter(ascii_terms(text)) if text.isascii() else None for text in texts]


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


@dataclass(frozen=True)
class Corpus:
    """An indexed table: its rows' `content` is tokenised into `postings`
    (term, `key`, tf, doc_len), and each row's number of terms kept in `search_len`."""

    table: str
    postings: str
    key: str
    alias: str
    """How queries name the table (`m` messages, `x` summaries, as rows.py reads them)."""


MESSAGES = Corpus("messages", "search_postings", "message_id", "m")
"""Postings of live messages only: a message leaves the index when it is deleted."""
SUMMARIES = Corpus("summaries", "summary_postings", "summary_id", "x")
"""Postings of every stored summary, deleted ones too (queries keep the live ones), so
that deleting and restoring summaries, wherever it happens, needs no index work."""


def index_sql(corpus: Corpus, where_sql: str, *, in_order: bool = False) -> list[str]:
    """Statements that index the rows of `corpus` matching `where_sql` (run in order).

    The first takes the parameters of `where_sql`; the others take none. Each
    row is tokenised once, into a temp table that feeds both its postings
    and its document length (`search_len`). With `in_order`, the postings are
    written sorted as `search.compact` leaves them (into an empty index: no re-sort
    after).
    """
    return [*tokenise_sql(corpus.table, where_sql), *postings_sql(corpus, in_order=in_order)]


def tokenise_sql(rows_sql: str, where_sql: str = "TRUE") -> list[str]:
    """The first statements of `index_sql`: the terms of the rows (`id`, `content`) of
    `rows_sql` (a table, or a query in parentheses) matching `where_sql`, into the temp
    tables `new_terms` and `new_lengths`. The rows need not be stored yet."""
    return [
        f"""
        CREATE OR REPLACE TEMP TABLE new_terms AS
        SELECT id, term FROM (
            SELECT id, unnest(regexp_extract_all(piece, {TERM})) AS term FROM (
                SELECT id, unnest({_pieces_sql("text")}) AS piece
                FROM (SELECT id, lower(content) AS text FROM {rows_sql} WHERE {where_sql})
            )
        )
        WHERE length(term) <= {MAX_TERM_LENGTH} AND term NOT IN ({_STOPWORD_SQL})
        """,
        """
        CREATE OR REPLACE TEMP TABLE new_lengths AS
        SELECT id, count(*)::INTEGER AS n FROM new_terms GROUP BY id
        """,
    ]


def insert_postings_sql(corpus: Corpus, *, in_order: bool = False) -> str:
    """The tokenised rows' postings written (their rows need not be stored yet)."""
    return f"""
        INSERT INTO {corpus.postings}
        SELECT t.term, t.id, t.tf, l.n
        FROM (SELECT term, id, count(*)::INTEGER AS tf FROM new_terms GROUP BY term, id) t
        JOIN new_lengths l USING (id)
        """ + (" ORDER BY t.term, t.id" if in_order else "")


def postings_sql(corpus: Corpus, *, in_order: bool = False) -> list[str]:
    """The last statements of `index_sql`: the tokenised rows' postings and lengths
    written (the rows stored by now)."""
    return [
        insert_postings_sql(corpus, in_order=in_order),
        f"UPDATE {corpus.table} SET search_len = l.n FROM new_lengths l "
        f"WHERE {corpus.table}.id = l.id",
        "DROP TABLE new_terms",
        "DROP TABLE new_lengths",
    ]
