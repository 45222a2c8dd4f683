"""The store's side of Zep's summaries, apart from its queries: the scheduler, made on
first use, and the `SummaryHost` it works through (each batch's backlogs, the drafts
written back, the file let go while a language model is waited on), with the backlogs
an import kept for it. `DuckDBStore` owns one; the queries are
storage/duckdb/summaries.py, the policy and the work storage/summary_scheduler.py.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager, nullcontext
from datetime import datetime
from functools import partial
from typing import TYPE_CHECKING, Any, cast

from storage.duckdb import summaries
from storage.duckdb.connection import Cursor, Database, one_thread
from storage.duckdb.summaries import FirstSummary
from storage.models import SummaryInfo

if TYPE_CHECKING:
    from storage.processes import ForkedCount
    from storage.summarizers import Summarizer
    from storage.summary_scheduler import (
        Backlog,
        Progress,
        SessionDrafts,
        StoredMessage,
        SummaryMode,
        SummaryScheduler,
    )


log = logging.getLogger(__name__)


class DefaultSummarizer:
    """Marker: use the offline extractive summarizer."""


DEFAULT_SUMMARIZER = DefaultSummarizer()

IMPORT_WRITE_SESSIONS = 1024
"""Sessions drafted ahead written by one statement, while the rest are drafted."""
PIECE_SESSIONS = 512
"""Sessions a child drafting its share sends back at a time (`ShareDrafts.draft`): the
import writes and indexes a piece of each child's while they draft the next."""

KeptBacklogs = dict[int, Sequence["StoredMessage"]]
"""Sessions' messages an import holds for their summaries, by session key."""


class ShareDrafts:
    """The summaries of an import's new sessions drafted by the children forked to
    count its tokens (`zep_counts._read_counted_by_children`): each child, once it has
    sent its share's counts, drafts the share's new sessions (every n-th session of
    the import, for n children) and sends the drafts back a piece at a time; the
    import takes a piece of every child's at once, a run of sessions in key order
    (`batches`), and writes it while they draft on (`StoreSummaries.write_drafted_ahead`),
    so summaries get their ids in the sessions' order, as a run in one process gives
    them. Its owner `close`s it."""

    def __init__(self, summarizer: Summarizer, window: int) -> None:
        self._summarizer = summarizer
        self._window = window
        self.first_new = 0
        """The key of the import's first new session (those from it on are drafted)."""
        self.sessions = 0
        """How many sessions the import created (for progress)."""
        self.forked: ForkedCount | None = None
        """The children, once forked (`fork`)."""

    def fork(self) -> ForkedCount:
        """The children to come: they count, then draft (`draft`)."""
        from storage.processes import ForkedCount

        self.forked = ForkedCount()
        return self.forked

    def draft(
        self, share: Sequence[Sequence[Any]], counts: list[int]
    ) -> Iterator[tuple[list[tuple[int, list[FirstSummary]]], int | None]]:
        """In a child: the summaries of the new sessions among the rows `share` (columns
        as `summaries.backlog_messages` takes them, ordered by session key; no uuids are
        needed) with their token counts, as `summaries.insert_first` stores them,
        `PIECE_SESSIONS` sessions at a time, each piece with the key of the session
        whose drafting failed (None), which ends them (`summary_workers.draft_sessions`)."""
        from storage.summary_workers import draft_sessions

        backlogs = list(summaries.new_backlogs(share, counts, self.first_new).items())
        for start in range(0, len(backlogs), PIECE_SESSIONS):
            piece = dict(backlogs[start : start + PIECE_SESSIONS])
            drafted, error = draft_sessions(self._summarizer, self._window, piece)
            made = [(key, summaries.first_summaries(piece[key], spans)) for key, spans in drafted]
            failed = None if error is None else list(piece)[len(drafted)]
            yield made, failed
            if failed is not None:
                return

    def batches(self, check: Callable[[], None]) -> Iterator[list[tuple[int, list[FirstSummary]]]]:
        """The children's drafts in session key order, a piece of every child's at a
        time (the shares alternate sessions: together the pieces are a run of keys), up
        to the first failure (the sessions before it; the rest are left to the run
        after the import, which meets the failure again and reports it). `check` is
        called while waiting (a cancel raises there)."""
        if self.forked is None:
            return
        streams = [self.forked.stream(share, check) for share in range(self.forked.shares)]
        while streams:
            merged: list[tuple[int, list[FirstSummary]]] = []
            failed: list[int] = []
            for stream in list(streams):
                piece = next(stream, None)
                if piece is None:
                    streams.remove(stream)
                    continue
                if isinstance(piece, str):  # a child that could not draft: it only saves time
                    log.warning("summaries not drafted ahead: %s", piece)
                    return
                made, failing = cast(tuple[list[tuple[int, list[FirstSummary]]], int | None], piece)
                merged += made
                if failing is not None:
                    failed.append(failing)
            cut = min(failed, default=None)
            merged.sort(key=lambda session: session[0])
            if cut is not None:
                yield [session for session in merged if session[0] < cut]
                return
            if merged:
                yield merged

    def close(self) -> None:
        """Stop the children (drafts not taken are dropped)."""
        if self.forked is not None:
            self.forked.stop()


class StoreSummaries:
    """The summaries of one store's file: `summarizer` (None: no summaries) drafts
    them in `mode` for a message window of `window` (see `DuckDBStore`)."""

    def __init__(
        self,
        db: Database,
        window: int,
        summarizer: Summarizer | DefaultSummarizer | None,
        mode: SummaryMode,
        *,
        read_only: bool,
    ) -> None:
        self._db = db
        self._window = window
        self._summarizer = summarizer
        self._mode = mode
        self._read_only = read_only
        self._scheduler: SummaryScheduler | None = None
        self.prepared: KeptBacklogs = {}
        """Backlogs an import kept for the summaries it scheduled (summaries.backlogs)."""

    def scheduler(self) -> SummaryScheduler | None:
        """The summary scheduler, made on first use; None when no summaries are made."""
        if self._scheduler is None and self._summarizer is not None:
            from storage.summarizers import ExtractiveSummarizer
            from storage.summary_scheduler import SummaryScheduler

            choice = self._summarizer
            summarizer = ExtractiveSummarizer() if isinstance(choice, DefaultSummarizer) else choice
            self._scheduler = SummaryScheduler(self, summarizer, self._window, self._mode)
        return self._scheduler

    def schedule(self, keys: list[int]) -> None:
        """Make the sessions' due summaries, when the mode says."""
        if self._read_only or not keys:
            return
        scheduler = self.scheduler()
        if scheduler is not None:
            scheduler.schedule(keys)

    def for_import(
        self,
    ) -> tuple[KeptBacklogs | None, Callable[[], None] | None, ShareDrafts | None]:
        """What a Zep JSONL import fills with its new sessions' messages (None: keep
        none, no summaries are made here); what it calls once they are there: drafting
        them ahead on worker processes while it stores and indexes them, if the
        summary run would use workers anyway; and, for the same runs, what lets the
        processes that count its tokens draft them instead (`ShareDrafts`: they hold
        them already, so nothing is forked for it, and they start at once)."""
        scheduler = self.scheduler()
        if scheduler is None or self._read_only:
            return None, None, None
        kept: KeptBacklogs = {}
        drafts = None
        if self._mode == "deferred" and scheduler.summarizer.only_computes:
            drafts = ShareDrafts(scheduler.summarizer, self._window)
        return kept, partial(scheduler.draft_ahead, kept), drafts

    def write_drafted_ahead(
        self,
        cursor: Cursor,
        kept: KeptBacklogs,
        now: datetime,
        check: Callable[[], None],
        progress: Progress | None = None,
        drafts: ShareDrafts | None = None,
    ) -> set[int]:
        """In an import's transaction, its rows stored: the summaries drafted ahead of
        the sessions it created, written as part of the import (those sessions have no
        summary yet, and nothing else wrote to them). They were drafted by the children
        that counted its tokens (`drafts`), or else by workers from the backlogs `kept`
        holds (`for_import`; taken out of it as they are written). The sessions left
        (a batch that failed) are summarised after the commit. `check` is called while
        the drafts are waited for (a cancel raises there), and `progress(sessions
        drafted, sessions)` as they come. Returns the sessions' keys.

        Batches are written and indexed as they come (`IMPORT_WRITE_SESSIONS` sessions
        or more at a time), while the others are drafted: what is left to write once
        the last one is done is what came last."""
        source: Callable[[], Iterator[list[tuple[int, list[FirstSummary]]]]]
        children = drafts is not None and drafts.forked is not None
        if drafts is not None and children:
            source, stop, total = partial(drafts.batches, check), drafts.close, drafts.sessions
        else:
            ahead = None if self._scheduler is None else self._scheduler.take_ahead()
            if ahead is None:
                return set()

            def source() -> Iterator[list[tuple[int, list[FirstSummary]]]]:
                for batch in ahead.drafted_ahead_batches(check):
                    yield [
                        (key, summaries.first_summaries(kept.pop(key), spans))
                        for key, spans in batch
                    ]

            # Nothing left for them to do after, or a cancel: stopped at once.
            stop, total = partial(ahead.close, at_once=True), len(kept)
        written: set[int] = set()
        unwritten: list[tuple[int, list[FirstSummary]]] = []

        def write() -> None:  # indexed batch by batch: a batch is while others draft
            summaries.index_new(cursor, summaries.insert_first(cursor, unwritten, now))
            unwritten.clear()

        # The children drafting use the cores: DuckDB's threads would only contend with
        # them, and one thread writes a batch with less CPU (0.09 s less in all for a
        # corpus of 33,059 summaries).
        with one_thread(cursor) if children else nullcontext():
            try:  # (whatever happens, the processes drafting are stopped)
                if progress:
                    progress(0, total)
                for batch in source():
                    unwritten += batch
                    written.update(key for key, _ in batch)
                    if len(unwritten) >= IMPORT_WRITE_SESSIONS:
                        write()
                    if progress:
                        progress(len(written), total)
            finally:
                stop()
        write()  # the children are done: on every core
        return written

    def schedule_imported(self, touched: list[int], kept: KeptBacklogs) -> None:
        """Once an import is committed: its sessions' summaries, with the backlogs
        it kept."""
        self.prepared.update(kept)
        self.schedule(touched)

    def drop_ahead(self) -> None:
        """An import was rolled back: stop drafting its sessions ahead."""
        if self._scheduler is not None:
            self._scheduler.drop_ahead()

    @property
    def errors(self) -> list[str]:
        """Failures of scheduled summaries, oldest first."""
        return [] if self._scheduler is None else self._scheduler.errors

    def wait(self, progress: Progress | None = None) -> None:
        """Block until every scheduled summary is made (see `wait_for_summaries`)."""
        if self._scheduler is not None:
            self._scheduler.flush(progress)
        self.prepared.clear()  # what a failed run left is read back if due

    def close(self) -> None:
        """Make the deferred summaries, wait for the background ones, let go."""
        if self._scheduler is not None:
            self._scheduler.close()
        self.prepared.clear()

    # --- SummaryHost -------------------------------------------------------------------

    @contextmanager
    def offline(self) -> Iterator[None]:
        """While a summarizer waits on the network: a store with deferred summaries
        lets go of its file (another process may take it meanwhile) and takes it back
        after, waiting up to `lock_timeout` as on opening. Others keep it, holding no
        write lock."""
        if self._mode != "deferred":
            yield
            return
        with self._db.released():
            yield

    def summary_backlogs(self, keys: Sequence[int], *, again: bool) -> list[Backlog]:
        """The live sessions among `keys`, each with its newest summary and the live
        messages after it (all of them, `again`)."""
        return summaries.backlogs(self._db.cursor(), keys, again=again, prepared=self.prepared)

    def kept_backlog_messages(self) -> Mapping[int, Sequence[StoredMessage]]:
        """The messages the last import kept for its sessions' backlogs, those not
        summarised yet."""
        return self.prepared

    def write_summaries(
        self, batches: Sequence[SessionDrafts], *, report: bool = True
    ) -> list[SummaryInfo]:
        """Store the drafts of each session whose newest live summary is still the one
        they were planned from (and which is still live), in one transaction; with
        `replace`, its live summaries are soft-deleted first. Returns the summaries
        stored, when `report`."""
        now = self._db.now()
        with self._db.write(changes=[batch.key for batch in batches]) as cursor:
            written = summaries.write(cursor, batches, now)
        return summaries.stored(self._db.cursor(), written, now) if report else []
