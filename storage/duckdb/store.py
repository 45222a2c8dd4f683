"""The MemoryStore on one DuckDB file.

Concurrency: DuckDB lets one process hold a file read-write. This store holds
it from construction to `close()`; a second process gets `StoreLockedError`
naming the holder after at most `lock_timeout` seconds, never a hang. Inside
the process every thread gets its own cursor, and writes are serialised by a
lock, so the UI's worker threads and the background summarizer can share it.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import duckdb

from storage import ids, limits
from storage.capabilities import (
    BulkImport,
    Maintenance,
    MessageDeletion,
    MessagePositions,
    SessionPages,
    Summarizing,
    ZepJsonlImport,
)
from storage.duckdb import imports, reads, search, writes
from storage.duckdb.connection import Database
from storage.duckdb.messages import insert_messages
from storage.duckdb.rows import (
    SUMMARY_COLUMNS,
    dump_json,
    read_role_type,
    summary_info_from_row,
    utc,
    within_limits,
)
from storage.errors import (
    InvalidInputError,
    MessageConflictError,
    NotFoundError,
)
from storage.models import (
    CreateSessionRequest,
    CreateUserRequest,
    ImportResult,
    Memory,
    MemoryType,
    Message,
    MessageListResponse,
    PurgeResult,
    SearchQuery,
    SearchResult,
    Session,
    SessionImport,
    SessionPage,
    SessionQuery,
    StoreStats,
    Summary,
    SummaryInfo,
    UpdateUserRequest,
    User,
)
from storage.store import DEFAULT_MESSAGE_WINDOW, MemoryStore
from storage.tokens import count_tokens_batch

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

log = logging.getLogger(__name__)

TOKEN_BATCH = 50_000
"""Lines of a bulk-imported file whose tokens are counted at a time."""


class _DefaultSummarizer:
    """Marker: use the offline extractive summarizer."""


DEFAULT_SUMMARIZER = _DefaultSummarizer()


class _Stopwatch:
    """Durations of the phases of a long operation, for diagnostics."""

    def __init__(self) -> None:
        self.laps: dict[str, float] = {}
        self._last = time.perf_counter()

    def lap(self, name: str) -> None:
        now = time.perf_counter()
        self.laps[name] = self.laps.get(name, 0.0) + now - self._last
        self._last = now


class DuckDBStore(
    MemoryStore,
    SessionPages,
    BulkImport,
    ZepJsonlImport,
    Summarizing,
    Maintenance,
    MessageDeletion,
    MessagePositions,
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
    run in flat memory).
    """

    def __init__(
        self,
        path: str | Path,
        *,
        message_window: int = DEFAULT_MESSAGE_WINDOW,
        summarizer: Summarizer | _DefaultSummarizer | None = DEFAULT_SUMMARIZER,
        background_summaries: bool = True,
        defer_summaries: bool = False,
        lock_timeout: float = 2.0,
        read_only: bool = False,
        clock: Callable[[], datetime] | None = None,
        memory_limit: str | None = None,
    ) -> None:
        if message_window < 2:
            raise InvalidInputError(f"message window must be at least 2, not {message_window}")
        self._path = Path(path)
        self._window = message_window
        self._read_only = read_only
        self._summarizer_choice = summarizer
        self._summary_mode: SummaryMode = (
            "deferred" if defer_summaries else "background" if background_summaries else "inline"
        )
        self._summaries: SummaryScheduler | None = None
        self.last_import_timings: dict[str, float] = {}
        """Seconds per phase of the last `import_zep_jsonl` (diagnostics, benchmarks)."""
        self._db = Database(
            self._path,
            read_only=read_only,
            lock_timeout=lock_timeout,
            memory_limit=memory_limit,
            clock=clock,
        )

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
        if self._summaries is not None:
            self._summaries.close()  # deferred summaries are made now
        self._db.close()  # (closed already if the file could not be taken back)

    # --- users ---------------------------------------------------------------------

    def add_user(self, request: CreateUserRequest) -> User:
        with self._db.write() as cursor:
            writes.insert_user(cursor, request, self._db.now())
        return self.get_user(request.user_id)

    def get_user(self, user_id: str) -> User:
        return reads.get_user(self._db.cursor(), user_id)

    def update_user(self, user_id: str, request: UpdateUserRequest) -> User:
        with self._db.write() as cursor:
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
        with self._db.write() as cursor:
            writes.add_session(
                cursor, request.session_id, request.user_id, request.metadata, self._db.now()
            )
        return self.get_session(request.session_id)

    def get_session(self, session_id: str) -> Session:
        return reads.get_session(self._db.cursor(), session_id)

    def update_session(self, session_id: str, metadata: dict[str, Any] | None = None) -> Session:
        with self._db.write() as cursor:
            writes.update_session(cursor, session_id, metadata, self._db.now())
        return self.get_session(session_id)

    def delete_session(self, session_id: str) -> None:
        with self._db.write() as cursor:
            key = reads.live_session_key(cursor, session_id)
            writes.soft_delete_session(cursor, key, self._db.now())

    def list_sessions(self, limit: int | None = None, cursor: int = 0) -> list[Session]:
        page = self.session_page(SessionQuery(limit=limit, cursor=cursor))
        return [info.session for info in page.sessions]

    def session_page(self, query: SessionQuery | None = None) -> SessionPage:
        return reads.session_page(self._db.cursor(), query or SessionQuery())

    # --- memory --------------------------------------------------------------------

    def add_memory(self, session_id: str, messages: Sequence[Message]) -> list[Message]:
        within_limits(limits.check_id, session_id, "session_id")
        with self._db.write() as cursor:
            now = self._db.now()
            key = writes.ensure_session(cursor, session_id, now)
            stored = insert_messages(cursor, [(key, list(messages))], now)
        self._schedule_summary(key)
        return stored

    def get_memory(
        self,
        session_id: str,
        memory_type: MemoryType = MemoryType.perpetual,
        lastn: int | None = None,
    ) -> Memory:
        return reads.get_memory(self._db.cursor(), session_id, memory_type, lastn, self._window)

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
        with self._db.write() as cursor:
            writes.update_message_metadata(
                cursor, session_id, message_uuid, metadata, self._db.now()
            )
        return self.get_message(session_id, message_uuid)

    def delete_message(self, session_id: str, message_uuid: str) -> None:
        with self._db.write() as cursor:
            writes.delete_message(cursor, session_id, message_uuid, self._db.now())

    # --- import --------------------------------------------------------------------

    def import_sessions(
        self,
        sessions: Iterable[SessionImport],
        users: Sequence[CreateUserRequest] = (),
        *,
        dry_run: bool = False,
        on_conflict: Callable[[MessageConflictError], None] | None = None,
    ) -> ImportResult:
        with self._db.write(commit=not dry_run) as cursor:
            result, touched = imports.import_sessions(
                cursor, sessions, users, self._db.now, on_conflict, dry_run=dry_run
            )
        if not dry_run:
            for key in sorted(touched):
                self._schedule_summary(key)
        return result

    def import_zep_jsonl(self, path: str | Path, default_session_id: str) -> ImportResult:
        """Import a Zep JSONL file of one message per line, with DuckDB reading it.

        Stores exactly what `import_sessions` stores for the same file read by
        `zeptui.importers.zep`, many times faster. Raises `BulkImportDeclined`
        (before writing anything) for a file that needs the reference reader.
        """
        from storage import zep_bulk

        result = ImportResult()
        clock = _Stopwatch()
        with self._db.write() as cursor:
            staged = zep_bulk.stage(cursor, Path(path), default_session_id)
            if self._staged_uuids_need_care(cursor):
                raise zep_bulk.BulkImportDeclined(
                    "messages to restore or uuids held by other sessions need the reference reader"
                )
            clock.lap("read")
            now = self._db.now()
            # Users named by the sessions' messages, then the sessions.
            users = cursor.execute(
                "SELECT r.user_id FROM zep_rows r WHERE r.user_id IS NOT NULL "
                "AND r.user_id NOT IN (SELECT user_id FROM users) "
                "GROUP BY r.user_id ORDER BY min(r.seq)"
            ).fetchall()
            for (user_id,) in users:
                writes.insert_user(cursor, CreateUserRequest(user_id=user_id), now)
            result.users_created = len(users)
            cursor.execute(
                """
                CREATE OR REPLACE TEMP TABLE zep_sessions AS
                SELECT session_id,
                       arg_min(user_id, seq) FILTER (WHERE user_id IS NOT NULL) AS user_id,
                       min(created_at) FILTER (WHERE island = first_island
                                               AND position <= $part) AS first_created,
                       min(seq) AS first_seq
                FROM (SELECT *, min(island) OVER (PARTITION BY session_id) AS first_island
                      FROM zep_rows)
                GROUP BY session_id
                """,
                # The reference readers hand a long session on in parts: the first
                # decides the session's created_at.
                {"part": zep_bulk.PART_MESSAGES},
            )
            # New sessions get ids in the order the file first names them.
            cursor.execute(
                "CREATE OR REPLACE TEMP TABLE zep_created AS "
                "SELECT z.*, row_number() OVER (ORDER BY z.first_seq) AS position "
                "FROM zep_sessions z ANTI JOIN sessions s ON s.session_id = z.session_id"
            )
            created = cursor.execute("SELECT count(*) FROM zep_created").fetchone()
            result.sessions_created = int(created[0]) if created else 0
            session_keys = writes.reserve_ids(cursor, "sessions_id_seq", result.sessions_created)
            if session_keys:
                cursor.execute(
                    "INSERT INTO sessions (id, uuid, session_id, user_id, created_at, "
                    "updated_at, last_activity) "
                    "SELECT $first + z.position - 1, "
                    + ids.uuid5_sql(ids.STORE_NAMESPACE, "'session' || chr(31) || z.session_id")
                    + ", z.session_id, z.user_id, "
                    "coalesce(z.first_created, $now), $now, coalesce(z.first_created, $now) "
                    "FROM zep_created z ORDER BY z.position",
                    {"now": now, "first": session_keys[0]},
                )
            result.sessions_updated = staged.groups - result.sessions_created
            cursor.execute(
                "UPDATE sessions SET deleted_at = NULL, updated_at = $now, "
                "user_id = coalesce(sessions.user_id, z.user_id) "
                "FROM zep_sessions z WHERE sessions.session_id = z.session_id",
                {"now": now},
            )
            # New messages: the first line of each uuid not already stored.
            cursor.execute(
                """
                CREATE OR REPLACE TEMP TABLE zep_new AS
                SELECT r.*, s.id AS session_key FROM (
                    SELECT * FROM zep_rows
                    QUALIFY row_number() OVER (PARTITION BY uuid ORDER BY seq) = 1
                ) r
                JOIN sessions s ON s.session_id = r.session_id
                ANTI JOIN messages m ON m.uuid = r.uuid
                """
            )
            clock.lap("sessions")
            row = cursor.execute("SELECT count(*), min(seq), max(seq) FROM zep_new").fetchone()
            assert row is not None
            result.messages_added = int(row[0])
            result.messages_skipped = staged.rows - result.messages_added
            if result.messages_added:
                clock.lap("new messages")
                self._count_staged_tokens(cursor, int(row[1]), int(row[2]))
                clock.lap("tokens")
                message_ids = writes.reserve_ids(cursor, "messages_id_seq", result.messages_added)
                # Ids follow the file's line order (`ordinal`), whatever order the join
                # and DuckDB's threads produce the rows in. The rows are written in that
                # order too, by one thread: sorting them on several threads at once
                # holds more than the import's memory limit and cannot spill.
                threads = cursor.execute("SELECT current_setting('threads')").fetchone()
                cursor.execute("SET threads = 1")
                cursor.execute(
                    "INSERT INTO messages (id, uuid, session_key, role, role_type, content, "
                    "token_count, metadata, created_at, updated_at) "
                    "SELECT $first + t.ordinal, n.uuid, "
                    "n.session_key, n.role, coalesce(n.role_type, 'norole'), n.content, "
                    "t.token_count, n.metadata, "
                    "coalesce(n.created_at, $now), $now "
                    "FROM zep_new n JOIN zep_tokens t USING (seq) ORDER BY n.seq",
                    {"now": now, "first": message_ids[0]},
                )
                assert threads is not None
                cursor.execute(f"SET threads = {int(threads[0])}")
                cursor.execute(
                    """
                    UPDATE sessions SET
                        message_count = sessions.message_count + a.n,
                        total_tokens = sessions.total_tokens + a.tokens,
                        last_activity = greatest(sessions.last_activity, a.newest)
                    FROM (SELECT n.session_key, count(*) AS n, sum(t.token_count) AS tokens,
                                 max(coalesce(n.created_at, $now)) AS newest
                          FROM zep_new n JOIN zep_tokens t USING (seq)
                          GROUP BY n.session_key) a
                    WHERE sessions.id = a.session_key
                    """,
                    {"now": now},
                )
                clock.lap("insert")
                search.index(cursor, "id BETWEEN ? AND ?", [message_ids[0], message_ids[-1]])
                clock.lap("index")
            touched = [
                int(row[0])
                for row in cursor.execute(
                    "SELECT s.id FROM sessions s SEMI JOIN zep_sessions z "
                    "ON s.session_id = z.session_id ORDER BY s.id"
                ).fetchall()
            ]
            for table in ("zep_rows", "zep_sessions", "zep_created", "zep_new", "zep_tokens"):
                cursor.execute(f"DROP TABLE IF EXISTS {table}")
            if search.compact_after_import(cursor, result.messages_added):
                clock.lap("compact")
        clock.lap("commit")
        self.last_import_timings = clock.laps
        log.debug("import of %s: %s", path, clock.laps)
        for key in touched:
            self._schedule_summary(key)
        return result

    @staticmethod
    def _staged_uuids_need_care(cursor: duckdb.DuckDBPyConnection) -> bool:
        """Whether staged rows name a soft-deleted message of their session (to restore)
        or a uuid of another session (a conflict): the reference path handles both."""
        row = cursor.execute(
            """
            SELECT EXISTS (
                SELECT 1 FROM zep_rows r JOIN messages m ON m.uuid = r.uuid
                JOIN sessions s ON s.id = m.session_key
                WHERE s.session_id <> r.session_id OR m.deleted_at IS NOT NULL
            ) OR EXISTS (
                SELECT 1 FROM zep_rows GROUP BY uuid HAVING count(DISTINCT session_id) > 1
            )
            """
        ).fetchone()
        return bool(row and row[0])

    @staticmethod
    def _count_staged_tokens(cursor: duckdb.DuckDBPyConnection, first: int, last: int) -> None:
        """`zep_tokens(seq, ordinal, token_count)` for the rows of `zep_new`, a batch of
        `TOKEN_BATCH` lines at a time, so memory stays flat however big the file.
        `ordinal` numbers the rows in file order from 0: their message ids follow it
        (a window numbering the rows instead would hold them all in memory)."""
        cursor.execute(
            "CREATE OR REPLACE TEMP TABLE zep_tokens "
            "(seq BIGINT, ordinal BIGINT, token_count INTEGER)"
        )
        numbered = 0
        for low in range(first, last + 1, TOKEN_BATCH):
            rows = cursor.execute(
                "SELECT seq, role || ': ' || content FROM zep_new "
                "WHERE seq >= ? AND seq < ? ORDER BY seq",
                [low, low + TOKEN_BATCH],
            ).fetchall()
            if rows:
                counts = count_tokens_batch([text for _, text in rows])
                cursor.execute(
                    "INSERT INTO zep_tokens SELECT unnest(?::BIGINT[]), "
                    "unnest(range(?, ?)), unnest(?::INTEGER[])",
                    [[seq for seq, _ in rows], numbered, numbered + len(rows), counts],
                )
                numbered += len(rows)

    def optimize(self) -> None:
        """Re-sort the search index and checkpoint the file (after bulk work)."""
        with self._db.write() as cursor:
            search.compact(cursor)
        self._db.cursor().execute("CHECKPOINT")

    # --- summaries -----------------------------------------------------------------

    def list_summaries(self, session_id: str) -> list[SummaryInfo]:
        db = self._db.cursor()
        key = reads.live_session_key(db, session_id)
        rows = db.execute(
            f"SELECT {SUMMARY_COLUMNS} FROM summaries x WHERE x.session_key = ? "
            "AND x.deleted_at IS NULL ORDER BY x.id",
            [key],
        ).fetchall()
        return [summary_info_from_row(row) for row in rows]

    def summarize(self, session_id: str, *, again: bool = False) -> list[SummaryInfo]:
        key = reads.live_session_key(self._db.cursor(), session_id)
        scheduler = self._scheduler()
        return [] if scheduler is None else scheduler.run([key], again=again)

    def _scheduler(self) -> SummaryScheduler | None:
        """The summary scheduler, made on first use; None when no summaries are made."""
        if self._summaries is None and self._summarizer_choice is not None:
            from storage.summarizers import ExtractiveSummarizer
            from storage.summary_scheduler import SummaryScheduler

            choice = self._summarizer_choice
            summarizer = (
                ExtractiveSummarizer() if isinstance(choice, _DefaultSummarizer) else choice
            )
            self._summaries = SummaryScheduler(self, summarizer, self._window, self._summary_mode)
        return self._summaries

    def _schedule_summary(self, key: int) -> None:
        if self._read_only:
            return
        scheduler = self._scheduler()
        if scheduler is not None:
            scheduler.schedule([key])

    @property
    def summary_errors(self) -> list[str]:
        """Failures of scheduled summaries, oldest first (the UI and CLI show them)."""
        return [] if self._summaries is None else self._summaries.errors

    def wait_for_summaries(self, progress: Progress | None = None) -> None:
        """Block until every scheduled summary is made; deferred ones are made now,
        calling `progress(sessions done, sessions)` as they go."""
        if self._summaries is not None:
            self._summaries.flush(progress)

    @contextmanager
    def offline(self) -> Iterator[None]:
        """While a summarizer waits on the network: a store with deferred summaries
        lets go of its file (another process may take it meanwhile) and takes it back
        after, waiting up to `lock_timeout` as on opening. Others keep it, holding no
        write lock."""
        if self._summary_mode != "deferred":
            yield
            return
        with self._db.released():
            yield

    def summary_backlogs(self, keys: Sequence[int], *, again: bool) -> list[Backlog]:
        """SummaryHost: the live sessions among `keys`, each with its newest summary
        and the live messages after it (all of them, `again`)."""
        from storage.summary_scheduler import Backlog, StoredMessage

        db = self._db.cursor()
        sessions = db.execute(
            "SELECT s.id, coalesce(max(x.id), 0), arg_max(x.content, x.id), "
            "coalesce(arg_max(x.recent_message_id, x.id), 0) FROM sessions s "
            "LEFT JOIN summaries x ON x.session_key = s.id AND x.deleted_at IS NULL "
            "WHERE s.deleted_at IS NULL AND s.id IN (SELECT unnest(?::BIGINT[])) "
            "GROUP BY s.id ORDER BY s.id",
            [list(keys)],
        ).fetchall()
        if not sessions:
            return []
        messages: dict[int, list[StoredMessage]] = {int(row[0]): [] for row in sessions}
        rows = db.execute(
            "SELECT m.session_key, m.id, m.uuid::VARCHAR, m.role, m.role_type, m.content, "
            "m.token_count "
            "FROM messages m "
            "JOIN (SELECT unnest(?::BIGINT[]) AS key, unnest(?::BIGINT[]) AS point) p "
            "ON m.session_key = p.key AND m.id > p.point "
            "WHERE m.deleted_at IS NULL ORDER BY m.session_key, m.id",
            [list(messages), [0 if again else int(row[3]) for row in sessions]],
        ).fetchall()
        for key, message_id, uuid, role, role_type, content, tokens in rows:
            kind = read_role_type(role_type, f"message {uuid}")  # as every read shows it
            messages[key].append(StoredMessage(message_id, uuid, role, kind, content, tokens))
        return [
            Backlog(
                key=int(key),
                point=int(point),
                previous=None if again else previous,
                messages=messages[int(key)],
            )
            for key, point, previous, _ in sessions
        ]

    def write_summaries(
        self, batches: Sequence[SessionDrafts], *, report: bool = True
    ) -> list[SummaryInfo]:
        """SummaryHost: store the drafts of each session whose newest live summary is
        still the one they were planned from (and which is still live), in one
        transaction; with `replace`, its live summaries are soft-deleted first.
        Returns the summaries stored, when `report`."""
        now = self._db.now()
        with self._db.write() as cursor:
            current = dict(
                cursor.execute(
                    "SELECT s.id, coalesce(max(x.id), 0) FROM sessions s "
                    "LEFT JOIN summaries x ON x.session_key = s.id AND x.deleted_at IS NULL "
                    "WHERE s.deleted_at IS NULL AND s.id IN (SELECT unnest(?::BIGINT[])) "
                    "GROUP BY s.id",
                    [[batch.key for batch in batches]],
                ).fetchall()
            )
            kept = [batch for batch in batches if current.get(batch.key) == batch.point]
            replaced = [batch.key for batch in kept if batch.replace]
            if replaced:
                cursor.execute(
                    "UPDATE summaries SET deleted_at = ? WHERE deleted_at IS NULL "
                    "AND session_key IN (SELECT unnest(?::BIGINT[]))",
                    [now, replaced],
                )
            rows = [(batch.key, draft) for batch in kept for draft in batch.drafts]
            if not rows:
                return []
            recent = [draft.covered[-1].uuid for _, draft in rows]
            # A summary's uuid follows from the last message it covers; summarising
            # again gives the next revision, unique beside the soft-deleted one.
            revisions: dict[str, int] = {
                str(uuid): int(count)
                for uuid, count in cursor.execute(
                    "SELECT recent_message_uuid, count(*) FROM summaries "
                    "WHERE session_key IN (SELECT unnest(?::BIGINT[])) "
                    "AND recent_message_uuid IN (SELECT unnest(?::UUID[])) GROUP BY 1",
                    [sorted({key for key, _ in rows}), recent],
                ).fetchall()
            }
            uuids = [ids.summary_uuid(last, revisions.get(last, 0)) for last in recent]
            # Ids order a session's summaries (the newest is the summary point).
            cursor.execute(
                "INSERT INTO summaries SELECT unnest(?::BIGINT[]), unnest(?::UUID[]), "
                "unnest(?::BIGINT[]), unnest(?::VARCHAR[]), unnest(?::INTEGER[]), "
                "unnest(?::UUID[]), unnest(?::BIGINT[]), unnest(?::UUID[]), "
                "unnest(?::INTEGER[]), unnest(?::JSON[]), ?::TIMESTAMP, NULL",
                [
                    writes.reserve_ids(cursor, "summaries_id_seq", len(rows)),
                    uuids,
                    [key for key, _ in rows],
                    [draft.content for _, draft in rows],
                    [draft.token_count for _, draft in rows],
                    recent,
                    [draft.covered[-1].id for _, draft in rows],
                    [draft.covered[0].uuid for _, draft in rows],
                    [len(draft.covered) for _, draft in rows],
                    [dump_json(draft.metadata) for _, draft in rows],
                    now,
                ],
            )
        if not report:
            return []
        return [
            SummaryInfo(
                summary=Summary(
                    uuid=summary_uuid,
                    created_at=utc(now),
                    content=draft.content,
                    token_count=draft.token_count,
                    recent_message_uuid=last,
                    metadata=draft.metadata,
                ),
                first_message_uuid=draft.covered[0].uuid,
                message_count=len(draft.covered),
            )
            for summary_uuid, last, (_, draft) in zip(uuids, recent, rows, strict=True)
        ]

    # --- search and maintenance ----------------------------------------------------

    def search(self, query: SearchQuery) -> list[SearchResult]:
        return search.search(self._db.cursor(), query)

    def purge(
        self, session_ids: Sequence[str] | None = None, *, dry_run: bool = False
    ) -> PurgeResult:
        with self._db.write(commit=not dry_run) as db:
            if session_ids is None:
                scope, params = "TRUE", []
            else:
                keys = []
                for session_id in dict.fromkeys(session_ids):
                    row = db.execute(
                        "SELECT id FROM sessions WHERE session_id = ?", [session_id]
                    ).fetchone()
                    if row is None:
                        raise NotFoundError(f"session {session_id!r} not found")
                    keys.append(int(row[0]))
                scope, params = "session_key IN (SELECT unnest(?::BIGINT[]))", [keys]
            dead = "session_key IN (SELECT id FROM sessions WHERE deleted_at IS NOT NULL)"
            gone = f"({scope}) AND (deleted_at IS NOT NULL OR {dead})"
            db.execute(
                f"CREATE OR REPLACE TEMP TABLE purged_messages AS "
                f"SELECT id FROM messages WHERE {gone}",
                params,
            )
            db.execute(
                "DELETE FROM search_postings WHERE message_id IN (SELECT id FROM purged_messages)"
            )
            summaries = db.execute(f"DELETE FROM summaries WHERE {gone}", params).fetchone()
            messages = db.execute(
                "DELETE FROM messages WHERE id IN (SELECT id FROM purged_messages)"
            ).fetchone()
            sessions = db.execute(
                f"DELETE FROM sessions WHERE deleted_at IS NOT NULL AND "
                f"({scope.replace('session_key', 'id')})",
                params,
            ).fetchone()
            db.execute("DROP TABLE purged_messages")
        return PurgeResult(
            sessions=int(sessions[0]) if sessions else 0,
            messages=int(messages[0]) if messages else 0,
            summaries=int(summaries[0]) if summaries else 0,
        )

    def stats(self) -> StoreStats:
        row = (
            self._db.cursor()
            .execute(
                "SELECT (SELECT count(*) FROM users), "
                "(SELECT count(*) FROM sessions WHERE deleted_at IS NULL), "
                "(SELECT count(*) FROM messages WHERE deleted_at IS NULL), "
                "(SELECT count(*) FROM summaries WHERE deleted_at IS NULL)"
            )
            .fetchone()
        )
        assert row is not None
        return StoreStats(users=row[0], sessions=row[1], messages=row[2], summaries=row[3])
