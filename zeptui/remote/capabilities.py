"""The capabilities a RemoteStore offers when its server (`zeptui serve`) lists them.

Each class here implements one capability of `storage.capabilities` over zeptui's own
endpoints (zeptui/server/extensions.py); `open_remote` builds a RemoteStore class with
those the server offers, so `offered(store, SessionPages)` answers as the server would.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from pydantic import TypeAdapter

from storage.capabilities import (
    BulkImport,
    Maintenance,
    MessageDeletion,
    MessagePositions,
    Restoring,
    SessionPages,
    Summarizing,
    SummaryImport,
    SyncInventory,
    Unsupported,
    UserPages,
)
from storage.errors import MessageConflictError
from storage.models import (
    CreateUserRequest,
    ImportResult,
    InventoryPage,
    InventoryQuery,
    PurgeResult,
    Session,
    SessionContents,
    SessionImport,
    SessionInfo,
    SessionOrder,
    SessionPage,
    SessionQuery,
    StoreStats,
    SummaryInfo,
    User,
    UserPage,
)
from zeptui.remote.bodies import ImportRequest, import_requests, summary_bodies
from zeptui.remote.store import RemoteStore

_SUMMARIES = TypeAdapter(list[SummaryInfo])
_CONTENTS = TypeAdapter(list[SessionContents])
_USERS = TypeAdapter(list[User])


def _session_page(store: RemoteStore, endpoint: str, query: SessionQuery | None) -> SessionPage:
    body = (query or SessionQuery()).model_dump(mode="json", exclude_defaults=True)
    found = store.client.json("POST", store._zeptui(endpoint), json=body, idempotent=True)
    return SessionPage.model_validate(found)


class RemoteSessionPages(RemoteStore, SessionPages):
    def session_page(self, query: SessionQuery | None = None) -> SessionPage:
        return _session_page(self, "session-page", query)


class RemoteRestoring(RemoteStore, Restoring):
    """Restores are not repeated on a failure on the way: a second try of one that was
    made would be refused as not deleted."""

    def deleted_session_page(self, query: SessionQuery | None = None) -> SessionPage:
        return _session_page(self, "deleted-session-page", query)

    def restore_session(self, session_id: str) -> None:
        self.client.request("POST", self._zeptui("sessions", "{}", "restore", ids=(session_id,)))

    def restore_message(self, session_id: str, message_uuid: str) -> None:
        path = self._zeptui(
            "sessions", "{}", "messages", "{}", "restore", ids=(session_id, message_uuid)
        )
        self.client.request("POST", path)

    def restore_user(self, user_id: str) -> int:
        path = self._zeptui("users", "{}", "restore", ids=(user_id,))
        return int(self.client.json("POST", path)["sessions"])


class RemoteUserPages(RemoteStore, UserPages):
    def user_page(self, limit: int = 100, cursor: int = 0, text: str | None = None) -> UserPage:
        body = {"limit": limit, "cursor": cursor, "text": text}
        found = self.client.json("POST", self._zeptui("user-page"), json=body, idempotent=True)
        return UserPage.model_validate(found)


class RemoteBulkImport(RemoteStore, BulkImport):
    """An import goes in one request (one transaction on the server) when it fits under
    the server's body limit, else in several, read from `sessions` as they are sent
    (zeptui/remote/bodies.py). Each request is all or nothing: a failure half-way
    leaves the earlier requests stored, and every message carries its uuid, so running
    the import again adds only the rest. With `on_conflict`, every request is checked
    first (a dry run reporting the conflicts), so a caller that aborts on one leaves
    nothing written; the requests are then held in memory until sent."""

    def import_sessions(
        self,
        sessions: Iterable[SessionImport],
        users: Sequence[CreateUserRequest] = (),
        *,
        dry_run: bool = False,
        on_conflict: Callable[[MessageConflictError], None] | None = None,
        counted: bool = False,
    ) -> ImportResult:
        requests = import_requests(sessions, users, self.room, counted=counted)
        if on_conflict is None:
            return ImportResult.total(
                self._send_import(each, dry_run=dry_run)[0] for each in requests
            )
        reported: set[tuple[str, str]] = set()

        def report(conflicts: list[MessageConflictError]) -> None:
            for conflict in conflicts:
                key = (conflict.message_uuid, conflict.session_id)
                if key not in reported:
                    reported.add(key)
                    on_conflict(conflict)

        def send(request: ImportRequest, *, dry: bool) -> ImportResult:
            result, conflicts = self._send_import(request, dry_run=dry, skip_conflicts=True)
            report(conflicts)
            return result

        if dry_run:
            return ImportResult.total(send(each, dry=True) for each in requests)
        # The caller may abort on a conflict: learn them all first, writing nothing
        # (each request checked as it is read, so a caller's progress follows the checks).
        held = []
        for request in requests:
            send(request, dry=True)
            held.append(request)
        return ImportResult.total(send(request, dry=False) for request in held)

    def _send_import(
        self, request: ImportRequest, *, dry_run: bool, skip_conflicts: bool = False
    ) -> tuple[ImportResult, list[MessageConflictError]]:
        body = {**request.body, "dry_run": dry_run, "skip_conflicts": skip_conflicts}
        # Every message carries its uuid, so sending it again adds nothing twice.
        found = self.client.json("POST", self._zeptui("import"), json=body, idempotent=True)
        conflicts = [
            MessageConflictError(
                conflict["message_uuid"], conflict["session_id"], conflict["holder_session_id"]
            )
            for conflict in found.get("conflicts", [])
        ]
        result = ImportResult.model_validate(found["result"])
        if request.continues:  # the session was counted with its first part
            result.sessions_created = result.sessions_updated = 0
        return result, conflicts


class RemoteSummarizing(RemoteStore, Summarizing):
    def summarize(self, session_id: str, *, again: bool = False) -> list[SummaryInfo]:
        path = self._zeptui("sessions", "{}", "summarize", ids=(session_id,))
        found = self.client.json("POST", path, json={"again": again}, idempotent=not again)
        return _SUMMARIES.validate_python(found)

    @property
    def summary_errors(self) -> list[str]:
        """None here: summaries are made by the server, which logs their errors."""
        return []


class RemoteMaintenance(RemoteStore, Maintenance):
    def purge(
        self, session_ids: Sequence[str] | None = None, *, dry_run: bool = False
    ) -> PurgeResult:
        body = {"session_ids": list(session_ids) if session_ids is not None else None}
        found = self.client.json(
            "POST", self._zeptui("purge"), json={**body, "dry_run": dry_run}, idempotent=True
        )
        return PurgeResult.model_validate(found)

    def stats(self) -> StoreStats:
        return StoreStats.model_validate(self.client.json("GET", self._zeptui("stats")))

    def optimize(self) -> None:
        self.client.request("POST", self._zeptui("optimize"), idempotent=True)


class RemoteMessageDeletion(RemoteStore, MessageDeletion):
    def delete_message(self, session_id: str, message_uuid: str) -> None:
        path = self._zeptui("sessions", "{}", "messages", "{}", ids=(session_id, message_uuid))
        self.client.request("DELETE", path)


class RemoteMessagePositions(RemoteStore, MessagePositions):
    def message_position(self, session_id: str, message_uuid: str) -> int:
        path = self._zeptui(
            "sessions", "{}", "messages", "{}", "position", ids=(session_id, message_uuid)
        )
        return int(self.client.json("GET", path)["position"])


class RemoteSyncInventory(RemoteStore, SyncInventory):
    def inventory(self, query: InventoryQuery) -> InventoryPage:
        body = query.model_dump(mode="json", exclude_defaults=True)
        found = self.client.json("POST", self._zeptui("inventory"), json=body, idempotent=True)
        return InventoryPage.model_validate(found)

    def user_inventory(self) -> list[User]:
        return _USERS.validate_python(self.client.json("GET", self._zeptui("user-inventory")))

    def session_contents(self, session_ids: Sequence[str]) -> list[SessionContents]:
        body = {"session_ids": list(session_ids)}
        found = self.client.json("POST", self._zeptui("contents"), json=body, idempotent=True)
        return _CONTENTS.validate_python(found)


class RemoteSummaryImport(RemoteStore, SummaryImport):
    def import_summaries(self, by_session: Mapping[str, Sequence[SummaryInfo]]) -> int:
        stored = 0
        for body in summary_bodies(by_session, self.room):
            # Summaries carry their uuids: one stored by a lost try is skipped the next.
            path = self._zeptui("summaries")
            stored += int(self.client.json("POST", path, json=body, idempotent=True)["stored"])
        return stored


class ZepSessionPages(RemoteStore, SessionPages):
    """Session pages from a plain Zep server's own endpoints: its sessions (or a user's),
    each one's history read whole for its count, tokens and last activity. Zep filters
    nothing, so only a user is served as a filter; a sort other than by id reads every
    session's history, so it is served up to MAX_SORTED sessions."""

    MAX_SORTED = 500

    def session_page(self, query: SessionQuery | None = None) -> SessionPage:
        query = query or SessionQuery()
        narrowed = query.model_dump(
            include={"metadata", "created_after", "created_before", "text"},
            exclude_defaults=True,
        )
        if narrowed:
            raise Unsupported(
                f"{self.location} is a Zep server: its sessions can be narrowed by user only"
            )
        found = self.get_user_sessions(query.user_id) if query.user_id else self.list_sessions()
        end = query.cursor + query.limit if query.limit else None
        if query.order_by is SessionOrder.id:
            ordered = sorted(found, key=lambda session: session.id, reverse=query.descending)
            infos = [self._info(session) for session in ordered[query.cursor : end]]
        else:
            if len(found) > self.MAX_SORTED:
                raise Unsupported(
                    f"{self.location} is a Zep server with {len(found):,} sessions: sorting "
                    f"them reads every history; sort by id (up to {self.MAX_SORTED} it is done)"
                )
            key = _SORT_KEYS[query.order_by]
            every = sorted(
                (self._info(session) for session in found), key=lambda info: info.session.id
            )
            infos = sorted(every, key=key, reverse=query.descending)[query.cursor : end]
        following = query.cursor + len(infos)
        return SessionPage(
            sessions=infos,
            total_count=len(found),
            next_cursor=following if infos and following < len(found) else None,
        )

    def _info(self, session: Session) -> SessionInfo:
        history = self.list_messages(session.session_id, limit=0).messages
        times = [message.created_at for message in history if message.created_at is not None]
        return SessionInfo(
            session=session,
            message_count=len(history),
            total_tokens=sum(message.token_count for message in history),
            last_activity=max([session.created_at, *times]),
        )


_SORT_KEYS: dict[SessionOrder, Callable[[SessionInfo], Any]] = {
    SessionOrder.created: lambda info: info.session.created_at,
    SessionOrder.updated: lambda info: info.session.updated_at,
    SessionOrder.activity: lambda info: info.last_activity,
    SessionOrder.message_count: lambda info: info.message_count,
}


REMOTE_CAPABILITIES: dict[str, type[RemoteStore]] = {
    "session_pages": RemoteSessionPages,
    "bulk_import": RemoteBulkImport,
    "summarizing": RemoteSummarizing,
    "maintenance": RemoteMaintenance,
    "message_deletion": RemoteMessageDeletion,
    "message_positions": RemoteMessagePositions,
    "restoring": RemoteRestoring,
    "user_pages": RemoteUserPages,
    "sync_inventory": RemoteSyncInventory,
    "summary_import": RemoteSummaryImport,
}
"""By the names a server lists its capabilities under (storage.capabilities.CAPABILITY_NAMES)."""
