"""What the forms ask of the store (new session, append, edit metadata), and the replies.

Like `zeptui/app/requests.py`: each `run` is called by the data layer on a worker
thread under a lease; the store's models are built there (pydantic is imported on
first use, never before the first frame). A value the store refuses comes back as
`Failed` with the store's reason, for the form to show.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from zeptui.app.data import Reply, Request, WriteRequest

if TYPE_CHECKING:
    from pathlib import Path

    from storage.models import User
    from storage.store import MemoryStore

USERS_LISTED = 500
"""Users the new-session form offers to pick from (by id); more are typed in."""
ROLE_SEARCH = 100
"""Messages read back from the end of a session for its last user message."""

MetadataOwner = Literal["session", "message", "user"]


def _validated(build: Any, **fields: Any) -> Any:
    """`build(**fields)`, a pydantic model; its first problem as the store's one-line
    `InvalidInputError` (what the form shows)."""
    from pydantic import ValidationError

    from storage.errors import InvalidInputError

    try:
        return build(**fields)
    except ValidationError as error:
        problem = error.errors()[0]
        where = ".".join(str(part) for part in problem["loc"])
        reason = problem["msg"].removeprefix("Value error, ")
        raise InvalidInputError(f"{where}: {reason}" if where else reason) from None


# --- the new-session form ------------------------------------------------------------


@dataclass(frozen=True)
class UserChoicesRequest(Request):
    """The users the new-session form offers (by id, the first `limit`): the Zep core's
    list, so it works on any store (the users view's pages need UserPages)."""

    group = "user-choices"

    limit: int = USERS_LISTED

    def run(self, store: MemoryStore, database: Path | None) -> UserChoicesLoaded:
        return UserChoicesLoaded(self, store.list_users(limit=self.limit + 1))


class UserChoicesLoaded(Reply):
    """Users by id; `more` when there are others than those listed."""

    def __init__(self, request: UserChoicesRequest, users: list[User]) -> None:
        super().__init__(request)
        self.users = users[: request.limit]
        self.more = len(users) > request.limit


@dataclass(frozen=True)
class IdsCheck(Request):
    """Whether a session id (and a new user's id) is taken already."""

    group = "id-check"

    session_id: str
    user_id: str | None = None

    def run(self, store: MemoryStore, database: Path | None) -> IdsChecked:
        from storage.errors import NotFoundError

        session_taken = user_taken = None
        if self.session_id:
            try:
                store.get_session(self.session_id)
                session_taken = f"a session with id {self.session_id!r} exists: pick another id"
            except NotFoundError:
                pass
        if self.user_id:
            try:
                store.get_user(self.user_id)
                user_taken = f"user {self.user_id!r} exists: pick it in the list above"
            except NotFoundError:
                pass
        return IdsChecked(self, session_taken, user_taken)


class IdsChecked(Reply):
    """Why the ids cannot be used (None: free, as far as a live row goes)."""

    def __init__(
        self, request: IdsCheck, session_taken: str | None, user_taken: str | None
    ) -> None:
        super().__init__(request)
        self.request: IdsCheck = request
        self.session_taken = session_taken
        self.user_taken = user_taken


@dataclass(frozen=True)
class NewUser:
    """A user to create with the session."""

    user_id: str
    email: str | None = None
    first_name: str | None = None
    last_name: str | None = None


@dataclass(frozen=True)
class CreateSession(WriteRequest):
    """A new session (with its user, picked or new, and metadata)."""

    session_id: str
    user_id: str | None = None
    new_user: NewUser | None = None
    metadata: dict[str, Any] | None = None

    def run(self, store: MemoryStore, database: Path | None) -> SessionCreated:
        from storage.errors import ConflictError, NotFoundError
        from storage.models import CreateSessionRequest, CreateUserRequest

        user_id = self.new_user.user_id if self.new_user else self.user_id
        # Every value is checked before anything is written.
        session = _validated(
            CreateSessionRequest,
            session_id=self.session_id,
            user_id=user_id,
            metadata=self.metadata,
        )
        user = None
        if self.new_user is not None:
            user = _validated(
                CreateUserRequest,
                user_id=self.new_user.user_id,
                email=self.new_user.email or None,
                first_name=self.new_user.first_name or None,
                last_name=self.new_user.last_name or None,
            )
        try:
            store.get_session(self.session_id)
            raise ConflictError(f"session already exists with session_id: {self.session_id}")
        except NotFoundError:
            pass
        if user is not None:
            store.add_user(user)
            try:
                return SessionCreated(self, store.add_session(session).session_id)
            except ConflictError as error:  # a deleted session kept the id
                raise ConflictError(
                    f"{error} (a deleted one); user {user.user_id!r} was created"
                ) from None
        return SessionCreated(self, store.add_session(session).session_id)


class SessionCreated(Reply):
    """The new session's id."""

    def __init__(self, request: CreateSession, session_id: str) -> None:
        super().__init__(request)
        self.request: CreateSession = request
        self.session_id = session_id


# --- the composer ----------------------------------------------------------------------


@dataclass(frozen=True)
class ComposerDefaults(Request):
    """Who speaks next in a session: the role and role type of its last user message
    that names its speaker, else its user's first name (else user id) as a `user`,
    else `user` as a `user` (a role is what a client sends; none would be shown as
    "(no role)")."""

    group = "composer"

    session_id: str
    message_count: int

    def run(self, store: MemoryStore, database: Path | None) -> ComposerDefaultsLoaded:
        from storage.errors import NotFoundError
        from storage.models import RoleType

        if self.message_count:
            last_page = -(-self.message_count // ROLE_SEARCH)
            listing = store.list_messages(self.session_id, limit=ROLE_SEARCH, cursor=last_page)
            messages = list(listing.messages)
            if last_page > 1 and len(messages) < ROLE_SEARCH // 2:
                earlier = store.list_messages(
                    self.session_id, limit=ROLE_SEARCH, cursor=last_page - 1
                )
                messages = list(earlier.messages) + messages
            for message in reversed(messages):
                if message.role_type is RoleType.user and message.role:
                    return ComposerDefaultsLoaded(self, message.role, RoleType.user.value)
        user_id = store.get_session(self.session_id).user_id
        name = RoleType.user.value
        if user_id:
            try:
                name = store.get_user(user_id).first_name or user_id
            except NotFoundError:
                name = user_id
        return ComposerDefaultsLoaded(self, name, RoleType.user.value)


class ComposerDefaultsLoaded(Reply):
    def __init__(self, request: ComposerDefaults, role: str, role_type: str) -> None:
        super().__init__(request)
        self.role = role
        self.role_type = role_type


# --- the metadata editor ---------------------------------------------------------------


@dataclass(frozen=True)
class MetadataTarget:
    """Whose metadata: a session, one of its messages, or its user."""

    owner: MetadataOwner
    session_id: str | None = None
    message_uuid: str | None = None
    user_id: str | None = None

    @property
    def label(self) -> str:
        """`session x`, `message <uuid> of session x`, `user u` (not sanitized)."""
        if self.owner == "message":
            return f"message {self.message_uuid} of session {self.session_id}"
        if self.owner == "user":
            return f"user {self.user_id}"
        return f"session {self.session_id}"


@dataclass(frozen=True)
class StoredMetadata(Request):
    """The metadata stored now (the editor merges into this)."""

    group = "metadata"

    target: MetadataTarget

    def run(self, store: MemoryStore, database: Path | None) -> MetadataLoaded:
        return MetadataLoaded(self, _stored(store, self.target))


def _stored(store: MemoryStore, target: MetadataTarget) -> dict[str, Any] | None:
    if target.owner == "user":
        return store.get_user(target.user_id or "").metadata
    if target.owner == "message":
        return store.get_message(target.session_id or "", target.message_uuid or "").metadata
    return store.get_session(target.session_id or "").metadata


class MetadataLoaded(Reply):
    """The stored metadata of a target (None: it has none)."""

    def __init__(self, request: Request, metadata: dict[str, Any] | None) -> None:
        super().__init__(request)
        self.metadata = metadata


@dataclass(frozen=True)
class UpdateMetadata(WriteRequest):
    """Deep-merge `metadata` into the target's, as Zep does (`system` never changed here)."""

    target: MetadataTarget
    metadata: dict[str, Any]

    def run(self, store: MemoryStore, database: Path | None) -> MetadataLoaded:
        from storage.metadata import without_system
        from storage.models import UpdateUserRequest

        update = without_system(self.metadata) or {}
        target = self.target
        if target.owner == "user":
            request = _validated(UpdateUserRequest, metadata=update)
            store.update_user(target.user_id or "", request)
        elif target.owner == "message":
            store.update_message_metadata(
                target.session_id or "", target.message_uuid or "", update
            )
        else:
            store.update_session(target.session_id or "", update)
        return MetadataLoaded(self, _stored(store, target))
