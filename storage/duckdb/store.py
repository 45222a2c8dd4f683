"""`DuckDBStore`: the MemoryStore and every capability on one DuckDB file.

A thin composition: each call takes this thread's cursor or a write transaction
from the open file (`connection.Database`) and hands it to the module that does the
work (reads, writes, messages, imports, zep_jsonl, search, summaries, inventory,
maintenance).
The store itself keeps what it was opened with, its memory cache and its summaries
(`summary_host.StoreSummaries`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from storage import limits
from storage.capabilities import (
    BulkImport,
    BulkImportDeclined,
    ImportTransaction,
    ImportTransactions,
    Maintenance,
    MemoryAnswers,
    MessageDeletion,
    MessagePositions,
    ReadProgress,
    Restoring,
    SessionPages,
    Summarizing,
    SummaryImport,
    SyncInventory,
    UserPages,
    ZepJsonlImport,
)
from storage.duckdb import (
    imports,
    inventory,
    maintenance,
    ranking,
    reads,
    restore,
    search,
    search_rows,
    summaries,
    writes,
    zep_jsonl,
)
from storage.duckdb.appends import GroupCommit
from storage.duckdb.connection import LOCK_WAIT_SECONDS, Cursor, Database
from storage.duckdb.memory_cache import (
    MAX_ANSWERS,
    MAX_HEADS,
    MAX_ROWS_BYTES,
    MemoryCache,
    Question,
)
from storage.duckdb.rows import within_limits
from storage.duckdb.summary_host import DEFAULT_SUMMARIZER, DefaultSummarizer, StoreSummaries
from storage.errors import InvalidInputError, MessageConflictError
from storage.models import (
    CreateSessionRequest,
    CreateUserRequest,
    ImportResult,
    InventoryPage,
    InventoryQuery,
    Memory,
    MemoryType,
    Message,
    MessageListResponse,
    PurgeResult,
    SearchQuery,
    SearchResult,
    Session,
    SessionContents,
    SessionImport,
    SessionPage,
    SessionQuery,
    StoreStats,
    SummaryInfo,
    UpdateUserRequest,
    User,
    UserPage,
)
from storage.store import DEFAULT_MESSAGE_WINDOW, MemoryStore

if TYPE_CHECKING:
    from storage.summarizers import Summarizer
    from storage.summary_scheduler import Progress

__all__ = ["DEFAULT_SUMMARIZER", "DuckDBStore"]

log = logging.getLogger(__name__)


class DuckDBStore(
    MemoryStore,
    SessionPages,
    BulkImport,
    ZepJsonlImport,
    ImportTransactions,
    Summarizing,
    Maintenance,
    MessageDeletion,
    MessagePositions,
    Restoring,
    UserPages,
    SyncInventory,
    SummaryImport,
    MemoryAnswers,
):
    """Zep's memory model on one DuckDB file.

    `summarizer`: DEFAULT_SUMMARIZER (the offline extractive one), a Summarizer,
    or None to make no summaries. With `background_summaries`, summaries are made
    on a worker thread after `add_memory` returns; `close()` waits for them. With
    `defer_summaries` (for a short-lived process such as a CLI command), they are
    made by `wait_for_summaries()` or `close()`, and the file is let go while the
    summarizer waits on the network (storage/summary_scheduler.py).
    `clock` replaces the system clock (tests). `memory_limit` (e.g. `"512MB"`) caps
    DuckDB's memory, which otherwise grows to 80% of RAM; beyond it DuckDB spills to
    a temporary directory beside the file (`zeptui import` sets it, so big imports
    run in flat memory). `memory_cache` is how many `get_memory` answers are kept
    until a write changes them (storage/duckdb/memory_cache.py; 0 keeps none), and
    `search_cache` how many bytes of small sessions' rows are kept for their searches
    (storage/duckdb/search_rows.py; 0 keeps none; kept only with the memory cache).
    """

    def __init__(
        self,
        path: str | Path,
        *,
        message_window: int = DEFAULT_MESSAGE_WINDOW,
        summarizer: Summarizer | DefaultSummarizer | None = DEFAULT_SUMMARIZER,
        background_summaries: bool = True,
        defer_summaries: bool = False,
        lock_timeout: float = LOCK_WAIT_SECONDS,
        read_only: bool = False,
        clock: Callable[[], datetime] | None = None,
        memory_limit: str | None = None,
        memory_cache: int = MAX_ANSWERS,
        search_cache: int = MAX_ROWS_BYTES,
    ) -> None:
        if message_window < 2:
            raise InvalidInputError(f"message window must be at least 2, not {message_window}")
        self._path = Path(path)
        self._window = message_window
        self.last_import_timings: dict[str, float] = {}
        """Seconds per phase of the last `import_zep_jsonl` (diagnostics, benchmarks)."""
        self._db = Database(
            self._path,
            read_only=read_only,
            lock_timeout=lock_timeout,
            memory_limit=memory_limit,
            clock=clock,
        )
        self._index_statistics = ranking.IndexStatistics(lambda: self._db.generation)
        self._memory_cache = MemoryCache(memory_cache, search_cache)
        """Recent memory answers, dropped by the writes that change them."""
        self._db.changed = self._memory_cache.changed
        self._summaries = StoreSummaries(
            self._db,
            message_window,
            summarizer,
            "deferred" if defer_summaries else "background" if background_summaries else "inline",
            read_only=read_only,
        )
        self._appends = GroupCommit(self._db, self._summaries.schedule)
        """Concurrent `add_memory` calls share transactions (storage/duckdb/appends.py)."""

    # --- plumbing ------------------------------------------------------------------

    @property
    def location(self) -> str:
        return str(self._path)

    @property
    def message_window(self) -> int:
        return self._window

    @property
    def path(self) -> Path:
        return self._path

    def close(self) -> None:
        if self._db.closed:
            return
        self._summaries.close()  # deferred summaries are made now
        self._db.close()  # (closed already if the file could not be taken back)

    # --- users ---------------------------------------------------------------------

    def add_user(self, request: CreateUserRequest) -> User:
        with self._db.write(changes=()) as cursor:  # no session's memory changes
            writes.insert_user(cursor, request, self._db.now())
        return self.get_user(request.user_id)

    def get_user(self, user_id: str) -> User:
        return reads.get_user(self._db.cursor(), user_id)

    def update_user(self, user_id: str, request: UpdateUserRequest) -> User:
        with self._db.write(changes=()) as cursor:
            writes.update_user(cursor, user_id, request, self._db.now())
        return self.get_user(user_id)

    def delete_user(self, user_id: str) -> int:
        with self._db.write() as cursor:
            return writes.delete_user(cursor, user_id, self._db.now())

    def list_users(self, limit: int | None = None, cursor: int = 0) -> list[User]:
        return reads.list_users(self._db.cursor(), limit, cursor)

    def get_user_sessions(self, user_id: str) -> list[Session]:
        return reads.user_sessions(self._db.cursor(), user_id)

    # --- sessions ------------------------------------------------------------------

    def add_session(self, request: CreateSessionRequest) -> Session:
        with self._db.write(changes=()) as cursor:  # a new id: no memory was read of it
            writes.add_session(
                cursor, request.session_id, request.user_id, request.metadata, self._db.now()
            )
        return self.get_session(request.session_id)

    def get_session(self, session_id: str) -> Session:
        return reads.get_session(self._db.cursor(), session_id)

    def update_session(self, session_id: str, metadata: dict[str, Any] | None = None) -> Session:
        changed: list[int] = []
        with self._db.write(changes=changed) as cursor:
            changed.append(writes.update_session(cursor, session_id, metadata, self._db.now()))
        return self.get_session(session_id)

    def delete_session(self, session_id: str) -> None:
        changed: list[int] = []
        with self._db.write(changes=changed) as cursor:
            key = reads.session_key(cursor, session_id)
            changed.append(key)
            writes.soft_delete_session(cursor, key, self._db.now())

    def list_sessions(self, limit: int | None = None, cursor: int = 0) -> list[Session]:
        page = self.session_page(SessionQuery(limit=limit, cursor=cursor))
        return [info.session for info in page.sessions]

    def session_page(self, query: SessionQuery | None = None) -> SessionPage:
        return reads.session_page(self._db.cursor(), query or SessionQuery())

    # --- memory --------------------------------------------------------------------

    def add_memory(self, session_id: str, messages: Sequence[Message]) -> list[Message]:
        within_limits(limits.check_id, session_id, "session_id")
        return self._appends.append(session_id, messages)[1]

    def get_memory(
        self,
        session_id: str,
        memory_type: MemoryType = MemoryType.perpetual,
        lastn: int | None = None,
    ) -> Memory:
        question = (session_id, memory_type, lastn)  # an invalid one is never kept
        kept = self._memory_cache.get(question)
        return kept if kept is not None else self._read_memory(question)[0]

    def get_memory_json(
        self,
        session_id: str,
        memory_type: MemoryType = MemoryType.perpetual,
        lastn: int | None = None,
    ) -> bytes:
        question = (session_id, memory_type, lastn)
        kept = self._memory_cache.get_json(question)
        return kept if kept is not None else self._read_memory(question)[1]

    def _read_memory(self, question: Question) -> tuple[Memory, bytes]:
        """The answer to `question` read from the file, and its JSON; kept by the cache."""
        session_id, memory_type, lastn = question
        read_at = self._memory_cache.now()
        cursor = self._db.cursor()
        head = self._memory_head(cursor, session_id)
        memory = reads.get_memory(cursor, head, memory_type, lastn)
        return memory, self._memory_cache.put(question, head.key, read_at, memory)

    def warm_memory(self) -> int:
        cache = self._memory_cache
        if not cache.keeps_answers:
            return 0
        read_at = cache.now()
        cursor = self._db.cursor()
        heads = reads.memory_heads(cursor, MAX_HEADS, self._window)
        cache.put_heads(read_at, heads)
        self._index_statistics.warm(cursor)
        if cache.keeps_rows:
            small = [h for _, h in heads if h.messages <= ranking.SMALL_SESSION]
            search_rows.warm(cursor, cache, read_at, [(h.key, h.messages) for h in small])
        return cache.put_warm(
            read_at,
            (
                (session_id, head.key, memory.model_dump_json().encode())
                for session_id, head, memory in reads.default_memories(cursor, heads)
            ),
        )

    def _memory_head(self, cursor: Cursor, session_id: str) -> reads.SessionHead:
        """The session's memory head, kept by the memory cache (once reads miss often,
        one reads every recent session's: storage/duckdb/memory_cache.py)."""
        cache = self._memory_cache
        head = cache.head(session_id)
        if head is None and cache.claim_heads():
            read_at = cache.now()
            cache.put_heads(read_at, reads.memory_heads(cursor, MAX_HEADS, self._window))
            head = cache.head(session_id)
        if head is None:
            read_at = cache.now()
            head = reads.memory_head(cursor, session_id, self._window)
            cache.put_heads(read_at, [(session_id, head)])
        return head

    # --- messages ------------------------------------------------------------------

    def list_messages(
        self, session_id: str, limit: int = 100, cursor: int = 1
    ) -> MessageListResponse:
        return reads.list_messages(self._db.cursor(), session_id, limit, cursor)

    def message_position(self, session_id: str, message_uuid: str) -> int:
        return reads.message_position(self._db.cursor(), session_id, message_uuid)

    def get_message(self, session_id: str, message_uuid: str) -> Message:
        return reads.get_message(self._db.cursor(), session_id, message_uuid)

    def update_message_metadata(
        self, session_id: str, message_uuid: str, metadata: dict[str, Any]
    ) -> Message:
        changed: list[int] = []
        with self._db.write(changes=changed) as cursor:
            changed.append(
                writes.update_message_metadata(
                    cursor, session_id, message_uuid, metadata, self._db.now()
                )
            )
        return self.get_message(session_id, message_uuid)

    def delete_message(self, session_id: str, message_uuid: str) -> None:
        changed: list[int] = []
        with self._db.write(changes=changed) as cursor:
            changed.append(writes.delete_message(cursor, session_id, message_uuid, self._db.now()))

    # --- restoring and listing what was deleted -------------------------------------

    def deleted_session_page(self, query: SessionQuery | None = None) -> SessionPage:
        return reads.session_page(self._db.cursor(), query or SessionQuery(), deleted=True)

    def restore_session(self, session_id: str) -> None:
        with self._db.write() as cursor:
            restore.restore_session(cursor, session_id, self._db.now())

    def restore_message(self, session_id: str, message_uuid: str) -> None:
        with self._db.write() as cursor:
            restore.restore_message(cursor, session_id, message_uuid, self._db.now())

    def restore_user(self, user_id: str) -> int:
        with self._db.write() as cursor:
            return restore.restore_user(cursor, user_id, self._db.now())

    def user_page(self, limit: int = 100, cursor: int = 0, text: str | None = None) -> UserPage:
        return reads.user_page(self._db.cursor(), limit, cursor, text)

    # --- import --------------------------------------------------------------------

    def import_sessions(
        self,
        sessions: Iterable[SessionImport],
        users: Sequence[CreateUserRequest] = (),
        *,
        dry_run: bool = False,
        on_conflict: Callable[[MessageConflictError], None] | None = None,
        counted: bool = False,
    ) -> ImportResult:
        carried: dict[str, list[SummaryInfo]] = {}

        def collected(items: Iterable[SessionImport]) -> Iterator[SessionImport]:
            for item in items:
                if item.summaries:
                    carried.setdefault(item.session_id, []).extend(item.summaries)
                yield item

        with self._db.write(commit=not dry_run) as cursor:
            result, touched = imports.import_sessions(
                cursor,
                collected(sessions),
                users,
                self._db.now,
                on_conflict,
                dry_run=dry_run,
                counted=counted,
            )
            # Before the sessions are scheduled: their summarising starts from these.
            if carried:
                result.summaries_imported = summaries.import_summaries(
                    cursor, carried, self._db.now()
                )
        if not dry_run:
            self._db.on_commit(lambda: self._summaries.schedule(sorted(touched)))
        return result

    def import_zep_jsonl(
        self,
        path: str | Path,
        default_session_id: str,
        on_read: ReadProgress | None = None,
        on_summaries: ReadProgress | None = None,
    ) -> ImportResult:
        """Import a Zep JSONL file of one message per line, with DuckDB reading it.

        Stores exactly what `import_sessions` stores for the same file read by
        `zeptui.importers.zep`, many times faster. Raises `BulkImportDeclined`
        (before writing anything) for a file that needs the reference reader.
        """
        clock = zep_jsonl.Stopwatch(self._db.interruption_check())
        # The new sessions' messages, kept for their summaries (no reading them back),
        # and drafted ahead while the import stores, indexes and commits them.
        kept, draft_ahead, drafts = self._summaries.for_import()
        summarised: set[int] = set()
        try:
            with (
                zep_jsonl.collections_paused(),
                self._db.write(keeps=(BulkImportDeclined,), checkpoint=True) as cursor,
            ):

                def write_summaries() -> None:
                    """The new sessions' summaries, drafted meanwhile: stored and
                    indexed once the messages are."""
                    if kept is not None:
                        found = self._summaries.write_drafted_ahead(
                            cursor, kept, self._db.now(), clock.check, on_summaries, drafts
                        )
                        summarised.update(found)
                        clock.lap("summaries")

                result, touched = zep_jsonl.import_file(
                    cursor,
                    Path(path),
                    default_session_id,
                    self._db.now(),
                    clock,
                    on_read,
                    kept,
                    draft_ahead,
                    drafts,
                    on_stored=write_summaries,
                )
                touched = [key for key in touched if key not in summarised]
        except BaseException:
            self._summaries.drop_ahead()
            raise
        finally:
            if drafts is not None:
                drafts.close()
        clock.lap("commit")
        self.last_import_timings = clock.laps
        log.debug("import of %s: %s", path, clock.laps)
        self._db.on_commit(lambda: self._summaries.schedule_imported(touched, kept or {}))
        return result

    @contextmanager
    def import_transaction(self) -> Iterator[ImportTransaction]:
        try:
            with self._db.transaction() as transaction:
                yield transaction
        except BaseException:  # rolled back: nothing to summarise
            self._summaries.drop_ahead()
            raise

    def optimize(self) -> None:
        """Re-sort the search index and checkpoint the file (after bulk work)."""
        with self._db.write() as cursor:
            search.compact(cursor)
        self._db.cursor().execute("CHECKPOINT")

    # --- summaries -----------------------------------------------------------------

    def list_summaries(self, session_id: str) -> list[SummaryInfo]:
        return summaries.list_summaries(self._db.cursor(), session_id)

    def import_summaries(self, by_session: Mapping[str, Sequence[SummaryInfo]]) -> int:
        if not any(by_session.values()):
            return 0
        with self._db.write() as cursor:
            return summaries.import_summaries(cursor, by_session, self._db.now())

    def inventory(self, query: InventoryQuery) -> InventoryPage:
        return inventory.inventory(self._db.cursor(), query)

    def user_inventory(self) -> list[User]:
        return inventory.user_inventory(self._db.cursor())

    def session_contents(self, session_ids: Sequence[str]) -> list[SessionContents]:
        return inventory.session_contents(self._db.cursor(), session_ids)

    def summarize(self, session_id: str, *, again: bool = False) -> list[SummaryInfo]:
        key = reads.session_key(self._db.cursor(), session_id)
        scheduler = self._summaries.scheduler()
        return [] if scheduler is None else scheduler.run([key], again=again)

    @property
    def summary_errors(self) -> list[str]:
        """Failures of scheduled summaries, oldest first (the UI and CLI show them)."""
        return self._summaries.errors

    def wait_for_summaries(self, progress: Progress | None = None) -> None:
        """Block until every scheduled summary is made; deferred ones are made now,
        calling `progress(sessions done, sessions)` as they go."""
        self._summaries.wait(progress)

    # --- search and maintenance ----------------------------------------------------

    def search(self, query: SearchQuery) -> list[SearchResult]:
        head = None if query.session_id is None else self._memory_cache.head(query.session_id)
        return ranking.search(
            self._db.cursor(),
            query,
            self._index_statistics,
            session=None if head is None else (head.key, head.messages),
            kept=self._memory_cache,
        )

    def purge(
        self, session_ids: Sequence[str] | None = None, *, dry_run: bool = False
    ) -> PurgeResult:
        with self._db.write(commit=not dry_run) as cursor:
            return maintenance.purge(cursor, session_ids)

    def stats(self) -> StoreStats:
        return maintenance.stats(self._db.cursor())
