"""Request bodies under a server's limit: an import, an add memory or a summary import
too large for one request goes in several, each under the largest body the server
takes (`zeptui serve` tells it at its capabilities endpoint; another server is assumed
to take UNTOLD_MAX_BODY). Sizes are those of the JSON as the client sends it (compact,
UTF-8).
"""

from __future__ import annotations

import json
import uuid as uuid_lib
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from storage.errors import InvalidInputError
from storage.models import CreateUserRequest, Message, SessionImport, SummaryInfo

UNTOLD_MAX_BODY = 1_000_000
"""The limit assumed of a server that does not tell its own (a plain Zep server, a
zeptui server before it told it): 1 MB, below what servers commonly take."""
ROOM = 1_024
"""Bytes kept free for what wraps the items (keys, flags)."""

Item = dict[str, Any]


def json_size(item: Any) -> int:
    """The bytes `item` takes in a request body, with the comma after it."""
    text = json.dumps(item, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    return len(text.encode()) + 1


def budget(max_body: int | None) -> int:
    """The bytes of items a request may carry under the server's limit."""
    return (max_body or UNTOLD_MAX_BODY) - ROOM


def _too_large(what: str, size: int, room: int) -> InvalidInputError:
    return InvalidInputError(
        f"{what} takes {size:,} bytes, more than the server takes in a request "
        f"({room + ROOM:,} bytes)"
    )


def message_body(messages: Sequence[Message], *, counted: bool = False) -> list[Item]:
    """Messages as sent: each with a uuid (a new one when it has none), without the
    fields the server computes (the token count is kept when `counted`)."""
    computed = {"updated_at"} if counted else {"token_count", "updated_at"}
    items = [m.model_dump(mode="json", exclude_none=True, exclude=computed) for m in messages]
    for item in items:  # set in the dump: a model copy per message only for this cost more
        if "uuid" not in item:
            item["uuid"] = str(uuid_lib.uuid4())
    return items


def message_groups(messages: Sequence[Message], room: int, session_id: str) -> Iterator[list[Item]]:
    """The messages as sent (`message_body`), in consecutive groups under `room` bytes."""
    group: list[Item] = []
    size = 0
    for message in message_body(messages):
        taken = json_size(message)
        if taken > room:
            raise _too_large(f"message {message['uuid']} of session {session_id!r}", taken, room)
        if group and size + taken > room:
            yield group
            group, size = [], 0
        group.append(message)
        size += taken
    yield group


@dataclass
class ImportRequest:
    """One request of an import: users and session parts under the server's limit.

    A request that `continues` a long session carries that session's next part alone:
    the server counts the session again (as created in a dry run, updated otherwise),
    so its session counts are left out of the total."""

    users: list[Item] = field(default_factory=list)
    sessions: list[Item] = field(default_factory=list)
    size: int = 0
    continues: bool = False
    counted: bool = False
    """The messages carry their token counts (`BulkImport.import_sessions`)."""

    @property
    def body(self) -> dict[str, Any]:
        return {"sessions": self.sessions, "users": self.users, "counted": self.counted}

    @property
    def empty(self) -> bool:
        return not (self.users or self.sessions)


def import_requests(
    sessions: Iterable[SessionImport],
    users: Sequence[CreateUserRequest],
    room: int,
    *,
    counted: bool = False,
) -> Iterator[ImportRequest]:
    """An import's users and sessions as requests of at most `room` bytes of items,
    read from `sessions` as they are sent (a long session goes on in requests that
    continue it; its summaries go with its last part); at least one request."""
    request = ImportRequest(counted=counted)
    for user in users:
        item = user.model_dump(mode="json", exclude_none=True)
        taken = json_size(item)
        if taken > room:
            raise _too_large(f"user {user.user_id!r}", taken, room)
        if request.size + taken > room:
            yield request
            request = ImportRequest(counted=counted)
        request.users.append(item)
        request.size += taken
    for session in sessions:
        head = session.model_dump(mode="json", exclude_none=True, exclude={"messages", "summaries"})
        part: Item = {**head, "messages": []}
        opening = json_size(part)
        if opening > room:
            raise _too_large(f"session {session.session_id!r} (its fields)", opening, room)
        if request.continues or request.size + opening > room:
            yield request
            request = ImportRequest(counted=counted)
        request.sessions.append(part)
        request.size += opening
        for message in message_body(session.messages, counted=counted):
            taken = json_size(message)
            if request.size + taken > room:
                what = f"message {message['uuid']} of session {session.session_id!r}"
                part, following = _continuing(session.session_id, taken, room, what, counted)
                yield request
                request = following
            part["messages"].append(message)
            request.size += taken
        if session.summaries:
            summaries = [info.model_dump(mode="json") for info in session.summaries]
            taken = json_size({"summaries": summaries})
            if request.size + taken > room:
                what = f"the summaries of session {session.session_id!r}"
                part, following = _continuing(session.session_id, taken, room, what, counted)
                yield request
                request = following
            part["summaries"] = summaries
            request.size += taken
    yield request


def _continuing(
    session_id: str, taken: int, room: int, what: str, counted: bool
) -> tuple[Item, ImportRequest]:
    """A request that continues a session with an item of `taken` bytes (`what`)."""
    part: Item = {"session_id": session_id, "messages": []}
    following = ImportRequest(
        sessions=[part], size=json_size(part), continues=True, counted=counted
    )
    if following.size + taken > room:
        raise _too_large(what, taken, room)
    return part, following


def summary_bodies(
    by_session: Mapping[str, Sequence[SummaryInfo]], room: int
) -> Iterator[dict[str, list[Item]]]:
    """Summaries by session id, oldest first, in bodies of at most `room` bytes (a
    session's summaries in order, over consecutive bodies if they must)."""
    body: dict[str, list[Item]] = {}
    size = 0
    for session_id, infos in by_session.items():
        for info in infos:
            item = info.model_dump(mode="json")
            taken = json_size(item) + json_size(session_id)
            if taken > room:
                raise _too_large(f"a summary of session {session_id!r}", taken, room)
            if body and size + taken > room:
                yield body
                body, size = {}, 0
            body.setdefault(session_id, []).append(item)
            size += taken
    if body:
        yield body
