"""`zeptui search` as Zep's v2 search request describes it: summaries, metadata filters
(`--where`, with or without words), `--mmr` and `--min-score`."""

from __future__ import annotations

from pathlib import Path

from tests.cli_helpers import fail, run, run_json


def test_summaries_are_searched(samples: Path) -> None:
    results = run_json("search", "tent", "--scope", "summary", "--limit", "3")
    assert results and all(r["message"] is None and r["summary"] for r in results)
    assert all("tent" in r["summary"]["content"].lower() for r in results)
    assert {r["session_id"] for r in results} == {"support-NW-58213"}
    human = run("search", "tent", "--scope", "summary").stdout
    assert "summary" in human and "support-NW-58213" in human


def test_where_filters_with_and_without_words(samples: Path) -> None:
    upbeat = '$ ? (@.sentiment == "positive")'
    newest_first = run_json("search", "--where", upbeat)
    assert len(newest_first) == 2
    assert all(r["message"]["metadata"] == {"sentiment": "positive"} for r in newest_first)
    times = [r["message"]["created_at"] for r in newest_first]
    assert times == sorted(times, reverse=True) and {r["score"] for r in newest_first} == {0}
    either = (
        '{"or": [{"jsonpath": "$.ticket"}, {"jsonpath": "$ ? (@.sentiment == \\"frustrated\\")"}]}'
    )
    assert {r["session_id"] for r in run_json("search", "--where", either)} == {
        "support-NW-58213",
        "ws-priya-k8s-rollout",
    }
    # Repeated: all must hold.
    assert run_json("search", "--where", upbeat, "--where", "$.ticket") == []
    worded = run_json("search", "tent charged", "--where", "$.sentiment")
    assert [r["message"]["metadata"] for r in worded] == [{"sentiment": "frustrated"}]


def test_mmr_and_min_score(samples: Path) -> None:
    ranked = run_json("search", "refund tent", "--limit", "5")
    diverse = run_json("search", "refund tent", "--limit", "5", "--mmr", "0.2")
    assert len(diverse) == 5 and diverse[0] == ranked[0]
    assert run_json("search", "refund tent", "--limit", "5", "--mmr", "1") == ranked
    floor = ranked[2]["score"]
    kept = run_json("search", "refund tent", "--min-score", str(floor))
    assert [r["score"] for r in kept] == [r["score"] for r in ranked[:3]]


def test_what_cannot_be_read_is_one_error_line(samples: Path) -> None:
    assert "strict mode is not supported" in fail("search", "--where", "strict $.a")
    assert "is not valid JSON" in fail("search", "--where", "{nope")
    assert "give the words to search for, or a metadata filter" in fail("search")
    deep = '{"and": [' * 40 + '{"jsonpath": "$"}' + "]}" * 40
    assert "nested too deep" in fail("search", "--where", deep)
    assert "Invalid value for '--mmr'" in run("search", "x", "--mmr", "2", code=2).stderr
