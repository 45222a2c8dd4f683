"""The store's side of Zep's summaries, apart from its queries: the scheduler, made on
first use, and the `SummaryHost` it works through (each batch's backlogs, the drafts
written back, the file let go while a language model is waited on), with the backlogs
an import kept for it. `DuckDBStore` owns one; the queries are
storage/duckdb/summaries.py, the policy and the work storage/summary_scheduler.py.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import datetime
from functools import partial
from typing import TYPE_CHECKING

from storage.duckdb import summaries
from storage.duckdb.connection import Cursor, Database
from storage.models import SummaryInfo

if TYPE_CHECKING:
    from storage.summarizers import Summarizer
    from storage.summary_scheduler import (
        Backlog,
        Progress,
        SessionDrafts,
        StoredMessage,
        SummaryMode,
        SummaryScheduler,
    )
    from storage.summary_workers import SpanDraft


class DefaultSummarizer:
    """Marker: use the offline extractive summarizer."""


DEFAULT_SUMMARIZER = DefaultSummarizer()

WRITE_SESSIONS = 1024
"""Sessions drafted ahead written by one statement, while the rest are drafted."""

KeptBacklogs = dict[int, Sequence["StoredMessage"]]
"""Sessions' messages an import holds for their summaries, by session key."""


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
    ) -> tuple[KeptBacklogs | None, Callable[[], None] | None]:
        """What a Zep JSONL import fills with its new sessions' messages (None: keep
        none, no summaries are made here), and what it calls once they are there:
        drafting them ahead on worker processes while it stores, indexes and commits
        them, if the summary run would use workers anyway."""
        scheduler = self.scheduler()
        if scheduler is None or self._read_only:
            return None, None
        kept: KeptBacklogs = {}
        return kept, partial(scheduler.draft_ahead, kept)

    def write_drafted_ahead(
        self,
        cursor: Cursor,
        kept: KeptBacklogs,
        now: datetime,
        check: Callable[[], None],
        progress: Progress | None = None,
    ) -> set[int]:
        """In an import's transaction, its rows stored: the summaries the workers drafted
        ahead of the sessions it created, whose backlogs `kept` holds (`for_import`),
        written as part of the import (those sessions have no summary yet, and nothing
        else wrote to them). Their backlogs are taken out of `kept`; the sessions left
        (a batch that failed) are summarised after the commit. `check` is called while
        the drafts are waited for (a cancel raises there), and `progress(sessions
        drafted, sessions)` as they come. Returns the sessions' keys.

        Batches are written as they come (`WRITE_SESSIONS` sessions at a time), while
        the workers draft the next: what is left to write once the last one is done
        is what came last, then the search index of them all."""
        ahead = None if self._scheduler is None else self._scheduler.take_ahead()
        if ahead is None:
            return set()
        written: set[int] = set()
        summary_ids: list[int] = []
        unwritten: list[tuple[int, Sequence[StoredMessage], Sequence[SpanDraft]]] = []
        try:
            for batch in ahead.drafted_ahead_batches(check, progress):
                unwritten += [(key, kept.pop(key), spans) for key, spans in batch]
                written.update(key for key, _ in batch)
                if len(unwritten) >= WRITE_SESSIONS:
                    summary_ids += summaries.insert_first(cursor, unwritten, now)
                    unwritten = []
        finally:
            ahead.close(at_once=True)  # nothing left for them to do, or a cancel
        summary_ids += summaries.insert_first(cursor, unwritten, now)
        summaries.index_new(cursor, summary_ids)
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
