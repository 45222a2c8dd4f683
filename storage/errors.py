"""Errors the store raises. Each carries a one-line message fit for a user."""

from __future__ import annotations


class StoreError(Exception):
    """Base class for every error a MemoryStore raises on purpose."""


class NotFoundError(StoreError):
    """A session, user, message or summary that does not exist (or is deleted)."""


class ConflictError(StoreError):
    """Creating something that already exists, e.g. a duplicate session id."""


class InvalidInputError(StoreError):
    """Input that breaks a rule of the data model (an empty id, a bad role_type, ...)."""


class StoreLockedError(StoreError):
    """The database file is held by another process."""


class IncompatibleStoreError(StoreError):
    """The file is not a zeptui store, or was written by a newer zeptui."""


class MessageConflictError(ConflictError):
    """A message uuid that is already stored in another session.

    A uuid names one message of one session: adding it to a second session would
    either drop it silently or make two messages share an id.
    """

    def __init__(self, message_uuid: str, session_id: str, holder_session_id: str) -> None:
        self.message_uuid = message_uuid
        self.session_id = session_id
        self.holder_session_id = holder_session_id
        super().__init__(
            f"message {message_uuid} of session {session_id!r} is already stored in "
            f"session {holder_session_id!r}"
        )


class RemoteError(StoreError):
    """A remote store's server could not be used: one line naming the server (its URL
    without credentials) and why. Never carries the API key."""


class RemoteAuthError(RemoteError):
    """The server refused the request for want of a valid API key (401)."""


class RemoteUnavailableError(RemoteError):
    """The server could not be reached, or kept failing, after the retries."""


class RemoteTimeoutError(RemoteError):
    """The server did not answer in time."""


class NotZepError(RemoteError):
    """The server answered, but not as a Zep server would."""
