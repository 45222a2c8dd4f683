"""Summaries drafted in worker processes (storage/summary_workers.py, issue 9.23).

A big run (an import) drafts on every core. What it stores must be exactly what one
process stores, and a failure must end the run the same way. The thresholds are
lowered here so that a few small sessions take the worker path.
"""

from __future__ import annotations

import gc
import multiprocessing
import os
import random
import signal
import time
import uuid
from collections.abc import Sequence
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path
from typing import Any

import pytest

from storage import processes, summary_scheduler, summary_workers
from storage.duckdb import DuckDBStore, zep_jsonl
from storage.duckdb.summary_host import StoreSummaries
from storage.models import Message
from storage.summarizers import ExtractiveSummarizer, SpokenMessage, SummaryDraft

WORDS = [
    "kayak",
    "river",
    "paddle",
    "storm",
    "camp",
    "map",
    "trail",
    "bridge",
    "canyon",
    "lantern",
    "ferry",
    "harbour",
    "compass",
    "glacier",
    "meadow",
    "summit",
    "village",
    "orchard",
    "lighthouse",
]


def conversation(rng: random.Random, count: int) -> list[Message]:
    """`count` chat turns of a few seeded sentences each."""
    messages = []
    for n in range(count):
        sentences = [
            " ".join(rng.choice(WORDS) for _ in range(rng.randint(3, 9))).capitalize() + "."
            for _ in range(rng.randint(1, 4))
        ]
        role = "Jane" if n % 2 else "Guide"
        name = str(uuid.UUID(int=rng.getrandbits(128), version=4))
        messages.append(Message(uuid=name, role=role, content=" ".join(sentences)))
    return messages


def fill(store: DuckDBStore, sessions: int = 9) -> None:
    rng = random.Random(5)
    for number in range(sessions):
        store.add_memory(f"s{number}", conversation(rng, rng.randint(12, 40)))


def stored_summaries(store: DuckDBStore, sessions: int = 9) -> list[tuple[object, ...]]:
    return [
        (
            session,
            info.summary.uuid,
            info.summary.content,
            info.summary.token_count,
            info.summary.metadata,
            info.first_message_uuid,
            info.message_count,
        )
        for session in (f"s{number}" for number in range(sessions))
        for info in store.list_summaries(session)
    ]


@pytest.fixture
def small_runs_in_workers(monkeypatch: pytest.MonkeyPatch) -> None:
    """Runs of 4+ sessions in batches of 2 go to two worker processes (the machine
    seen as two idle cores, whatever its load)."""
    monkeypatch.setattr(summary_workers, "MIN_SESSIONS", 4)
    monkeypatch.setattr(summary_scheduler, "BATCH_SESSIONS", 2)
    monkeypatch.setattr(processes, "_cores_and_load", lambda: (2, 0.5))


def in_one_process(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> list[tuple[object, ...]]:
    with monkeypatch.context() as patch:
        patch.setattr(summary_workers, "MIN_SESSIONS", 10**9)
        with DuckDBStore(tmp_path / "one.duckdb", defer_summaries=True) as store:
            fill(store)
            store.wait_for_summaries()
            return stored_summaries(store)


def test_workers_store_exactly_what_one_process_stores(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, small_runs_in_workers: None
) -> None:
    expected = in_one_process(tmp_path, monkeypatch)
    assert len(expected) > 9  # every session has one summary or more
    drafted_here = []
    real_run = summary_workers.run_in_processes

    def spy(*args: object, **kwargs: object) -> object:
        drafted_here.append(kwargs["workers"].count)  # type: ignore[attr-defined]
        return real_run(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(summary_workers, "run_in_processes", spy)
    with DuckDBStore(tmp_path / "many.duckdb", defer_summaries=True) as store:
        fill(store)
        seen: list[tuple[int, int]] = []
        store.wait_for_summaries(progress=lambda done, total: seen.append((done, total)))
        assert drafted_here == [2]
        assert stored_summaries(store) == expected
        assert seen == [(0, 9), (2, 9), (4, 9), (6, 9), (8, 9), (9, 9)]
        again = store.summarize("s3", again=True)  # one session: in this process
        assert [info.summary.content for info in again] == [
            row[2] for row in expected if row[0] == "s3"
        ]


def test_a_run_writes_its_drafts_write_sessions_at_a_time(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, small_runs_in_workers: None
) -> None:
    """Drafts are written `WRITE_SESSIONS` sessions at a time (fewer statements and
    commits than batch by batch), and store what one process stores."""
    expected = in_one_process(tmp_path, monkeypatch)
    monkeypatch.setattr(summary_workers, "WRITE_SESSIONS", 3)
    written: list[list[int]] = []
    real_write = StoreSummaries.write_summaries

    def spy(host: StoreSummaries, batches: Sequence[Any], *, report: bool = True) -> Any:
        written.append([batch.key for batch in batches])
        return real_write(host, batches, report=report)

    monkeypatch.setattr(StoreSummaries, "write_summaries", spy)
    with DuckDBStore(tmp_path / "many.duckdb", defer_summaries=True) as store:
        fill(store)
        written.clear()  # the appends' own runs (one session each)
        store.wait_for_summaries()
        assert stored_summaries(store) == expected
    assert [len(keys) for keys in written] == [4, 4, 1]  # batches of 2 gathered to 3+


class FailsOnStorm(ExtractiveSummarizer):
    """The extractive summarizer, failing on a span whose first message mentions storms."""

    def summarize(self, previous: str | None, messages: Sequence[SpokenMessage]) -> SummaryDraft:
        if "Storm" in messages[0].content:
            raise RuntimeError(f"no summary of {messages[0].content[:20]!r}")
        return super().summarize(previous, messages)


def summarised_until_failure(path: Path) -> tuple[str, list[tuple[object, ...]]]:
    """Every session's summaries after a run with FailsOnStorm, and what it raised."""
    with DuckDBStore(path, summarizer=None) as plain:
        fill(plain)
    with DuckDBStore(path, summarizer=FailsOnStorm(), defer_summaries=True) as store:
        scheduler = store._summaries.scheduler()
        assert scheduler is not None
        with pytest.raises(RuntimeError) as raised:
            scheduler.run(range(1, 10))
        return str(raised.value), stored_summaries(store)


def test_a_failure_in_a_worker_ends_the_run_as_in_one_process(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, small_runs_in_workers: None
) -> None:
    with monkeypatch.context() as patch:
        patch.setattr(summary_workers, "MIN_SESSIONS", 10**9)
        expected = summarised_until_failure(tmp_path / "one.duckdb")
    error, stored = expected
    assert error.startswith("no summary of 'Storm")
    summarised = {row[0] for row in stored}
    assert summarised and len(summarised) < 9  # stopped in the middle
    assert summarised_until_failure(tmp_path / "many.duckdb") == expected


@pytest.mark.parametrize(
    ("cores", "load", "sessions", "workers"),
    [
        (2, 1.5, 7_168, 2),  # this import's own work: the other core is free
        (2, 3.5, 7_168, 0),  # other work keeps the cores busy: workers would only cost
        (1, 0.0, 7_168, 0),  # one core: nothing to gain
        (4, 0.0, 100, 0),  # a small run: a pool costs more than it saves
    ],
)
def test_workers_only_on_idle_cores_for_big_runs(
    monkeypatch: pytest.MonkeyPatch, cores: int, load: float, sessions: int, workers: int
) -> None:
    monkeypatch.setattr(processes, "_cores_and_load", lambda: (cores, load))
    assert summary_workers.worker_count(sessions) == workers


def test_workers_leave_what_they_inherit_out_of_their_garbage_collections() -> None:
    """Forked with the parent's objects frozen (gc.freeze): a worker's collections do
    not walk (and copy) them; the parent's collections go on as before."""
    kept = {1: [summary_scheduler.StoredMessage(1, "u", "Jane", None, "hi", 2)]}
    workers = summary_workers.Workers(ExtractiveSummarizer(), 12, kept, 2)
    try:
        assert workers.pool.submit(gc.get_freeze_count).result() > 0
    finally:
        workers.close()
    assert gc.get_freeze_count() == 0


def test_workers_forked_while_an_import_pauses_the_collector_collect() -> None:
    """A pool forked during a big import (which pauses the garbage collector) may serve
    a long run after it: its workers collect as usual."""
    kept = {1: [summary_scheduler.StoredMessage(1, "u", "Jane", None, "hi", 2)]}
    with zep_jsonl.collections_paused():
        workers = summary_workers.Workers(ExtractiveSummarizer(), 12, kept, 2)
    try:
        assert {workers.pool.submit(gc.isenabled).result() for _ in range(4)} == {True}
    finally:
        workers.close()


def test_a_worker_leaves_ctrl_c_to_the_process_that_forked_it(
    capfd: pytest.CaptureFixture[str],
) -> None:
    """A terminal's Ctrl-C reaches every process of its group: a worker ignores it (it
    printed a KeyboardInterrupt traceback of its own under `zeptui import`'s one-line
    error); the importing process stops the workers."""
    kept = {1: [summary_scheduler.StoredMessage(1, "u", "Jane", None, "hi", 2)]}
    workers = summary_workers.Workers(ExtractiveSummarizer(), 12, kept, 2)
    try:
        pids = {workers.pool.submit(os.getpid).result() for _ in range(8)}
        for pid in pids:
            os.kill(pid, signal.SIGINT)
        assert workers.pool.submit(int, "7").result() == 7  # still working
    finally:
        workers.close()
    assert "Traceback" not in capfd.readouterr().err


def test_workers_stopped_at_once_drop_the_batch_under_way() -> None:
    """After a failure, a cancel or Ctrl-C the run stops its workers at once: the batch
    under way is dropped, not waited for."""
    kept = {1: [summary_scheduler.StoredMessage(1, "u", "Jane", None, "hi", 2)]}
    workers = summary_workers.Workers(ExtractiveSummarizer(), 12, kept, 1)
    busy = workers.pool.submit(time.sleep, 20)
    for _ in range(1_000):  # until a worker has it (bounded)
        if busy.running():
            break
        time.sleep(0.01)
    workers.close(at_once=True)
    assert isinstance(busy.exception(), BrokenProcessPool)
    assert not multiprocessing.active_children()
