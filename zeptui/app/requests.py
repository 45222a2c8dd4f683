"""What the app asks of the store, and the replies that carry the answers back.

One class per kind of question (a page of sessions, a page of messages, a view of
memory, a search, the header's counts) and per kind of write. The data layer calls
`run` on a worker thread with the store of a lease: it builds the store's query
models (so pydantic is imported there, never before the first frame) and what the
widget will show, so widgets only render what they receive. The fields after the
question (`generation`, `reset`, ...) are the asking widget's own bookkeeping,
handed back with the reply.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from zeptui.app import first_page
from zeptui.app.data import Reply, Request, WriteRequest
from zeptui.app.first_page import FirstPage, SessionRow

if TYPE_CHECKING:
    from pathlib import Path

    from storage.models import (
        Memory,
        Message,
        SearchResult,
        SessionInfo,
        SessionPage,
        StoreStats,
        SummaryInfo,
    )
    from storage.store import MemoryStore


# --- sessions --------------------------------------------------------------------------


@dataclass(frozen=True)
class SessionsRequest(Request):
    """A page of the session list (the store's `SessionPages` capability).

    `keep`: this is the first page of the unfiltered list, most recent first, which
    the next start shows before the store answers (`first_page.py`).
    """

    group = "sessions"

    limit: int = 100
    cursor: int = 0
    order_by: str = "activity"
    descending: bool = True
    user_id: str | None = None
    metadata: tuple[tuple[str, str], ...] = ()
    created_after: datetime | None = None
    created_before: datetime | None = None
    text: str | None = None
    keep: bool = False
    deleted: bool = False
    """The deleted sessions instead (the `Restoring` capability)."""
    reset: bool = True
    generation: int = 0

    def run(self, store: MemoryStore, database: Path | None) -> SessionsLoaded:
        from storage.capabilities import Restoring, SessionPages, require
        from storage.models import SessionQuery

        query = SessionQuery(
            limit=self.limit,
            cursor=self.cursor,
            order_by=self.order_by,  # type: ignore[arg-type]  # validated as a SessionOrder
            descending=self.descending,
            user_id=self.user_id,
            metadata=dict(self.metadata),
            created_after=self.created_after,
            created_before=self.created_before,
            text=self.text,
        )
        stamp = first_page.file_stamp(database) if self.keep and database else None
        if self.deleted:
            restoring = require(store, Restoring, "list deleted sessions")
            page = restoring.deleted_session_page(query)
        else:
            page = require(store, SessionPages, "list sessions with their counts").session_page(
                query
            )
        rows = tuple(SessionRow.of(info) for info in page.sessions)
        if database is not None and stamp is not None:
            first_page.save(database, stamp, FirstPage(rows, page.total_count))
        return SessionsLoaded(self, page, rows)


class SessionsLoaded(Reply):
    """A page of sessions, with the rows the list shows of them."""

    def __init__(
        self, request: SessionsRequest, page: SessionPage, rows: tuple[SessionRow, ...]
    ) -> None:
        super().__init__(request)
        self.request: SessionsRequest = request
        self.page = page
        self.rows = rows

    @property
    def sessions(self) -> list[SessionInfo]:
        return self.page.sessions


@runtime_checkable
class OnServer(Protocol):
    """A store on a server, which says what the server is (`RemoteStore`)."""

    @property
    def server_kind(self) -> str: ...


@dataclass(frozen=True)
class StatsRequest(Request):
    """The header's counts, and what the server is when the store is a server's."""

    group = "stats"

    def run(self, store: MemoryStore, database: Path | None) -> StatsLoaded:
        from storage.capabilities import Maintenance, offered

        maintenance = offered(store, Maintenance)
        stats = None if maintenance is None else maintenance.stats()
        server = store.server_kind if isinstance(store, OnServer) else None
        return StatsLoaded(self, stats, server)


class StatsLoaded(Reply):
    """The header's counts (None: the store does not keep them, as a Zep server), and
    what the server is (`zeptui API v2`; None for a file)."""

    def __init__(self, request: StatsRequest, stats: StoreStats | None, server: str | None) -> None:
        super().__init__(request)
        self.stats = stats
        self.server = server


# --- a session's messages ----------------------------------------------------------------


@dataclass(frozen=True)
class MessagesRequest(Request):
    """A page of a session's messages, in the all-messages view.

    `page` None asks for the page with message `jump`, else for `last_page`. A short
    last page comes with the page before it when `reset` (a new listing), so the
    screen opens full. `with_summaries` adds the session's summaries, by the uuid of
    the message each one ends on.
    """

    group = "transcript"

    session_id: str
    page: int | None
    page_size: int
    last_page: int
    reset: bool
    generation: int
    jump: str | None = None
    first: bool = False
    with_summaries: bool = False
    short_page: int = 0
    """A last page with fewer messages than this comes with the page before it."""

    def run(self, store: MemoryStore, database: Path | None) -> MessagesLoaded:
        from storage.capabilities import message_position

        number = self.page
        if number is None:
            number = (
                message_position(store, self.session_id, self.jump) // self.page_size + 1
                if self.jump is not None
                else self.last_page
            )
        messages = self._page(store, number)
        if self.reset and number > 1 and len(messages) < self.short_page:
            messages = self._page(store, number - 1) + messages
            number -= 1
        summaries: dict[str, SummaryInfo] = {}
        if self.with_summaries:
            summaries = {
                info.summary.recent_message_uuid: info
                for info in store.list_summaries(self.session_id)
            }
        return MessagesLoaded(self, number, messages, summaries)

    def _page(self, store: MemoryStore, number: int) -> list[Message]:
        listing = store.list_messages(self.session_id, limit=self.page_size, cursor=number)
        return listing.messages


class MessagesLoaded(Reply):
    """Messages from page `page` on, and the session's summaries if asked for."""

    def __init__(
        self,
        request: MessagesRequest,
        page: int,
        messages: list[Message],
        summaries: dict[str, SummaryInfo],
    ) -> None:
        super().__init__(request)
        self.request: MessagesRequest = request
        self.page = page
        self.messages = messages
        self.summaries = summaries


@dataclass(frozen=True)
class MemoryRequest(Request):
    """What `get_memory` returns (`memory_type` "message_window" with `lastn`, or
    "perpetual"), with the span of its summary."""

    group = "transcript"

    session_id: str
    memory_type: str
    lastn: int | None
    generation: int

    def run(self, store: MemoryStore, database: Path | None) -> MemoryLoaded:
        from storage.models import MemoryType, SummaryInfo

        memory = store.get_memory(self.session_id, MemoryType(self.memory_type), self.lastn)
        if memory.summary is None:
            return MemoryLoaded(self, memory, None)
        # get_memory's summary does not say which messages it covers; the session's
        # summary list does.
        uuid = memory.summary.uuid
        spans = store.list_summaries(self.session_id)
        summary = next((info for info in spans if info.summary.uuid == uuid), None)
        if summary is None:  # not listed (deleted meanwhile): its span is unknown
            summary = SummaryInfo(summary=memory.summary, first_message_uuid=None, message_count=0)
        return MemoryLoaded(self, memory, summary)


class MemoryLoaded(Reply):
    """A memory view, and its summary with the span it covers (if it has one)."""

    def __init__(self, request: MemoryRequest, memory: Memory, summary: SummaryInfo | None) -> None:
        super().__init__(request)
        self.request: MemoryRequest = request
        self.memory = memory
        self.summary = summary


# --- search ------------------------------------------------------------------------------


@dataclass(frozen=True)
class SearchRequest(Request):
    """Ranked full-text search over message content (in one session, or all)."""

    group = "search"

    text: str
    limit: int
    session_id: str | None
    generation: int

    def run(self, store: MemoryStore, database: Path | None) -> SearchLoaded:
        from storage.models import SearchQuery

        query = SearchQuery(text=self.text, limit=self.limit, session_id=self.session_id)
        return SearchLoaded(self, store.search(query))


class SearchLoaded(Reply):
    """The results of a search, best first."""

    def __init__(self, request: SearchRequest, results: list[SearchResult]) -> None:
        super().__init__(request)
        self.request: SearchRequest = request
        self.results = results


# --- writes ------------------------------------------------------------------------------


@dataclass(frozen=True)
class AppendMessage(WriteRequest):
    """Add one message to a session (created if it does not exist), as `add_memory`."""

    session_id: str
    content: str
    role: str = ""
    role_type: str | None = None
    metadata: tuple[tuple[str, Any], ...] = ()

    def run(self, store: MemoryStore, database: Path | None) -> MessagesAppended:
        from storage.models import Message, RoleType

        message = Message(
            role=self.role,
            role_type=RoleType(self.role_type) if self.role_type else None,
            content=self.content,
            metadata=dict(self.metadata) or None,
        )
        return MessagesAppended(self, store.add_memory(self.session_id, [message]))


class MessagesAppended(Reply):
    """The messages as stored (with their uuids, times and token counts)."""

    def __init__(self, request: AppendMessage, messages: list[Message]) -> None:
        super().__init__(request)
        self.request: AppendMessage = request
        self.messages = messages
