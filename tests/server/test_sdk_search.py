"""Search as zep-python 2.0.0rc6 sends it, unchanged, against a real server: both scopes,
both types, metadata filters and empty text, `min_score`, `relevant_summaries`; and
hostile filters, which get a 400 naming the problem and leave the store unchanged."""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from zep_python import ZepClient
from zep_python.exceptions import APIError
from zep_python.memory import Memory, MemorySearchPayload
from zep_python.message import Message

from tests.server.conftest import Served

TOPICS = ["lisbon trams", "porto wine", "lisbon bakeries", "madrid museums"]


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """One server whose session `trip` has 24 messages (so, summaries), with metadata."""
    from tests.server.conftest import server_factory

    with server_factory(tmp_path_factory.mktemp("search")) as start:
        served = start()
        messages = [
            {
                "role": "Ana" if number % 2 == 0 else "Bot",
                "role_type": "user" if number % 2 == 0 else "assistant",
                "content": f"Message {number} about {(topic := TOPICS[number % 4])}, {topic}.",
                "metadata": {
                    "n": number,
                    "topic": topic.split()[0],
                    "tags": ["t", f"t{number % 3}"],
                },
            }
            for number in range(24)
        ]
        with httpx.Client(base_url=served.url) as http:
            http.post(
                "/api/v2/sessions/trip/memory", json={"messages": messages}
            ).raise_for_status()
        yield served


@pytest.fixture(scope="module")
def client(served: Served) -> Iterator[ZepClient]:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        zep = ZepClient(api_url=served.url)
    yield zep
    zep.close()


def _contents(results: list[Any]) -> list[str]:
    return [r.message.content for r in results if r.message]


def test_similarity_and_mmr_over_messages(client: ZepClient) -> None:
    similar = client.memory.search_memory("trip", MemorySearchPayload(text="lisbon trams"), limit=4)
    assert len(similar) == 4 and all("lisbon" in text for text in _contents(similar))
    scores = [r.score or 0.0 for r in similar]
    assert scores == sorted(scores, reverse=True) and all(0 < s < 1 for s in scores)
    diverse = client.memory.search_memory(
        "trip",
        MemorySearchPayload(text="lisbon trams", search_type="mmr", mmr_lambda=0.2),
        limit=4,
    )
    # MMR leaves the near-duplicate tram messages for the bakeries ones.
    assert len(diverse) == 4
    assert _contents(diverse)[0] == _contents(similar)[0]
    assert any("bakeries" in text for text in _contents(diverse))
    assert not any("bakeries" in text for text in _contents(similar))


def test_summary_scope_both_types(client: ZepClient) -> None:
    for search_type in ("similarity", "mmr"):
        found = client.memory.search_memory(
            "trip",
            MemorySearchPayload(text="lisbon", search_scope="summary", search_type=search_type),
        )
        assert found, search_type
        assert all(r.message is None and r.summary and r.summary.uuid for r in found)
        assert all("lisbon" in (r.summary.content or "").lower() for r in found if r.summary)


def test_metadata_filters_with_and_without_text(client: ZepClient) -> None:
    where = {"where": {"jsonpath": '$[*] ? (@.topic == "porto" && @.n >= 10)'}}
    newest_first = client.memory.search_memory("trip", MemorySearchPayload(metadata=where))
    assert _contents(newest_first) == [
        f"Message {n} about porto wine, porto wine." for n in (21, 17, 13)
    ]
    assert all(r.score == 0 for r in newest_first)
    either = {
        "where": {"or": [{"jsonpath": '$.tags[*] ? (@ == "t2")'}, {"jsonpath": "$ ? (@.n < 1)"}]}
    }
    ranked = client.memory.search_memory(
        "trip", MemorySearchPayload(text="madrid", metadata=either), limit=20
    )
    assert sorted(_contents(ranked)) == sorted(
        f"Message {n} about madrid museums, madrid museums." for n in (11, 23)
    )


def test_min_score_and_limit(served: Served) -> None:
    with httpx.Client(base_url=served.url) as http:
        every = http.post("/api/v2/sessions/trip/search?limit=50", json={"text": "lisbon"}).json()
        scores = sorted(result["score"] for result in every)
        middle = scores[len(scores) // 2]
        kept = http.post(
            "/api/v2/sessions/trip/search?limit=50", json={"text": "lisbon", "min_score": middle}
        ).json()
    assert kept and all(result["score"] >= middle for result in kept)
    assert len(kept) == sum(score >= middle for score in scores)


def test_summary_retriever_adds_relevant_summaries(served: Served, client: ZepClient) -> None:
    blocks = ["lisbon trams", "madrid museums", "porto wine", "madrid museums"]
    told = [
        Message(role="Ana", role_type="user", content=f"Message {n} about {blocks[n // 6]}.")
        for n in range(24)
    ]
    client.memory.add_memory("story", Memory(messages=told))  # summaries of 0-5, 6-11, 12-17
    with httpx.Client(base_url=served.url) as http:
        body = http.get("/api/v2/sessions/story/memory?memoryType=summary_retriever").json()
        perpetual = http.get("/api/v2/sessions/story/memory").json()
    assert body["messages"][0]["content"] == "Message 18 about madrid museums."
    relevant = body["relevant_summaries"]
    stored = {s.summary.uuid for s in served.store.list_summaries("story")}
    assert 0 < len(relevant) <= 3 and {s["uuid"] for s in relevant} <= stored
    # The recent messages are about Madrid: so is the most relevant past summary.
    assert "madrid" in relevant[0]["content"]
    assert "relevant_summaries" not in perpetual
    # rc6 ignores the field it does not know.
    assert client.memory.get_memory("story", memory_type="summary_retriever").messages


@pytest.mark.parametrize(
    ("body", "words"),
    [
        ({"metadata": {"where": {"jsonpath": "strict $.a"}}}, "strict mode is not supported"),
        ({"text": "x", "metadata": {"where": {"jsonpath": 7}}}, "must be a string"),
        ({"metadata": {"where": {"and": "nope"}}}, "must be a list"),
        ({"metadata": {"where": {"or": [{"jsonpath": "$.a"}] * 500}}}, "too large"),
        ({"metadata": {"other": 1}}, "metadata.other is not a search filter"),
        ({"metadata": {"where": {"jsonpath": "$" + ".a" * 3000}}}, "longer than 2,000"),
        ({"text": "x", "metadata": "where"}, "metadata"),
        ({"text": "x", "mmr_lambda": "half"}, "mmr_lambda"),
        ({"metadata": {"start_date": "yesterday"}}, "not an ISO 8601"),
        ({"text": "x", "search_scope": "everything"}, "search_scope must be one of"),
        ({"text": "x", "search_type": "mmr", "mmr_lambda": 2}, "mmr_lambda must be between"),
        ({"text": "x", "min_score": -1}, "min_score must be between"),
        ({"text": " "}, "give the words to search for, or a metadata filter"),
        (
            {"text": "x", "metadata": {"where": {"jsonpath": "$ ? " + "(" * 300 + "@ == 1"}}},
            "too deep",
        ),
    ],
)
def test_hostile_searches_get_400_and_change_nothing(
    served: Served, body: dict[str, Any], words: str
) -> None:
    before = served.dump()
    with httpx.Client(base_url=served.url) as http:
        answer = http.post("/api/v2/sessions/trip/search", json=body)
    assert answer.status_code == 400, answer.text
    assert words in answer.json()["message"]
    assert served.dump() == before


def test_deeply_nested_where_is_refused(client: ZepClient, served: Served) -> None:
    deep: dict[str, Any] = {"jsonpath": "$.a"}
    for _ in range(20):
        deep = {"and": [deep]}
    with pytest.raises(APIError) as raised:
        client.memory.search_memory("trip", MemorySearchPayload(text="x", metadata={"where": deep}))
    assert "nested too deep" in str(raised.value)
