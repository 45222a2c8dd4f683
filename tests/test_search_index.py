"""The full-text index tokenises long messages in pieces, in linear time, and the
pieces give exactly the terms of the whole text (what a query's tokenizer sees)."""

from __future__ import annotations

from pathlib import Path

import duckdb
from hypothesis import given, settings
from hypothesis import strategies as st

from storage.duckdb import DuckDBStore
from storage.duckdb import terms as search
from storage.duckdb.terms import ascii_terms
from storage.models import Message
from tests.examples import examples

PIECES = (
    "SELECT list(term ORDER BY term) FROM (SELECT unnest(regexp_extract_all(piece, "
    f"{search.TERM})) AS term "
    f"FROM (SELECT unnest({search._pieces_sql('lower($text)')}) AS piece)) "
    f"WHERE length(term) <= {search.MAX_TERM_LENGTH} "
    f"AND NOT list_contains({search._STOPWORD_LIST}, term)"
)
WHOLE = f"SELECT list_sort({search.tokens_sql('$text')})"

alphabet = st.sampled_from(
    [*"abcXYZ019 .,-\n\t", "é", "İ", "ß", "中文", "😀", "\u0301", "\u00a0", "٣", "ⅷ"]
)
# Long enough to be tokenised in pieces: a generated passage repeated past the threshold,
# then a generated tail (so pieces end at every kind of character).
texts = st.builds(
    lambda passage, tail: passage * (search.WHOLE_CHARACTERS // max(len(passage), 1) + 1) + tail,
    st.lists(alphabet, min_size=1, max_size=300).map("".join),
    st.lists(alphabet, max_size=300).map("".join),
)


def terms(sql: str, text: str) -> list[str]:
    row = duckdb.execute(sql, {"text": text}).fetchone()
    assert row is not None
    return row[0] or []


@settings(max_examples=examples(30), deadline=None)
@given(texts)
def test_pieces_give_exactly_the_terms_of_the_whole_text(text: str) -> None:
    assert terms(PIECES, text) == terms(WHOLE, text)


def test_long_runs_without_separators_stay_whole() -> None:
    for text in ["a" * 25000, "x1" * 13000 + " tail", "中" * 24000, ("word " * 5000) + "z" * 70]:
        assert terms(PIECES, text) == terms(WHOLE, text)


@settings(max_examples=examples(50), deadline=None)
@given(st.text(alphabet=st.characters(max_codepoint=127), max_size=200))
def test_ascii_queries_are_read_in_python_as_the_index_reads_them(text: str) -> None:
    """ASCII texts are read without a query (`terms.ascii_terms`): a query's terms, and
    the terms MMR compares."""
    assert sorted(ascii_terms(text)) == terms(WHOLE, text)


APPENDED = [
    "Kayak on the river, KAYAK again: 42 times!",
    "the and of",  # stopwords only: no postings, length 0
    "x" * 70 + " short",  # a run over MAX_TERM_LENGTH is no term
    "Tea in İstanbul: çay, straße",  # not ASCII: DuckDB reads it
    "",
    "snake_case and camelCase, e-mail 3.14",
    "river " * 5_000 + "kayak",  # long: DuckDB reads it in pieces
]


def _index_as_stored(con: duckdb.DuckDBPyConnection) -> tuple[list[object], ...]:
    return tuple(
        con.execute(query).fetchall()
        for query in (
            "SELECT * FROM search_postings ORDER BY ALL",
            "SELECT * FROM summary_postings ORDER BY ALL",
            "SELECT id, search_len FROM messages ORDER BY id",
            "SELECT id, search_len FROM summaries ORDER BY id",
        )
    )


def test_appends_index_as_duckdbs_tokeniser_does(tmp_path: Path) -> None:
    """An append's few rows (messages, and the summaries made of them) are tokenised in
    Python where ASCII (`search.read_terms`): the index holds exactly what DuckDB's
    indexing statements write for the same rows."""
    path = tmp_path / "z.duckdb"
    with DuckDBStore(path, message_window=4, background_summaries=False) as store:
        for text in APPENDED:
            store.add_memory("s", [Message(role="u", role_type="user", content=text)])
        assert store.list_summaries("s")  # summaries were written (and indexed) too
    with duckdb.connect(str(path)) as con:
        appended = _index_as_stored(con)
        con.execute("DELETE FROM search_postings")
        con.execute("DELETE FROM summary_postings")
        con.execute("UPDATE messages SET search_len = 0")
        con.execute("UPDATE summaries SET search_len = 0")
        for corpus in (search.MESSAGES, search.SUMMARIES):
            for statement in search.index_sql(corpus, "TRUE"):
                con.execute(statement)
        assert appended == _index_as_stored(con)
