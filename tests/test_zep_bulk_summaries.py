"""The Zep JSONL fast path summarises exactly as the reference reader's path (issue 9.23).

The fast path keeps the messages of the sessions a file creates and drafts their
summaries from them instead of reading them back (`summaries.backlogs`, `prepared`);
the reference path reads every backlog from the store. Both must store the same
summaries: spans, text, tokens, metadata, uuids, in the same order.
"""

from __future__ import annotations

import _thread
import json
import random
import threading
import time
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from storage import processes, summary_scheduler, summary_workers
from storage.capabilities import ImportInterrupted
from storage.duckdb import DuckDBStore, zep_jsonl
from storage.duckdb import summaries as summaries_sql
from storage.models import Message, RoleType, SearchQuery, SessionQuery
from storage.summarizers import ExtractiveSummarizer, SpokenMessage, SummaryDraft
from storage.summary_scheduler import Backlog
from tests.store_tables import every_table
from tests.test_summary_workers import WORDS, FailsOnStorm
from zeptui.importers.zep import ZepImporter

ROLES = [("Jane", "user"), ("Guide", "assistant"), ("human", None), ("narrator", None)]


def corpus(rng: random.Random) -> list[dict[str, Any]]:
    """Zep JSONL lines: sessions of 16-40 turns whose lines interleave (several runs of
    one session), free-form roles with no role type, whitespace-only turns, one
    session that the stores already hold."""
    lines: list[dict[str, Any]] = []
    queues = {f"s{number}": rng.randint(16, 40) for number in range(6)} | {"existing": 14}
    while queues:
        session = rng.choice(sorted(queues))
        for _ in range(min(queues[session], rng.randint(1, 12))):
            role, role_type = rng.choice(ROLES)
            content = " ".join(rng.choice(WORDS) for _ in range(rng.randint(2, 30)))
            line: dict[str, Any] = {
                "session_id": session,
                "uuid": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
                "role": role,
                "content": "  " if rng.random() < 0.05 else content.capitalize() + ".",
            }
            if role_type:
                line["role_type"] = role_type
            lines.append(line)
            queues[session] -= 1
        queues = {name: left for name, left in queues.items() if left}
    return lines


def summaries(store: DuckDBStore) -> list[tuple[object, ...]]:
    page = store.session_page(SessionQuery(limit=100)).sessions
    return [
        (
            info.session.session_id,
            found.summary.uuid,
            found.summary.content,
            found.summary.token_count,
            found.summary.metadata,
            found.summary.recent_message_uuid,
            found.first_message_uuid,
            found.message_count,
        )
        for info in page
        for found in store.list_summaries(info.session.session_id)
    ]


def messages(store: DuckDBStore) -> list[tuple[object, ...]]:
    """Every message as stored (times aside), its session's uuid, and what search finds."""
    page = store.session_page(SessionQuery(limit=100)).sessions
    found = store.search(SearchQuery(text="kayak", limit=1000))
    return [
        (info.session.uuid, m.uuid, m.role, m.role_type, m.content, m.token_count)
        for info in page
        for m in store.list_messages(info.session.session_id, limit=0).messages
    ] + sorted((hit.message.uuid, round(hit.score, 9)) for hit in found if hit.message)


def turn(number: int, content: str) -> Message:
    return Message(
        uuid=str(uuid.UUID(int=number)), role="Jane", role_type=RoleType.user, content=content
    )


def in_workers(
    monkeypatch: pytest.MonkeyPatch,
) -> tuple[list[summary_workers.PlainBacklog], list[bool]]:
    """Summary runs of 4+ sessions on two worker processes, two sessions a batch; the
    lists fill with the backlogs sent to the workers and, for each backlog a run
    reads, whether the workers had drafted it ahead."""
    monkeypatch.setattr(summary_workers, "MIN_SESSIONS", 4)
    monkeypatch.setattr(summary_workers, "AHEAD_SESSIONS", 2)
    monkeypatch.setattr(summary_scheduler, "BATCH_SESSIONS", 2)
    monkeypatch.setattr(processes, "_cores_and_load", lambda: (2, 0.5))
    sent: list[summary_workers.PlainBacklog] = []
    ahead: list[bool] = []
    plain, drafted_ahead = summary_workers._plain, summary_workers.Workers.drafted_ahead

    def spy_ahead(workers: summary_workers.Workers, backlog: Backlog) -> object:
        drafted = drafted_ahead(workers, backlog)
        ahead.append(drafted is not None)
        return drafted

    monkeypatch.setattr(
        summary_workers, "_plain", lambda *args: sent.append(plain(*args)) or sent[-1]
    )
    monkeypatch.setattr(summary_workers.Workers, "drafted_ahead", spy_ahead)
    return sent, ahead


def prepare(store: DuckDBStore) -> None:
    """What both stores hold before the import: a session with a summary."""
    store.add_memory("existing", [turn(n + 1, f"Old turn {n} about maps.") for n in range(13)])
    store.wait_for_summaries()


LATE = turn(99, "Late turn about the ferry.")


@pytest.mark.parametrize(
    "mode",
    ["held", "batches", "workers"],
    ids=["held in memory", "read in batches", "held, drafted by workers"],
)
def test_fast_path_summarises_as_the_reference_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, mode: str
) -> None:
    held = mode != "batches"
    if not held:  # as a file too big to hold: counted in batches, backlogs read back
        monkeypatch.setattr(zep_jsonl, "IN_MEMORY_BYTES", 0)
        monkeypatch.setattr(zep_jsonl, "TOKEN_BATCH", 40)
    sent: list[summary_workers.PlainBacklog] = []
    ahead: list[bool] = []
    if mode == "workers":
        sent, ahead = in_workers(monkeypatch)
    path = tmp_path / "history.jsonl"
    path.write_text("".join(json.dumps(line) + "\n" for line in corpus(random.Random(8))))
    with DuckDBStore(tmp_path / "fast.duckdb", defer_summaries=True) as fast:
        prepare(fast)
        fast.import_zep_jsonl(path, default_session_id="history")
        kept = fast._summaries.prepared
        if mode == "workers":
            # The workers drafted the new sessions while the import went on, and the
            # import wrote their summaries itself: nothing kept, nothing left to draft.
            assert not kept
            assert len({row[0] for row in summaries(fast)}) == 7  # and the existing one
        else:
            # The new sessions' messages were kept for their summaries, exactly as a
            # backlog reads them back (the existing session's is read back).
            copy = dict(kept)
            kept.clear()
            read_back = fast._summaries.summary_backlogs(list(copy), again=False)
            assert {backlog.key: backlog.messages for backlog in read_back} == copy
            assert len(copy) == (6 if held else 0)
            kept.update(copy)
        # A message added before the summaries are made: that session's kept
        # messages are no longer all it has, so its backlog is read back too.
        fast.add_memory("s1", [LATE])
        fast.wait_for_summaries()
        assert not kept
        fast_summaries = summaries(fast)
        fast_messages = messages(fast)
    if mode == "workers":
        # The run after the import drafted the sessions left (the existing one, and
        # s1 after its late message) in this process: too few for workers.
        assert ahead == [] and sent == []
    with DuckDBStore(tmp_path / "reference.duckdb", defer_summaries=True) as reference:
        prepare(reference)
        reference.import_sessions(ZepImporter().read(path))
        if mode == "workers":  # the new sessions' summaries were made with the import
            reference.wait_for_summaries()
        reference.add_memory("s1", [LATE])
        reference.wait_for_summaries()
        reference_summaries = summaries(reference)
        reference_messages = messages(reference)
    assert len({row[0] for row in fast_summaries}) == 7  # every session has summaries
    assert fast_summaries == reference_summaries
    assert fast_messages == reference_messages


def summarised_with_failure(path: Path, store_path: Path) -> tuple[list[str], list[object]]:
    """What a FailsOnStorm run stores after importing `path`, and its errors."""
    with DuckDBStore(store_path, summarizer=FailsOnStorm(), defer_summaries=True) as store:
        store.import_zep_jsonl(path, default_session_id="history")
        store.wait_for_summaries()
        return list(store.summary_errors), summaries(store)


def test_a_failure_drafting_ahead_ends_the_run_as_in_one_process(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "history.jsonl"
    path.write_text("".join(json.dumps(line) + "\n" for line in corpus(random.Random(8))))
    expected = summarised_with_failure(path, tmp_path / "one.duckdb")
    errors, stored = expected
    assert len(errors) == 1 and errors[0].startswith("no summary of 'Storm")
    assert 0 < len({row[0] for row in stored}) < 6  # stopped in the middle
    in_workers(monkeypatch)
    written: list[int] = []
    insert_first = summaries_sql.insert_first

    def spy(cursor: Any, drafted: Any, now: Any) -> list[int]:
        written.append(len(drafted))
        return insert_first(cursor, drafted, now)

    monkeypatch.setattr(summaries_sql, "insert_first", spy)
    assert summarised_with_failure(path, tmp_path / "many.duckdb") == expected
    # The import wrote the sessions of the batches before the failing one; the run
    # after it drafted that batch again, and stopped at the failure.
    assert 0 < sum(written) < len({row[0] for row in stored})


def test_a_rolled_back_import_stops_drafting_ahead(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "history.jsonl"
    path.write_text("".join(json.dumps(line) + "\n" for line in corpus(random.Random(8))))
    in_workers(monkeypatch)
    started: list[Any] = []
    draft_ahead = summary_workers.Workers.draft_ahead

    def spy(workers: summary_workers.Workers, keys: list[int]) -> None:
        started.extend(workers.pool._processes.values())  # type: ignore[attr-defined]
        draft_ahead(workers, keys)

    monkeypatch.setattr(summary_workers.Workers, "draft_ahead", spy)
    with DuckDBStore(tmp_path / "x.duckdb", defer_summaries=True) as store:
        with pytest.raises(KeyboardInterrupt), store.import_transaction():
            store.import_zep_jsonl(path, default_session_id="history")
            raise KeyboardInterrupt  # as a cancel after the file
        assert len(started) == 2  # two workers were drafting ahead, and are gone
        assert not any(process.is_alive() for process in started)
        assert store.session_page(SessionQuery(limit=10)).sessions == []
        store.wait_for_summaries()  # nothing to make


def test_workers_that_cannot_start_ahead_fail_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "history.jsonl"
    path.write_text("".join(json.dumps(line) + "\n" for line in corpus(random.Random(8))))
    with DuckDBStore(tmp_path / "one.duckdb", defer_summaries=True) as store:
        store.import_zep_jsonl(path, default_session_id="history")
        store.wait_for_summaries()
        expected = summaries(store)
    _, ahead = in_workers(monkeypatch)
    real_init = summary_workers.Workers.__init__
    started: list[bool] = []

    def first_cannot_fork(workers: summary_workers.Workers, *args: Any) -> None:
        started.append(bool(started))
        if len(started) == 1:  # the workers the import starts to draft ahead
            raise OSError("no fork for you")
        real_init(workers, *args)

    monkeypatch.setattr(summary_workers.Workers, "__init__", first_cannot_fork)
    with DuckDBStore(tmp_path / "x.duckdb", defer_summaries=True) as store:
        store.import_zep_jsonl(path, default_session_id="history")
        assert "summaries not drafted ahead: no fork for you" in caplog.text
        store.wait_for_summaries()  # drafted by workers started for the run
        assert summaries(store) == expected
    assert started == [False, True]
    assert ahead and not any(ahead)


class Stalls(ExtractiveSummarizer):
    """The extractive summarizer, stalling (in a worker) as long as a test may wait."""

    def summarize(self, previous: str | None, messages: Sequence[SpokenMessage]) -> SummaryDraft:
        time.sleep(STALL_SECONDS)
        return super().summarize(previous, messages)


STALL_SECONDS = 30.0


@pytest.mark.parametrize("how", ["cancel", "ctrl-c"])
def test_a_stop_while_the_import_waits_for_its_drafts_leaves_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, how: str
) -> None:
    """The import writes the summaries the workers drafted ahead before it commits: a
    cancel (or Ctrl-C) while it waits for them rolls it all back, at once, and stops
    the workers."""
    path = tmp_path / "history.jsonl"
    path.write_text("".join(json.dumps(line) + "\n" for line in corpus(random.Random(8))))
    store_path = tmp_path / "x.duckdb"
    with DuckDBStore(store_path, summarizer=None) as plain:
        prepare(plain)
    before = every_table(store_path)
    in_workers(monkeypatch)
    workers: list[Any] = []
    batches = summary_workers.Workers.drafted_ahead_batches

    def stop_while_waiting(ahead: summary_workers.Workers, check: Any, progress: Any) -> Any:
        workers.extend(ahead.pool._processes.values())  # type: ignore[attr-defined]
        if how == "cancel":
            threading.Timer(0.3, transaction.interrupt).start()
        else:
            threading.Timer(0.3, _thread.interrupt_main).start()
        yield from batches(ahead, check, progress)

    monkeypatch.setattr(summary_workers.Workers, "drafted_ahead_batches", stop_while_waiting)
    expected = ImportInterrupted if how == "cancel" else KeyboardInterrupt
    started = time.monotonic()
    with DuckDBStore(store_path, summarizer=Stalls(), defer_summaries=True) as store:
        with pytest.raises(expected), store.import_transaction() as transaction:
            store.import_zep_jsonl(path, default_session_id="history")
        assert time.monotonic() - started < STALL_SECONDS  # not after the drafts
        assert len(workers) == 2 and not any(process.is_alive() for process in workers)
    assert every_table(store_path) == before
