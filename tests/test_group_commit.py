"""Group commit (storage/duckdb/appends.py): concurrent `add_memory` calls share
transactions, and each call still behaves as if it had its own.

Under many threads: every message is written once, each session's messages keep the
order their callers wrote them in, and the sessions' counts add up. When a group
holds a failing append (a uuid owned by another session), only that append fails,
with the error it would get alone, and nothing of it is written.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest

from storage.duckdb import DuckDBStore
from storage.duckdb.appends import GroupCommit
from storage.duckdb.connection import Database
from storage.errors import MessageConflictError, NotFoundError
from storage.models import Message, RoleType

THREADS = 8
APPENDS = 10


def message(content: str, message_uuid: str | None = None) -> Message:
    return Message(role="u", role_type=RoleType.user, content=content, uuid=message_uuid)


def run_threads(count: int, work: Callable[[int], None]) -> list[BaseException]:
    """Run `work(number)` on `count` threads at once; the errors they raised."""
    errors: list[BaseException] = []
    start = threading.Barrier(count)

    def run(number: int) -> None:
        start.wait(timeout=30)
        try:
            work(number)
        except BaseException as error:
            errors.append(error)

    threads = [threading.Thread(target=run, args=(n,)) for n in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not any(thread.is_alive() for thread in threads)
    return errors


def test_concurrent_adds_keep_every_message_once_in_each_callers_order(tmp_path: Path) -> None:
    with DuckDBStore(tmp_path / "x.duckdb", summarizer=None) as store:
        returned: dict[int, list[Message]] = {}

        def add(thread: int) -> None:
            mine = returned.setdefault(thread, [])
            for n in range(APPENDS):
                batch = [message(f"{thread}.{n}.{k}") for k in range(2)]
                mine += store.add_memory(f"s{thread % 3}", batch)

        assert run_threads(THREADS, add) == []
        everything: list[str] = []
        counts = {
            info.session.session_id: info.message_count for info in store.session_page().sessions
        }
        for session in ("s0", "s1", "s2"):
            listed = store.list_messages(session, limit=0).messages
            everything += [m.content for m in listed]
            assert counts[session] == len(listed)
            for thread in range(session_number := int(session[1:]), THREADS, 3):
                own = [m.content for m in listed if m.content.startswith(f"{thread}.")]
                assert own == [f"{thread}.{n}.{k}" for n in range(APPENDS) for k in range(2)]
            assert {m.uuid for m in listed} == {
                m.uuid for t in range(session_number, THREADS, 3) for m in returned[t]
            }
        assert len(everything) == len(set(everything)) == THREADS * APPENDS * 2
        assert all(m.token_count > 0 for batch in returned.values() for m in batch)


def open_database(path: Path) -> Database:
    return Database(path, read_only=False, lock_timeout=2, memory_limit=None, clock=None)


def grouped(
    path: Path, appends: list[tuple[str, list[Message]]]
) -> tuple[list[BaseException | list[Message]], list[list[int]]]:
    """Queue `appends` from one thread each while the file's write lock is held, so
    they are written as one group; each one's outcome, and the keys of each commit."""
    database = open_database(path)
    commits: list[list[int]] = []
    group = GroupCommit(database, commits.append)
    outcomes: list[BaseException | list[Message]] = [[] for _ in appends]

    def append(number: int) -> None:
        session_id, messages = appends[number]
        try:
            outcomes[number] = group.append(session_id, messages)[1]
        except Exception as error:
            outcomes[number] = error

    threads = [threading.Thread(target=append, args=(n,)) for n in range(len(appends))]
    try:
        with database.serialised():
            for thread in threads:
                thread.start()
            deadline = time.monotonic() + 30
            # One thread leads (it waits for the lock); the others wait in the queue.
            while group.queued < len(appends) - 1 and time.monotonic() < deadline:
                time.sleep(0.01)
        for thread in threads:
            thread.join(timeout=60)
    finally:
        database.close()
    return outcomes, commits


def test_appends_queued_together_are_one_transaction(tmp_path: Path) -> None:
    appends = [(f"s{n % 4}", [message(f"m{n}.{k}") for k in range(3)]) for n in range(8)]
    outcomes, commits = grouped(tmp_path / "x.duckdb", appends)
    # The leader wrote its own append as soon as it had the lock, or with the others.
    assert len(commits) <= 2
    assert sum(len(keys) for keys in commits) >= 4
    with DuckDBStore(tmp_path / "x.duckdb", summarizer=None) as store:
        for n, (session_id, messages) in enumerate(appends):
            stored = outcomes[n]
            assert isinstance(stored, list)
            assert [m.content for m in stored] == [m.content for m in messages]
            listed = [m.content for m in store.list_messages(session_id, limit=0).messages]
            assert [m.content for m in messages] == [c for c in listed if c.startswith(f"m{n}.")]


def test_a_conflict_fails_only_its_own_append_and_writes_none_of_it(tmp_path: Path) -> None:
    path = tmp_path / "x.duckdb"
    owned, shared = str(uuid.uuid4()), str(uuid.uuid4())
    with DuckDBStore(path, summarizer=None) as store:
        store.add_memory("owner", [message("owned", owned)])
    appends = [
        ("a", [message("a1")]),
        ("thief", [message("thief new"), message("taken", owned)]),  # owned by `owner`
        ("b", [message("b1", shared)]),
        ("c", [message("c1"), message("c2", shared)]),  # `b` took it first in the group
        ("a", [message("a2")]),
    ]
    outcomes, commits = grouped(path, appends)
    assert isinstance(outcomes[1], MessageConflictError)
    assert "owner" in str(outcomes[1])
    assert isinstance(outcomes[3], MessageConflictError)
    assert "'b'" in str(outcomes[3])
    assert [len(outcome) for outcome in outcomes if isinstance(outcome, list)] == [1, 1, 1]
    with DuckDBStore(path, summarizer=None) as store:
        assert [m.content for m in store.list_messages("a", limit=0).messages] == ["a1", "a2"]
        assert [m.content for m in store.list_messages("b", limit=0).messages] == ["b1"]
        assert [m.content for m in store.list_messages("owner", limit=0).messages] == ["owned"]
        for failed in ("thief", "c"):  # all or nothing: not even the session was made
            with pytest.raises(NotFoundError):
                store.get_session(failed)
        assert sorted(key for keys in commits for key in keys) == sorted(
            {store.get_session(s).id for s in ("a", "b")}
        )
