"""The Zep JSONL fast path summarises exactly as the reference reader's path (issue 9.23).

The fast path keeps the messages of the sessions a file creates and drafts their
summaries from them instead of reading them back (`summaries.backlogs`, `prepared`);
the reference path reads every backlog from the store. Both must store the same
summaries: spans, text, tokens, metadata, uuids, in the same order.
"""

from __future__ import annotations

import _thread
import json
import multiprocessing
import random
import signal
import threading
import time
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import duckdb
import pytest

from storage import processes, summary_scheduler, summary_workers
from storage.capabilities import ImportInterrupted
from storage.duckdb import DuckDBStore, summary_host, zep_counts
from storage.duckdb import summaries as summaries_sql
from storage.models import Message, RoleType, SearchQuery, SearchScope, SessionQuery
from storage.summarizers import ExtractiveSummarizer, SpokenMessage, SummaryDraft
from storage.summary_scheduler import Backlog
from tests.reliability import problems
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


def history(folder: Path) -> Path:
    """The corpus as a Zep JSONL file in `folder`."""
    path = folder / "history.jsonl"
    path.write_text("".join(json.dumps(line) + "\n" for line in corpus(random.Random(8))))
    return path


def found_summaries(store: DuckDBStore) -> list[tuple[str, float]]:
    """What a search of the summaries finds (every path indexes what it writes)."""
    found = store.search(SearchQuery(text="kayak", scope=SearchScope.summary, limit=1000))
    return sorted((hit.summary.uuid, round(hit.score, 9)) for hit in found if hit.summary)


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
        monkeypatch.setattr(zep_counts, "IN_MEMORY_BYTES", 0)
        monkeypatch.setattr(zep_counts, "TOKEN_BATCH", 40)
    sent: list[summary_workers.PlainBacklog] = []
    ahead: list[bool] = []
    if mode == "workers":
        sent, ahead = in_workers(monkeypatch)
    path = history(tmp_path)
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
        fast_summaries = summaries(fast), found_summaries(fast)
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
        reference_summaries = summaries(reference), found_summaries(reference)
        reference_messages = messages(reference)
    assert len({row[0] for row in fast_summaries[0]}) == 7  # every session has summaries
    assert fast_summaries[1]  # found by a search
    assert fast_summaries == reference_summaries
    assert fast_messages == reference_messages
    assert problems(tmp_path / "fast.duckdb") == []


def summarised_with_failure(path: Path, store_path: Path) -> tuple[list[str], list[object]]:
    """What a FailsOnStorm run stores after importing `path`, and its errors."""
    with DuckDBStore(store_path, summarizer=FailsOnStorm(), defer_summaries=True) as store:
        store.import_zep_jsonl(path, default_session_id="history")
        store.wait_for_summaries()
        return list(store.summary_errors), summaries(store)


def test_a_failure_drafting_ahead_ends_the_run_as_in_one_process(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = history(tmp_path)
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
    path = history(tmp_path)
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
    path = history(tmp_path)
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
    """The extractive summarizer, stalling (in a worker) longer than a test waits."""

    def summarize(self, previous: str | None, messages: Sequence[SpokenMessage]) -> SummaryDraft:
        time.sleep(30)
        return super().summarize(previous, messages)


def in_children(monkeypatch: pytest.MonkeyPatch) -> tuple[list[list[int]], list[int]]:
    """Imports whose tokens are counted by two forked children (as on idle cores),
    which then draft the new sessions; the lists fill with each share's session keys,
    and the sessions whose drafts the import took from the children."""
    monkeypatch.setattr(processes, "FORKED_COUNT_TEXTS", 10)
    monkeypatch.setattr(processes, "_cores_and_load", lambda: (2, 0.5))
    monkeypatch.setattr(summary_host, "PIECE_SESSIONS", 1)  # sent session by session
    shares: list[list[int]] = []
    taken: list[int] = []
    count, batches = processes.ForkedCount.count, summary_host.ShareDrafts.batches

    def spy_count(forked: processes.ForkedCount, texts: list[str], then: Any = None) -> None:
        if then is not None:  # the share's session keys
            shares.append(list(then.func.__self__.columns()[0]))
        count(forked, texts, then)

    def spy_batches(drafts: summary_host.ShareDrafts, check: Any) -> Any:
        for batch in batches(drafts, check):
            taken.extend(key for key, _ in batch)
            yield batch

    monkeypatch.setattr(processes.ForkedCount, "count", spy_count)
    monkeypatch.setattr(summary_host.ShareDrafts, "batches", spy_batches)
    monkeypatch.setattr(summary_workers.Workers, "__init__", no_workers)
    monkeypatch.setattr(zep_counts.BacklogRows, "__call__", nothing_kept)
    return shares, taken


def summary_sessions_in_id_order(path: Path) -> list[int]:
    """The session key of every summary of a session the import made, in the order of
    the summaries' ids."""
    with duckdb.connect(str(path), read_only=True) as conn:
        rows = conn.sql(
            "SELECT session_key FROM summaries WHERE session_key <> "
            "(SELECT id FROM sessions WHERE session_id = 'existing') ORDER BY id"
        ).fetchall()
    return [row[0] for row in rows]


def no_workers(*args: Any) -> None:
    raise AssertionError("the children draft: no workers")


def nothing_kept(*args: Any) -> None:
    raise AssertionError("the children draft: the import keeps no backlog")


def test_the_children_that_count_draft_as_the_reference_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = history(tmp_path)
    with DuckDBStore(tmp_path / "reference.duckdb", defer_summaries=True) as reference:
        prepare(reference)
        reference.import_sessions(ZepImporter().read(path))
        reference.wait_for_summaries()
        expected = summaries(reference), messages(reference), found_summaries(reference)
    assert expected[2]
    shares, taken = in_children(monkeypatch)
    with DuckDBStore(tmp_path / "fast.duckdb", defer_summaries=True) as fast:
        prepare(fast)
        fast.import_zep_jsonl(path, default_session_id="history")
        assert not fast._summaries.prepared  # all written by the import
        fast.wait_for_summaries()  # the existing session's
        assert (summaries(fast), messages(fast), found_summaries(fast)) == expected
    # Written with the import, batch by batch, and indexed as such; in the order of
    # the sessions, as a run writes them, though each child drafted every other one.
    assert problems(tmp_path / "fast.duckdb") == []
    assert summary_sessions_in_id_order(tmp_path / "fast.duckdb") == sorted(
        summary_sessions_in_id_order(tmp_path / "fast.duckdb")
    )
    # Two shares, each of whole sessions, alternating; the six new ones drafted by the
    # children.
    assert len(shares) == 2 and not set(shares[0]) & set(shares[1])
    assert {key % 2 for key in shares[0]} == {0} and {key % 2 for key in shares[1]} == {1}
    assert sorted(taken) == sorted(set(taken)) and len(taken) == 6
    assert not multiprocessing.active_children()


def test_a_failure_in_a_child_ends_the_drafts_as_in_one_process(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = history(tmp_path)
    expected = summarised_with_failure(path, tmp_path / "one.duckdb")
    _, taken = in_children(monkeypatch)
    monkeypatch.setattr(summary_workers, "MIN_SESSIONS", 1_000)  # the run after: here
    assert summarised_with_failure(path, tmp_path / "many.duckdb") == expected
    assert 0 < len(taken) < 6  # the sessions before the failing one


@pytest.mark.parametrize("how", ["cancel", "ctrl-c"])
@pytest.mark.parametrize("drafter", ["workers", "children"])
def test_a_stop_while_the_import_waits_for_its_drafts_leaves_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, how: str, drafter: str
) -> None:
    """The import writes the summaries drafted ahead (by workers, or by the children
    that counted its tokens) before it commits: a cancel (or Ctrl-C) while it waits
    for them rolls it all back, at once, and stops the processes drafting."""
    path = history(tmp_path)
    store_path = tmp_path / "x.duckdb"
    with DuckDBStore(store_path, summarizer=None) as plain:
        prepare(plain)
    before = every_table(store_path)
    drafting: list[Any] = []

    def stop() -> None:  # the cancel, or Ctrl-C
        if how == "cancel":
            transaction.interrupt()
        else:
            _thread.interrupt_main()

    def stop_while_waiting(batches: Any, processes: Any, drafts: Any, check: Any) -> Any:
        drafting.extend(processes)
        threading.Timer(0.3, stop).start()
        yield from batches(drafts, check)

    if drafter == "workers":
        in_workers(monkeypatch)
        batches = summary_workers.Workers.drafted_ahead_batches

        def workers_waiting(ahead: summary_workers.Workers, check: Any) -> Any:
            pool = ahead.pool._processes.values()  # type: ignore[attr-defined]
            return stop_while_waiting(batches, pool, ahead, check)

        monkeypatch.setattr(summary_workers.Workers, "drafted_ahead_batches", workers_waiting)
    else:
        in_children(monkeypatch)
        share_batches = summary_host.ShareDrafts.batches

        def children_waiting(drafts: summary_host.ShareDrafts, check: Any) -> Any:
            assert drafts.forked is not None
            children = [child for child, _ in drafts.forked._children]
            return stop_while_waiting(share_batches, children, drafts, check)

        monkeypatch.setattr(summary_host.ShareDrafts, "batches", children_waiting)
    expected = ImportInterrupted if how == "cancel" else KeyboardInterrupt
    with (
        DuckDBStore(store_path, summarizer=Stalls(), defer_summaries=True) as store,
        pytest.raises(expected),
        store.import_transaction() as transaction,
    ):
        store.import_zep_jsonl(path, default_session_id="history")
    # Stopped while they drafted (killed: a stalling draft takes half a minute), not
    # waited for.
    assert len(drafting) == 2 and not any(process.is_alive() for process in drafting)
    assert all(process.exitcode == -signal.SIGKILL for process in drafting)
    assert every_table(store_path) == before


def test_a_failure_taking_the_drafts_still_stops_the_workers(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Whatever fails once the import has taken the workers drafting ahead, they are
    stopped (they would draft on, and the store would wait for them as it closes)."""
    path = history(tmp_path)
    in_workers(monkeypatch)
    taken: list[Any] = []
    take_ahead = summary_scheduler.SummaryScheduler.take_ahead

    def spy(scheduler: summary_scheduler.SummaryScheduler) -> Any:
        ahead = take_ahead(scheduler)
        assert ahead is not None
        taken.extend(ahead.pool._processes.values())  # type: ignore[attr-defined]
        return ahead

    def broken(ahead: summary_workers.Workers, check: Any) -> Any:
        raise RuntimeError("broken")

    monkeypatch.setattr(summary_scheduler.SummaryScheduler, "take_ahead", spy)
    monkeypatch.setattr(summary_workers.Workers, "drafted_ahead_batches", broken)
    with DuckDBStore(tmp_path / "x.duckdb", summarizer=Stalls(), defer_summaries=True) as store:
        with pytest.raises(RuntimeError, match="broken"):
            store.import_zep_jsonl(path, default_session_id="history")
        assert len(taken) == 2 and not any(process.is_alive() for process in taken)
