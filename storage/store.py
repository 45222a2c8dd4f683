"""The MemoryStore interface: everything that shows or moves memory talks to one.

Implementations: `storage.duckdb_store.DuckDBStore` (a local file) and, later, the
HTTP client in `zeptui` (a remote Zep server). One contract test suite
(`tests/contract/`) runs against every implementation.

Methods are synchronous; a UI calls them from worker threads. Errors are the
subclasses of `storage.errors.StoreError`.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Sequence
from types import TracebackType
from typing import Any, Self

from storage.errors import MessageConflictError, NotFoundError
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
    SummaryInfo,
    UpdateUserRequest,
    User,
)

DEFAULT_MESSAGE_WINDOW = 12
"""Zep's `memory.message_window` default (v0.27.2 `config.yaml`)."""


class MemoryStore(ABC):
    """Zep's data model: users, sessions, messages, summaries, with Zep's semantics.

    See `docs/zep-compatibility.md` for the rules and where zeptui departs from
    the reference server on purpose.
    """

    # --- identity ------------------------------------------------------------------

    @property
    @abstractmethod
    def location(self) -> str:
        """Where the data lives: a file path or a server URL, for display."""

    @property
    @abstractmethod
    def message_window(self) -> int:
        """The window used by memory without `lastn` and by the summarizer."""

    # --- users ---------------------------------------------------------------------

    @abstractmethod
    def add_user(self, request: CreateUserRequest) -> User:
        """Create a user. ConflictError if `user_id` exists."""

    @abstractmethod
    def get_user(self, user_id: str) -> User:
        """NotFoundError if unknown or deleted."""

    @abstractmethod
    def update_user(self, user_id: str, request: UpdateUserRequest) -> User:
        """Set the given non-empty fields; deep-merge metadata (`system` allowed)."""

    @abstractmethod
    def delete_user(self, user_id: str) -> int:
        """Delete the user; the user's sessions go with it (soft-deleted and detached, so a
        new user created later with the same id never gets them). Returns how many."""

    @abstractmethod
    def list_users(self, limit: int | None = None, cursor: int = 0) -> list[User]:
        """Users by `id` ascending; `cursor` skips that many; `limit` None or 0 means all."""

    @abstractmethod
    def get_user_sessions(self, user_id: str) -> list[Session]:
        """The user's live sessions by `id`; an unknown user has none."""

    # --- sessions ------------------------------------------------------------------

    @abstractmethod
    def add_session(self, request: CreateSessionRequest) -> Session:
        """Create a session. ConflictError if the id exists (even soft-deleted);
        InvalidInputError if `user_id` names an unknown user."""

    @abstractmethod
    def get_session(self, session_id: str) -> Session:
        """NotFoundError if unknown or soft-deleted."""

    @abstractmethod
    def update_session(self, session_id: str, metadata: dict[str, Any] | None = None) -> Session:
        """Deep-merge metadata (the `system` key is dropped) and undelete the session.

        NotFoundError if the session never existed (or was purged).
        """

    @abstractmethod
    def delete_session(self, session_id: str) -> None:
        """Soft-delete the session with its messages and summaries (Zep's DELETE memory)."""

    @abstractmethod
    def list_sessions(self, query: SessionQuery | None = None) -> SessionPage:
        """A filtered, sorted page of live sessions with their aggregates."""

    # --- memory --------------------------------------------------------------------

    @abstractmethod
    def add_memory(self, session_id: str, messages: Sequence[Message]) -> list[Message]:
        """Append messages, creating or undeleting the session.

        Messages keep their order. A supplied `uuid` is kept. One already stored in
        this session is the same message: skipped (re-import adds nothing), or restored
        if it was deleted. One stored in another session raises `MessageConflictError`
        and nothing is written. A supplied `created_at` is kept. A missing role type is
        stored as `norole`. Token counts are computed. Returns the messages inserted by
        this call. Summaries, if due, are made afterwards, off this call.
        """

    @abstractmethod
    def get_memory(
        self,
        session_id: str,
        memory_type: MemoryType = MemoryType.perpetual,
        lastn: int | None = None,
    ) -> Memory:
        """The session's memory as a client receives it. NotFoundError if unknown."""

    @abstractmethod
    def import_sessions(
        self,
        sessions: Iterable[SessionImport],
        users: Sequence[CreateUserRequest] = (),
        *,
        dry_run: bool = False,
        on_conflict: Callable[[MessageConflictError], None] | None = None,
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
        """

    # --- messages ------------------------------------------------------------------

    @abstractmethod
    def list_messages(
        self, session_id: str, limit: int = 100, cursor: int = 1
    ) -> MessageListResponse:
        """The full history, oldest first; `cursor` is a 1-based page number."""

    def message_position(self, session_id: str, message_uuid: str) -> int:
        """The message's 0-based position in the session's history (to page to it).

        The default pages through `list_messages`; implementations may do better.
        """
        page_size, page = 500, 1
        while True:
            listing = self.list_messages(session_id, limit=page_size, cursor=page)
            for index, message in enumerate(listing.messages):
                if message.uuid == message_uuid:
                    return (page - 1) * page_size + index
            if len(listing.messages) < page_size:
                raise NotFoundError(f"message {message_uuid} not found in session {session_id!r}")
            page += 1

    @abstractmethod
    def get_message(self, session_id: str, message_uuid: str) -> Message:
        """NotFoundError if the session or message is unknown."""

    @abstractmethod
    def update_message_metadata(
        self, session_id: str, message_uuid: str, metadata: dict[str, Any]
    ) -> Message:
        """Deep-merge metadata (the `system` key is dropped); token_count is kept."""

    @abstractmethod
    def delete_message(self, session_id: str, message_uuid: str) -> None:
        """Soft-delete one message (a zeptui extension)."""

    # --- summaries -----------------------------------------------------------------

    @abstractmethod
    def list_summaries(self, session_id: str) -> list[SummaryInfo]:
        """The session's summaries, oldest first, each with the messages it covers."""

    @abstractmethod
    def summarize(self, session_id: str, *, again: bool = False) -> list[SummaryInfo]:
        """Run the summary policy now and wait for it; returns the summaries made.

        With `again`, the session is summarised from its first message, and its
        earlier summaries are soft-deleted in the same transaction that stores the
        new ones (a failure leaves them).
        """

    # --- search and maintenance ----------------------------------------------------

    @abstractmethod
    def search(self, query: SearchQuery) -> list[SearchResult]:
        """Ranked full-text search over message content, best first."""

    @abstractmethod
    def purge(
        self, session_ids: Sequence[str] | None = None, *, dry_run: bool = False
    ) -> PurgeResult:
        """Hard-delete what is soft-deleted: everywhere, or only in `session_ids` (a
        deleted session goes whole; a live one loses its deleted messages and summaries).

        NotFoundError for an unknown session id. `dry_run` counts without removing.
        """

    @abstractmethod
    def stats(self) -> StoreStats:
        """Counts of live users, sessions, messages and summaries."""

    def close(self) -> None:  # noqa: B027 - optional hook, a no-op by default
        """Release the store's resources. Safe to call twice."""

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
