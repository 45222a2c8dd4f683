"""The MemoryStore interface: everything that shows or moves memory talks to one.

`MemoryStore` is what Zep's own API can do, so a remote Zep server can implement
all of it honestly. What only some stores can do (aggregated session pages, bulk
import, maintenance, ...) are the capabilities in `storage.capabilities`; callers
ask a store for a capability, never for its class.

Implementations: `storage.duckdb.DuckDBStore` (a local file) and, later, the
HTTP client in `zeptui` (a remote Zep server). One contract test suite
(`tests/contract/`) runs against every implementation.

Methods are synchronous; a UI calls them from worker threads. Errors are the
subclasses of `storage.errors.StoreError`.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from types import TracebackType
from typing import Any, Self

from storage.models import (
    CreateSessionRequest,
    CreateUserRequest,
    Memory,
    MemoryType,
    Message,
    MessageListResponse,
    SearchQuery,
    SearchResult,
    Session,
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
    def list_sessions(self, limit: int | None = None, cursor: int = 0) -> list[Session]:
        """Live sessions by `id` ascending (Zep's `GET /sessions`); `cursor` skips that
        many; `limit` None or 0 means all. Filtered, sorted pages with aggregates are
        the `SessionPages` capability."""

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

    # --- messages ------------------------------------------------------------------

    @abstractmethod
    def list_messages(
        self, session_id: str, limit: int = 100, cursor: int = 1
    ) -> MessageListResponse:
        """The full history, oldest first; `cursor` is a 1-based page number."""

    @abstractmethod
    def get_message(self, session_id: str, message_uuid: str) -> Message:
        """NotFoundError if the session or message is unknown."""

    @abstractmethod
    def update_message_metadata(
        self, session_id: str, message_uuid: str, metadata: dict[str, Any]
    ) -> Message:
        """Deep-merge metadata (the `system` key is dropped); token_count is kept."""

    # --- summaries -----------------------------------------------------------------

    @abstractmethod
    def list_summaries(self, session_id: str) -> list[SummaryInfo]:
        """The session's summaries, oldest first, each with the messages it covers."""

    # --- search --------------------------------------------------------------------

    @abstractmethod
    def search(self, query: SearchQuery) -> list[SearchResult]:
        """Ranked full-text search over message content, best first."""

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
