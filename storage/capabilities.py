"""What a store may offer beyond Zep's API: small interfaces, each offered or not.

A caller asks for what it needs (`offered(store, SessionPages)`, or `require(...)`
for a command that cannot work without it), never for a store's class, so the CLI,
the app and the server run the same against a local file and a remote server. The
DuckDB store offers all of them; a remote store offers what its server supports.

Sync (zeptui/services/sync.py) reads `SyncInventory` (every session, deleted ones too,
with the uuids it holds) and writes summaries through `SummaryImport`. A change feed
(what changed since a point, by a change counter) is still the next schema step
(docs/architecture.md, "Room for a change feed").
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Mapping, Sequence
from contextlib import AbstractContextManager
from pathlib import Path
from typing import TypeVar

from storage.errors import MessageConflictError, NotFoundError, StoreError
from storage.models import (
    CreateUserRequest,
    ImportResult,
    InventoryPage,
    InventoryQuery,
    MemoryType,
    PurgeResult,
    SessionContents,
    SessionImport,
    SessionPage,
    SessionQuery,
    StoreStats,
    SummaryInfo,
    User,
    UserPage,
)
from storage.store import MemoryStore

Capability = TypeVar("Capability")


class BulkImportDeclined(Exception):
    """The file is not one the store reads itself (`ZepJsonlImport`): not a plain, valid
    message-per-line Zep JSONL file. The caller imports it with its reader instead."""


class Unsupported(StoreError):
    """The store cannot do what was asked (a remote server without that feature)."""


def offered(store: MemoryStore, capability: type[Capability]) -> Capability | None:
    """`store` as `capability` if it offers it, else None."""
    return store if isinstance(store, capability) else None


def require(store: MemoryStore, capability: type[Capability], what: str) -> Capability:
    """`store` as `capability`, or `Unsupported` saying that `store` cannot do `what`."""
    if isinstance(store, capability):
        return store
    raise Unsupported(f"{store.location} cannot {what}")


class SessionPages(ABC):
    """Filtered, sorted pages of sessions with their aggregates (counts, tokens,
    last activity): what a session list shows."""

    @abstractmethod
    def session_page(self, query: SessionQuery | None = None) -> SessionPage:
        """A filtered, sorted page of live sessions with their aggregates."""


class BulkImport(ABC):
    """Whole sessions imported in one transaction, with a dry run."""

    @abstractmethod
    def import_sessions(
        self,
        sessions: Iterable[SessionImport],
        users: Sequence[CreateUserRequest] = (),
        *,
        dry_run: bool = False,
        on_conflict: Callable[[MessageConflictError], None] | None = None,
        counted: bool = False,
    ) -> ImportResult:
        """Import whole sessions in one transaction: all of it is stored, or none of it.

        With `dry_run`, everything is checked and counted exactly as for a real
        import, and nothing is stored (and no summaries are made).

        `sessions` may be a generator: it is consumed in chunks, so a large file
        streams through without being held in memory. An exception raised by the
        generator rolls everything back and propagates.

        Users are created when missing (existing ones are left alone), sessions are
        created when missing (existing ones get their metadata merged), and
        messages follow the `add_memory` rules, so importing twice adds nothing and
        importing a deleted session again restores it. A message whose uuid belongs to
        another session raises `MessageConflictError`, unless `on_conflict` is given:
        it is called with the error (it may raise to abort) and the message is left out.

        Consecutive SessionImports with the same session_id are one session handed on
        in parts (how a reader streams a long session): applied in order, counted once;
        the first part's fields create the session, later parts merge their metadata.

        The summaries the sessions carry are stored after all the messages, in the
        same transaction, by the rules of `SummaryImport.import_summaries`, before the
        store schedules its own summaries of the sessions.

        With `counted`, the messages carry their token counts as another store counted
        them (sync): the store keeps them if every one is possible and a random sample
        of them, counted again, is right (`storage.tokens.checked_counts`); otherwise
        it counts them all, as without `counted`.
        """


ReadProgress = Callable[[int, int], None]
"""Told (sessions, messages) a file holds, once a store that reads it itself has."""


class ZepJsonlImport(ABC):
    """A Zep JSONL file of one message per line read by the store itself (fast)."""

    @abstractmethod
    def import_zep_jsonl(
        self,
        path: str | Path,
        default_session_id: str,
        on_read: ReadProgress | None = None,
        on_summaries: ReadProgress | None = None,
    ) -> ImportResult:
        """Store exactly what `BulkImport.import_sessions` stores for the file read by
        `zeptui.importers.zep`; raise `BulkImportDeclined` (before writing anything)
        for a file that needs that reader. `on_read(sessions, messages)` is told what
        the file holds once it is read and checked, before the writing (progress);
        `on_summaries(done, sessions)` how its new sessions' summaries go, if the
        import makes them itself (see `WaitsForSummaries` for those made after)."""


class ImportTransaction(ABC):
    """The transaction of an `ImportTransactions.import_transaction` block."""

    @property
    @abstractmethod
    def restarts(self) -> int:
        """How many times the block began again: an import inside it failed after
        writing, which rolled back everything the block held (a store without
        savepoints cannot roll back that import alone), or `restart` was called. The
        caller imports again what it wants kept."""

    @abstractmethod
    def restart(self) -> None:
        """Roll back everything the block holds and begin again, empty."""

    @abstractmethod
    def interrupt(self) -> bool:
        """Stop the block (thread-safe): the statement under way stops at once, the
        next import call or the end of the block raises `ImportInterrupted`, and the
        block is rolled back. False when it came too late (the block is committing)."""


class ImportInterrupted(StoreError):
    """An import transaction was interrupted (`ImportTransaction.interrupt`): nothing
    of it is stored."""


class ImportTransactions(ABC):
    """Many imports in one transaction: stored together as it ends, or not at all."""

    @abstractmethod
    def import_transaction(self) -> AbstractContextManager[ImportTransaction]:
        """A block in which this thread's `import_sessions` and `import_zep_jsonl`
        calls (not dry runs) share one transaction, committed as the block ends;
        other writers wait for it. The summaries the imports make due are scheduled
        once it has committed. If the block raises, or is interrupted, it is rolled
        back: the store is exactly as before it (its tables, search index and memory
        cache), and no summary is made."""


class Summarizing(ABC):
    """Summaries made on request, and the errors of those made in the background."""

    @abstractmethod
    def summarize(self, session_id: str, *, again: bool = False) -> list[SummaryInfo]:
        """Run the summary policy now and wait for it; returns the summaries made.

        With `again`, the session is summarised from its first message, and its
        earlier summaries are soft-deleted in the same transaction that stores the
        new ones (a failure leaves them).
        """

    @property
    @abstractmethod
    def summary_errors(self) -> list[str]:
        """Errors of summaries made off the caller's path, oldest first."""


class Maintenance(ABC):
    """Counts, purges and re-sorting: looking after the data as a whole."""

    @abstractmethod
    def purge(
        self, session_ids: Sequence[str] | None = None, *, dry_run: bool = False
    ) -> PurgeResult:
        """Hard-delete what is soft-deleted: everywhere (deleted users too), or only in
        `session_ids` (a deleted session goes whole; a live one loses its deleted
        messages and summaries).

        NotFoundError for an unknown session id. `dry_run` counts without removing.
        """

    @abstractmethod
    def stats(self) -> StoreStats:
        """Counts of live users, sessions, messages and summaries."""

    @abstractmethod
    def optimize(self) -> None:
        """Make reads fast again after bulk work (re-sort indexes, checkpoint)."""


class MessageDeletion(ABC):
    """One message soft-deleted (a zeptui extension: Zep deletes whole sessions)."""

    @abstractmethod
    def delete_message(self, session_id: str, message_uuid: str) -> None:
        """Soft-delete one message. NotFoundError if the session or message is unknown."""


class MessagePositions(ABC):
    """Where a message is in its session's history, without paging to it."""

    @abstractmethod
    def message_position(self, session_id: str, message_uuid: str) -> int:
        """The message's 0-based position in the session's history."""


class Restoring(ABC):
    """Soft deletes undone, and the deleted sessions listed (a zeptui extension: Zep
    can only undelete a session by writing to it, and then its messages stay deleted).

    What a delete took along comes back with it, as it was: a session with the
    messages and summaries deleted with it (not those deleted before), a user with
    the sessions deleted with it. A purge ends what can be restored."""

    @abstractmethod
    def deleted_session_page(self, query: SessionQuery | None = None) -> SessionPage:
        """A filtered, sorted page of deleted sessions (`session_page`'s filters), each
        counting the messages and tokens restoring it brings back."""

    @abstractmethod
    def restore_session(self, session_id: str) -> None:
        """Undelete a session with the messages and summaries deleted with it.
        NotFoundError if unknown (or purged); ConflictError if it is not deleted."""

    @abstractmethod
    def restore_message(self, session_id: str, message_uuid: str) -> None:
        """Undelete one message of a live session. NotFoundError if the session or
        message is unknown; ConflictError if the message is not deleted."""

    @abstractmethod
    def restore_user(self, user_id: str) -> int:
        """Undelete a user, giving back the sessions deleted with it (restored too);
        returns how many. NotFoundError if no deleted user has that id (or a purge
        removed it); ConflictError if a live user has it."""


class UserPages(ABC):
    """Pages of users with their session counts: what a users list shows."""

    @abstractmethod
    def user_page(self, limit: int = 100, cursor: int = 0, text: str | None = None) -> UserPage:
        """Live users by creation, `limit` from offset `cursor`, each with its number of
        live sessions; `text` keeps those whose id, email or name contains it."""


class MemoryAnswers(ABC):
    """`get_memory` answers as JSON, kept in the process: what a server sends."""

    @abstractmethod
    def get_memory_json(
        self,
        session_id: str,
        memory_type: MemoryType = MemoryType.perpetual,
        lastn: int | None = None,
    ) -> bytes:
        """`get_memory(session_id, memory_type, lastn)` as JSON (`model_dump_json`)."""

    @abstractmethod
    def warm_memory(self) -> int:
        """Read and keep the default memory of the most recently active sessions ahead
        of their requests (a server before it listens), and what their searches read;
        how many memory answers are kept."""


def message_position(store: MemoryStore, session_id: str, message_uuid: str) -> int:
    """The message's 0-based position in the session's history (to page to it): asked
    of the store when it offers `MessagePositions`, else found by paging."""
    positions = offered(store, MessagePositions)
    if positions is not None:
        return positions.message_position(session_id, message_uuid)
    page_size, page = 500, 1
    while True:
        listing = store.list_messages(session_id, limit=page_size, cursor=page)
        for index, message in enumerate(listing.messages):
            if message.uuid == message_uuid:
                return (page - 1) * page_size + index
        if len(listing.messages) < page_size:
            raise NotFoundError(f"message {message_uuid} not found in session {session_id!r}")
        page += 1


class SyncInventory(ABC):
    """What a store holds, deletions included, and whole sessions read in bulk: what
    sync compares two stores by and copies."""

    @abstractmethod
    def inventory(self, query: InventoryQuery) -> InventoryPage:
        """A page of sessions by `id` (soft-deleted ones too, with `deleted_at`), each
        with its live and deleted message uuids, the live ones' metadata stamps, and
        its live summary uuids."""

    @abstractmethod
    def user_inventory(self) -> list[User]:
        """Every user by `id`, soft-deleted ones too (with `deleted_at`)."""

    @abstractmethod
    def session_contents(self, session_ids: Sequence[str]) -> list[SessionContents]:
        """The live messages and summaries of each live session named, oldest first,
        in the order named (a session that is not live is left out)."""


class SummaryImport(ABC):
    """Summaries written as another store made them (sync copies them)."""

    @abstractmethod
    def import_summaries(self, by_session: Mapping[str, Sequence[SummaryInfo]]) -> int:
        """Store each session's summaries (by session id, oldest first) with their
        uuids, times and spans, in one transaction; returns how many were stored. One
        the store has (by uuid, deleted too) is skipped, as is one whose last message
        the live session lacks or that ends at or before the session's newest summary
        (the newest summary reaches furthest), and a session that is not live."""


CAPABILITY_NAMES: dict[str, type] = {
    "session_pages": SessionPages,
    "bulk_import": BulkImport,
    "summarizing": Summarizing,
    "maintenance": Maintenance,
    "message_deletion": MessageDeletion,
    "message_positions": MessagePositions,
    "restoring": Restoring,
    "user_pages": UserPages,
    "sync_inventory": SyncInventory,
    "summary_import": SummaryImport,
}
"""The capabilities a store can offer through an API, by the names a server lists them
under (`ZepJsonlImport` reads a local file, `ImportTransactions` holds one open
across calls and `MemoryAnswers` serves one, so none of them is among them: a server's
store takes each import in its own transaction)."""
