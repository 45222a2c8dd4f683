"""zeptui's memory store: Zep's data model and memory semantics, behind one interface.

This package never imports from `zeptui` (the app, CLI and server build on it).
"""

from typing import TYPE_CHECKING, Any

from storage.errors import (
    ConflictError,
    IncompatibleStoreError,
    InvalidInputError,
    NotFoundError,
    StoreError,
    StoreLockedError,
)

if TYPE_CHECKING:
    from storage.store import MemoryStore


def __getattr__(name: str) -> Any:
    # MemoryStore pulls in pydantic: load it on first use, so that importing the
    # error classes (as the app does at start-up) stays cheap.
    if name == "MemoryStore":
        from storage.store import MemoryStore

        return MemoryStore
    raise AttributeError(f"module 'storage' has no attribute {name!r}")


__all__ = [
    "ConflictError",
    "IncompatibleStoreError",
    "InvalidInputError",
    "MemoryStore",
    "NotFoundError",
    "StoreError",
    "StoreLockedError",
]
