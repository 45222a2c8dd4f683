"""The store's memory cache (storage/duckdb/memory_cache.py): a `get_memory` answer,
and the rows a search of a session reads, are kept only while no write may have
changed them.

After every kind of write the cached store answers exactly what a store opened
afresh on the same file answers; a read made after a concurrent append has returned
sees it; and the cache keeps no answer over its size limit.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable
from pathlib import Path

import duckdb
import pytest

from storage.duckdb import DuckDBStore, search_rows
from storage.duckdb import memory_cache as memory_cache_module
from storage.duckdb.memory_cache import (
    HEAD_MISSES,
    MAX_ANSWER_BYTES,
    MAX_ANSWERS,
    MemoryCache,
)
from storage.duckdb.reads import SessionHead, memory_head, memory_heads
from storage.errors import NotFoundError
from storage.models import (
    CreateSessionRequest,
    CreateUserRequest,
    Memory,
    MemoryType,
    Message,
    RoleType,
    SearchQuery,
    SearchResult,
    SessionImport,
)

QUESTIONS = [
    (MemoryType.perpetual, None),
    (MemoryType.message_window, None),
    (MemoryType.message_window, 3),
    (MemoryType.summary_retriever, None),
]


def message(content: str, message_uuid: str | None = None) -> Message:
    return Message(role="u", role_type=RoleType.user, content=content, uuid=message_uuid)


SEARCHES = [
    SearchQuery(text="first one two m3 m6 last three four five back imported new", limit=20),
    SearchQuery(text="two last", limit=2, mmr_lambda=0.5),
]


def searches(store: DuckDBStore, session_id: str) -> list[list[SearchResult] | str]:
    """The results of SEARCHES in the session (the rows the store keeps for them:
    storage/duckdb/search_rows.py)."""
    found: list[list[SearchResult] | str] = []
    for query in SEARCHES:
        try:
            found.append(store.search(query.model_copy(update={"session_id": session_id})))
        except NotFoundError as error:
            found.append(str(error))
    return found


def answers(
    store: DuckDBStore, session_id: str, as_json: bool = False
) -> list[Memory | bytes | str]:
    """The answers to QUESTIONS (`get_memory`'s, or `get_memory_json`'s)."""
    read = store.get_memory_json if as_json else store.get_memory
    found: list[Memory | bytes | str] = []
    for memory_type, lastn in QUESTIONS:
        try:
            found.append(read(session_id, memory_type, lastn))
        except NotFoundError as error:
            found.append(str(error))
    return found


@pytest.mark.parametrize("memory_cache", [MAX_ANSWERS, 1], ids=["answers", "heads and warm"])
def test_after_every_kind_of_write_the_answer_is_what_a_fresh_store_reads(
    tmp_path: Path, memory_cache: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Answers and their JSON. With room for one answer, the four questions evict each
    other's answers: each read goes through the kept session heads (read together on
    every first miss), and the default one's JSON is the one a warm-up kept before
    each write."""
    warm = memory_cache == 1
    monkeypatch.setattr(memory_cache_module, "HEAD_MISSES", 1)
    path = tmp_path / "x.duckdb"
    first, last = str(uuid.uuid4()), str(uuid.uuid4())
    with DuckDBStore(
        path, message_window=4, background_summaries=False, memory_cache=memory_cache
    ) as store:
        store.add_user(CreateUserRequest(user_id="u1"))
        store.add_session(CreateSessionRequest(session_id="s", user_id="u1"))
        writes: list[tuple[str, Callable[[], object]]] = [
            ("add", lambda: store.add_memory("s", [message("first. One.", first)])),
            ("add more", lambda: store.add_memory("s", [message(f"m{n}. Two.") for n in range(7)])),
            ("add last", lambda: store.add_memory("s", [message("last. Two.", last)])),
            ("metadata", lambda: store.update_message_metadata("s", first, {"k": 1})),
            ("recent metadata", lambda: store.update_message_metadata("s", last, {"k": 1})),
            ("delete message", lambda: store.delete_message("s", first)),
            ("delete recent message", lambda: store.delete_message("s", last)),
            ("summarise again", lambda: store.summarize("s", again=True)),
            ("delete session", lambda: store.delete_session("s")),
            ("update undeletes", lambda: store.update_session("s", {"k": 2})),
            ("delete again", lambda: store.delete_session("s")),
            ("add undeletes", lambda: store.add_memory("s", [message("back. Three.")])),
            (
                "import",
                lambda: store.import_sessions(
                    [SessionImport(session_id="s", messages=[message("imported. Four.")])]
                ),
            ),
            ("delete user", lambda: store.delete_user("u1")),
            ("purge", lambda: store.purge()),
            ("add after purge", lambda: store.add_memory("s", [message("new. Five.")])),
        ]
        for name, write in writes:
            if warm:
                assert store.warm_memory() == len(store.list_sessions())
            answers(store, "s", as_json=True)  # kept by the cache
            answers(store, "s")
            searches(store, "s")
            write()
            with DuckDBStore(path, summarizer=None, read_only=False) as fresh:
                expected = answers(fresh, "s")
                assert answers(store, "s", as_json=True) == [
                    found.model_dump_json().encode() if isinstance(found, Memory) else found
                    for found in expected
                ], name
                assert answers(store, "s") == expected, name
                assert searches(store, "s") == searches(fresh, "s"), name


def test_a_read_after_a_concurrent_append_returned_sees_it(tmp_path: Path) -> None:
    with DuckDBStore(tmp_path / "x.duckdb", summarizer=None) as store:
        store.add_memory("s", [message("start")])
        stop = threading.Event()
        errors: list[BaseException] = []

        def read() -> None:
            try:
                while not stop.wait(0.001):  # (a tight loop would starve the writer)
                    store.get_memory("s", MemoryType.message_window, 2)
            except BaseException as error:
                errors.append(error)

        readers = [threading.Thread(target=read) for _ in range(2)]
        for reader in readers:
            reader.start()
        try:
            for n in range(15):
                store.add_memory("s", [message(f"m{n}")])
                recent = store.get_memory("s", MemoryType.message_window, 2).messages
                assert recent[-1].content == f"m{n}"
        finally:
            stop.set()
            for reader in readers:
                reader.join(timeout=30)
        assert errors == []


def test_an_answer_over_the_size_limit_is_not_kept() -> None:
    cache = MemoryCache()
    small = Memory(messages=[message("small")])
    large = Memory(messages=[message("x" * MAX_ANSWER_BYTES)])
    read_at = cache.now()
    cache.put(("small", MemoryType.perpetual, None), 1, read_at, small)
    cache.put(("large", MemoryType.perpetual, None), 2, read_at, large)
    assert cache.get(("small", MemoryType.perpetual, None)) == small
    assert cache.get(("large", MemoryType.perpetual, None)) is None


def test_an_answer_read_before_a_change_to_its_session_is_not_kept() -> None:
    cache = MemoryCache()
    question = ("s", MemoryType.perpetual, None)
    read_at = cache.now()
    cache.changed([7])  # committed while the answer was being read
    cache.put(question, 7, read_at, Memory())
    assert cache.get(question) is None
    cache.put(question, 7, cache.now(), Memory())
    cache.changed([8])  # another session: the answer stays
    assert cache.get(question) == Memory()
    cache.changed(None)
    assert cache.get(question) is None


@pytest.mark.parametrize("max_answers", [2])
def test_the_least_recently_used_answers_go_first(max_answers: int) -> None:
    cache = MemoryCache(max_answers)
    for name in ("a", "b"):
        cache.put((name, MemoryType.perpetual, None), 1, cache.now(), Memory())
    cache.get(("a", MemoryType.perpetual, None))
    cache.put(("c", MemoryType.perpetual, None), 1, cache.now(), Memory())
    assert cache.get(("b", MemoryType.perpetual, None)) is None
    assert cache.get(("a", MemoryType.perpetual, None)) == Memory()


def test_heads_read_before_a_change_to_their_session_are_not_kept() -> None:
    cache = MemoryCache()
    assert [cache.claim_heads() for _ in range(HEAD_MISSES + 1)][-2:] == [True, False]
    read_at = cache.now()
    cache.changed([2])  # committed while the heads were being read
    cache.put_heads(
        read_at,
        [("a", SessionHead(1, None, None, (), 0)), ("b", SessionHead(2, None, None, (), 0))],
    )
    assert cache.head("a") == SessionHead(1, None, None, (), 0)
    assert cache.head("b") is None
    cache.changed([1])
    assert cache.head("a") is None
    cache.changed(None)  # everything changed: read them all again after as many misses
    assert [cache.claim_heads() for _ in range(HEAD_MISSES)][-1]
    assert not any(MemoryCache(0).claim_heads() for _ in range(HEAD_MISSES))  # no cache


def test_the_heads_read_together_are_those_read_one_by_one(tmp_path: Path) -> None:
    """`reads.memory_heads` (every recent session's head in one query) reads what
    `reads.memory_head` reads for each session: with summaries or none, deleted
    messages, and no deleted session."""
    path = tmp_path / "x.duckdb"
    with DuckDBStore(path, message_window=4, background_summaries=False) as store:
        for n, count in enumerate([0, 2, 5, 9, 13]):
            store.add_session(CreateSessionRequest(session_id=f"s{n}"))
            if count:
                store.add_memory(f"s{n}", [message(f"m{i}. Said.") for i in range(count)])
        newest = store.get_memory("s4").messages[-1]
        assert newest.uuid is not None
        store.delete_message("s4", newest.uuid)
        store.add_memory("gone", [message("bye")])
        store.delete_session("gone")
    with duckdb.connect(str(path), read_only=True) as con:
        together = dict(memory_heads(con, 100, 4))
        assert sorted(together) == ["s0", "s1", "s2", "s3", "s4"]
        assert together == {sid: memory_head(con, sid, 4) for sid in together}
        assert together["s3"].summary is not None and together["s1"].summary is None


def test_warm_answers_are_kept_until_their_session_changes() -> None:
    cache = MemoryCache()
    default, window = ("a", MemoryType.perpetual, None), ("a", MemoryType.message_window, None)
    read_at = cache.now()
    cache.changed([2])  # committed while the answers were being read
    assert cache.put_warm(read_at, [("a", 1, b'{"a":1}'), ("b", 2, b'{"b":2}')]) == 1
    assert cache.get_json(default) == b'{"a":1}'
    assert cache.get_json(window) is None  # only the default memory is warmed
    assert cache.get_json(("b", MemoryType.perpetual, None)) is None
    assert cache.get(default) is None  # JSON only: a Memory is read from the file
    cache.changed([1])
    assert cache.get_json(default) is None
    cache.put_warm(cache.now(), [("a", 1, b"{}")])
    cache.changed(None)
    assert cache.get_json(default) is None
    too_large = b"x" * (memory_cache_module.MAX_WARM_BYTES + 1)
    assert cache.put_warm(cache.now(), [("a", 1, too_large)]) == 0
    assert MemoryCache(0).put_warm(cache.now(), [("a", 1, b"{}")]) == 0


def test_search_rows_read_before_a_change_to_their_session_are_not_kept() -> None:
    cache = MemoryCache()
    read_at = cache.now()
    cache.changed([7])  # committed while the rows were being read
    assert cache.put_rows(7, read_at, b"rows of 7")
    assert cache.rows(7) is None
    cache.put_rows(7, cache.now(), b"rows of 7")
    cache.changed([8])  # another session: the rows stay
    assert cache.rows(7) == b"rows of 7"
    cache.changed([7])
    assert cache.rows(7) is None
    cache.put_rows(7, cache.now(), b"rows of 7")
    cache.changed(None)
    assert cache.rows(7) is None


def test_search_rows_are_kept_up_to_their_size_limit() -> None:
    """The least recently used go to make room; a warm-up (no eviction) keeps what fits."""
    cache = MemoryCache(max_rows_bytes=10)
    for key in (1, 2):
        assert cache.put_rows(key, cache.now(), b"four")
    cache.rows(1)
    assert cache.put_rows(3, cache.now(), b"four")
    assert (cache.rows(1), cache.rows(2), cache.rows(3)) == (b"four", None, b"four")
    assert not cache.put_rows(4, cache.now(), b"four", evict=False)  # 8 + 4 > 10
    assert not cache.put_rows(5, cache.now(), b"eleven char")  # never fits
    assert (cache.rows(1), cache.rows(3)) == (b"four", b"four")
    assert not MemoryCache(0).keeps_rows  # no memory cache, no rows


def test_a_warm_up_keeps_the_search_rows_that_fit(tmp_path: Path) -> None:
    """`warm_memory` keeps the search rows of the recent small sessions, the most
    recent first, as far as they fit; searches find what a store without them finds."""
    path = tmp_path / "x.duckdb"
    with DuckDBStore(path, summarizer=None) as writer:
        for n in range(4):
            writer.add_memory(f"s{n}", [message(f"kayak {n} river " * 10) for _ in range(3)])
    with DuckDBStore(path, summarizer=None) as store:
        store.warm_memory()
        kept = [store._memory_cache.rows(key) for key in (4, 3, 2, 1)]  # newest first
        assert all(kept)
        with DuckDBStore(path, summarizer=None, memory_cache=0) as bare:
            for n in range(4):
                assert searches(store, f"s{n}") == searches(bare, f"s{n}")
    room = 2 * 3 * search_rows.ESTIMATED_BYTES  # two sessions of three messages, by estimate
    with DuckDBStore(path, summarizer=None, search_cache=room) as store:
        store.warm_memory()
        assert [store._memory_cache.rows(key) for key in (4, 3, 2, 1)] == [*kept[:2], None, None]
