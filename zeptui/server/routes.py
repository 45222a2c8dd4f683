"""The endpoints of `/api/v2` and `/api/v1`: one set of handlers, two dialects.

Both API generations serve the same store with the same semantics; they differ in
how ids are encoded in paths, where users live (`/users` or `/user`), what a write
answers (`{"message": "OK"}` or the text `OK`), what an unknown session's memory,
messages and search give (404, or empty as v0.27.2 answers), and search results'
score field (`score` or `dist`). `Dialect` names those differences.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, Body, Path, Query
from starlette.responses import PlainTextResponse, Response

from storage.capabilities import MemoryAnswers, offered
from storage.errors import NotFoundError
from storage.models import (
    CreateSessionRequest,
    CreateUserRequest,
    Memory,
    MemoryType,
    Message,
    MessageListResponse,
    Session,
    UpdateUserRequest,
    User,
)
from storage.paging import MAX_LIMIT, MAX_OFFSET, MAX_PAGE, check_range
from storage.store import MemoryStore
from zeptui.server.errors import ApiError
from zeptui.server.ids import decode_id
from zeptui.server.listing import json_response, list_response, message_list_response
from zeptui.server.search import SearchService
from zeptui.server.wire import (
    AddMemoryBody,
    ClassifyBody,
    ClassifyResponse,
    ErrorResponse,
    MemoryResponse,
    OptionalInt,
    OptionalText,
    QuestionResponse,
    SearchBody,
    SearchResultV1,
    SearchResultV2,
    SuccessResponse,
    UpdateMessageBody,
    UpdateSessionBody,
)


@dataclass(frozen=True)
class Dialect:
    """What one API generation does its own way."""

    prefix: str
    users_path: str
    plus_is_space: bool
    """Ids are encoded with `quote_plus` (v2) or not at all (v1)."""
    unknown_session_is_404: bool
    """v2 answers 404 for an unknown session's memory, messages and search; v0.27.2
    answers them empty."""
    json_ok: bool
    """v2 answers writes with `{"message": "OK"}`; v1 with the text `OK`."""
    search_result: type[SearchResultV2] | type[SearchResultV1]
    default_memory_type: MemoryType


V2 = Dialect(
    prefix="/api/v2",
    users_path="/users",
    plus_is_space=True,
    unknown_session_is_404=True,
    json_ok=True,
    search_result=SearchResultV2,
    default_memory_type=MemoryType.perpetual,
)
V1 = Dialect(
    prefix="/api/v1",
    users_path="/user",
    plus_is_space=False,
    unknown_session_is_404=False,
    json_ok=False,
    search_result=SearchResultV1,
    default_memory_type=MemoryType.message_window,
)

ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorResponse, "description": description}
    for status, description in (
        (400, "The request is not valid (one line says why)"),
        (401, "A valid API key is required"),
        (404, "The session, user or message does not exist"),
        (409, "It exists already"),
        (413, "The request body is over the server's limit"),
        (500, "An unexpected failure, with a request id"),
    )
}

RawSessionId = Annotated[str, Path(description="The session id, percent-encoded")]
RawUserId = Annotated[str, Path(description="The user id, percent-encoded")]
RawMessageUuid = Annotated[str, Path(description="The message uuid")]
Limit = Annotated[OptionalInt, Query(description="Page size; empty or 0: all")]
Cursor = Annotated[OptionalInt, Query(description="Items to skip; empty: 0")]
LastN = Annotated[OptionalInt, Query(description="Messages; empty or 0: the window")]
MemoryTypeQuery = Annotated[
    OptionalText,
    Query(alias="memoryType", description="perpetual (default), message_window, summary_retriever"),
]


def _bounded(name: str, value: int | None, high: int) -> int:
    check_range(name, value, 0, high)
    return value or 0


@dataclass
class Services:
    """What the handlers call: the store, its search, and an optional language model."""

    store: MemoryStore
    search: SearchService
    language_model: Callable[[str], str] | None = None


def api_router(dialect: Dialect, services: Services) -> APIRouter:
    """Every endpoint of one API generation over `services`."""
    store = services.store
    answers = offered(store, MemoryAnswers)  # JSON kept by the store: sent as it is
    router = APIRouter(prefix=dialect.prefix, responses=ERROR_RESPONSES)
    sessions_tag, memory_tag, users_tag = (
        f"{name} ({dialect.prefix})" for name in ("sessions", "memory", "users")
    )

    def decoded_session(raw: str) -> str:
        return decode_id(raw, "session_id", plus_is_space=dialect.plus_is_space)

    def decoded_user(raw: str) -> str:
        return decode_id(raw, "user_id", plus_is_space=dialect.plus_is_space)

    def ok(status_code: int = 200) -> Response:
        if dialect.json_ok:
            return json_response(SuccessResponse(), status_code)
        return PlainTextResponse("OK", status_code)

    # --- sessions ---------------------------------------------------------------

    @router.post("/sessions", status_code=201, response_model=Session, tags=[sessions_tag])
    def add_session(request: CreateSessionRequest) -> Response:
        """Create a session (409 if the id exists, even deleted; 400 for an unknown user)."""
        return json_response(store.add_session(request), 201)

    @router.get("/sessions", response_model=list[Session], tags=[sessions_tag])
    def list_sessions(limit: Limit = None, cursor: Cursor = None) -> Response:
        """Live sessions by id; `cursor` skips that many (zep-python pages that way)."""
        size, skip = _bounded("limit", limit, MAX_LIMIT), _bounded("cursor", cursor, MAX_OFFSET)
        return list_response(lambda n, at: store.list_sessions(n, at), size, skip)

    @router.get("/sessions/{session_id}", response_model=Session, tags=[sessions_tag])
    def get_session(session_id: RawSessionId) -> Response:
        """One session (404 if unknown or deleted)."""
        return json_response(store.get_session(decoded_session(session_id)))

    # --- memory -----------------------------------------------------------------

    def memory(raw_id: str, lastn: int | None, memory_type: str | None) -> Response:
        check_range("lastn", lastn, 0, MAX_LIMIT)
        try:
            kind = MemoryType(memory_type) if memory_type else dialect.default_memory_type
        except ValueError:
            choices = ", ".join(kind.value for kind in MemoryType)
            raise ApiError(400, f"memoryType must be one of {choices}") from None
        sid = decoded_session(raw_id)
        try:
            if answers is not None and kind is not MemoryType.summary_retriever:
                body = answers.get_memory_json(sid, kind, lastn or None)  # lastn=0: not given
                return Response(body, media_type="application/json")
            found = store.get_memory(sid, kind, lastn or None)
        except NotFoundError:
            if dialect.unknown_session_is_404:
                raise
            return json_response(Memory())
        return json_response(services.search.with_relevant_summaries(sid, found, kind))

    memory_route = router.get(
        "/sessions/{session_id}/memory",
        response_model=MemoryResponse,
        tags=[memory_tag],
        description="The session's memory: the last `lastn` messages (or those after the "
        "newest summary, up to the window), oldest first, with the newest summary; "
        + (
            "404 for an unknown session."
            if dialect.unknown_session_is_404
            else "an unknown session has no messages."
        ),
    )

    if dialect is V2:

        @memory_route
        def get_memory(
            session_id: RawSessionId, lastn: LastN = None, memory_type: MemoryTypeQuery = None
        ) -> Response:
            return memory(session_id, lastn, memory_type)

    else:

        @memory_route
        def get_memory_v1(session_id: RawSessionId, lastn: LastN = None) -> Response:
            return memory(session_id, lastn, None)

    @router.post(
        "/sessions/{session_id}/memory",
        status_code=201 if dialect.json_ok else 200,
        response_model=SuccessResponse if dialect.json_ok else str,
        tags=[memory_tag],
    )
    def add_memory(session_id: RawSessionId, request: AddMemoryBody) -> Response:
        """Append messages in order, creating (or undeleting) the session. A supplied
        uuid and created_at are kept; token counts are computed."""
        store.add_memory(decoded_session(session_id), request.messages or [])
        return ok(201 if dialect.json_ok else 200)

    @router.delete(
        "/sessions/{session_id}/memory",
        response_model=SuccessResponse if dialect.json_ok else str,
        tags=[memory_tag],
    )
    def delete_memory(session_id: RawSessionId) -> Response:
        """Delete the session with its messages and summaries (Zep's soft delete)."""
        store.delete_session(decoded_session(session_id))
        return ok()

    @router.post(
        "/sessions/{session_id}/search",
        response_model=list[dialect.search_result],  # type: ignore[name-defined]
        tags=[memory_tag],
    )
    def search_memory(
        session_id: RawSessionId,
        request: Annotated[SearchBody, Body()],
        limit: Annotated[OptionalInt, Query(description="Results; default 10")] = None,
    ) -> Response:
        """Search the session's messages or summaries, best first."""
        sid = decoded_session(session_id)
        try:
            results = services.search.search_session(sid, request, limit)
        except NotFoundError:
            if dialect.unknown_session_is_404:
                raise
            return json_response([])
        return json_response([dialect.search_result.model_validate(r) for r in results])

    # --- messages ---------------------------------------------------------------

    @router.get(
        "/sessions/{session_id}/messages", response_model=MessageListResponse, tags=[memory_tag]
    )
    def list_messages(
        session_id: RawSessionId,
        limit: Annotated[OptionalInt, Query(description="Page size; empty or 0: all")] = None,
        cursor: Annotated[OptionalInt, Query(description="Page number from 1")] = None,
    ) -> Response:
        """The session's whole history, oldest first, a page at a time."""
        size, page = _bounded("limit", limit, MAX_LIMIT), _bounded("cursor", cursor, MAX_PAGE)
        sid = decoded_session(session_id)
        try:
            return message_list_response(
                lambda n, number: store.list_messages(sid, n, number), size, page
            )
        except NotFoundError:
            if dialect.unknown_session_is_404:
                raise
            return json_response(MessageListResponse(messages=[], total_count=0, row_count=0))

    @router.get(
        "/sessions/{session_id}/messages/{message_uuid}",
        response_model=Message,
        tags=[memory_tag],
    )
    def get_message(session_id: RawSessionId, message_uuid: RawMessageUuid) -> Response:
        """One message of the session."""
        return json_response(store.get_message(decoded_session(session_id), message_uuid))

    @router.patch(
        "/sessions/{session_id}/messages/{message_uuid}",
        response_model=Message,
        tags=[memory_tag],
    )
    def update_message(
        session_id: RawSessionId, message_uuid: RawMessageUuid, request: UpdateMessageBody
    ) -> Response:
        """Deep-merge the message's metadata (`system` dropped); nothing else changes."""
        sid = decoded_session(session_id)
        if request.metadata is None:
            return json_response(store.get_message(sid, message_uuid))
        return json_response(store.update_message_metadata(sid, message_uuid, request.metadata))

    # zep-python 2.0.0rc6 encodes the id of this one call with `quote`, which leaves
    # `/` as it is: on v2 the id is the rest of the path. Registered after the message
    # PATCH, which would otherwise be read as a session id with slashes.
    session_path = (
        "/sessions/{session_id:path}" if dialect.plus_is_space else "/sessions/{session_id}"
    )

    @router.patch(session_path, response_model=Session, tags=[sessions_tag])
    def update_session(session_id: RawSessionId, request: UpdateSessionBody) -> Response:
        """Deep-merge metadata (`system` dropped) and undelete the session."""
        return json_response(store.update_session(decoded_session(session_id), request.metadata))

    # --- users ------------------------------------------------------------------

    users = dialect.users_path

    @router.post(users, status_code=201, response_model=User, tags=[users_tag])
    def add_user(request: CreateUserRequest) -> Response:
        """Create a user (409 if the id exists)."""
        return json_response(store.add_user(request), 201)

    @router.get(users, response_model=list[User], tags=[users_tag])
    def list_users(limit: Limit = None, cursor: Cursor = None) -> Response:
        """Users by id; `cursor` skips that many."""
        size, skip = _bounded("limit", limit, MAX_LIMIT), _bounded("cursor", cursor, MAX_OFFSET)
        return list_response(lambda n, at: store.list_users(n, at), size, skip)

    @router.get(users + "/{user_id}", response_model=User, tags=[users_tag])
    def get_user(user_id: RawUserId) -> Response:
        """One user (404 if unknown or deleted)."""
        return json_response(store.get_user(decoded_user(user_id)))

    @router.patch(users + "/{user_id}", response_model=User, tags=[users_tag])
    def update_user(user_id: RawUserId, request: UpdateUserRequest) -> Response:
        """Set the given fields (empty ones are left alone); metadata is deep-merged."""
        return json_response(store.update_user(decoded_user(user_id), request))

    @router.delete(
        users + "/{user_id}",
        response_model=SuccessResponse if dialect.json_ok else str,
        tags=[users_tag],
    )
    def delete_user(user_id: RawUserId) -> Response:
        """Delete the user; their sessions go with them."""
        store.delete_user(decoded_user(user_id))
        return ok()

    @router.get(users + "/{user_id}/sessions", response_model=list[Session], tags=[users_tag])
    def user_sessions(user_id: RawUserId) -> Response:
        """The user's live sessions by id."""
        uid = decoded_user(user_id)
        if dialect.unknown_session_is_404:
            store.get_user(uid)  # v2: an unknown user is 404; v0.27.2 answers []
        return json_response(store.get_user_sessions(uid))

    if dialect is V2:
        _add_language_model_routes(router, services, decoded_session, memory_tag)
    return router


def _add_language_model_routes(
    router: APIRouter,
    services: Services,
    decoded_session: Callable[[str], str],
    tag: str,
) -> None:
    """classify and synthesize_question: 501 unless a language model is configured."""
    from zeptui.server import language

    @router.post("/sessions/{session_id}/classify", response_model=ClassifyResponse, tags=[tag])
    def classify_session(session_id: RawSessionId, request: ClassifyBody) -> Response:
        """Classify the session's last messages into one of `classes` (needs an LLM)."""
        model = language.required(services.language_model)
        sid = decoded_session(session_id)
        return json_response(language.classify(services.store, model, sid, request))

    @router.get(
        "/sessions/{session_id}/synthesize_question", response_model=QuestionResponse, tags=[tag]
    )
    def synthesize_question(
        session_id: RawSessionId,
        last_n: Annotated[OptionalInt, Query(alias="lastNMessages")] = None,
    ) -> Response:
        """A question that sums up what the user wants, from the last messages (needs an LLM)."""
        model = language.required(services.language_model)
        question = language.synthesize_question(
            services.store, model, decoded_session(session_id), last_n
        )
        return json_response(QuestionResponse(question=question))
