"""zeptui's own endpoints beside Zep's (`/api/v2/zeptui/...`): what a remote zeptui store
needs that Zep's API cannot carry.

`GET /api/v2/zeptui/capabilities` says what the served store offers (by the names in
`storage.capabilities.CAPABILITY_NAMES`), its message window and the largest request
body the server takes; the other endpoints
serve the core calls Zep has no endpoint for (every summary of a session, search across
sessions with the store's filters, add memory answering the messages it inserted) and
each capability the store offers. A capability the store lacks answers 501. Ids travel
in the path encoded as zep-python 2.0.0rc6 encodes them (`quote_plus`), or in bodies.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Path
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from starlette.responses import Response

from storage.capabilities import (
    CAPABILITY_NAMES,
    BulkImport,
    Maintenance,
    MessageDeletion,
    MessagePositions,
    Restoring,
    SessionPages,
    Summarizing,
    SummaryImport,
    SyncInventory,
    UserPages,
    require,
)
from storage.errors import MessageConflictError
from storage.metadata_filter import parse_where
from storage.models import (
    CreateUserRequest,
    ImportResult,
    InventoryPage,
    InventoryQuery,
    Message,
    PurgeResult,
    SearchQuery,
    SearchResult,
    SessionContents,
    SessionImport,
    SessionPage,
    SessionQuery,
    StoreStats,
    SummaryInfo,
    User,
    UserPage,
    validation_message,
)
from storage.store import MemoryStore
from zeptui.server.errors import ApiError
from zeptui.server.ids import decode_id
from zeptui.server.listing import json_response
from zeptui.server.routes import ERROR_RESPONSES
from zeptui.server.wire import AddMemoryBody, SuccessResponse

PREFIX = "/api/v2/zeptui"
SERVER_NAME = "zeptui"

SessionId = Annotated[str, Path(description="The session id, encoded with quote_plus")]


class _Body(BaseModel):
    model_config = ConfigDict(extra="ignore")


class CapabilitiesResponse(_Body):
    """What the served store offers, for a remote zeptui store to offer the same."""

    server: str = SERVER_NAME
    capabilities: list[str]
    message_window: int
    max_body: int | None = None
    """The largest request body the server takes, in bytes (a client splits imports
    under it)."""


class ImportBody(_Body):
    sessions: list[SessionImport] = Field(default_factory=list)
    users: list[CreateUserRequest] = Field(default_factory=list)
    dry_run: bool = False
    skip_conflicts: bool = False
    """Leave out messages whose uuid belongs to another session and list them, instead
    of failing the whole import with 409."""
    counted: bool = False
    """The messages' `token_count`s are the sender's store's: kept if a random sample
    of them checks out (`BulkImport.import_sessions`)."""


class Conflict(_Body):
    message_uuid: str
    session_id: str
    holder_session_id: str


class ImportResponse(_Body):
    result: ImportResult
    conflicts: list[Conflict] = Field(default_factory=list)


class PurgeBody(_Body):
    session_ids: list[str] | None = None
    dry_run: bool = False


class SummarizeBody(_Body):
    again: bool = False


class PositionResponse(_Body):
    position: int


class RestoredUserResponse(_Body):
    sessions: int
    """How many sessions came back with the user."""


class UserPageBody(_Body):
    limit: int = 100
    cursor: int = 0
    text: str | None = None


class ContentsBody(_Body):
    session_ids: list[str]


class SummaryImportResponse(_Body):
    stored: int


def offered_names(store: MemoryStore) -> list[str]:
    """The names of the capabilities `store` offers."""
    return [name for name, kind in CAPABILITY_NAMES.items() if isinstance(store, kind)]


def extensions_router(store: MemoryStore, max_body: int | None = None) -> APIRouter:
    """zeptui's endpoints over `store` (`max_body`: the server's limit, as told)."""
    router = APIRouter(prefix=PREFIX, tags=["zeptui extensions"], responses=ERROR_RESPONSES)

    def sid(raw: str) -> str:
        return decode_id(raw, "session_id", plus_is_space=True)

    def restoring() -> Restoring:
        return require(store, Restoring, "restore what was deleted")

    @router.get("/capabilities", response_model=CapabilitiesResponse)
    def capabilities() -> Response:
        """The capabilities of the served store and its message window."""
        names = offered_names(store)
        window = store.message_window
        return json_response(
            CapabilitiesResponse(capabilities=names, message_window=window, max_body=max_body)
        )

    @router.post("/sessions/{session_id}/memory", status_code=201, response_model=list[Message])
    def add_memory(session_id: SessionId, request: AddMemoryBody) -> Response:
        """Zep's add memory, answering the messages this call inserted."""
        return json_response(store.add_memory(sid(session_id), request.messages or []), 201)

    @router.get("/sessions/{session_id}/summaries", response_model=list[SummaryInfo])
    def summaries(session_id: SessionId) -> Response:
        """Every live summary of the session, oldest first, with the span it covers."""
        return json_response(store.list_summaries(sid(session_id)))

    @router.post("/search", response_model=list[SearchResult])
    def search(request: Annotated[dict[str, Any], Body()]) -> Response:
        """The store's own search (any session, its filters; `where` as Zep's `where`
        object), scores as the store ranks."""
        where = request.pop("where", None)
        try:
            query = SearchQuery.model_validate(
                {**request, "where": None if where is None else parse_where(where)}
            )
        except ValidationError as error:
            raise ApiError(400, validation_message(error)) from None
        return json_response(store.search(query))

    @router.post("/session-page", response_model=SessionPage)
    def session_page(request: SessionQuery) -> Response:
        """A filtered, sorted page of sessions with their aggregates."""
        pages = require(store, SessionPages, "list pages of sessions")
        return json_response(pages.session_page(request))

    @router.post("/import", response_model=ImportResponse)
    def import_sessions(request: ImportBody) -> Response:
        """Whole sessions in one transaction (all or nothing), with a dry run."""
        bulk = require(store, BulkImport, "import sessions")
        conflicts: list[Conflict] = []

        def conflict(error: MessageConflictError) -> None:
            conflicts.append(
                Conflict(
                    message_uuid=error.message_uuid,
                    session_id=error.session_id,
                    holder_session_id=error.holder_session_id,
                )
            )

        result = bulk.import_sessions(
            request.sessions,
            request.users,
            dry_run=request.dry_run,
            on_conflict=conflict if request.skip_conflicts else None,
            counted=request.counted,
        )
        return json_response(ImportResponse(result=result, conflicts=conflicts))

    @router.post("/purge", response_model=PurgeResult)
    def purge(request: PurgeBody) -> Response:
        """Remove what is soft-deleted, everywhere or in the sessions named."""
        maintenance = require(store, Maintenance, "purge")
        return json_response(maintenance.purge(request.session_ids, dry_run=request.dry_run))

    @router.get("/stats", response_model=StoreStats)
    def stats() -> Response:
        """Counts of live users, sessions, messages and summaries."""
        return json_response(require(store, Maintenance, "count").stats())

    @router.post("/optimize", response_model=SuccessResponse)
    def optimize() -> Response:
        """Re-sort the indexes after bulk work."""
        require(store, Maintenance, "optimize").optimize()
        return json_response(SuccessResponse())

    @router.post("/sessions/{session_id}/summarize", response_model=list[SummaryInfo])
    def summarize(session_id: SessionId, request: SummarizeBody) -> Response:
        """Run the summary policy on the session now; answers the summaries made."""
        summarizing = require(store, Summarizing, "summarize")
        return json_response(summarizing.summarize(sid(session_id), again=request.again))

    @router.delete("/sessions/{session_id}/messages/{message_uuid}", response_model=SuccessResponse)
    def delete_message(session_id: SessionId, message_uuid: str) -> Response:
        """Soft-delete one message."""
        deletion = require(store, MessageDeletion, "delete messages")
        deletion.delete_message(sid(session_id), message_uuid)
        return json_response(SuccessResponse())

    @router.get(
        "/sessions/{session_id}/messages/{message_uuid}/position",
        response_model=PositionResponse,
    )
    def position(session_id: SessionId, message_uuid: str) -> Response:
        """The message's 0-based position in its session's history."""
        positions = require(store, MessagePositions, "tell message positions")
        found = positions.message_position(sid(session_id), message_uuid)
        return json_response(PositionResponse(position=found))

    @router.post("/deleted-session-page", response_model=SessionPage)
    def deleted_session_page(request: SessionQuery) -> Response:
        """A filtered, sorted page of deleted sessions, each counting what a restore
        brings back."""
        return json_response(restoring().deleted_session_page(request))

    @router.post("/sessions/{session_id}/restore", response_model=SuccessResponse)
    def restore_session(session_id: SessionId) -> Response:
        """Undelete a session with the messages and summaries deleted with it."""
        restoring().restore_session(sid(session_id))
        return json_response(SuccessResponse())

    @router.post(
        "/sessions/{session_id}/messages/{message_uuid}/restore", response_model=SuccessResponse
    )
    def restore_message(session_id: SessionId, message_uuid: str) -> Response:
        """Undelete one message of a live session."""
        restoring().restore_message(sid(session_id), message_uuid)
        return json_response(SuccessResponse())

    @router.post("/users/{user_id}/restore", response_model=RestoredUserResponse)
    def restore_user(user_id: str) -> Response:
        """Undelete a user with the sessions deleted with it."""
        count = restoring().restore_user(decode_id(user_id, "user_id", plus_is_space=True))
        return json_response(RestoredUserResponse(sessions=count))

    @router.post("/user-page", response_model=UserPage)
    def user_page(request: UserPageBody) -> Response:
        """Live users by creation, each with its number of live sessions."""
        pages = require(store, UserPages, "list users with their session counts")
        return json_response(pages.user_page(request.limit, request.cursor, request.text))

    @router.post("/inventory", response_model=InventoryPage)
    def inventory(request: InventoryQuery) -> Response:
        """A page of sessions, deleted ones too, with the uuids each holds (sync)."""
        return json_response(require(store, SyncInventory, "list its inventory").inventory(request))

    @router.get("/user-inventory", response_model=list[User])
    def user_inventory() -> Response:
        """Every user, deleted ones too (sync)."""
        inventory = require(store, SyncInventory, "list its inventory")
        return json_response(inventory.user_inventory())

    @router.post("/contents", response_model=list[SessionContents])
    def contents(request: ContentsBody) -> Response:
        """The live messages and summaries of the live sessions named (sync)."""
        inventory = require(store, SyncInventory, "list its inventory")
        return json_response(inventory.session_contents(request.session_ids))

    @router.post("/summaries", response_model=SummaryImportResponse)
    def import_summaries(request: dict[str, list[SummaryInfo]]) -> Response:
        """Store other stores' summaries, by session id, as they are (sync)."""
        importing = require(store, SummaryImport, "import summaries")
        return json_response(SummaryImportResponse(stored=importing.import_summaries(request)))

    return router
