"""Zep's own JSON as an input format: sessions and messages in v0.x, v2 or v3 field names.

Accepted documents:

- a session object `{"session_id", "user_id"?, "metadata"?, "created_at"?, "messages": [...]}`;
- a list of session objects;
- a dump `{"users": [...], "sessions": [...]}`, users as Zep's user objects (`user_id`,
  `first_name`, `last_name`, `email`, `metadata`): they are created with their names;
- a bare list of messages (the session id is the file base);
- a v2/v3 response `{"messages": [...], "total_count", "row_count"}` or a Memory
  `{"messages": [...], "summary", ...}` (the session id is the file base);
- JSONL, read line by line: one message per line (with `session_id`, else the file
  stem; consecutive lines of one session form one session) or one session object
  per line. A JSON list may mix messages and session objects the same way.

Message fields: v2 (`role_type` present, `role` is the speaker's name), v3 (`role` is
one of the role types and `name` is present: the name becomes `role`), v0.x
(free-form `role`: `human` becomes user, `ai` assistant, a role-type value itself,
anything else no role type). `uuid`, `created_at` and `metadata` are kept; a message
without a uuid gets a deterministic uuid5, so importing a file twice adds nothing.
Timestamps are never invented: a message without one takes the nearest earlier time
of its session in the file (else its session object's `created_at`; else, as Zep's
add does, the time of the import).

Everything streams: a session object's messages are read as they go and handed on
in parts (a bad message is rejected alone), so its fields must come before a message
list longer than a part (zeptui's exports write them so). A dump's users are read
before its sessions, in a pass of their own when the file lists them last.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable, Iterator
from datetime import datetime
from functools import partial
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from storage import limits
from storage.import_rules import (
    ROLE_TYPES,
    TimeFill,
    is_zero_time,
    zep_message_uuid,
    zep_role,
)
from storage.models import (
    CreateUserRequest,
    ImportResult,
    Message,
    SessionImport,
    validation_message,
)
from storage.store import MemoryStore
from zeptui.importers import ImportFileError, ReadContext, register
from zeptui.importers._jsonfile import (
    is_jsonl,
    iso_time,
    json_text,
    optional_str,
    or_reject,
    stem,
    type_name,
)
from zeptui.importers._jsonstream import (
    NOTHING,
    JsonStream,
    Lazy,
    Where,
    elements,
    fail,
    is_list,
    json_document,
    jsonl_records,
    whole,
)
from zeptui.importers._sessions import SessionParts, part_size

__all__ = ["ZepImporter"]


_MESSAGE_KEYS = ("content", "role", "role_type", "name")


def _is_message(record: dict[str, Any]) -> bool:
    return "messages" not in record and any(key in record for key in _MESSAGE_KEYS)


_SESSION_FIELDS = ("session_id", "user_id", "metadata", "created_at")


class _Reader:
    """One pass over one file: builds SessionImports and numbers messages per session."""

    def __init__(self, path: Path, context: ReadContext | None = None) -> None:
        self.path = path
        self.context = context or ReadContext()
        self.stem = stem(path, self.context)
        self.counters: dict[str, int] = {}
        self.times: dict[str, TimeFill] = {}
        """The times of each session's messages: one without a time takes the last."""
        self.user_ids: set[str] = set()

    def fail(self, where: Where, reason: str) -> ImportFileError:
        return fail(self.path, where, reason)

    # --- documents ---------------------------------------------------------------

    def read(self) -> Iterator[SessionImport]:
        if self.is_jsonl():
            yield from self._group(jsonl_records(self.path, self.context))
            return
        with json_document(self.path, self.context) as root:
            if is_list(root):  # a list of sessions or messages: an item at a time
                yield from self._group(elements(root, Where()))
            elif isinstance(root, Lazy):
                yield from self._document(root)
            else:
                raise self.fail(Where(), f"expected a JSON object or list, got {type_name(root)}")

    def is_jsonl(self) -> bool:
        """JSONL by suffix, or JSONL saved as `.json` (see `_jsonfile.is_jsonl`)."""
        return is_jsonl(self.path)

    def _document(self, root: Lazy) -> Iterator[SessionImport]:
        """A top-level object, read as it goes: a dump (its sessions stream), a session
        or messages response (its messages stream), or one message."""
        fields: dict[str, Any] = {}
        members = root.members()
        for key, where, value in members:
            if key == "sessions" and is_list(value) and "messages" not in fields:
                if "users" not in fields:  # a dump with its users last: read them first
                    self._users(self._users_ahead(), Where(record="users"))
                yield from self._group(elements(value, where))
                fields["sessions"] = None
            elif key == "users" and "sessions" not in fields:
                fields[key] = None
                self._users(whole(value), where)
            elif key == "messages" and is_list(value) and "sessions" not in fields:
                session = self._session(fields, members, value, where, root.where, self.stem)
                yield from self._rejecting(root.where, session)
                return
            else:
                fields[key] = whole(value)
        if "sessions" in fields or root.stream.broken is not None:
            return
        if _is_message(fields):
            yield from self._group([(root.where, fields)])
        elif "messages" in fields or "session_id" in fields:
            messages = fields.pop("messages", None)
            where = root.where.child(".messages")
            session = self._session(fields, iter(()), messages, where, root.where, self.stem)
            yield from self._rejecting(root.where, session)
        else:
            raise self.fail(
                root.where,
                "expected a Zep session, a list of sessions or messages, or a messages response",
            )

    def _rejecting(
        self, where: Where, sessions: Iterator[SessionImport]
    ) -> Iterator[SessionImport]:
        """`sessions`; an error in them rejects the record at `where` (the parts handed
        on before it stay)."""
        try:
            yield from sessions
        except ImportFileError as error:
            self.context.reject(error)
        except ValidationError as error:
            self.context.reject(self.fail(where, validation_message(error)))

    def _users_ahead(self) -> Any:
        """The `users` of a top-level object, read from the file in a pass of its own
        (for a dump whose users come after its sessions); None if it has none."""
        with JsonStream.open(self.path) as ahead:
            root = ahead.root()
            if isinstance(root, Lazy) and root.is_object:
                for key, _, value in root.members():
                    if key == "users":
                        return whole(value)
        return None

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
        """Messages of one session on consecutive records become one session (in parts
        of at most `part_size()`); a session object is a session of its own."""
        pending: SessionParts | None = None
        for where, record in records:
            try:
                if isinstance(record, Lazy) and record.is_object:  # a long session object
                    if pending is not None:
                        yield from pending.end()
                        pending = None
                    yield from self._session({}, record.members(), None, where, where, None)
                    continue
                record = whole(record)
                if not isinstance(record, dict):
                    raise self.fail(
                        where, f"expected a message or session object, got {type_name(record)}"
                    )
                if _is_message(record):
                    session_id = self._session_id(record, where, default=self.stem)
                    user_id = self._user_id(record, where)
                    message = self._message(record, where, session_id)
                    if pending is not None and pending.session_id != session_id:
                        yield from pending.end()
                        pending = None
                    if pending is None:
                        pending = SessionParts(SessionImport(session_id=session_id))
                    if user_id and not pending.part.user_id:
                        pending.part.user_id = user_id
                    full = pending.add(message)
                    if full is not None:
                        yield full
                elif "messages" in record or "session_id" in record:
                    if pending is not None:
                        yield from pending.end()
                        pending = None
                    messages = record.pop("messages", None)
                    at = where.child(".messages")
                    yield from self._session(record, iter(()), messages, at, where, None)
                else:
                    raise self.fail(where, "expected a message (with content) or a session object")
            except ImportFileError as error:
                self.context.reject(error)
            except ValidationError as error:
                self.context.reject(self.fail(where, validation_message(error)))
        if pending is not None:
            yield from pending.end()

    def _session(
        self,
        fields: dict[str, Any],
        members: Iterator[tuple[str, Where, Any]],
        messages: Any,
        messages_where: Where,
        where: Where,
        default_id: str | None,
    ) -> Iterator[SessionImport]:
        """A session object, its messages read as they go (a bad message is rejected
        alone) and handed on in parts: `fields` are its members read so far, `messages`
        its message list (decoded, `Lazy`, or None while `members`, the members still to
        read, may hold it).

        The session's fields must come before a message list longer than one part
        (zeptui writes them so): `user_id` and `metadata` after it are applied with a
        last part, a `session_id` or `created_at` after it is an error."""
        buffered: list[tuple[Where, Any]] = []
        parts: SessionParts | None = None
        for key, child, value in _with_messages(members, messages, messages_where):
            if key != "messages":
                if parts is not None and key in _SESSION_FIELDS:
                    late = {key: whole(value)}
                    if key in ("session_id", "created_at") and late[key] is not None:
                        raise self.fail(
                            child,
                            f"{key} comes after more than {part_size():,} messages: put it "
                            "before them (as zeptui's exports do) to import so long a session",
                        )
                    yield self._head(late, where, parts.session_id, continued=True)
                else:
                    fields[key] = whole(value)
                continue
            if value is None:
                continue
            if not is_list(value):
                raise self.fail(child, f"expected a list, got {type_name(value)}")
            for item_where, lazy_item in elements(value, child):
                try:  # decoded now: the stream moves on
                    item = whole(lazy_item)
                except ImportFileError as error:
                    self.context.reject(error)
                    item = NOTHING  # it still holds its place
                if parts is None:
                    buffered.append((item_where, item))
                    if len(buffered) < part_size():
                        continue
                    parts = self._start(fields, where, default_id)
                    items, buffered = buffered, []
                else:
                    items = [(item_where, item)]
                for message_where, message_item in items:
                    full = self._session_message(parts, message_where, message_item)
                    if full is not None:
                        yield full
        if parts is None:  # a session shorter than a part
            parts = self._start(fields, where, default_id)
            for message_where, message_item in buffered:
                self._session_message(parts, message_where, message_item)
        yield from parts.end()

    def _start(self, fields: dict[str, Any], where: Where, default_id: str | None) -> SessionParts:
        session_id = self._session_id(fields, where, default=default_id)
        head = self._head(fields, where, session_id)
        if head.created_at is not None:
            self.times[session_id] = TimeFill(head.created_at)
        return SessionParts(head)

    def _head(
        self, fields: dict[str, Any], where: Where, session_id: str, *, continued: bool = False
    ) -> SessionImport:
        """The session's own fields (a later part's, when `continued`)."""
        return SessionImport(
            session_id=session_id,
            user_id=self._optional_str(fields, "user_id", where),
            metadata=self._metadata(fields, where),
            created_at=None if continued else self._timestamp(fields, where),
        )

    def _session_message(
        self, parts: SessionParts, where: Where, item: Any
    ) -> SessionImport | None:
        """Add one message of a session object (or reject it): a full part to yield."""
        if item is NOTHING:  # rejected already
            self.counters[parts.session_id] = self.counters.get(parts.session_id, 0) + 1
            return None
        build = partial(self._message, item, where, parts.session_id)
        message = or_reject(self.path, self.context, where, build)
        return None if message is None else parts.add(message)

    def _user_id(self, record: dict[str, Any], where: Where) -> str | None:
        """A message's `user_id`, checked as an id (once per distinct one)."""
        user_id = self._optional_str(record, "user_id", where)
        if user_id and user_id not in self.user_ids:
            try:
                limits.check_id(user_id, "user_id")
            except limits.LimitError as error:
                raise self.fail(where, f"user_id: {error}") from None
            self.user_ids.add(user_id)
        return user_id

    def _session_id(self, record: dict[str, Any], where: Where, default: str | None) -> str:
        value = record.get("session_id")
        if value is None:
            if default is None:
                raise self.fail(where, "session has no session_id")
            return default
        if not isinstance(value, str) or not value:
            raise self.fail(where, f"session_id must be a non-empty string, got {value!r}")
        return value

    def _message(self, record: Any, where: Where, session_id: str) -> Message:
        # The message holds its place in the session even if rejected below, so the
        # uuids derived for the ones after it do not depend on it.
        index = self.counters.get(session_id, 0)
        self.counters[session_id] = index + 1
        record = whole(record)
        if not isinstance(record, dict):
            raise self.fail(where, f"expected a message object, got {type_name(record)}")
        if "content" not in record:
            raise self.fail(where, "message has no content")
        content = record["content"]
        if not isinstance(content, str):
            raise self.fail(where, f"content must be a string, got {type_name(content)}")
        role = self._optional_str(record, "role", where) or ""
        # A null or empty role_type or name counts as absent (as in the DuckDB fast path).
        raw = record.get("role_type")
        if raw is not None and raw != "" and not (isinstance(raw, str) and raw in ROLE_TYPES):
            expected = ", ".join(ROLE_TYPES)
            raise self.fail(where, f"unknown role_type {raw!r} (expected one of {expected})")
        name = self._optional_str(record, "name", where)
        role, role_type = zep_role(role, raw or None, name)
        message_uuid = self._uuid(record, where)
        if message_uuid is None:
            message_uuid = zep_message_uuid(session_id, index, role_type, role, content)
        times = self.times.get(session_id)
        if times is None:
            times = self.times[session_id] = TimeFill()
        return Message(
            uuid=message_uuid,
            created_at=times(self._timestamp(record, where)),
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
        if not value or is_zero_time(value):  # Go's zero time: unset
            return None
        return iso_time(self.path, value, "created_at", where)


def _with_messages(
    members: Iterator[tuple[str, Where, Any]], messages: Any, where: Where
) -> Iterator[tuple[str, Where, Any]]:
    """A session object's members still to read, its message list (at `where`) first
    if it was already taken out (`messages`, not None)."""
    if messages is not None:
        yield "messages", where, messages
    yield from members


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
        self,
        store: MemoryStore,
        path: Path,
        context: ReadContext | None = None,
        on_read: Callable[[int, int], None] | None = None,
        on_summaries: Callable[[int, int], None] | None = None,
    ) -> ImportResult | None:
        """Let a DuckDB store read a message-per-line JSONL file itself (many times
        faster); None when the file needs `read` (which then reports any problem).
        `on_read(sessions, messages)` hears what the file holds before it is written,
        `on_summaries(done, sessions)` how the summaries the store makes with it go."""
        from storage.capabilities import BulkImportDeclined, ZepJsonlImport, offered

        reader = _Reader(path, context)
        fast = offered(store, ZepJsonlImport)
        # The store reads files only (not an archive's members).
        if fast is None or not path.is_file() or not reader.is_jsonl():
            return None
        try:
            return fast.import_zep_jsonl(
                path, default_session_id=reader.stem, on_read=on_read, on_summaries=on_summaries
            )
        except BulkImportDeclined:
            return None


register(ZepImporter())
