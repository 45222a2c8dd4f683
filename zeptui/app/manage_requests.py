"""What the app asks of the store to delete, undo, restore, summarise and list users.

Like `zeptui/app/requests.py`: each request's `run` is called on a worker thread
with the store of a lease (deletes, restores and summaries under the write lease),
and builds everything the screen shows, already made literal (`sanitize`).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING

from zeptui.app.data import Reply, Request, WriteRequest
from zeptui.render import sanitize, session_label
from zeptui.text import plural

if TYPE_CHECKING:
    from pathlib import Path

    from storage.models import SummaryInfo, UserPage
    from storage.store import MemoryStore


class Kind(StrEnum):
    """What a delete takes."""

    message = "message"
    session = "session"
    user = "user"


@dataclass(frozen=True)
class Target:
    """One message, one session (with its messages and summaries), or one user (with
    its sessions); `name` is how the app names it to the user (literal)."""

    kind: Kind
    name: str
    session_id: str = ""
    message_uuid: str = ""
    user_id: str = ""


@dataclass(frozen=True)
class DeleteChoice:
    """A target the user may delete, and exactly what goes with it."""

    target: Target
    goes: str


# --- what the store offers --------------------------------------------------------------


@dataclass(frozen=True)
class OffersRequest(Request):
    """Which of these flows the store can serve (by capability): a store without
    them (a remote server, so far) has them hidden."""

    group = "offers"

    def run(self, store: MemoryStore, database: Path | None) -> Offers:
        from storage.capabilities import BulkImport, Restoring, Summarizing, UserPages, offered

        kinds = {
            "restoring": Restoring,
            "summarizing": Summarizing,
            "user_pages": UserPages,
            "bulk_import": BulkImport,
        }
        names = frozenset(name for name, kind in kinds.items() if offered(store, kind) is not None)
        return Offers(self, names)


class Offers(Reply):
    """The names of the capabilities offered (`restoring`, `summarizing`, `user_pages`,
    `bulk_import`)."""

    def __init__(self, request: OffersRequest, names: frozenset[str]) -> None:
        super().__init__(request)
        self.names = names


# --- what a delete would take ------------------------------------------------------------


@dataclass(frozen=True)
class DeletePlanRequest(Request):
    """What deleting the message `message_uuid` of the session, the session, or its
    user would take, counted now; and whether the store can undo it."""

    group = "delete-plan"

    session_id: str
    message_uuid: str | None
    user_id: str | None

    def run(self, store: MemoryStore, database: Path | None) -> DeletePlanned:
        from storage.capabilities import MessageDeletion, Restoring, offered

        choices: list[DeleteChoice] = []
        note = None
        if self.message_uuid and offered(store, MessageDeletion) is None:
            note = f"{store.location} deletes whole sessions: not one message."
        elif self.message_uuid:
            message = store.get_message(self.session_id, self.message_uuid)
            who = sanitize(message.role or (message.role_type or "norole"))
            choices.append(
                DeleteChoice(
                    Target(
                        Kind.message, f"the message by {who}", self.session_id, message.uuid or ""
                    ),
                    f"1 message by {who} ({plural(message.token_count or 0, 'token')}); "
                    "the session's summaries stay",
                )
            )
        session = store.get_session(self.session_id)
        label = sanitize(session_label(session))
        choices.append(
            DeleteChoice(
                Target(Kind.session, f"session {label}", self.session_id),
                f"session {label}: {_contents(store, [self.session_id])}",
            )
        )
        if self.user_id:
            sessions = [s.session_id for s in store.get_user_sessions(self.user_id)]
            user = sanitize(self.user_id)
            choices.append(
                DeleteChoice(
                    Target(Kind.user, f"user {user}", user_id=self.user_id),
                    f"user {user} and {plural(len(sessions), 'session')}: "
                    f"{_contents(store, sessions)}",
                )
            )
        undoable = offered(store, Restoring) is not None
        return DeletePlanned(self, tuple(choices), undoable, note)


def _contents(store: MemoryStore, session_ids: list[str]) -> str:
    """`N messages, M summaries` in these sessions."""
    messages = summaries = 0
    for session_id in session_ids:
        messages += store.list_messages(session_id, limit=1).total_count
        summaries += len(store.list_summaries(session_id))
    return f"{plural(messages, 'message')}, {plural(summaries, 'summary', 'summaries')}"


class DeletePlanned(Reply):
    """The targets (message, session, user, as they apply) and what each takes."""

    def __init__(
        self,
        request: DeletePlanRequest,
        choices: tuple[DeleteChoice, ...],
        undoable: bool,
        note: str | None = None,
    ) -> None:
        super().__init__(request)
        self.request: DeletePlanRequest = request
        self.choices = choices
        self.undoable = undoable
        """The store can restore what the delete takes (`Restoring`): `ctrl+z` works."""
        self.note = note
        """Why the selected message is not offered (a store that cannot delete one)."""


# --- deletes and restores ----------------------------------------------------------------


@dataclass(frozen=True)
class ChangeRequest(WriteRequest):
    """Soft-delete `target` (Zep's rules: a user's sessions go with it), or with
    `restore` bring it back with what was deleted with it (`Restoring`)."""

    target: Target
    restore: bool = False
    undoable: bool = False
    """A delete the store can restore: ctrl+z will (bookkeeping, handed back)."""
    undo: bool = False
    """A restore ctrl+z asked for: on failure it goes back on the undo stack (bookkeeping)."""

    def run(self, store: MemoryStore, database: Path | None) -> Changed:
        from storage.capabilities import MessageDeletion, Restoring, require

        target = self.target
        if self.restore:
            actor: object = require(store, Restoring, "restore what was deleted")
        elif target.kind is Kind.message:
            actor = require(store, MessageDeletion, "delete a single message")
        else:
            actor = store
        # delete_message / restore_message(session, uuid), ..._session(session), ..._user(user)
        change = getattr(actor, f"{'restore' if self.restore else 'delete'}_{target.kind}")
        if target.kind is Kind.message:
            change(target.session_id, target.message_uuid)
        else:
            change(target.user_id if target.kind is Kind.user else target.session_id)
        return Changed(self)


class Changed(Reply):
    """The target is deleted (or back)."""

    def __init__(self, request: ChangeRequest) -> None:
        super().__init__(request)
        self.request: ChangeRequest = request


# --- summaries ---------------------------------------------------------------------------


@dataclass(frozen=True)
class SummarizeRequest(WriteRequest):
    """Summarise a session now (`again`: from its first message, replacing its
    summaries), as `zeptui summarize SESSION [--again]` does."""

    session_id: str
    again: bool

    def run(self, store: MemoryStore, database: Path | None) -> Summarized:
        from storage.capabilities import Summarizing, require

        summarizing = require(store, Summarizing, "make summaries")
        made = summarizing.summarize(self.session_id, again=self.again)
        return Summarized(self, made, store.message_window)


class Summarized(Reply):
    """The summaries made (none: nothing was due)."""

    def __init__(self, request: SummarizeRequest, made: list[SummaryInfo], window: int) -> None:
        super().__init__(request)
        self.request: SummarizeRequest = request
        self.made = made
        self.window = window


# --- users -------------------------------------------------------------------------------


@dataclass(frozen=True)
class UsersRequest(Request):
    """A page of users with their session counts (`text`: a part of the id, email or
    name)."""

    group = "users"

    limit: int = 100
    cursor: int = 0
    text: str | None = None
    generation: int = 0

    def run(self, store: MemoryStore, database: Path | None) -> UsersLoaded:
        from storage.capabilities import UserPages, require

        pages = require(store, UserPages, "list users with their session counts")
        return UsersLoaded(self, pages.user_page(self.limit, self.cursor, self.text))


class UsersLoaded(Reply):
    """A page of users."""

    def __init__(self, request: UsersRequest, page: UserPage) -> None:
        super().__init__(request)
        self.request: UsersRequest = request
        self.page = page
