"""A session's search ranks the same whichever way the store takes: a small session's
rows read and scored in Python (found by the session's id, or by its key when the
store's memory cache knows it, or kept by that cache: storage/duckdb/search_rows.py,
with every term's document frequency read ahead), or the postings ranked in SQL (a
large session, and a search across sessions). Scores agree to rounding, the order
exactly."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from storage.duckdb import DuckDBStore, ranking
from storage.duckdb.memory_cache import MemoryCache
from storage.metadata_filter import parse_jsonpath
from storage.models import Message, SearchQuery, SearchResult, SearchScope
from tests.examples import examples

WORDS = ["kayak", "river", "Kayak", "tea", "İstanbul", "café", "straße", "rain", "42", "ok"]


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> DuckDBStore:
    path = tmp_path_factory.mktemp("paths") / "store.duckdb"
    opened = DuckDBStore(path, message_window=4, background_summaries=False)
    texts = [
        "kayak on the river, kayak again",
        "Tea in İstanbul: çay, not tea",
        "KAYAK!!! rain rain rain",
        "café straße 42 kayak",
        "nothing to see here",
        "river " * 5_000 + "kayak",  # long: tokenised in pieces by the index
        "rain on the river",
        "ok",
    ]
    opened.add_memory(
        "s",
        [
            Message(role="u", role_type="user", content=t, metadata={"n": n})
            for n, t in enumerate(texts)
        ],
    )
    opened.add_memory("other", [Message(role="u", role_type="user", content="kayak river tea")])
    gone = Message(role="u", role_type="user", content="kayak tea rain, deleted")
    opened.delete_message("s", opened.add_memory("s", [gone])[0].uuid)  # found by none
    return opened


_WARMED: dict[int, ranking.IndexStatistics] = {}


def _ways(store: DuckDBStore, query: SearchQuery) -> list[list[SearchResult]]:
    """The results scored here, scored here with the session's key known, in SQL (with
    and without the key), and from the rows a memory cache keeps (read, then kept),
    with every term's document frequency read ahead."""
    cursor = store._db.cursor()
    statistics = ranking.IndexStatistics(lambda: store._db.generation)
    known = (
        store._db.cursor()
        .execute(
            "SELECT id, message_count FROM sessions WHERE session_id = ? AND deleted_at IS NULL",
            [query.session_id],
        )
        .fetchone()
    )
    session = None if known is None else (int(known[0]), int(known[1]))
    kept = MemoryCache()
    warmed = _WARMED.get(id(store))
    if warmed is None:  # every term's document frequency read at once, for all examples
        warmed = _WARMED[id(store)] = ranking.IndexStatistics(lambda: store._db.generation)
        warmed.warm(cursor)
    return [
        ranking.search(cursor, query, statistics),
        ranking.search(cursor, query, statistics, session=session),
        ranking.search(cursor, query, statistics, small_session=0),
        ranking.search(cursor, query, statistics, small_session=0, session=session),
        ranking.search(cursor, query, warmed, session=session, kept=kept),  # read, kept
        ranking.search(cursor, query, warmed, session=session, kept=kept),  # kept
    ]


def _same(ways: list[list[SearchResult]]) -> None:
    here = ways[0]
    for other in ways[1:]:
        assert [(r.message or r.summary).uuid for r in here] == [  # type: ignore[union-attr]
            (r.message or r.summary).uuid
            for r in other  # type: ignore[union-attr]
        ]
        assert [r.score for r in here] == pytest.approx([r.score for r in other], rel=1e-9)
        assert [(r.message, r.summary, r.session_id) for r in here] == [
            (r.message, r.summary, r.session_id) for r in other
        ]


@settings(
    max_examples=examples(30),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    words=st.lists(st.sampled_from(WORDS), min_size=1, max_size=3),
    limit=st.integers(1, 5),
    min_score=st.sampled_from([0.0, 0.3, 0.6]),
    filtered=st.booleans(),
    scope=st.sampled_from(list(SearchScope)),
    mmr=st.sampled_from([None, 0.0, 0.5, 1.0]),
)
def test_both_ways_rank_alike(
    store: DuckDBStore,
    words: list[str],
    limit: int,
    min_score: float,
    filtered: bool,
    scope: SearchScope,
    mmr: float | None,
) -> None:
    query = SearchQuery(
        text=" ".join(words),
        session_id="s",
        limit=limit,
        min_score=min_score,
        scope=scope,
        mmr_lambda=mmr,
        where=parse_jsonpath("$ ? (@.n >= 2)")
        if filtered and scope is SearchScope.messages
        else None,
    )
    _same(_ways(store, query))


def test_unknown_sessions_are_not_found_either_way(store: DuckDBStore) -> None:
    from storage.errors import NotFoundError

    for text in ("kayak", "the"):  # a query with terms, and one without
        with pytest.raises(NotFoundError):
            _ways(store, SearchQuery(text=text, session_id="nobody"))


def test_a_user_filter_holds_whichever_way(store: DuckDBStore) -> None:
    """The user filter is on the session's row: known by key or not, a session of
    another user (or of none) gives nothing."""
    query = SearchQuery(text="kayak", session_id="s", user_id="someone else")
    assert _ways(store, query) == [[]] * 6
