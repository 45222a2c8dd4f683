"""An import run as one transaction (`ImportTransactions`): a cancel leaves the store
exactly as it was (tables, search postings, summaries, memory cache), a file that
fails still adds nothing while the others stay, and a cancel stops the statement
under way."""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

import pytest

from storage.capabilities import ImportInterrupted
from storage.duckdb import DuckDBStore, zep_counts
from storage.models import Message, RoleType, SessionImport
from storage.tokens import count_tokens_batch
from tests.server.conftest import Served, serve, served
from tests.store_tables import every_table
from zeptui.app.transfer import Progress, cancel_line, cancel_note
from zeptui.config import sample_data_dir
from zeptui.importers import ImportOptions, import_file
from zeptui.remote import open_remote
from zeptui.services.imports import ImportCancelled, ImportCounts, ImportRun, NoProgress

OCTAVIA = sample_data_dir() / "octavia-butler.json"
__all__ = ["serve", "served"]  # the server fixtures


def sharegpt(path: Path, *ids: str, uuid_of: str | None = None) -> Path:
    """ShareGPT lines, one chat per id."""
    lines = [
        {
            "id": i,
            "conversations": [
                {"from": "human", "value": f"hi {i}"},
                {"from": "gpt", "value": "hello"},
            ],
        }
        for i in ids
    ]
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    return path


def zep_lines(path: Path, sessions: int, per_session: int, bad_line: bool = False) -> Path:
    """Zep JSONL, one message per line (the store reads it itself)."""
    with path.open("w") as out:
        for number in range(sessions):
            for index in range(per_session):
                role_type = "user" if index % 2 == 0 else "assistant"
                record = {
                    "session_id": f"z-{number}",
                    "role_type": role_type,
                    "content": f"message {index} of z-{number} about tents and rivers",
                }
                out.write(json.dumps(record) + "\n")
        if bad_line:
            out.write('{"session_id": "z-0", "content": \n')
    return path


class _CancelWhen(NoProgress):
    """A front end whose user cancels when `when(counts)` first holds."""

    def __init__(self, run: ImportRun, when: Any) -> None:
        self.run, self.when = run, when

    def counted(self, counts: ImportCounts) -> None:
        if self.when(counts):
            self.run.cancel()


@pytest.fixture
def seeded(tmp_path: Path) -> Path:
    """A store with a session, its summaries made, and search postings."""
    path = tmp_path / "seeded.duckdb"
    with DuckDBStore(path, defer_summaries=True) as store:
        import_file(store, OCTAVIA)
    return path


def test_a_cancelled_run_leaves_every_table_and_the_memory_cache(
    seeded: Path, tmp_path: Path
) -> None:
    before = every_table(seeded)
    first = sharegpt(tmp_path / "a.jsonl", "a1", "a2")
    zep = zep_lines(tmp_path / "b.jsonl", 3, 40)
    last = sharegpt(tmp_path / "c.jsonl", *(f"c{n}" for n in range(50)))
    with DuckDBStore(seeded, defer_summaries=True) as store:
        memory = store.get_memory("octavia-butler")  # kept by the memory cache
        run = ImportRun([first, zep, last])
        with pytest.raises(ImportCancelled) as cancelled:
            run.run(store, _CancelWhen(run, lambda counts: counts.sessions > 10))
        assert (cancelled.value.done, cancelled.value.kept) == (2, False)
        assert store.get_memory("octavia-butler") == memory
        assert store.stats().sessions == 1
    assert every_table(seeded) == before


def test_a_failing_file_adds_nothing_and_the_others_stay(tmp_path: Path) -> None:
    """b.jsonl fails after it has written (a message uuid held by a.jsonl's session):
    that rolls back a.jsonl too, which the run imports again."""
    first = tmp_path / "a.jsonl"
    held = "8d2b7a52-3c1f-4b0e-9a51-6f7e0c1d2e3f"
    first.write_text(
        json.dumps({"session_id": "a", "uuid": held, "content": "x", "role_type": "user"}) + "\n"
    )
    failing = tmp_path / "b.json"
    failing.write_text(
        json.dumps(
            [{"session_id": "b", "messages": [{"uuid": held, "content": "y", "role_type": "user"}]}]
        )
    )
    last = sharegpt(tmp_path / "c.jsonl", "c1")
    with DuckDBStore(tmp_path / "run.duckdb", summarizer=None) as store:
        run = ImportRun([first, failing, last])
        run.run(store)
        assert [Path(error.split(":")[0]).name for error in run.errors] == ["b.json"]
        assert [report.result.messages_added for report in run.reports] == [1, 2]
    with DuckDBStore(tmp_path / "apart.duckdb", summarizer=None) as store:
        for path in (first, last):
            import_file(store, path)
    ours, apart = every_table(tmp_path / "run.duckdb"), every_table(tmp_path / "apart.duckdb")
    assert {s[2] for s in ours["sessions"]} == {s[2] for s in apart["sessions"]} == {"a", "c1"}
    assert len(ours["messages"]) == len(apart["messages"]) == 3


def test_a_fast_path_that_fails_mid_run_falls_back_without_looping(tmp_path: Path) -> None:
    """A Zep JSONL file with a broken line fails DuckDB's read, which aborts the run's
    transaction: the earlier file is imported again and the reader takes the file."""
    first = sharegpt(tmp_path / "a.jsonl", "a1")
    broken = zep_lines(tmp_path / "b.jsonl", 2, 3, bad_line=True)
    with DuckDBStore(tmp_path / "run.duckdb", summarizer=None) as store:
        run = ImportRun([first, broken], options=ImportOptions(skip_invalid=True))
        run.run(store)
        assert run.errors == []
        assert [len(report.skipped) for report in run.reports] == [0, 1]
        assert {s.session_id for s in store.list_sessions()} == {"a1", "z-0", "z-1"}
        assert store.stats().messages == 2 + 6


def test_a_cancel_from_the_progress_of_a_fast_path_import_leaves_nothing(
    seeded: Path, tmp_path: Path
) -> None:
    """The cancel comes as the store has read the file, before it writes."""
    before = every_table(seeded)
    zep = zep_lines(tmp_path / "big.jsonl", 20, 50)
    with DuckDBStore(seeded, defer_summaries=True) as store:
        run = ImportRun([sharegpt(tmp_path / "a.jsonl", "a1"), zep])
        with pytest.raises(ImportCancelled) as cancelled:
            run.run(store, _CancelWhen(run, lambda counts: counts.messages >= 1000))
        assert cancelled.value.kept is False
    assert every_table(seeded) == before


def test_interrupt_stops_the_statement_under_way(tmp_path: Path) -> None:
    """`interrupt` from another thread stops a running statement; the block is rolled
    back and says so."""
    path = tmp_path / "s.duckdb"
    with DuckDBStore(path, summarizer=None) as store:
        store.add_memory("s", [Message(role="u", role_type=RoleType.user, content="kept")])
    before = every_table(path)
    with DuckDBStore(path, summarizer=None) as store:
        running, finished = threading.Event(), threading.Event()

        def interrupter() -> None:
            running.wait(10)
            for _ in range(500):  # until the statement has started (bounded)
                transaction.interrupt()
                if finished.wait(0.02):
                    return

        with pytest.raises(ImportInterrupted), store.import_transaction() as transaction:
            thread = threading.Thread(target=interrupter)
            thread.start()
            try:
                store.import_sessions([SessionImport(session_id="new")])  # joins it
                with store._db.write() as cursor:  # the transaction's cursor
                    running.set()
                    cursor.execute("SELECT count(*) FROM range(1000000000000)").fetchall()
            finally:
                finished.set()
                thread.join(10)
    assert every_table(path) == before


def test_a_cancel_while_tokens_are_counted_stops_at_the_next_batch(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Counting the tokens of a big file's messages (no statement runs, so nothing to
    interrupt in DuckDB) goes a batch at a time: a cancel waits one batch, not all."""
    path = tmp_path / "s.duckdb"
    with DuckDBStore(path, summarizer=None) as store:
        store.add_memory("s", [Message(role="u", role_type=RoleType.user, content="kept")])
    before = every_table(path)
    monkeypatch.setattr(zep_counts, "TOKEN_BATCH", 20)
    batches: list[int] = []
    big = zep_lines(tmp_path / "big.jsonl", 10, 20)
    with (
        DuckDBStore(path, summarizer=None) as store,
        pytest.raises(ImportInterrupted),
        store.import_transaction() as transaction,
    ):

        def counting(texts: list[str], threads: int = 0) -> list[int]:
            batches.append(len(texts))
            transaction.interrupt()  # the cancel comes while the first batch counts
            return count_tokens_batch(texts, threads)

        monkeypatch.setattr(zep_counts, "count_tokens_batch", counting)
        store.import_zep_jsonl(big, "big")
    assert batches[:1] == [20] and len(batches) <= 2  # the one counting, perhaps the next
    assert every_table(path) == before


def test_ctrl_c_while_tokens_are_counted_stops_the_count_at_the_next_batch(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Ctrl-C raises KeyboardInterrupt in the import's thread, not through the
    transaction: the import sets `stop`, and the counting thread ends its batch there
    (the with-block of its pool waits for it; it used to count every batch left)."""
    monkeypatch.setattr(zep_counts, "TOKEN_BATCH", 2)
    stop = threading.Event()
    batches: list[list[str]] = []

    def counting(texts: list[str], threads: int = 0) -> list[int]:
        batches.append(texts)
        stop.set()  # Ctrl-C while the first batch counts
        return count_tokens_batch(texts, threads)

    monkeypatch.setattr(zep_counts, "count_tokens_batch", counting)
    texts = [f"text {n}" for n in range(10)]
    assert zep_counts._count_in_batches(texts, lambda: None, stop) == count_tokens_batch(texts[:2])
    assert batches == [texts[:2]]


def test_on_a_server_a_cancel_keeps_the_files_finished_before_it(
    served: Served, tmp_path: Path
) -> None:
    """A server's store takes each file in its own transaction (it does not offer
    `ImportTransactions`): the dialog and the result say what stays."""
    first = sharegpt(tmp_path / "a.jsonl", "a1")
    last = sharegpt(tmp_path / "b.jsonl", *(f"b{n}" for n in range(20)))
    with open_remote(served.url) as store:
        run = ImportRun([first, last])
        told: list[bool] = []

        class Cancelling(_CancelWhen):
            def file_started(self, name: str, counts: ImportCounts) -> None:
                told.append(counts.all_or_nothing)

        with pytest.raises(ImportCancelled) as cancelled:
            run.run(store, Cancelling(run, lambda counts: counts.sessions > 5))
    assert (cancelled.value.done, cancelled.value.kept) == (1, True)
    assert told == [False, False]
    assert [session.session_id for session in served.store.list_sessions()] == ["a1"]
    line = cancel_line(cancelled.value)
    assert line.endswith("the 1 file imported before the cancel stay (below).")
    note = cancel_note(Progress(2, 1, all_or_nothing=False))
    assert "rolls back the file under way only" in note
