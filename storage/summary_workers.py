"""Summaries drafted on every core: worker processes for a summarizer that only computes.

The extractive summarizer is Python, so one process drafts on one core whatever its
threads do. A run of many sessions (a big import) hands its batches of backlogs to
worker processes forked from the store's process (they start in milliseconds, with
the tokenizer already loaded), while this process reads the next batch and writes
the drafted ones in order. Workers only compute: they never touch the store's file,
and what they return is exactly what drafting in this process would give (the same
function drafts either way). The run stores and fails as a run in one process does:
batch by batch, oldest first; after a failure, what was drafted before it is stored
and the failure is raised.
"""

from __future__ import annotations

import gc
import multiprocessing
import pickle
from collections import deque
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from typing import Any

from storage import processes
from storage.models import SummaryInfo
from storage.summarizers import Summarizer, SummarizerError
from storage.summary_scheduler import (
    Backlog,
    Draft,
    Progress,
    SessionDrafts,
    StoredMessage,
    SummaryHost,
    draft_spans,
)
from storage.tokens import encoding

__all__ = ["MIN_SESSIONS", "Workers", "run_in_processes", "worker_count"]

MIN_SESSIONS = 1024
"""Runs of fewer sessions are drafted in the store's process (a pool costs more)."""

SpanDraft = tuple[int, int, int, str, dict[str, Any], int]
"""A draft as a worker returns it: the positions in the backlog of the first and last
messages it covers and how many it covers, content, metadata, tokens (the backlog's
messages are not sent back)."""

_job: tuple[Summarizer, int, Mapping[int, Sequence[StoredMessage]]] | None = None
"""The summarizer, the message window and the backlogs' messages the host held in
memory as the run began: set before the workers are forked, which inherit them (so a
summarizer need not be picklable, and those messages need not be sent)."""


def worker_count(sessions: int) -> int:
    """Worker processes for a run of `sessions`: one per spare core
    (`storage.processes.spare_cores`), or 0 for a run in this process (a small run,
    or no core to spare)."""
    return 0 if sessions < MIN_SESSIONS else processes.spare_cores()


_Drafting = Future[tuple[list[list[SpanDraft]], Any]]
"""A batch being drafted: each session's drafts, and the failure that ended it."""


class Workers:
    """Worker processes, forked now: they inherit the summarizer, the message window
    and `inherited`, sessions' backlog messages this process holds (an import's, kept
    for its summaries), so that a backlog of them is sent as its key (sending and
    rebuilding them cost more CPU than half of drafting them)."""

    def __init__(
        self,
        summarizer: Summarizer,
        window: int,
        inherited: Mapping[int, Sequence[StoredMessage]],
        count: int,
    ) -> None:
        global _job
        encoding()  # loaded once, before the fork
        self.count = count
        self.inherited = dict(inherited)
        self._ahead: dict[int, tuple[_Drafting, int]] = {}
        _job = (summarizer, window, self.inherited)
        self.pool = ProcessPoolExecutor(
            count,
            mp_context=multiprocessing.get_context("fork"),
            initializer=_worker_started,
        )
        try:
            with processes.frozen_heap():
                self.pool.submit(int).result()  # a fork pool forks every worker at its first
        except BaseException:
            self.close()
            raise
        finally:
            _job = None

    def draft_ahead(self, keys: Sequence[int]) -> None:
        """Start drafting the inherited sessions `keys` as sessions with no summary yet
        (their whole backlog the inherited messages), `AHEAD_SESSIONS` at a time."""
        for start in range(0, len(keys), AHEAD_SESSIONS):
            batch = keys[start : start + AHEAD_SESSIONS]
            future = self.pool.submit(_draft_batch, [(key, 0, None, None) for key in batch], False)
            self._ahead.update((key, (future, number)) for number, key in enumerate(batch))

    def drafted_ahead(self, backlog: Backlog) -> list[SpanDraft] | None:
        """The drafts `draft_ahead` made of `backlog`'s session, if they were drafted
        from this very backlog (the inherited messages, no summary before them) without
        a failure in their batch; else None (the run drafts it)."""
        found = self._ahead.pop(backlog.key, None)
        if (
            found is None
            or backlog.point
            or backlog.previous is not None
            or self.inherited.get(backlog.key) is not backlog.messages
        ):
            return None
        future, number = found
        drafted, error = future.result()
        return None if error is not None else drafted[number]

    def drafted_ahead_batches(
        self, check: Callable[[], None]
    ) -> Iterator[list[tuple[int, list[SpanDraft]]]]:
        """The sessions `draft_ahead` drafted (key, drafts), a batch at a time as each
        is done, in order, up to the first batch that failed: that one and those after
        are left out, for a run to draft them again and stop at the failure, as a run
        in one process does. `check` is called while waiting: what it raises (a
        cancel) is raised here. The sessions are then no longer ahead."""
        batches: dict[_Drafting, list[tuple[int, int]]] = {}
        for key, (future, number) in self._ahead.items():
            batches.setdefault(future, []).append((key, number))
        self._ahead.clear()
        for future, sessions in batches.items():
            while True:
                check()
                try:
                    spans, error = future.result(timeout=processes.WAIT_SECONDS)
                    break
                except TimeoutError:
                    continue
            if error is not None:
                return
            yield [(key, spans[number]) for key, number in sessions]

    def close(self, *, at_once: bool = False) -> None:
        """Stop the workers once the batches they draft are done (what they were still
        to draft is dropped), or `at_once` (after a failure, a cancel, Ctrl-C)."""
        if at_once:
            kill = getattr(self.pool, "kill_workers", None)  # Python 3.14 and later
            if kill is not None:
                kill()
            else:  # the executor's own processes: it has no public way to stop them
                for process in list((getattr(self.pool, "_processes", None) or {}).values()):
                    process.kill()
        self.pool.shutdown(wait=True, cancel_futures=True)


AHEAD_SESSIONS = 256
"""Sessions a worker drafts ahead at a time (a run waits for a whole batch)."""


def run_in_processes(
    host: SummaryHost,
    batches: Sequence[Sequence[int]],
    *,
    again: bool,
    workers: Workers,
    write: Callable[[list[SessionDrafts]], list[SummaryInfo]],
    progress: Progress | None,
) -> list[SummaryInfo]:
    """Draft the due summaries of `batches` (lists of session keys) on `workers` and
    store them with `write`, in order, `WRITE_SESSIONS` sessions at a time (progress
    counts the sessions drafted, batch by batch). Sessions the workers drafted ahead
    (`Workers.draft_ahead`) take those drafts. After a failure, what was drafted
    before it is stored and the failure raised."""
    total = sum(len(batch) for batch in batches)
    made: list[SummaryInfo] = []
    drafted_sessions = 0
    unwritten: list[SessionDrafts] = []
    pending: deque[tuple[int, list[Backlog], list[list[SpanDraft] | None], _Drafting]] = deque()
    for number, keys in enumerate(batches):
        backlogs = host.summary_backlogs(keys, again=again)
        ahead = [None if again else workers.drafted_ahead(backlog) for backlog in backlogs]
        sent = [
            _plain(backlog, workers.inherited)
            for backlog, drafted in zip(backlogs, ahead, strict=True)
            if drafted is None
        ]
        drafting: _Drafting = Future()
        if sent:
            drafting = workers.pool.submit(_draft_batch, sent, again)
        else:  # all drafted ahead: not queued behind the ahead drafting still to do
            drafting.set_result(([], None))
        pending.append((len(keys), backlogs, ahead, drafting))
        # Each worker busy with one batch and one more queued: the next is read
        # while they draft.
        while len(pending) > workers.count or (pending and number == len(batches) - 1):
            size, backlogs, ahead, future = pending.popleft()
            drafted, error = future.result()
            merged = _merged(ahead, drafted, failed=error is not None)
            unwritten += _session_drafts(backlogs, merged, again)
            if error is not None:
                made += write(unwritten)
                raise error
            if len(unwritten) >= WRITE_SESSIONS:
                made += write(unwritten)
                unwritten = []
            drafted_sessions += size
            if progress:
                progress(drafted_sessions, total)
    return made + write(unwritten) if unwritten else made


WRITE_SESSIONS = 8192
"""Drafted sessions written at a time: a big import's are all drafted by the time its
run begins (the workers draft them ahead), and writing 7,168 sessions' summaries at
once cost 1.06-1.10 s against 1.31-1.60 s in batches of 1,024 (fewer statements and
commits; bench/README.md)."""


def _merged(
    ahead: list[list[SpanDraft] | None], drafted: list[list[SpanDraft]], failed: bool
) -> list[list[SpanDraft]]:
    """A batch's drafts in order: those drafted ahead, the others as the workers
    drafted them; after a failure, up to the failing session (as `_draft_batch`)."""
    merged: list[list[SpanDraft]] = []
    fresh = iter(drafted)
    left = len(drafted)
    for spans in ahead:
        if spans is None:
            if not left:  # the batch failed before this session
                break
            spans = next(fresh)
            left -= 1
            merged.append(spans)
            if failed and not left:
                break
        else:
            merged.append(spans)
    return merged


def _session_drafts(
    backlogs: list[Backlog], drafted: list[list[SpanDraft]], again: bool
) -> list[SessionDrafts]:
    sessions: list[SessionDrafts] = []
    for backlog, spans in zip(backlogs, drafted, strict=False):
        messages = backlog.messages
        sessions.append(
            SessionDrafts(
                backlog.key,
                backlog.point,
                again,
                [
                    Draft(messages[first], messages[last], count, content, metadata, tokens)
                    for first, last, count, content, metadata, tokens in spans
                ],
            )
        )
    return sessions


PlainBacklog = tuple[int, int, str | None, tuple[tuple[Any, ...], ...] | None]
"""A Backlog as its messages' columns (ids, uuids, roles, role types, contents, token
counts): half the time to send of one named tuple per message, which pickle takes
apart field by field in Python. A role type is sent once per batch (pickle's memo).
None for messages the workers inherited (`_job`)."""


def _plain(backlog: Backlog, inherited: Mapping[int, Sequence[StoredMessage]]) -> PlainBacklog:
    messages = backlog.messages
    columns = None if inherited.get(backlog.key) is messages else tuple(zip(*messages, strict=True))
    return backlog.key, backlog.point, backlog.previous, columns


def _backlog(plain: PlainBacklog, inherited: Mapping[int, Sequence[StoredMessage]]) -> Backlog:
    key, point, previous, columns = plain
    if columns is None:
        return Backlog(key, point, previous, inherited[key])
    return Backlog(key, point, previous, list(map(StoredMessage._make, zip(*columns, strict=True))))


def _draft_batch(sent: list[PlainBacklog], again: bool) -> tuple[list[list[SpanDraft]], Any]:
    """In a worker: each session's drafts, and the failure that ended the batch (None).

    After a failure the failing session's drafts so far are kept, unless it is being
    summarised again (it then keeps its old summaries), as in one process.
    """
    assert _job is not None
    summarizer, window, inherited = _job
    drafted: list[list[SpanDraft]] = []
    for backlog in (_backlog(plain, inherited) for plain in sent):
        spans: list[SpanDraft] = []
        try:
            _draft_into(spans, summarizer, window, backlog)
        except Exception as error:
            if not again:
                drafted.append(spans)
            return drafted, _sendable(error)
        drafted.append(spans)
    return drafted, None


def _worker_started() -> None:
    """In a new worker: Ctrl-C is the parent's; and the garbage collector runs, even
    if the pool was forked while an import paused it (`zep_jsonl.collections_paused`):
    the pool may serve a long run after the import."""
    processes.leave_ctrl_c_to_the_parent()
    gc.enable()


def draft_sessions(
    summarizer: Summarizer, window: int, backlogs: Mapping[int, Sequence[StoredMessage]]
) -> tuple[list[tuple[int, list[SpanDraft]]], Exception | None]:
    """The drafts of sessions with no summary yet, whose whole backlogs `backlogs`
    holds, by key in its order, and the failure that ended them (None): the sessions
    before the failing one (a run after the import drafts that one again, and stores
    and reports as a run in one process does)."""
    drafted: list[tuple[int, list[SpanDraft]]] = []
    for key, messages in backlogs.items():
        spans: list[SpanDraft] = []
        try:
            _draft_into(spans, summarizer, window, Backlog(key, 0, None, messages))
        except Exception as error:
            return drafted, _sendable(error)
        drafted.append((key, spans))
    return drafted, None


def _draft_into(
    spans: list[SpanDraft], summarizer: Summarizer, window: int, backlog: Backlog
) -> None:
    """Append the backlog's drafts to `spans` as workers send them; what the summarizer
    raises is raised after the drafts before it."""
    for positions, draft in draft_spans(summarizer, window, backlog):
        spans.append(
            (
                positions[0],
                positions[-1],
                len(positions),
                draft.content,
                draft.metadata,
                draft.token_count,
            )
        )


def _sendable(error: Exception) -> Exception:
    """`error`, or a SummarizerError saying it, if it cannot be sent between processes."""
    try:
        pickle.loads(pickle.dumps(error))
    except Exception:
        return SummarizerError(f"{type(error).__name__}: {error}")
    return error
