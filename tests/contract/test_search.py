"""Contract: ranked full-text search (quality of the ranking, then filters)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from storage.capabilities import Maintenance, Summarizing, require
from storage.errors import InvalidInputError
from storage.metadata_filter import parse_jsonpath
from storage.models import (
    CreateUserRequest,
    Message,
    RoleType,
    SearchQuery,
    SearchScope,
    SessionImport,
)
from storage.store import MemoryStore


def say(content: str, role_type: RoleType = RoleType.user, **metadata: str) -> Message:
    return Message(
        role="Jane" if role_type is RoleType.user else "Bot",
        role_type=role_type,
        content=content,
        metadata=metadata or None,
    )


def found(store: MemoryStore, text: str, **options: object) -> list[str]:
    results = store.search(SearchQuery(text=text, **options))  # type: ignore[arg-type]
    scores = [r.score for r in results]
    assert scores == sorted(scores, reverse=True), "results must come best first"
    assert all(score > 0 for score in scores)
    return [r.message.content for r in results if r.message is not None]


def test_finds_a_unique_word_and_respects_limit(store: MemoryStore) -> None:
    store.add_memory("s1", [say(f"filler line number {n}") for n in range(20)])
    store.add_memory("s2", [say("The zygomorphic flower is lovely.")])
    assert found(store, "zygomorphic") == ["The zygomorphic flower is lovely."]
    assert len(found(store, "filler", limit=5)) == 5
    assert found(store, "nonexistentword") == []


def test_rare_terms_outrank_common_ones(store: MemoryStore) -> None:
    common = [say(f"the weather report for day {n} says rain") for n in range(30)]
    store.add_memory("s1", [*common, say("rain over the aquarium"), say("aquarium tickets")])
    results = found(store, "rain aquarium")
    # Both terms beat either alone, and the rare term alone beats the common one alone.
    assert results[0] == "rain over the aquarium"
    assert results[1] == "aquarium tickets"
    assert set(results[2:]) <= {m.content for m in common}


def test_term_frequency_and_length_normalisation(store: MemoryStore) -> None:
    long_filler = " ".join(f"word{n}" for n in range(60))
    store.add_memory(
        "s1",
        [
            say(f"kayak {long_filler}"),
            say("kayak kayak kayak rental"),
            say("one kayak here"),
            say("unrelated text about bicycles"),
        ],
    )
    results = found(store, "kayak")
    assert results[0] == "kayak kayak kayak rental"
    assert results[1] == "one kayak here"  # short beats long at equal frequency
    assert results[2].startswith("kayak word0")
    assert len(results) == 3


def test_case_punctuation_and_unicode(store: MemoryStore) -> None:
    store.add_memory(
        "s1",
        [say("Octavia BUTLER's Kindred (1979)!"), say("Un café à Lisboa, s'il vous plaît")],
    )
    assert found(store, "butler kindred") == ["Octavia BUTLER's Kindred (1979)!"]
    assert found(store, "1979") == ["Octavia BUTLER's Kindred (1979)!"]
    assert found(store, "CAFÉ lisboa") == ["Un café à Lisboa, s'il vous plaît"]


def test_stopword_only_query_finds_nothing_and_blank_is_an_error(store: MemoryStore) -> None:
    store.add_memory("s1", [say("the and of")])
    assert found(store, "the of") == []
    with pytest.raises(InvalidInputError):
        store.search(SearchQuery(text="   "))


def test_deleted_messages_and_sessions_are_not_found(store: MemoryStore) -> None:
    kept = store.add_memory("s1", [say("pelican one"), say("pelican two")])
    store.add_memory("s2", [say("pelican three")])
    assert kept[0].uuid is not None
    store.delete_message("s1", kept[0].uuid)
    store.delete_session("s2")
    assert found(store, "pelican") == ["pelican two"]


def test_filters(store: MemoryStore) -> None:
    store.add_user(CreateUserRequest(user_id="jane"))
    store.import_sessions(
        [
            SessionImport(
                session_id="s1",
                user_id="jane",
                messages=[
                    Message(
                        role="Jane",
                        role_type=RoleType.user,
                        content="refund request alpha",
                        created_at=datetime(2024, 1, 10, tzinfo=UTC),
                        metadata={"channel": "web", "ticket": {"priority": "high"}},
                    ),
                    Message(
                        role="Bot",
                        role_type=RoleType.assistant,
                        content="refund approved alpha",
                        created_at=datetime(2024, 2, 10, tzinfo=UTC),
                    ),
                ],
            ),
            SessionImport(
                session_id="s2",
                messages=[
                    Message(
                        role="human",
                        content="refund request beta",
                        created_at=datetime(2024, 3, 10, tzinfo=UTC),
                        metadata={"channel": "sms"},
                    )
                ],
            ),
        ]
    )
    assert set(found(store, "refund")) == {
        "refund request alpha",
        "refund approved alpha",
        "refund request beta",
    }
    assert set(found(store, "refund", session_id="s1")) == {
        "refund request alpha",
        "refund approved alpha",
    }
    assert set(found(store, "refund", user_id="jane")) == {
        "refund request alpha",
        "refund approved alpha",
    }
    assert found(store, "refund", role_types=[RoleType.assistant]) == ["refund approved alpha"]
    assert found(store, "refund", role_types=[RoleType.norole]) == ["refund request beta"]
    assert found(store, "refund", metadata={"channel": "sms"}) == ["refund request beta"]
    assert found(store, "refund", metadata={"ticket.priority": "high"}) == ["refund request alpha"]
    assert found(
        store,
        "refund",
        created_after=datetime(2024, 2, 1, tzinfo=UTC),
        created_before=datetime(2024, 3, 1, tzinfo=UTC),
    ) == ["refund approved alpha"]
    results = store.search(SearchQuery(text="beta"))
    assert [r.session_id for r in results] == ["s2"]


def test_index_follows_metadata_updates_and_reimports(store: MemoryStore) -> None:
    stored = store.add_memory("s1", [say("narwhal sighting")])
    assert stored[0].uuid is not None
    store.update_message_metadata("s1", stored[0].uuid, {"seen": "yes"})
    assert found(store, "narwhal", metadata={"seen": "yes"}) == ["narwhal sighting"]
    store.import_sessions([SessionImport(session_id="s1", messages=[stored[0]])])
    assert found(store, "narwhal") == ["narwhal sighting"]  # no duplicate postings


# --- what Zep's v2 search request adds ---------------------------------------------------


def _summarised(store: MemoryStore) -> list[str]:
    """A session `talk` whose first summary is about kayaks, the second about tea."""
    lines = [say(f"kayak trip number {n} on the river") for n in range(6)]
    lines += [say(f"green tea tasting number {n}") for n in range(6)]
    store.add_memory("talk", [*lines, *[say(f"later line {n}") for n in range(12)]])
    summaries = [info.summary.uuid for info in store.list_summaries("talk")]
    assert len(summaries) >= 2
    return summaries


def _summaries_found(store: MemoryStore, text: str, **options: object) -> list[str]:
    query = SearchQuery(text=text, scope=SearchScope.summary, **options)  # type: ignore[arg-type]
    results = store.search(query)
    assert all(r.message is None and r.summary is not None for r in results)
    return [r.summary.uuid for r in results if r.summary is not None]


def test_summaries_are_searched_and_the_index_follows_them(store: MemoryStore) -> None:
    first, second, *_ = _summarised(store)
    assert _summaries_found(store, "kayak", session_id="talk") == [first]
    assert _summaries_found(store, "tea") == [second]
    told = store.list_messages("talk", limit=100).messages
    store.delete_session("talk")
    assert _summaries_found(store, "kayak") == []
    # The same messages added again restore the session's summaries, and their index.
    store.add_memory("talk", told)
    assert _summaries_found(store, "kayak") == [first]


def test_summaries_summarised_again_and_purged_leave_the_index(store: MemoryStore) -> None:
    first, *_ = _summarised(store)
    summarizing = require(store, Summarizing, "summarise")
    maintenance = require(store, Maintenance, "purge")
    made = summarizing.summarize("talk", again=True)
    assert made and first not in _summaries_found(store, "kayak")
    assert _summaries_found(store, "kayak") == [made[0].summary.uuid]
    maintenance.purge()
    assert _summaries_found(store, "kayak") == [made[0].summary.uuid]


def test_empty_text_is_a_metadata_only_search_newest_first(store: MemoryStore) -> None:
    store.add_memory("s1", [say(f"line {n}", topic="a" if n % 2 else "b") for n in range(6)])
    query = SearchQuery(where=parse_jsonpath('$.topic ? (@ == "a")'), session_id="s1")
    results = store.search(query)
    assert [r.message.content for r in results if r.message] == ["line 5", "line 3", "line 1"]
    assert all(r.score == 0 for r in results)
    with pytest.raises(InvalidInputError, match="metadata filter"):
        store.search(SearchQuery(text=" ", session_id="s1"))


def test_min_score_keeps_the_results_that_score_at_least_it(store: MemoryStore) -> None:
    store.add_memory("s1", [say("otter"), say("otter otter and a fish"), say("fish only")])
    every = store.search(SearchQuery(text="otter fish"))
    assert all(0 < r.score < 1 for r in every)
    middle = sorted(r.score for r in every)[1]
    kept = store.search(SearchQuery(text="otter fish", min_score=middle))
    assert [r.score for r in kept] == [r.score for r in every if r.score >= middle]


def test_mmr_trades_relevance_for_diversity(store: MemoryStore) -> None:
    near_copies = [say(f"solar panel prices rise again {n}") for n in range(4)]
    store.add_memory("s1", [*near_copies, say("solar eclipse tonight")])
    similar = found(store, "solar panel", limit=2)
    assert all("panel" in text for text in similar)
    diverse = store.search(SearchQuery(text="solar panel", limit=2, mmr_lambda=0.3))
    contents = [r.message.content for r in diverse if r.message]
    assert contents[0] == similar[0] and contents[1] == "solar eclipse tonight"
    assert [
        r.message.content
        for r in store.search(SearchQuery(text="solar panel", limit=2, mmr_lambda=1.0))
        if r.message
    ] == similar
