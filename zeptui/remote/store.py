"""RemoteStore: the MemoryStore interface over a Zep server's REST API.

Against `zeptui serve` it uses zeptui's endpoints where Zep has none (every summary of
a session, search across sessions, add memory answering what it inserted), and offers
every capability the server lists (`zeptui/remote/capabilities.py`). Against a plain
Zep server it offers the core: session lists are Zep's plain list by id, summaries
are the newest one memory carries, search is one session's at a time, and add memory
answers the messages as sent (the server says nothing more).

Every message added without a uuid is given one here, so adding memory is safe to
send again after a failure: the server skips a message it already has.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pydantic import TypeAdapter

from storage.capabilities import Unsupported
from storage.errors import InvalidInputError, NotFoundError
from storage.metadata_filter import where_json
from storage.models import (
    CreateSessionRequest,
    CreateUserRequest,
    Memory,
    MemoryType,
    Message,
    MessageListResponse,
    RoleType,
    SearchQuery,
    SearchResult,
    Session,
    SummaryInfo,
    UpdateUserRequest,
    User,
)
from storage.store import DEFAULT_MESSAGE_WINDOW, MemoryStore
from storage.tokens import count_message_tokens
from zeptui.remote.bodies import budget, message_groups
from zeptui.remote.client import REPEATED, ZepClient, encode_id

ZEPTUI_PREFIX = "/api/v2/zeptui"
"""zeptui's own endpoints, beside Zep's (served by zeptui/server/extensions.py)."""

_USERS = TypeAdapter(list[User])
_SESSIONS = TypeAdapter(list[Session])
_MESSAGES = TypeAdapter(list[Message])
_SUMMARIES = TypeAdapter(list[SummaryInfo])
_RESULTS = TypeAdapter(list[SearchResult])


class RemoteStore(MemoryStore):
    """Zep's core over HTTP. Built by `zeptui.remote.open_remote`, which adds the
    capabilities the server offers."""

    def __init__(
        self,
        client: ZepClient,
        *,
        zeptui: bool,
        message_window: int | None = None,
        max_body: int | None = None,
    ) -> None:
        self.client = client
        self.zeptui = zeptui
        """The server is `zeptui serve`: its own endpoints are there."""
        self._window = message_window or DEFAULT_MESSAGE_WINDOW
        self.room = budget(max_body)
        """The bytes of messages (or users, sessions) one request may carry: under the
        server's body limit (zeptui/remote/bodies.py)."""

    @property
    def location(self) -> str:
        return self.client.shown_url

    @property
    def message_window(self) -> int:
        return self._window

    @property
    def server_kind(self) -> str:
        """What the server is and the API it is spoken to in, in a few words:
        `zeptui API v2` (`zeptui serve`), `Zep API v1`."""
        return f"{'zeptui' if self.zeptui else 'Zep'} API {self.client.version}"

    def close(self) -> None:
        self.client.close()

    # --- paths --------------------------------------------------------------------

    def _users(self, *ids: str, tail: str = "") -> str:
        base = "users" if self.client.version == "v2" else "user"
        parts = (base, "{}") if ids else (base,)
        return self.client.path(*parts, *([tail] if tail else []), ids=ids)

    def _session(self, session_id: str, *tail: str, ids: tuple[str, ...] = ()) -> str:
        return self.client.path("sessions", "{}", *tail, ids=(session_id, *ids))

    def _zeptui(self, *parts: str, ids: tuple[str, ...] = ()) -> str:
        """A path of zeptui's own endpoints (zeptui/server/extensions.py)."""
        encoded = [encode_id(value, "v2") for value in ids]
        return ZEPTUI_PREFIX + "/".join(("", *parts)).format(*encoded)

    # --- users --------------------------------------------------------------------

    def add_user(self, request: CreateUserRequest) -> User:
        body = request.model_dump(mode="json", exclude_none=True)
        return User.model_validate(self.client.json("POST", self._users(), json=body))

    def get_user(self, user_id: str) -> User:
        return User.model_validate(self.client.json("GET", self._users(user_id)))

    def update_user(self, user_id: str, request: UpdateUserRequest) -> User:
        body = {"user_id": user_id, **request.model_dump(mode="json", exclude_none=True)}
        return User.model_validate(self.client.json("PATCH", self._users(user_id), json=body))

    def delete_user(self, user_id: str) -> int:
        self.get_user(user_id)  # NotFoundError for an unknown user, whatever the server
        sessions = len(self.get_user_sessions(user_id))
        self.client.request("DELETE", self._users(user_id))
        return sessions

    def list_users(self, limit: int | None = None, cursor: int = 0) -> list[User]:
        params = {"limit": limit or None, "cursor": cursor or None}
        return _USERS.validate_python(self.client.json("GET", self._users(), params=params))

    def get_user_sessions(self, user_id: str) -> list[Session]:
        try:
            found = self.client.json("GET", self._users(user_id, tail="sessions"))
        except NotFoundError:
            return []
        return _SESSIONS.validate_python(found or [])

    # --- sessions -----------------------------------------------------------------

    def add_session(self, request: CreateSessionRequest) -> Session:
        body = request.model_dump(mode="json", exclude_none=True)
        path = self.client.path("sessions")
        return Session.model_validate(self.client.json("POST", path, json=body))

    def get_session(self, session_id: str) -> Session:
        return Session.model_validate(self.client.json("GET", self._session(session_id)))

    def update_session(self, session_id: str, metadata: dict[str, Any] | None = None) -> Session:
        body = {"session_id": session_id, "metadata": metadata}
        found = self.client.json("PATCH", self._session(session_id), json=body)
        return Session.model_validate(found)

    def delete_session(self, session_id: str) -> None:
        self.client.request("DELETE", self._session(session_id, "memory"))

    def list_sessions(self, limit: int | None = None, cursor: int = 0) -> list[Session]:
        params = {"limit": limit or None, "cursor": cursor or None}
        found = self.client.json("GET", self.client.path("sessions"), params=params)
        return _SESSIONS.validate_python(found or [])

    # --- memory -------------------------------------------------------------------

    def add_memory(self, session_id: str, messages: Sequence[Message]) -> list[Message]:
        """Zep's add memory; messages over the server's body limit go in several
        requests (each one all or nothing; every message carries its uuid, so a
        failure half-way is finished by adding them again)."""
        added: list[Message] = []
        for group in message_groups(messages, self.room, session_id):
            added += self._add_memory(session_id, {"messages": group})
        return added

    def _add_memory(self, session_id: str, body: dict[str, Any]) -> list[Message]:
        if not self.zeptui:
            path = self._session(session_id, "memory")
            self.client.request("POST", path, json=body, idempotent=True)
            return _as_sent(body["messages"])
        path = self._zeptui("sessions", "{}", "memory", ids=(session_id,))
        response = self.client.request("POST", path, json=body, idempotent=True)
        if response.extensions.get(REPEATED):
            # An earlier try may have stored them and its answer was lost: what this
            # answer calls already stored may be ours. Read each one back.
            uuids = dict.fromkeys(message["uuid"] for message in body["messages"])
            return [self.get_message(session_id, message_uuid) for message_uuid in uuids]
        return _MESSAGES.validate_python(self.client.decode(response, "POST", path))

    def get_memory(
        self,
        session_id: str,
        memory_type: MemoryType = MemoryType.perpetual,
        lastn: int | None = None,
    ) -> Memory:
        if lastn is not None and lastn < 0:
            raise InvalidInputError(f"lastn must be 0 or more, not {lastn}")
        params: dict[str, Any] = {"lastn": lastn or None}
        if self.client.version == "v2":
            params["memoryType"] = memory_type.value
        found = Memory.model_validate(
            self.client.json("GET", self._session(session_id, "memory"), params=params)
        )
        if not found.messages and self.client.version == "v1":
            self.get_session(session_id)  # v1 answers an unknown session empty
        if found.summary is not None and not found.summary.content:
            found.summary = None  # v0.27.2's zero summary
        return found

    # --- messages -----------------------------------------------------------------

    def list_messages(
        self, session_id: str, limit: int = 100, cursor: int = 1
    ) -> MessageListResponse:
        params = {"limit": limit, "cursor": cursor}
        found = self.client.json("GET", self._session(session_id, "messages"), params=params)
        listing = MessageListResponse.model_validate(found)
        if listing.total_count == 0 and self.client.version == "v1":
            self.get_session(session_id)  # v1 answers an unknown session empty
        return listing

    def get_message(self, session_id: str, message_uuid: str) -> Message:
        path = self._session(session_id, "messages", "{}", ids=(message_uuid,))
        return Message.model_validate(self.client.json("GET", path))

    def update_message_metadata(
        self, session_id: str, message_uuid: str, metadata: dict[str, Any]
    ) -> Message:
        path = self._session(session_id, "messages", "{}", ids=(message_uuid,))
        found = self.client.json("PATCH", path, json={"metadata": metadata})
        return Message.model_validate(found)

    # --- summaries ----------------------------------------------------------------

    def list_summaries(self, session_id: str) -> list[SummaryInfo]:
        if self.zeptui:
            path = self._zeptui("sessions", "{}", "summaries", ids=(session_id,))
            return _SUMMARIES.validate_python(self.client.json("GET", path))
        # Zep serves no list of summaries: the newest one, as memory carries it.
        summary = self.get_memory(session_id).summary
        if summary is None:
            return []
        return [SummaryInfo(summary=summary, first_message_uuid=None, message_count=0)]

    # --- search -------------------------------------------------------------------

    def search(self, query: SearchQuery) -> list[SearchResult]:
        if self.zeptui:
            body = query.model_dump(mode="json", exclude_defaults=True, exclude={"where"})
            if query.where is not None:
                body["where"] = where_json(query.where)
            found = self.client.json("POST", self._zeptui("search"), json=body, idempotent=True)
            return _RESULTS.validate_python(found)
        return self._session_search(query)

    def _session_search(self, query: SearchQuery) -> list[SearchResult]:
        """Zep's own search: one session's messages, no other filter."""
        narrowed = query.model_dump(exclude_defaults=True, exclude={"text", "limit"})
        if query.session_id is None or set(narrowed) != {"session_id"} or not query.text.strip():
            raise Unsupported(
                f"{self.location} searches one session at a time, by text only "
                "(a Zep server has no search across sessions or by these filters)"
            )
        path = self._session(query.session_id, "search")
        found = self.client.json(
            "POST",
            path,
            json={"text": query.text},
            params={"limit": query.limit},
            idempotent=True,
        )
        results = []
        for item in found or []:
            score = item.get("score", item.get("dist", 0.0))
            results.append(
                SearchResult.model_validate(
                    {**item, "score": score, "session_id": query.session_id}
                )
            )
        return results


def _as_sent(sent: list[dict[str, Any]]) -> list[Message]:
    """The messages a plain Zep server was sent, once per uuid, with their token counts
    as the server counts them."""
    seen: set[str] = set()
    messages = []
    for fields in sent:
        if fields["uuid"] in seen:
            continue
        seen.add(fields["uuid"])
        message = Message.model_validate(fields)
        if message.role_type is None:
            message.role_type = RoleType.norole
        message.token_count = count_message_tokens(message.role, message.content)
        messages.append(message)
    return messages
