"""Pydantic models with Zep's JSON shapes (see docs/zep-compatibility.md).

The wire models (User, Session, Message, Summary, Memory, SearchResult, ...) dump to
exactly the JSON that Zep's `/api/v2` serves. The query and info models below them
(SessionQuery, SessionInfo, SearchQuery, ...) are zeptui's own.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, PlainSerializer, ValidationError

from storage import limits
from storage.metadata_filter import Condition

__all__ = [
    "CreateSessionRequest",
    "CreateUserRequest",
    "ImportResult",
    "InventoryPage",
    "InventoryQuery",
    "Memory",
    "MemoryType",
    "Message",
    "MessageListResponse",
    "PurgeResult",
    "RoleType",
    "SearchQuery",
    "SearchResult",
    "SearchScope",
    "Session",
    "SessionContents",
    "SessionImport",
    "SessionInfo",
    "SessionInventory",
    "SessionOrder",
    "SessionPage",
    "SessionQuery",
    "StoreStats",
    "Summary",
    "SummaryInfo",
    "UpdateUserRequest",
    "User",
    "format_timestamp",
    "utcnow",
    "validation_message",
]


def utcnow() -> datetime:
    """The current time, timezone-aware, in UTC."""
    return datetime.now(UTC)


def format_timestamp(value: datetime) -> str:
    """RFC 3339 in UTC with microseconds and a `Z`, as Zep writes timestamps."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def validation_message(error: ValidationError) -> str:
    """The first problem of a validation error, on one line: `field: what is wrong`."""
    problem = error.errors()[0]
    field = ".".join(str(part) for part in problem["loc"])
    message = str(problem["msg"]).removeprefix("Value error, ")
    return f"{field}: {message}" if field else message


def _dump_timestamp(value: datetime | None) -> str | None:
    return None if value is None else format_timestamp(value)


Timestamp = Annotated[datetime, PlainSerializer(_dump_timestamp, return_type=str | None)]
"""A datetime that dumps as Zep's RFC 3339 UTC string."""

Metadata = dict[str, Any]


def _checked(check: Any, what: str) -> AfterValidator:
    return AfterValidator(lambda value: None if value is None else check(value, what))


# Input fields carry the store's limits (storage/limits.py), so every way in (CLI,
# importers, the API) refuses the same values with the same words.
SessionId = Annotated[str, _checked(limits.check_id, "session_id")]
UserId = Annotated[str, _checked(limits.check_id, "user_id")]
InputMetadata = Annotated[Metadata | None, _checked(limits.check_metadata, "metadata")]


def _name(what: str) -> Any:
    return _checked(limits.check_name, what)


def _time(what: str) -> Any:
    return _checked(limits.check_timestamp, what)


class RoleType(StrEnum):
    """Zep's role types (v2). `role` stays free text, e.g. a speaker name."""

    user = "user"
    assistant = "assistant"
    system = "system"
    function = "function"
    tool = "tool"
    norole = "norole"


class MemoryType(StrEnum):
    """How `get_memory` selects what a client receives."""

    perpetual = "perpetual"
    message_window = "message_window"
    summary_retriever = "summary_retriever"


class _Model(BaseModel):
    model_config = ConfigDict(extra="ignore", populate_by_name=True)


class User(_Model):
    uuid: str
    id: int
    created_at: Timestamp
    updated_at: Timestamp
    deleted_at: Timestamp | None = None
    user_id: str
    email: str | None = None
    first_name: str | None = None
    last_name: str | None = None
    metadata: Metadata | None = None


class CreateUserRequest(_Model):
    user_id: UserId
    email: Annotated[str | None, _name("email")] = None
    first_name: Annotated[str | None, _name("first_name")] = None
    last_name: Annotated[str | None, _name("last_name")] = None
    metadata: InputMetadata = None


class UpdateUserRequest(_Model):
    """Fields left out (or None, or empty strings) are not changed; metadata is merged."""

    email: Annotated[str | None, _name("email")] = None
    first_name: Annotated[str | None, _name("first_name")] = None
    last_name: Annotated[str | None, _name("last_name")] = None
    metadata: InputMetadata = None


class Session(_Model):
    uuid: str
    id: int
    created_at: Timestamp
    updated_at: Timestamp
    deleted_at: Timestamp | None = None
    ended_at: Timestamp | None = None
    session_id: str
    user_id: str | None = None
    metadata: Metadata | None = None
    facts: list[str] | None = None


class CreateSessionRequest(_Model):
    session_id: SessionId
    user_id: UserId | None = None
    metadata: InputMetadata = None


class Message(_Model):
    """A message as stored and served.

    On input (`add_memory`) only `role`, `content`, `role_type` and `metadata` are
    needed. `uuid` and `created_at` may be supplied (the import path); `token_count`
    is computed by the store (an import marked `counted`, sync's, keeps the counts it
    carries once a random sample of them checks out).
    """

    uuid: str | None = None
    created_at: Annotated[Timestamp | None, _time("created_at")] = None
    updated_at: Annotated[Timestamp | None, _time("updated_at")] = None
    role: Annotated[str, _name("role")] = ""
    role_type: RoleType | None = None
    """Never None as stored and served: a message without one is `norole`."""
    content: Annotated[str, _checked(limits.check_content, "content")]
    token_count: int = 0
    metadata: InputMetadata = None


class Summary(_Model):
    uuid: str
    created_at: Timestamp
    content: str
    token_count: int
    recent_message_uuid: str
    metadata: Metadata | None = None


class Memory(_Model):
    messages: list[Message] = Field(default_factory=list)
    summary: Summary | None = None
    facts: list[str] | None = None
    metadata: Metadata | None = None

    @property
    def total_tokens(self) -> int:
        """Tokens a client receives: the messages plus the summary."""
        summary_tokens = self.summary.token_count if self.summary else 0
        return summary_tokens + sum(message.token_count for message in self.messages)


class MessageListResponse(_Model):
    messages: list[Message]
    total_count: int
    row_count: int


class SearchResult(_Model):
    message: Message | None = None
    summary: Summary | None = None
    metadata: Metadata | None = None
    score: float
    session_id: str | None = None


# --- zeptui's own query and info models -------------------------------------------


class SessionOrder(StrEnum):
    """Sort keys for session lists."""

    id = "id"
    created = "created"
    updated = "updated"
    activity = "activity"
    """The newest message's time."""
    message_count = "message_count"


class SessionQuery(_Model):
    """A page of sessions: filters, sort and an offset cursor."""

    limit: int | None = Field(default=None, ge=0)
    cursor: int = Field(default=0, ge=0)
    order_by: SessionOrder = SessionOrder.id
    descending: bool = False
    user_id: str | None = None
    metadata: dict[str, str] = Field(default_factory=dict)
    """`key=value` filters; a dotted key (`a.b`) reaches into nested objects."""
    created_after: datetime | None = None
    created_before: datetime | None = None
    text: str | None = None
    """Case-insensitive substring of the session id or user id."""


class SessionInfo(_Model):
    """A session with the aggregates a session list shows."""

    session: Session
    message_count: int
    total_tokens: int
    last_activity: Timestamp


class SessionPage(_Model):
    sessions: list[SessionInfo]
    total_count: int
    next_cursor: int | None
    """Pass as `cursor` for the next page; None when this is the last page."""


class UserInfo(_Model):
    """A user with the number of live sessions it has (a users list)."""

    user: User
    session_count: int


class UserPage(_Model):
    users: list[UserInfo]
    total_count: int
    next_cursor: int | None
    """Pass as `cursor` for the next page; None when this is the last page."""


class SummaryInfo(_Model):
    """A summary with the span of messages it covers."""

    summary: Summary
    first_message_uuid: str | None
    message_count: int


class SearchScope(StrEnum):
    """What a search looks through (Zep's `search_scope`)."""

    messages = "messages"
    summary = "summary"


class SearchQuery(_Model):
    """Ranked full-text search over message (or summary) content, best first.

    Empty `text` is a metadata-only search: the records matching the filters, newest
    first, each with score 0 (`min_score` is then not applied, as in Zep). With
    `mmr_lambda`, the best candidates are re-ranked by maximal marginal relevance
    (1: relevance only, 0: diversity only); see docs/zep-compatibility.md.
    """

    model_config = ConfigDict(extra="ignore", populate_by_name=True, arbitrary_types_allowed=True)

    text: str = ""
    scope: SearchScope = SearchScope.messages
    limit: int = Field(default=10, ge=1, le=1000)
    session_id: str | None = None
    user_id: str | None = None
    role_types: list[RoleType] = Field(default_factory=list)
    """Messages only."""
    metadata: dict[str, str] = Field(default_factory=dict)
    """`key=value` filters; a dotted key (`a.b`) reaches into nested objects."""
    where: Condition | None = None
    """Zep's metadata filter (storage.metadata_filter), on the record's metadata."""
    created_after: datetime | None = None
    created_before: datetime | None = None
    min_score: float = Field(default=0.0, ge=0.0, le=1.0)
    """Results scoring below this (scores are 0..1) are left out."""
    mmr_lambda: float | None = Field(default=None, ge=0.0, le=1.0)
    """None: rank by relevance alone; else re-rank by maximal marginal relevance."""


class SessionImport(_Model):
    """One session to import: the session's fields and its messages, oldest first."""

    session_id: SessionId
    user_id: UserId | None = None
    metadata: InputMetadata = None
    created_at: Annotated[datetime | None, _time("created_at")] = None
    messages: list[Message] = Field(default_factory=list)
    summaries: list[SummaryInfo] = Field(default_factory=list)
    """The session's summaries as another store made them (sync), oldest first: stored
    after the messages, in the same transaction, by `SummaryImport`'s rules, so the
    store summarises only what they leave uncovered."""


class ImportResult(_Model):
    """What one `import_sessions` call changed."""

    users_created: int = 0
    sessions_created: int = 0
    sessions_updated: int = 0
    messages_added: int = 0
    messages_skipped: int = 0
    """Messages already stored in the same session (re-imports add nothing)."""
    messages_restored: int = 0
    """Soft-deleted messages brought back because the same message was imported again."""
    messages_conflicting: int = 0
    """Messages left out because their uuid belongs to another session (see `on_conflict`)."""
    summaries_imported: int = 0
    """Summaries the sessions carried that were stored (`SessionImport.summaries`)."""

    @classmethod
    def total(cls, results: Iterable[ImportResult]) -> ImportResult:
        """The results added up, field by field."""
        total = cls()
        for result in results:
            for name in cls.model_fields:
                setattr(total, name, getattr(total, name) + getattr(result, name))
        return total


class PurgeResult(_Model):
    """What a purge removed for good (or, in a dry run, would remove)."""

    users: int = 0
    """Deleted users (only a purge of everything removes them)."""
    sessions: int = 0
    messages: int = 0
    summaries: int = 0

    @property
    def total(self) -> int:
        return self.users + self.sessions + self.messages + self.summaries


class StoreStats(_Model):
    users: int
    sessions: int
    messages: int
    summaries: int


# --- sync: what a store holds, deletions included ------------------------------------


class InventoryQuery(_Model):
    """Which sessions an inventory lists (deleted ones too), a page at a time by key."""

    session_ids: list[str] | None = None
    user_id: str | None = None
    changed_since: datetime | None = None
    """Sessions created, changed, deleted or with a message added or changed on or after
    this time."""
    limit: int = Field(default=500, ge=1, le=10_000)
    after: int = Field(default=0, ge=0)
    """The `next_after` of the previous page (sessions are listed by their `id`)."""


class SessionInventory(_Model):
    """A session (`deleted_at` set when soft-deleted) and the uuids it holds."""

    session: Session
    messages: list[str] = Field(default_factory=list)
    """Live message uuids, oldest first."""
    deleted_messages: list[str] = Field(default_factory=list)
    """Soft-deleted message uuids (kept until a purge)."""
    metadata_stamps: list[str | None] = Field(default_factory=list)
    """Beside `messages`, each one's `storage.metadata.metadata_stamp` (empty from a
    store that does not tell them)."""
    summaries: list[str] = Field(default_factory=list)
    """Live summary uuids, oldest first."""


class InventoryPage(_Model):
    sessions: list[SessionInventory]
    next_after: int | None
    """Pass as `after` for the next page; None when this is the last page."""


class SessionContents(_Model):
    """A session's live messages and summaries, whole (what sync copies)."""

    session_id: str
    messages: list[Message] = Field(default_factory=list)
    summaries: list[SummaryInfo] = Field(default_factory=list)
