"""zeptui's memory store: Zep's data model and memory semantics, behind one interface.

This package never imports from `zeptui` (the app, CLI and server build on it).
"""

from storage.errors import (
    ConflictError,
    IncompatibleStoreError,
    InvalidInputError,
    NotFoundError,
    StoreError,
    StoreLockedError,
)
from storage.store import MemoryStore

__all__ = [
    "ConflictError",
    "IncompatibleStoreError",
    "InvalidInputError",
    "MemoryStore",
    "NotFoundError",
    "StoreError",
    "StoreLockedError",
]
