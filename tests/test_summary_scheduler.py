"""Summaries made off the write path (storage/summary_scheduler.py) in a real store.

Issue 10.8: a summarizer that waits on the network never holds the write lock, and
a short-lived store (the CLI's) lets go of the file meanwhile; drafts are dropped
when another writer moved the session's summary point. Issue 9.24: summarising a
session again replaces its summaries in one transaction. Issue 10.9: no summary is
stored beyond the size limits, whatever the summarizer returns.
"""

from __future__ import annotations

import subprocess
import sys
import threading
import uuid
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager
from pathlib import Path

import duckdb
import pytest

from storage import ids
from storage.duckdb import DuckDBStore
from storage.errors import StoreError
from storage.llm_summarizer import LLMSummarizer
from storage.models import Message, RoleType
from storage.summarizers import Summarizer, SummarizerError, SummaryDraft
from storage.summary_policy import MAX_SUMMARY_BYTES, MAX_SUMMARY_TOKENS
from storage.summary_scheduler import ColumnMessages, MessageColumns, StoredMessage
from storage.tokens import count_tokens
from tests.holders import held_database
from tests.llm_server import FakeLLM, serve_llm

JOIN = 20.0
"""Seconds a test waits for a thread it started before failing (never reached)."""


@pytest.fixture
def llm_server(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeLLM]:
    yield from serve_llm(monkeypatch)


def numbered(count: int, start: int = 1) -> list[Message]:
    return [
        Message(role="Jane" if n % 2 else "Bot", content=f"Message {n} is about kayaks.")
        for n in range(start, start + count)
    ]


def llm(server: FakeLLM, timeout: float = 10.0) -> LLMSummarizer:
    return LLMSummarizer(base_url=server.base_url, model="m", timeout=timeout)


class Scripted(Summarizer):
    """Returns `replies` in turn; an exception in the list is raised instead."""

    name = "scripted"

    def __init__(self, *replies: str | Exception, network: bool = False) -> None:
        self.replies = list(replies)
        self.waits_on_network = network

    def summarize(self, previous: str | None, messages: Sequence[Message]) -> SummaryDraft:
        reply = self.replies.pop(0)
        if isinstance(reply, Exception):
            raise reply
        return SummaryDraft(reply, {"n": len(messages)})


def deferred_store(path: Path, server: FakeLLM, lock_timeout: float = 2.0) -> DuckDBStore:
    """A CLI-like store (deferred summaries) whose next close makes one summary with
    the gated `server`."""
    server.mode = "gate"
    store = DuckDBStore(
        path, summarizer=llm(server), defer_summaries=True, lock_timeout=lock_timeout
    )
    store.add_memory("s1", numbered(12))
    return store


@contextmanager
def closing_meanwhile(store: DuckDBStore, server: FakeLLM) -> Iterator[None]:
    """Close `store` on a thread: it makes its deferred summary, waiting on the gated
    `server`. The block runs while the server holds the request; then it answers."""
    closing = threading.Thread(target=store.close)
    closing.start()
    try:
        assert server.received.wait(JOIN)
        yield
    finally:
        server.release.set()
        closing.join(JOIN)
    assert not closing.is_alive()


def deleted_summaries(path: Path) -> int:
    with duckdb.connect(str(path), read_only=True) as con:
        row = con.execute("SELECT count(*) FROM summaries WHERE deleted_at IS NOT NULL").fetchone()
    assert row is not None
    return int(row[0])


# --- summarising again (issue 9.24) -------------------------------------------------


def test_summarize_again_replaces_the_summaries(tmp_path: Path) -> None:
    path = tmp_path / "z.duckdb"
    with DuckDBStore(path, background_summaries=False) as store:
        store.add_memory("s1", numbered(30))
        old = store.list_summaries("s1")
        assert len(old) == 4
        made = store.summarize("s1", again=True)
        assert [s.summary.content for s in made] == [s.summary.content for s in old]
        assert store.list_summaries("s1") == made
        assert {s.summary.uuid for s in made}.isdisjoint(s.summary.uuid for s in old)
        # Deterministic: the second summary ending at a message is its revision 1.
        assert [s.summary.uuid for s in old] == [
            ids.summary_uuid(s.summary.recent_message_uuid) for s in old
        ]
        assert [s.summary.uuid for s in made] == [
            ids.summary_uuid(s.summary.recent_message_uuid, 1) for s in made
        ]
        assert store.get_memory("s1").summary == made[-1].summary
        assert store.summarize("s1") == []  # nothing more is due
    assert deleted_summaries(path) == 4


def test_summarize_again_with_another_summarizer(tmp_path: Path, llm_server: FakeLLM) -> None:
    path = tmp_path / "z.duckdb"
    with DuckDBStore(path, background_summaries=False) as store:
        store.add_memory("s1", numbered(18))
    with DuckDBStore(path, summarizer=llm(llm_server), defer_summaries=True) as store:
        made = store.summarize("s1", again=True)
        assert [s.summary.content for s in made] == ["SUMMARY-1", "SUMMARY-2"]
        assert [s.message_count for s in made] == [6, 6]
        assert "SUMMARY-1" in llm_server.requests[1].prompt  # progressive
        assert store.list_summaries("s1") == made


@pytest.mark.parametrize("network", [False, True])
def test_a_failure_while_summarising_again_leaves_the_old_summaries(
    tmp_path: Path, network: bool
) -> None:
    path = tmp_path / "z.duckdb"
    with DuckDBStore(path, background_summaries=False) as store:
        store.add_memory("s1", numbered(30))
        old = store.list_summaries("s1")
    broken = Scripted("first", SummarizerError("model unavailable"), network=network)
    with DuckDBStore(path, summarizer=broken, defer_summaries=True) as store:
        with pytest.raises(SummarizerError, match="model unavailable"):
            store.summarize("s1", again=True)
        assert store.list_summaries("s1") == old
    assert deleted_summaries(path) == 0


def test_summarize_again_on_a_session_too_short_for_a_summary(tmp_path: Path) -> None:
    with DuckDBStore(tmp_path / "z.duckdb", background_summaries=False) as store:
        store.add_memory("s1", numbered(5))
        assert store.summarize("s1", again=True) == []
        assert store.list_summaries("s1") == []


# --- off the write path (issue 10.8) ------------------------------------------------


def test_a_long_lived_store_takes_writes_while_the_llm_works(
    tmp_path: Path, llm_server: FakeLLM
) -> None:
    llm_server.mode = "gate"  # answers once released
    with DuckDBStore(tmp_path / "z.duckdb", summarizer=llm(llm_server)) as store:
        store.add_memory("s1", numbered(12))
        assert llm_server.received.wait(JOIN)
        writer = threading.Thread(target=store.add_memory, args=("s1", numbered(1, 13)))
        writer.start()
        writer.join(JOIN)
        assert not writer.is_alive(), "add_memory waited for the summarizer"
        assert len(store.list_messages("s1").messages) == 13
        llm_server.release.set()
        store.wait_for_summaries()
        [summary] = store.list_summaries("s1")
        assert summary.summary.content == "SUMMARY-1" and summary.message_count == 6


def test_a_deferred_store_lets_go_of_the_file_while_the_llm_works(
    tmp_path: Path, llm_server: FakeLLM
) -> None:
    path = tmp_path / "z.duckdb"
    store = deferred_store(path, llm_server)
    with (
        closing_meanwhile(store, llm_server),
        DuckDBStore(path, summarizer=None, lock_timeout=5) as other,  # read-write
    ):
        other.add_memory("s2", numbered(1))
    with DuckDBStore(path, read_only=True) as reopened:
        assert [s.summary.content for s in reopened.list_summaries("s1")] == ["SUMMARY-1"]
        assert reopened.stats().messages == 13
    assert store.summary_errors == []


def test_drafts_are_dropped_when_the_summary_point_moved(
    tmp_path: Path, llm_server: FakeLLM
) -> None:
    path = tmp_path / "z.duckdb"
    store = deferred_store(path, llm_server)
    with (
        closing_meanwhile(store, llm_server),
        DuckDBStore(path, background_summaries=False, lock_timeout=5) as other,
    ):
        [extractive] = other.summarize("s1")  # the point moves meanwhile
    with DuckDBStore(path, read_only=True) as reopened:
        assert reopened.list_summaries("s1") == [extractive]
    assert store.summary_errors == []


def test_the_file_held_by_another_process_after_the_wait_is_a_warning(
    tmp_path: Path, llm_server: FakeLLM
) -> None:
    """Taking the file back after the LLM fails: the summary is dropped (and made
    next time), the message stays stored, and the store reports it closed."""
    path = tmp_path / "z.duckdb"
    store = deferred_store(path, llm_server, lock_timeout=0.2)
    with ExitStack() as holding, closing_meanwhile(store, llm_server):
        holding.enter_context(held_database(path))  # another process takes the file
    [error] = store.summary_errors
    assert "is in use by process" in error
    with pytest.raises(StoreError, match="closed"):
        store.list_summaries("s1")
    with DuckDBStore(path, background_summaries=False) as reopened:
        assert reopened.list_summaries("s1") == []
        assert len(reopened.summarize("s1")) == 1  # due again, made next time


def test_deferred_summaries_report_progress_and_errors(tmp_path: Path) -> None:
    path = tmp_path / "z.duckdb"
    with DuckDBStore(path, defer_summaries=True) as store:
        for session in range(3):
            store.add_memory(f"s{session}", numbered(12))
        assert store.list_summaries("s0") == []  # not yet: deferred
        seen: list[tuple[int, int]] = []
        store.wait_for_summaries(progress=lambda done, total: seen.append((done, total)))
        assert seen[0] == (0, 3) and seen[-1] == (3, 3)
        assert all(len(store.list_summaries(f"s{n}")) == 1 for n in range(3))
    broken = Scripted(SummarizerError("model unavailable"))
    store = DuckDBStore(path, summarizer=broken, defer_summaries=True)
    store.add_memory("s9", numbered(12))
    store.close()  # does not raise
    assert store.summary_errors == ["model unavailable"]


# --- size limits (issue 10.9) -------------------------------------------------------


def test_no_summary_is_stored_beyond_the_limits(tmp_path: Path) -> None:
    huge = " ".join(f"Sentence {n} of a summary that goes on." for n in range(250_000))
    unbroken = "word" * 3_000_000
    summarizer = Scripted(huge, unbroken)
    with DuckDBStore(
        tmp_path / "z.duckdb", summarizer=summarizer, message_window=2, background_summaries=False
    ) as store:
        store.add_memory("s1", numbered(2))
        [summary] = store.list_summaries("s1")
        content = summary.summary.content
        assert 0 < count_tokens(content) <= MAX_SUMMARY_TOKENS
        assert len(content.encode()) <= MAX_SUMMARY_BYTES
        assert huge.startswith(content) and content.endswith("goes on.")
        assert summary.summary.metadata == {"n": 1, "summarizer": "scripted", "truncated": True}
        store.add_memory("s1", numbered(1, 3))  # the next summary has no sentence that fits
        assert len(store.list_summaries("s1")) == 1
        assert "no whole sentence within 1024 tokens" in store.summary_errors[0]


def test_restoring_a_deleted_session_brings_back_only_its_live_summaries(
    tmp_path: Path,
) -> None:
    """Summaries replaced by `again` stay deleted when the session is restored."""
    messages = [
        Message(uuid=str(uuid.uuid5(uuid.NAMESPACE_URL, f"m{n}")), role="Jane", content=f"M {n}.")
        for n in range(18)
    ]
    with DuckDBStore(tmp_path / "z.duckdb", background_summaries=False) as store:
        store.add_memory("s1", messages)
        made = store.summarize("s1", again=True)
        assert len(made) == 2
        store.delete_session("s1")
        store.add_memory("s1", messages)  # the same messages: restored
        assert store.list_summaries("s1") == made


def test_column_messages_read_as_the_list_they_stand_for() -> None:
    """A backlog's messages as rows of shared columns (an import's) behave as the list
    of StoredMessages they stand for, whether made one at a time or all at once."""
    columns = MessageColumns(
        ids=[10, 11, 12, 13, 14],
        uuids=["u0", "u1", "u2", "u3", "u4"],
        roles=["Jane", "Bot", "Jane", "Bot", "Jane"],
        role_types=[RoleType.user, RoleType.assistant, RoleType.user, None, RoleType.user],
        contents=["a", "b", "c", "d", "e"],
        token_counts=[3, 4, 5, 6, 7],
    )
    listed = [StoredMessage(*row) for row in zip(*columns, strict=True)][1:4]
    for made_first in (False, True):
        messages = ColumnMessages(columns, 1, 4)
        if made_first:
            assert messages.made() == listed
        assert len(messages) == 3
        assert messages[0] == listed[0] and messages[-1] == listed[-1] == messages[2]
        assert messages[1:] == listed[1:]
        assert list(messages) == listed and messages == listed
        assert messages == ColumnMessages(columns, 1, 4) != ColumnMessages(columns, 0, 3)
        with pytest.raises(IndexError):
            messages[3]
        with pytest.raises(IndexError):
            messages[-4]


_CLOSE_WHILE_A_SUMMARY_HANGS = """
import os, signal, sys, threading
from storage.duckdb import DuckDBStore
from storage.models import Message
from storage.summarizers import Summarizer, SummaryDraft

started = threading.Event()

class Hangs(Summarizer):
    name = "hangs"

    def summarize(self, previous, messages):
        started.set()
        threading.Event().wait()  # never comes
        return SummaryDraft("never")

if len(sys.argv) > 2:  # a language model that never answers, summaries deferred
    from storage.llm_summarizer import LLMSummarizer

    llm = LLMSummarizer(base_url=sys.argv[2], model="m", timeout=60)
    store = DuckDBStore(sys.argv[1], summarizer=llm, defer_summaries=True)
    started.set()
else:
    store = DuckDBStore(sys.argv[1], summarizer=Hangs(), background_summaries=True)
store.add_memory("s", [Message(role="u", role_type="user", content=f"m {n}") for n in range(14)])
assert started.wait(10)
signal.signal(signal.SIGINT, lambda *_: os._exit(42))

def elsewhere():  # the kernel may hand a process's signal to any of its threads
    threading.Event().wait(0.2)
    signal.pthread_kill(threading.get_ident(), signal.SIGINT)

threading.Thread(target=elsewhere, daemon=True).start()
{call}
os._exit(0)
"""


@pytest.mark.parametrize(
    ("call", "network"),
    [("store.close()", False), ("store.wait_for_summaries()", False), ("store.close()", True)],
    ids=["closing", "waiting", "a language model, deferred"],
)
def test_a_signal_handler_runs_while_a_hung_summary_is_waited_for(
    tmp_path: Path, llm_server: FakeLLM, call: str, network: bool
) -> None:
    """A Ctrl-C handler (`zeptui serve`'s second one exits) runs while the store waits
    for a summary that never comes: the wait wakes up for it even when the signal
    lands on another thread (a wait without a timeout did not, and hung)."""
    llm_server.mode = "hang"
    script = _CLOSE_WHILE_A_SUMMARY_HANGS.replace("{call}", call)
    url = [llm_server.base_url] if network else []
    done = subprocess.run(
        [sys.executable, "-c", script, str(tmp_path / "s.duckdb"), *url],
        capture_output=True,
        text=True,
        timeout=JOIN,
        check=False,
    )
    assert done.returncode == 42, done.stderr
