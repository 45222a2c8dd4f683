"""Zep's own JSON as an input format: sessions and messages in v0.x, v2 or v3 field names.

Accepted documents:

- a session object `{"session_id", "user_id"?, "metadata"?, "created_at"?, "messages": [...]}`;
- a list of session objects;
- a dump `{"users": [...], "sessions": [...]}`, users as Zep's user objects (`user_id`,
  `first_name`, `last_name`, `email`, `metadata`): they are created with their names;
- a bare list of messages (the session id is the file stem);
- a v2/v3 response `{"messages": [...], "total_count", "row_count"}` or a Memory
  `{"messages": [...], "summary", ...}` (the session id is the file stem);
- JSONL, read line by line: one message per line (with `session_id`, else the file
  stem; consecutive lines of one session form one session) or one session object
  per line. A JSON list may mix messages and session objects the same way.

Message fields: v2 (`role_type` present, `role` is the speaker's name), v3 (`role` is
one of the role types and `name` is present: the name becomes `role`), v0.x
(free-form `role`: `human` becomes user, `ai` assistant, a role-type value itself,
anything else no role type). `uuid`, `created_at` and `metadata` are kept; a message
without a uuid gets a deterministic uuid5, so importing a file twice adds nothing.
Timestamps are never invented.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from storage.models import (
    CreateUserRequest,
    ImportResult,
    Message,
    RoleType,
    SessionImport,
    validation_message,
)
from storage.store import MemoryStore
from storage.zep_bulk import import_uuid
from zeptui.importers import ImportFileError, ReadContext, register
from zeptui.importers._jsonfile import (
    Where,
    fail,
    is_jsonl,
    json_text,
    jsonl_records,
    load_json,
    optional_str,
    stem,
    stream_json_array,
    type_name,
)

__all__ = ["ZepImporter"]


_MESSAGE_KEYS = ("content", "role", "role_type", "name")
_ROLE_TYPES_ORDERED = tuple(role_type.value for role_type in RoleType)
_ROLE_TYPES = set(_ROLE_TYPES_ORDERED)
_V0_ROLES = {"human": RoleType.user, "ai": RoleType.assistant}
_ZERO_TIME_PREFIX = "0001-01-01"


def _is_message(record: dict[str, Any]) -> bool:
    return "messages" not in record and any(key in record for key in _MESSAGE_KEYS)


class _Reader:
    """One pass over one file: builds SessionImports and numbers messages per session."""

    def __init__(self, path: Path, context: ReadContext | None = None) -> None:
        self.path = path
        self.context = context or ReadContext()
        self.stem = stem(path, self.context)
        self.counters: dict[str, int] = {}

    def fail(self, where: Where, reason: str) -> ImportFileError:
        return fail(self.path, where, reason)

    # --- documents ---------------------------------------------------------------

    def read(self) -> Iterator[SessionImport]:
        if self.is_jsonl():
            yield from self._group(self._jsonl_records())
            return
        items = stream_json_array(self.path, self.context)
        if items is not None:  # a list of sessions or messages: an item at a time
            yield from self._group(
                (Where(record=f"[{index}]"), record) for index, record in enumerate(items)
            )
            return
        document = self._load_json()
        top = Where()
        if isinstance(document, dict):
            if isinstance(document.get("sessions"), list) and "messages" not in document:
                self._users(document.get("users"), top.child(".users"))
                sessions = document["sessions"]
                yield from self._group(
                    (top.child(f".sessions[{index}]"), record)
                    for index, record in enumerate(sessions)
                )
            elif _is_message(document):
                yield from self._group([(top, document)])
            elif "messages" in document or "session_id" in document:
                yield self._session(document, top, default_id=self.stem)
            else:
                raise self.fail(
                    top,
                    "expected a Zep session, a list of sessions or messages, "
                    "or a messages response",
                )
        else:
            raise self.fail(top, f"expected a JSON object or list, got {type_name(document)}")

    def is_jsonl(self) -> bool:
        """JSONL by suffix, or JSONL saved as `.json` (see `_jsonfile.is_jsonl`)."""
        return is_jsonl(self.path)

    def _load_json(self) -> Any:
        return load_json(self.path)

    def _jsonl_records(self) -> Iterator[tuple[Where, Any]]:
        return jsonl_records(self.path, self.context)

    def _users(self, users: Any, where: Where) -> None:
        """A dump's users, into `context.users` (created with their names)."""
        if users is None:
            return
        if not isinstance(users, list):
            raise self.fail(where, f"expected a list, got {type_name(users)}")
        for index, record in enumerate(users):
            child = where.child(f"[{index}]")
            try:
                if not isinstance(record, dict):
                    raise self.fail(child, f"expected a user object, got {type_name(record)}")
                fields = {key: record.get(key) for key in CreateUserRequest.model_fields}
                try:
                    user = CreateUserRequest.model_validate(fields)
                except ValidationError as exc:
                    raise self.fail(child, validation_message(exc)) from None
            except ImportFileError as error:
                self.context.reject(error)
                continue
            self.context.users.append(user)

    # --- records -----------------------------------------------------------------

    def _group(self, records: Iterable[tuple[Where, Any]]) -> Iterator[SessionImport]:
        """Messages of one session on consecutive records become one SessionImport."""
        pending: SessionImport | None = None
        for where, record in records:
            try:
                if not isinstance(record, dict):
                    raise self.fail(
                        where, f"expected a message or session object, got {type_name(record)}"
                    )
                if _is_message(record):
                    session_id = self._session_id(record, where, default=self.stem)
                    user_id = self._optional_str(record, "user_id", where)
                    message = self._message(record, where, session_id)
                    if pending is not None and pending.session_id != session_id:
                        yield pending
                        pending = None
                    if pending is None:
                        pending = SessionImport(session_id=session_id)
                    if user_id and not pending.user_id:
                        pending.user_id = user_id
                    pending.messages.append(message)
                elif "messages" in record or "session_id" in record:
                    session = self._session(record, where, default_id=None)
                    if pending is not None:
                        yield pending
                        pending = None
                    yield session
                else:
                    raise self.fail(where, "expected a message (with content) or a session object")
            except ImportFileError as error:
                self.context.reject(error)
            except ValidationError as error:
                self.context.reject(self.fail(where, validation_message(error)))
        if pending is not None:
            yield pending

    def _session(
        self, record: dict[str, Any], where: Where, default_id: str | None
    ) -> SessionImport:
        session_id = self._session_id(record, where, default=default_id)
        messages = record.get("messages")
        if messages is None:
            messages = []
        if not isinstance(messages, list):
            raise self.fail(where.child(".messages"), f"expected a list, got {type_name(messages)}")
        session = SessionImport(
            session_id=session_id,
            user_id=self._optional_str(record, "user_id", where),
            metadata=self._metadata(record, where),
            created_at=self._timestamp(record, where),
        )
        for index, message in enumerate(messages):
            child = where.child(f".messages[{index}]")
            if not isinstance(message, dict):
                raise self.fail(child, f"expected a message object, got {type_name(message)}")
            session.messages.append(self._message(message, child, session_id))
        return session

    def _session_id(self, record: dict[str, Any], where: Where, default: str | None) -> str:
        value = record.get("session_id")
        if value is None:
            if default is None:
                raise self.fail(where, "session has no session_id")
            return default
        if not isinstance(value, str) or not value:
            raise self.fail(where, f"session_id must be a non-empty string, got {value!r}")
        return value

    def _message(self, record: dict[str, Any], where: Where, session_id: str) -> Message:
        if "content" not in record:
            raise self.fail(where, "message has no content")
        content = record["content"]
        if not isinstance(content, str):
            raise self.fail(where, f"content must be a string, got {type_name(content)}")
        role = self._optional_str(record, "role", where) or ""
        role_type: RoleType | None
        raw = record.get("role_type")
        # A null or empty role_type or name counts as absent (as in the DuckDB fast path).
        if raw is not None and raw != "":  # v2: role_type is the enum, role the speaker's name
            if not (isinstance(raw, str) and raw in _ROLE_TYPES):
                expected = ", ".join(_ROLE_TYPES_ORDERED)
                raise self.fail(where, f"unknown role_type {raw!r} (expected one of {expected})")
            role_type = RoleType(raw)
            self._optional_str(record, "name", where)
        elif record.get("name") is not None and role in _ROLE_TYPES:  # v3: role + name
            role_type = RoleType(role)
            role = self._optional_str(record, "name", where) or ""
        elif role in _ROLE_TYPES:
            role_type = RoleType(role)
        else:  # v0.x / LangChain: free-form role
            self._optional_str(record, "name", where)
            role_type = _V0_ROLES.get(role.lower())
        index = self.counters.get(session_id, 0)
        self.counters[session_id] = index + 1
        message_uuid = self._uuid(record, where)
        if message_uuid is None:
            role_name = role_type.value if role_type else ""
            message_uuid = import_uuid(session_id, str(index), role_name, role, content)
        return Message(
            uuid=message_uuid,
            created_at=self._timestamp(record, where),
            role=role,
            role_type=role_type,
            content=content,
            metadata=self._metadata(record, where),
        )

    # --- fields ------------------------------------------------------------------

    def _optional_str(self, record: dict[str, Any], key: str, where: Where) -> str | None:
        return optional_str(self.path, record, key, where)

    def _metadata(self, record: dict[str, Any], where: Where) -> dict[str, Any] | None:
        value = record.get("metadata")
        if value is not None and not isinstance(value, dict):
            raise self.fail(where, f"metadata must be an object, got {type_name(value)}")
        return value

    def _uuid(self, record: dict[str, Any], where: Where) -> str | None:
        value = self._optional_str(record, "uuid", where)
        if not value:
            return None
        try:
            return str(uuid.UUID(value))
        except ValueError:
            raise self.fail(where, f"uuid is not a UUID: {value!r}") from None

    def _timestamp(self, record: dict[str, Any], where: Where) -> datetime | None:
        value = self._optional_str(record, "created_at", where)
        if not value or value.startswith(_ZERO_TIME_PREFIX):  # Go's zero time: unset
            return None
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            raise self.fail(where, f"created_at is not an ISO 8601 time: {value!r}") from None
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


class ZepImporter:
    """Zep sessions and messages, JSON or JSONL (the generic fallback, priority 0)."""

    name = "zep"
    description = "Zep JSON/JSONL (sessions or messages, v0.x/v2/v3 fields)"
    priority = 0

    def detect(self, path: Path, head: bytes) -> bool:
        """JSON whose start mentions Zep's session or message keys."""
        text = json_text(head)
        if text is None:
            return False
        if text.rstrip() == b"[]":  # an empty message list
            return True
        keys = (b'"session_id"', b'"role_type"', b'"content"', b'"messages"', b'"sessions"')
        return any(key in head for key in keys)

    def read(self, path: Path, context: ReadContext | None = None) -> Iterator[SessionImport]:
        """The file's sessions, one at a time (JSONL is streamed line by line)."""
        return _Reader(path, context).read()

    def bulk_import(
        self, store: MemoryStore, path: Path, context: ReadContext | None = None
    ) -> ImportResult | None:
        """Let a DuckDB store read a message-per-line JSONL file itself (many times
        faster); None when the file needs `read` (which then reports any problem)."""
        from storage.duckdb_store import DuckDBStore
        from storage.zep_bulk import BulkImportDeclined

        reader = _Reader(path, context)
        if not isinstance(store, DuckDBStore) or not reader.is_jsonl():
            return None
        try:
            return store.import_zep_jsonl(path, default_session_id=reader.stem)
        except BulkImportDeclined:
            return None


register(ZepImporter())
