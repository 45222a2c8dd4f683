"""The DuckDB fast path for Zep JSONL stores exactly what the reference reader stores."""

from __future__ import annotations

import gc
import json
import uuid
from pathlib import Path
from typing import Any

import duckdb
import pytest

from storage.capabilities import BulkImportDeclined
from storage.duckdb import DuckDBStore, search, zep_jsonl
from storage.duckdb.connection import one_thread
from storage.models import ImportResult, Message, RoleType, SearchQuery, SessionQuery
from zeptui.importers.zep import ZepImporter

FIXED = "6f1c2a9e-2b7d-4c51-9a57-1c0f8e9b2d11"

LINES: list[dict[str, Any]] = [
    # v2: role_type present, role is the speaker's name
    {
        "session_id": "a",
        "user_id": "jane",
        "role": "Jane",
        "role_type": "user",
        "content": "Who was Octavia Butler?",
        "created_at": "2024-05-01T12:00:00Z",
        "metadata": {"foo": "bar", "nested": {"n": 1}},
    },
    {
        "session_id": "a",
        "role": "HistoryBot",
        "role_type": "assistant",
        "content": "An American science fiction author.",
        "created_at": "2024-05-01T14:00:01+02:00",
    },
    # v3: role is the enum, name is the name
    {"session_id": "b", "role": "user", "name": "Sam", "content": "Bonjour, ça va ? 🚀"},
    {
        "session_id": "b",
        "role": "assistant",
        "name": "Bot",
        "content": "[bold]literal[/]",
        "uuid": FIXED,
    },
    # v0.x: free-form roles
    {
        "session_id": "a",
        "role": "human",
        "content": "Back to Butler: Kindred?",
        "created_at": "2024-05-02 09:30:00",
    },
    {"session_id": "a", "role": "AI", "content": "Kindred (1979) is a time-travel novel."},
    {
        "session_id": "a",
        "role": "narrator",
        "content": "unknown roles keep no role type",
        "created_at": "0001-01-01T00:00:00Z",
    },
    # no session id: the file stem; the same uuid twice: stored once
    {"role": "system", "content": "You are helpful.", "uuid": FIXED.replace("6f", "7a", 1)},
    {"role": "system", "content": "Duplicate line.", "uuid": FIXED.replace("6f", "7a", 1)},
    {
        "session_id": "c",
        "user_id": "bob",
        "role_type": "tool",
        "role": "search",
        "content": "",
        "metadata": {},
    },
]


def write_jsonl(path: Path, lines: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(line, ensure_ascii=False) + "\n" for line in lines))
    return path


def snapshot(store: DuckDBStore) -> dict[str, Any]:
    """Everything a user can see, minus times the store sets itself."""
    sessions = store.session_page(SessionQuery()).sessions
    state: dict[str, Any] = {"users": [u.user_id for u in store.list_users()]}
    for info in sessions:
        session = info.session
        messages = store.list_messages(session.session_id, limit=0).messages
        state[session.session_id] = {
            "user_id": session.user_id,
            "metadata": session.metadata,
            "message_count": info.message_count,
            "total_tokens": info.total_tokens,
            "messages": [
                m.model_dump(mode="json", exclude={"created_at", "updated_at"})
                | {"created_at": m.created_at.isoformat() if m.created_at.year < 2026 else None}
                for m in messages
                if m.created_at is not None
            ],
        }
    return state


def both_paths(tmp_path: Path, path: Path) -> tuple[dict[str, Any], dict[str, Any], Any, Any]:
    with DuckDBStore(tmp_path / "fast.duckdb", summarizer=None) as fast:
        fast_result = fast.import_zep_jsonl(path, default_session_id=path.stem)
        fast_again = fast.import_zep_jsonl(path, default_session_id=path.stem)
        fast_state = snapshot(fast)
    with DuckDBStore(tmp_path / "reference.duckdb", summarizer=None) as reference:
        reference_result = reference.import_sessions(ZepImporter().read(path))
        reference_again = reference.import_sessions(ZepImporter().read(path))
        reference_state = snapshot(reference)
    return (
        fast_state,
        reference_state,
        (fast_result, fast_again),
        (reference_result, reference_again),
    )


def test_fast_path_matches_the_reference_reader(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "history.jsonl", LINES)
    fast_state, reference_state, fast_results, reference_results = both_paths(tmp_path, path)
    assert fast_state == reference_state
    assert fast_results == reference_results
    first, again = fast_results
    assert first == ImportResult(
        users_created=2,
        sessions_created=4,
        sessions_updated=1,
        messages_added=9,
        messages_skipped=1,
    )
    assert (again.messages_added, again.messages_skipped) == (0, 10)
    # Spot checks of the mapping itself.
    a = fast_state["a"]["messages"]
    assert [(m["role"], m["role_type"]) for m in a] == [
        ("Jane", "user"),
        ("HistoryBot", "assistant"),
        ("human", "user"),
        ("AI", "assistant"),
        ("narrator", "norole"),
    ]
    assert a[1]["created_at"] == "2024-05-01T12:00:01+00:00"
    assert a[2]["created_at"] == "2024-05-02T09:30:00+00:00"
    # Go's zero time means unset: the nearest earlier time of the session, in both paths
    assert a[4]["created_at"] == a[3]["created_at"]
    b = fast_state["b"]["messages"]
    assert [(m["role"], m["role_type"]) for m in b] == [("Sam", "user"), ("Bot", "assistant")]
    assert b[1]["uuid"] == FIXED
    uuid.UUID(b[0]["uuid"])
    assert fast_state["history"]["messages"][0]["content"] == "You are helpful."


def test_interleaved_sessions_match(tmp_path: Path) -> None:
    lines = [
        {
            "session_id": f"s{n % 3}",
            "role": "human" if n % 2 else "ai",
            "content": f"line {n}",
            "created_at": f"2024-01-{n + 1:02d}T00:00:00Z",
        }
        for n in range(12)
    ]
    path = write_jsonl(tmp_path / "mixed.jsonl", lines)
    fast_state, reference_state, fast_results, reference_results = both_paths(tmp_path, path)
    assert fast_state == reference_state
    assert fast_results == reference_results


def test_white_space_and_nulls_in_the_json_read_as_the_reference_reads_them(
    tmp_path: Path,
) -> None:
    """Values spaced out, nulls for absent fields, escapes: each value's type is read
    from the form DuckDB gives it, whatever the file's spacing."""
    path = tmp_path / "spaced.jsonl"
    path.write_text(
        '{ "session_id" :  "a" , "content":\t"first \\"quoted\\"" ,"metadata":  { "k" : [ 1 ] } }\n'
        '{"session_id":"a","user_id": null,"role" :"  Jane ","role_type": null,'
        '"uuid":null,"created_at" : null,"name":null,"metadata": null,'
        '"content" : "\\u00e9t\\u00e9"}\n'
        '{"session_id": null, "content": "  ", "metadata": {}}\n'
    )
    fast_state, reference_state, fast_results, reference_results = both_paths(tmp_path, path)
    assert fast_state == reference_state
    assert fast_results == reference_results
    assert fast_results[0].messages_added == 3
    assert [m["content"] for m in fast_state["a"]["messages"]] == ['first "quoted"', "été"]
    assert fast_state["a"]["messages"][0]["metadata"] == {"k": [1]}


@pytest.mark.parametrize(
    "bad",
    [
        {"session_id": "a", "role": "x", "content": 5},
        {"session_id": "a", "role": "x"},
        {"session_id": "a", "role_type": "robot", "content": "x"},
        {"session_id": "a", "content": "x", "uuid": "not-a-uuid"},
        {"session_id": "a", "content": "x", "created_at": "yesterday"},
        {"session_id": "a", "content": "x", "metadata": [1, 2]},
        # each field of the wrong JSON type (read by the value's first character)
        {"session_id": 7, "content": "x"},
        {"session_id": "a", "content": {"text": "x"}},
        {"session_id": "a", "content": None},
        {"session_id": "a", "content": "x", "metadata": "note"},
        {"session_id": "a", "content": "x", "role": ["x"]},
        {"session_id": "a", "content": "x", "role_type": 1},
        {"session_id": "a", "content": "x", "name": False},
        {"session_id": "a", "content": "x", "uuid": True},
        {"session_id": "a", "content": "x", "created_at": 1714560000},
        {"session_id": "a", "content": "x", "user_id": 12.5},
        {"session_id": "", "content": "x"},
        {"session_id": "a", "messages": [{"role": "x", "content": "y"}]},
        # ids the limits refuse: blank (Python's whitespace), or with a control character
        {"session_id": " \u2028\x85\u3000", "content": "x"},
        {"session_id": "a\x00b", "content": "x"},
        {"session_id": "tab\tin", "content": "x"},
        {"session_id": "a", "user_id": "del\x7f", "content": "x"},
        {"session_id": "a", "user_id": "c1\x9f", "content": "x"},
        {"session_id": "a", "user_id": "\x1c", "content": "x"},
        {"session_id": "x" * 600, "content": "x"},
    ],
)
def test_declines_what_needs_the_reference_reader(tmp_path: Path, bad: dict[str, Any]) -> None:
    path = write_jsonl(tmp_path / "bad.jsonl", [{"session_id": "a", "content": "fine"}, bad])
    with DuckDBStore(tmp_path / "z.duckdb", summarizer=None) as store:
        with pytest.raises(BulkImportDeclined):
            store.import_zep_jsonl(path, default_session_id="bad")
        assert store.stats().messages == 0
        assert store.session_page().total_count == 0


@pytest.mark.parametrize("good", ["a b", "é-東京-🌊", " padded ", "x" * 255])
def test_takes_ids_within_the_limits(tmp_path: Path, good: str) -> None:
    path = write_jsonl(
        tmp_path / "ok.jsonl", [{"session_id": good, "user_id": good, "content": "x"}]
    )
    with DuckDBStore(tmp_path / "z.duckdb", summarizer=None) as store:
        assert store.import_zep_jsonl(path, default_session_id="ok").messages_added == 1


def test_declines_invalid_json(tmp_path: Path) -> None:
    path = tmp_path / "broken.jsonl"
    path.write_text('{"session_id": "a", "content": "fine"}\n{"session_id": "a", "cont\n')
    with DuckDBStore(tmp_path / "z.duckdb", summarizer=None) as store:
        with pytest.raises(BulkImportDeclined):
            store.import_zep_jsonl(path, default_session_id="broken")
        assert store.stats().messages == 0


def test_null_role_type_and_name_count_as_absent_on_both_paths(tmp_path: Path) -> None:
    lines = [
        {"session_id": "n", "role": "human", "role_type": None, "content": "v0 role wins"},
        {"session_id": "n", "role": "ai", "role_type": "", "content": "empty too"},
        {"session_id": "n", "role": "user", "name": None, "content": "null name"},
        {"session_id": "n", "role": "assistant", "name": "Bot", "content": "v3 name"},
    ]
    path = write_jsonl(tmp_path / "nulls.jsonl", lines)
    fast_state, reference_state, fast_results, reference_results = both_paths(tmp_path, path)
    assert fast_state == reference_state
    assert fast_results == reference_results
    assert [(m["role"], m["role_type"]) for m in fast_state["n"]["messages"]] == [
        ("human", "user"),
        ("ai", "assistant"),
        ("user", "user"),
        ("Bot", "assistant"),
    ]


def test_cli_import_uses_the_fast_path_and_reports_like_the_reference(tmp_path: Path) -> None:
    from zeptui.importers import import_file

    path = write_jsonl(tmp_path / "history.jsonl", LINES)
    with DuckDBStore(tmp_path / "z.duckdb", summarizer=None) as store:
        report = import_file(store, path)
        assert store.last_import_timings, "the DuckDB fast path ran"
        assert report.result.messages_added == 9


@pytest.mark.parametrize("name", ["c[1].jsonl", "chat*.jsonl", "what?.jsonl", "{a,b}.jsonl"])
def test_a_file_name_is_never_read_as_a_pattern(tmp_path: Path, name: str) -> None:
    """DuckDB expands globs: `c[1].jsonl` would read `c1.jsonl`, `chat*` the whole folder."""
    decoys = ["c1.jsonl", "chat-a.jsonl", "whatx.jsonl", "a.jsonl", "b.jsonl"]
    for decoy in decoys:
        write_jsonl(tmp_path / decoy, [{"session_id": "decoy", "content": decoy}])
    target = write_jsonl(tmp_path / name, [{"session_id": "real", "content": "the real file"}])
    with DuckDBStore(tmp_path / "s.duckdb", summarizer=None) as store:
        imported = ZepImporter().bulk_import(store, target)
        if imported is None:  # declined: the reference reader imports it
            store.import_sessions(ZepImporter().read(target))
        sessions = [i.session.session_id for i in store.session_page(SessionQuery()).sessions]
        assert sessions == ["real"]


def postings_as_stored(path: Path) -> list[tuple[str, int]]:
    with duckdb.connect(str(path), read_only=True) as con:
        return [
            (str(term), int(message))
            for term, message in con.execute(
                "SELECT term, message_id FROM search_postings ORDER BY rowid"
            ).fetchall()
        ]


def test_a_big_import_leaves_the_search_index_sorted(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 9.23: into an empty index the postings are written sorted (no re-sort
    after); into a filled one a big import re-sorts it all. Either way searches
    prune by term."""
    monkeypatch.setattr(search, "COMPACT_AFTER_MESSAGES", 3)
    db = tmp_path / "z.duckdb"
    with DuckDBStore(db, summarizer=None) as store:
        store.import_zep_jsonl(write_jsonl(tmp_path / "one.jsonl", LINES), "one")
    first = postings_as_stored(db)
    assert len(first) > 20 and first == sorted(first)
    more = [{**line, "session_id": "more", "uuid": None} for line in LINES]
    with DuckDBStore(db, summarizer=None) as store:
        store.import_zep_jsonl(write_jsonl(tmp_path / "more.jsonl", more), "more")
        hits = store.search(SearchQuery(text="kindred time travel", session_id="more"))
        assert hits[0].message.content == "Kindred (1979) is a time-travel novel."
    both = postings_as_stored(db)
    assert len(both) > len(first) and both == sorted(both)


def test_the_garbage_collector_waits_for_an_import(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An import's objects form no cycles: a collection meanwhile only walks them (and
    every object of the process) for nothing. It runs again once the import is done,
    declined or not."""
    lines = [{"session_id": f"s{n % 7}", "content": f"turn {n}"} for n in range(300)]
    good = write_jsonl(tmp_path / "good.jsonl", lines)
    bad = write_jsonl(tmp_path / "bad.jsonl", [*lines, {"session_id": 1, "content": "x"}])
    importing = False
    collected: list[int] = []

    def note(phase: str, info: dict[str, int]) -> None:
        if phase == "start" and importing:
            collected.append(info["generation"])

    import_file = zep_jsonl.import_file

    def spy(*args: Any, **kwargs: Any) -> Any:
        nonlocal importing
        importing = True
        try:
            return import_file(*args, **kwargs)
        finally:
            importing = False

    monkeypatch.setattr(zep_jsonl, "import_file", spy)
    thresholds = gc.get_threshold()
    gc.set_threshold(1)  # a collection at every allocation the collector tracks
    gc.callbacks.append(note)
    try:
        with DuckDBStore(tmp_path / "z.duckdb") as store:
            assert store.import_zep_jsonl(good, default_session_id="good").messages_added == 300
            with pytest.raises(BulkImportDeclined):
                store.import_zep_jsonl(bad, default_session_id="bad")
            assert gc.isenabled()
            assert store.stats().messages == 300
    finally:
        gc.callbacks.remove(note)
        gc.set_threshold(*thresholds)
    assert collected == []


def test_an_import_commits_into_the_file_not_the_log(tmp_path: Path) -> None:
    """The import's commit is a checkpoint: no write-ahead log for the file's close (or
    the next open) to copy into the file again; the log is used as ever after it."""
    lines = [{"session_id": f"s{n % 7}", "content": f"turn {n}"} for n in range(300)]
    path = write_jsonl(tmp_path / "history.jsonl", lines)
    log = tmp_path / "z.duckdb.wal"
    with DuckDBStore(tmp_path / "z.duckdb", summarizer=None) as store:
        store.add_memory("before", [Message(role="Jane", role_type=RoleType.user, content="hi")])
        assert log.exists() and log.stat().st_size > 0
        assert store.import_zep_jsonl(path, default_session_id="history").messages_added == 300
        assert not log.exists() or log.stat().st_size == 0
        store.add_memory("after", [Message(role="Jane", role_type=RoleType.user, content="hi")])
        assert log.exists() and log.stat().st_size > 0
        # Joined to a run's transaction (`zeptui import`): its commit, then.
        with store.import_transaction():
            store.add_memory("in the run", [Message(role="Jane", content="hi")])
            added = store.import_zep_jsonl(path, default_session_id="again").messages_added
            assert added == 0
        assert not log.exists() or log.stat().st_size == 0
    with DuckDBStore(tmp_path / "z.duckdb", summarizer=None) as store:
        assert store.stats().messages == 303


def test_one_thread_puts_the_setting_back_even_after_a_failure(tmp_path: Path) -> None:
    """A block on one DuckDB thread (an import's ordered insert, its summaries written
    beside the children) leaves the database's setting as it found it, also when a
    statement fails and aborts the transaction."""
    with duckdb.connect(str(tmp_path / "t.duckdb")) as conn:
        conn.execute("SET threads = 3")
        conn.execute("CREATE TABLE t (a INTEGER NOT NULL)")
        conn.execute("BEGIN")
        with pytest.raises(duckdb.ConstraintException), one_thread(conn):
            assert conn.execute("SELECT current_setting('threads')").fetchone() == (1,)
            conn.execute("INSERT INTO t VALUES (NULL)")
        conn.execute("ROLLBACK")
        assert conn.execute("SELECT current_setting('threads')").fetchone() == (3,)
        with one_thread(conn):
            conn.execute("INSERT INTO t VALUES (1)")
        assert conn.execute("SELECT current_setting('threads')").fetchone() == (3,)
