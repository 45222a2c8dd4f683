"""The MemoryStore on one DuckDB file (`DuckDBStore`) and its capabilities.

The store is imported on first use, so that `storage.duckdb.peek` (the app's first
page, before the store is loaded) stays light.
"""

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from storage.duckdb.store import DEFAULT_SUMMARIZER, DuckDBStore


def __getattr__(name: str) -> Any:
    if name in __all__:
        from storage.duckdb import store

        return getattr(store, name)
    raise AttributeError(f"module 'storage.duckdb' has no attribute {name!r}")


__all__ = ["DEFAULT_SUMMARIZER", "DuckDBStore"]
