"""zeptui: an offline-first terminal explorer for Zep-style chat memory, on DuckDB."""

__version__ = "0.1.0"
