"""The MemoryStore on one DuckDB file (`DuckDBStore`) and its capabilities."""

from storage.duckdb.store import DEFAULT_SUMMARIZER, DuckDBStore

__all__ = ["DEFAULT_SUMMARIZER", "DuckDBStore"]
