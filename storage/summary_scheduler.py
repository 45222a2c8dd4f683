"""Summaries made off the write path, for any local store.

A store that makes Zep's progressive summaries implements `SummaryHost` and hands
it to a `SummaryScheduler`. For each batch of sessions the scheduler

1. reads each session's backlog (the messages after its summary point and the
   previous summary) through the host;
2. asks the policy (`storage.summary_policy.due_spans`) which spans are due and
   the summarizer for a draft of each, oldest first, each draft the context of
   the next. While a summarizer that waits on the network works, the host lets
   go of its file (`SummaryHost.offline`), and no write lock is ever held;
3. hands the drafts back to the host, which writes them in one short transaction
   unless the session's summary point moved meanwhile (another writer summarised
   it): then they are dropped and the session is left to the next run.

A network summarizer goes one span at a time (read, summarise offline, write), so
a failure or a deadline loses at most one draft; the offline extractive one goes
1,024 sessions at a time. Summarising a session again drafts all of it first, so
that its old summaries are replaced in one transaction or not at all.

Three modes: `inline` makes the summaries inside the call that scheduled them
(tests); `background` on one worker thread (a long-lived store); `deferred` when
the store calls `flush` or closes (a CLI process, whose file is then let go while
the network is waited on). A failure ends the run: what is still due stays due
(the policy reads it from the messages) and is made by the next run. Failures of
scheduled work are kept in `errors` (and logged); `run` raises them.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field, replace
from operator import itemgetter
from typing import TYPE_CHECKING, Any, Literal, NamedTuple, Protocol, overload, runtime_checkable

from storage.models import RoleType, SummaryInfo
from storage.sentences import truncate_to_sentences
from storage.summarizers import Summarizer, SummarizerError, SummaryDraft
from storage.summary_policy import MAX_SUMMARY_BYTES, MAX_SUMMARY_TOKENS, due_spans
from storage.tokens import count_tokens

if TYPE_CHECKING:
    from storage import summary_workers

__all__ = [
    "BACKGROUND_SESSIONS",
    "BATCH_SESSIONS",
    "Backlog",
    "ColumnMessages",
    "Draft",
    "MessageColumns",
    "Progress",
    "SessionDrafts",
    "StoredMessage",
    "SummaryHost",
    "SummaryMode",
    "SummaryScheduler",
    "WaitsForSummaries",
]

log = logging.getLogger(__name__)

BATCH_SESSIONS = 1024
"""Sessions read, summarised and written together by an offline summarizer. Writing
the summaries of a big import costs ~30% less CPU in batches of 1,024 than of 256
(fewer statements and commits: bench/README.md)."""
BACKGROUND_SESSIONS = 256
"""Sessions the background worker takes at a time: a long-lived store's writers (a
server's appends) wait for its write no longer than for one of these."""

_WAKE_SECONDS = 0.1
"""How often a wait for the background worker wakes up: a signal can land on any
thread, and only a waking main thread runs Python's handler for it (`zeptui serve`'s
second Ctrl-C while a summary hangs)."""

SummaryMode = Literal["inline", "background", "deferred"]
Progress = Callable[[int, int], None]
"""Called with (sessions done, sessions in the run) as a run goes."""


class StoredMessage(NamedTuple):
    """A message as the store hands it to the scheduler: a SpokenMessage with its id
    (the insertion order) and uuid. Light: a backlog can be a whole import."""

    id: int
    uuid: str
    role: str
    role_type: RoleType | None
    content: str
    token_count: int


class MessageColumns(NamedTuple):
    """Many sessions' messages as columns (an import's new messages, or a batch read
    back), each session's a run of rows: see `ColumnMessages`."""

    ids: Sequence[int]
    uuids: Sequence[str]
    roles: Sequence[str]
    role_types: Sequence[RoleType | None]
    contents: Sequence[str]
    token_counts: Sequence[int]


class ColumnMessages(Sequence[StoredMessage]):
    """One session's messages: the rows `start:end` of `columns`, shared with other
    sessions. A StoredMessage is made when asked for (all of them at once, and kept,
    when the session is read whole): a big import hands its backlogs over in
    milliseconds, and the messages of a backlog drafted in a worker process are made
    there, on another core."""

    __slots__ = ("_columns", "_end", "_made", "_start")

    def __init__(self, columns: MessageColumns, start: int, end: int) -> None:
        self._columns = columns
        self._start = start
        self._end = end
        self._made: list[StoredMessage] | None = None

    def __len__(self) -> int:
        return self._end - self._start

    @overload
    def __getitem__(self, index: int) -> StoredMessage: ...
    @overload
    def __getitem__(self, index: slice) -> list[StoredMessage]: ...
    def __getitem__(self, index: int | slice) -> StoredMessage | list[StoredMessage]:
        if isinstance(index, slice) or self._made is not None:
            return self.made()[index]
        size = self._end - self._start
        if not -size <= index < size:
            raise IndexError("message index out of range")
        row = self._start + index % size
        ids, uuids, roles, role_types, contents, token_counts = self._columns
        return StoredMessage(
            ids[row], uuids[row], roles[row], role_types[row], contents[row], token_counts[row]
        )

    def __iter__(self) -> Iterator[StoredMessage]:
        return iter(self.made())

    def __eq__(self, other: object) -> bool:
        """Equal to the same messages, made or listed."""
        if isinstance(other, ColumnMessages | list):
            return self.made() == list(other)
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]  # mutable contents, as a list's

    def picked(self, positions: Sequence[int]) -> list[StoredMessage]:
        """The messages at `positions` (0 or more), made now and not kept: a span's,
        read column by column (a fifth of the time of one `[position]` each)."""
        if self._made is not None:
            return [self._made[position] for position in positions]
        start = self._start
        rows = [start + position for position in positions]
        if len(rows) < 2:  # itemgetter of one gives the item, not a tuple
            return [self[position] for position in positions]
        pick = itemgetter(*rows)
        return list(map(StoredMessage._make, zip(*map(pick, self._columns), strict=True)))

    def message_id(self, index: int) -> int:
        """The id of message `index` (0 or more), read from its column."""
        return self._columns.ids[self._start + index]

    def contents(self) -> Sequence[str]:
        """The messages' contents, read from their column (no message is made)."""
        return self._columns.contents[self._start : self._end]

    def made(self) -> list[StoredMessage]:
        """Every message, made once."""
        if self._made is None:
            rows = slice(self._start, self._end)
            columns = (column[rows] for column in self._columns)
            self._made = list(map(StoredMessage._make, zip(*columns, strict=True)))
        return self._made


@dataclass(frozen=True)
class Backlog:
    """One session as the policy needs it."""

    key: int
    """The store's key for the session."""
    point: int
    """The store's id of the session's newest live summary (0: none); checked on write."""
    previous: str | None
    """That summary's content: the context of the next one."""
    messages: Sequence[StoredMessage]
    """The live messages after the summary point, oldest first."""


@dataclass(frozen=True)
class Draft:
    """A summary ready to store: its text and the span of messages it covers (what a
    stored summary keeps of them: the first, the last, how many)."""

    first: StoredMessage
    last: StoredMessage
    message_count: int
    content: str
    metadata: dict[str, Any]
    token_count: int


@dataclass
class SessionDrafts:
    """What to write for one session, if its summary point is still `point`."""

    key: int
    point: int
    replace: bool
    """Soft-delete the session's live summaries first (summarising it again)."""
    drafts: list[Draft] = field(default_factory=list)


class SummaryHost(Protocol):
    """What a store provides to have its summaries made by a SummaryScheduler."""

    def summary_backlogs(self, keys: Sequence[int], *, again: bool) -> list[Backlog]:
        """The backlogs of the live sessions among `keys`. With `again`, as if the
        sessions had no summaries (from their first message, no previous summary)."""
        ...

    def write_summaries(
        self, batches: Sequence[SessionDrafts], *, report: bool = True
    ) -> list[SummaryInfo]:
        """Store the drafts of each session whose summary point is still the one read
        (and which is still live), in one transaction; return the summaries stored
        (with `report`; building them costs a third of a big write)."""
        ...

    def offline(self) -> AbstractContextManager[None]:
        """A block during which the store may let go of its file."""
        ...

    def kept_backlog_messages(self) -> Mapping[int, Sequence[StoredMessage]]:
        """Sessions' messages the host holds in memory for their backlogs (an import
        kept them), by session key: `summary_backlogs` hands out these very lists
        while they are still the sessions' backlogs."""
        ...


@runtime_checkable
class WaitsForSummaries(Protocol):
    """A store whose summaries may still be in the making (a capability: ask with
    isinstance). `zeptui import` shows their progress while it waits."""

    def wait_for_summaries(self, progress: Progress | None = None) -> None:
        """Block until every scheduled summary is made, reporting progress."""
        ...


def draft_spans(
    summarizer: Summarizer, window: int, backlog: Backlog, limit: int | None = None
) -> Iterator[tuple[list[int], Draft]]:
    """Drafts of the backlog's due spans (at most `limit`), oldest first, each with the
    positions in `backlog.messages` of the messages it covers. Each draft is the
    context of the next; what the summarizer raises is raised after the drafts before."""
    previous = backlog.previous
    messages = backlog.messages
    if isinstance(messages, ColumnMessages):
        # Only the messages a draft covers are made, one span at a time, and none is
        # kept: a big run's messages would otherwise all live until it ends, and the
        # garbage collector walk them again and again.
        contents = messages.contents()
    else:
        contents = [message.content for message in messages]
    spans = due_spans(contents, window)
    for span in spans[:limit]:
        if isinstance(messages, ColumnMessages):
            covered = messages.picked(span)
        else:
            covered = [messages[position] for position in span]
        draft = within_limits(summarizer.summarize(previous, covered))
        metadata = dict(draft.metadata)
        metadata.setdefault("summarizer", summarizer.name)
        assert draft.token_count is not None
        yield (
            span,
            Draft(
                covered[0], covered[-1], len(covered), draft.content, metadata, draft.token_count
            ),
        )
        previous = draft.content


def within_limits(draft: SummaryDraft) -> SummaryDraft:
    """The draft stripped, counted, and cut after a whole sentence if over the size
    limits (whatever the summarizer: a custom one may return anything)."""
    content = draft.content.strip()
    if len(content.encode()) <= MAX_SUMMARY_BYTES:  # else too long to count first
        tokens = draft.token_count
        if tokens is None or content != draft.content:
            tokens = count_tokens(content)
        if tokens <= MAX_SUMMARY_TOKENS:
            if content == draft.content and tokens == draft.token_count:
                return draft
            return replace(draft, content=content, token_count=tokens)
    kept = truncate_to_sentences(content, MAX_SUMMARY_TOKENS, MAX_SUMMARY_BYTES)
    if not kept:
        raise SummarizerError(
            f"the {draft.metadata.get('summarizer', 'summarizer')} summary has no whole "
            f"sentence within {MAX_SUMMARY_TOKENS} tokens and {MAX_SUMMARY_BYTES:,} bytes"
        )
    return SummaryDraft(kept, {**draft.metadata, "truncated": True}, count_tokens(kept))


class SummaryScheduler:
    """Runs the summary policy for a store's sessions, off its write path."""

    def __init__(
        self, host: SummaryHost, summarizer: Summarizer, window: int, mode: SummaryMode
    ) -> None:
        self.host = host
        self.summarizer = summarizer
        self.window = window
        self.mode = mode
        self.errors: list[str] = []
        """Failures of scheduled work, oldest first (a UI shows them as warnings)."""
        self._run_lock = threading.Lock()
        self._state_lock = threading.Lock()
        self._pending: dict[int, None] = {}
        self._queue: queue.Queue[int | None] = queue.Queue()
        self._worker: threading.Thread | None = None
        self._ahead: summary_workers.Workers | None = None

    # --- scheduling -----------------------------------------------------------------

    def schedule(self, keys: Iterable[int]) -> None:
        """Make the sessions' due summaries, when the mode says."""
        keys = list(keys)
        if not keys:
            return
        if self.mode == "inline":
            self._run_reporting(keys)
        elif self.mode == "deferred":
            with self._state_lock:
                self._pending.update(dict.fromkeys(keys))
        else:
            with self._state_lock:
                fresh = [key for key in keys if key not in self._pending]
                self._pending.update(dict.fromkeys(fresh))
                if self._worker is None and fresh:
                    self._worker = threading.Thread(
                        target=self._work, name="zeptui-summaries", daemon=True
                    )
                    self._worker.start()
            for key in fresh:
                self._queue.put(key)

    def flush(self, progress: Progress | None = None) -> None:
        """Make every scheduled summary now (deferred) or wait for them (background)."""
        if self.mode == "background":
            with self._queue.all_tasks_done:  # Queue.join, waking up now and then
                while self._queue.unfinished_tasks:
                    self._queue.all_tasks_done.wait(_WAKE_SECONDS)
            return
        with self._state_lock:
            keys = list(self._pending)
            self._pending.clear()
        if keys:
            self._run_reporting(keys, progress)

    def close(self) -> None:
        """Finish the scheduled work and stop the worker thread."""
        if self.mode == "deferred":
            try:
                self.flush()
            finally:
                self.drop_ahead()
        elif self._worker is not None:
            self._queue.put(None)
            while self._worker.is_alive():
                self._worker.join(_WAKE_SECONDS)
            self._worker = None

    def _work(self) -> None:
        while True:
            batch = [self._queue.get()]
            # Take whatever else is queued, so a big import is summarised in batches.
            while len(batch) < BACKGROUND_SESSIONS:
                try:
                    batch.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            keys = [key for key in batch if key is not None]
            try:
                with self._state_lock:
                    for key in keys:
                        self._pending.pop(key, None)
                if keys:
                    self._run_reporting(keys)
            finally:
                for _ in batch:
                    self._queue.task_done()
            if None in batch:
                return

    def _run_reporting(self, keys: Sequence[int], progress: Progress | None = None) -> None:
        try:
            self.run(keys, progress=progress, report=False)
        except Exception as error:  # scheduled work reports, never raises into a write
            log.warning("summaries failed: %s", error)
            self.errors.append(str(error))

    # --- running --------------------------------------------------------------------

    def run(
        self,
        keys: Sequence[int],
        *,
        again: bool = False,
        progress: Progress | None = None,
        report: bool = True,
    ) -> list[SummaryInfo]:
        """Make the due summaries of the sessions `keys` now; returns those stored
        (all of them with `report`; a network summarizer's always).

        With `again`, each session is summarised from its first message and its
        old summaries are soft-deleted when the new ones are stored (in the same
        transaction, so a failure leaves them). Raises what the summarizer raises,
        after storing what was made before it.
        """
        keys = list(dict.fromkeys(keys))
        made: list[SummaryInfo] = []
        if progress:
            progress(0, len(keys))
        with self._run_lock:
            if self.summarizer.waits_on_network:
                for done, key in enumerate(keys, start=1):
                    made += self._run_one_span_at_a_time(key, again)
                    if progress:
                        progress(done, len(keys))
                return made
            batches = [
                keys[start : start + BATCH_SESSIONS]
                for start in range(0, len(keys), BATCH_SESSIONS)
            ]
            workers = self._workers(len(keys))
            if workers is not None:  # on every core
                from storage import summary_workers

                stopped = True  # by a failure, a cancel or Ctrl-C, until it returns
                try:
                    made = summary_workers.run_in_processes(
                        self.host,
                        batches,
                        again=again,
                        workers=workers,
                        write=lambda drafts: self._write(drafts, report),
                        progress=progress,
                    )
                    stopped = False
                    return made
                finally:
                    workers.close(at_once=stopped)
            done = 0
            for batch in batches:
                made += self._run_batch(batch, again, report)
                done += len(batch)
                if progress:
                    progress(done, len(keys))
        return made

    def draft_ahead(self, kept: Mapping[int, Sequence[StoredMessage]]) -> None:
        """Start drafting, on worker processes, the summaries of new sessions whose
        messages `kept` holds (an import's, before it commits): a deferred run of a
        summarizer that only computes takes those drafts while the sessions' backlogs
        are still those messages. Only where a run would use workers."""
        from storage import summary_workers

        self.drop_ahead()
        if self.mode != "deferred" or not self.summarizer.only_computes:
            return
        count = summary_workers.worker_count(len(kept))
        if not count:
            return
        try:
            ahead = summary_workers.Workers(self.summarizer, self.window, kept, count)
        except Exception as error:  # it only saves time: never fail the import for it
            log.warning("summaries not drafted ahead: %s", error)
            return
        try:
            ahead.draft_ahead(sorted(kept))
        except BaseException:
            ahead.close(at_once=True)
            raise
        with self._state_lock:
            self._ahead = ahead

    def take_ahead(self) -> summary_workers.Workers | None:
        """The workers drafting ahead, if any, for the caller to take their drafts
        and close them."""
        with self._state_lock:
            ahead, self._ahead = self._ahead, None
        return ahead

    def drop_ahead(self) -> None:
        """Stop drafting ahead (the import was rolled back, or the store closes)."""
        with self._state_lock:
            ahead, self._ahead = self._ahead, None
        if ahead is not None:
            ahead.close(at_once=True)

    def _workers(self, sessions: int) -> summary_workers.Workers | None:
        """The worker processes of a run of `sessions`: those drafting ahead, else new
        ones if the run is big enough (`summary_workers.worker_count`); None: draft
        in this process."""
        with self._state_lock:
            ahead, self._ahead = self._ahead, None
        if ahead is not None or not self.summarizer.only_computes:
            return ahead
        from storage import summary_workers

        count = summary_workers.worker_count(sessions)
        if not count:
            return None
        return summary_workers.Workers(
            self.summarizer, self.window, self.host.kept_backlog_messages(), count
        )

    def _run_batch(self, keys: Sequence[int], again: bool, report: bool) -> list[SummaryInfo]:
        """Every due span of up to BATCH_SESSIONS sessions: one read, one write.

        On a failure, what was drafted before it is stored, except for a session
        being summarised again: that one keeps its old summaries.
        """
        batches: list[SessionDrafts] = []
        for backlog in self.host.summary_backlogs(keys, again=again):
            batch = SessionDrafts(backlog.key, backlog.point, again)
            try:
                self._draft_spans(backlog, batch.drafts, limit=None)
            except Exception:
                self._write(batches if again else [*batches, batch], report)
                raise
            batches.append(batch)
        return self._write(batches, report)

    def _run_one_span_at_a_time(self, key: int, again: bool) -> list[SummaryInfo]:
        """A session's due spans, each read, summarised offline and written in turn.

        Summarising `again` drafts every span before writing, so that the old
        summaries are replaced in one transaction or not at all.
        """
        made: list[SummaryInfo] = []
        while True:
            backlogs = self.host.summary_backlogs([key], again=again)
            if not backlogs:
                return made
            backlog = backlogs[0]
            batch = SessionDrafts(key, backlog.point, again)
            with self.host.offline():
                self._draft_spans(backlog, batch.drafts, limit=None if again else 1)
            written = self._write([batch], report=True)  # tells whether the point moved
            made += written
            if again or not written:  # all done, nothing was due, or the point moved
                return made

    def _draft_spans(self, backlog: Backlog, drafts: list[Draft], limit: int | None) -> None:
        """Append drafts of the backlog's due spans (at most `limit`), oldest first."""
        drafts.extend(
            draft for _, draft in draft_spans(self.summarizer, self.window, backlog, limit)
        )

    def _write(self, batches: list[SessionDrafts], report: bool) -> list[SummaryInfo]:
        """Let the host store the batches that change something."""
        batches = [batch for batch in batches if batch.drafts or batch.replace]
        return self.host.write_summaries(batches, report=report) if batches else []
