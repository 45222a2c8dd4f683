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
