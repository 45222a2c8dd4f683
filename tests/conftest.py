"""Fixtures shared by the CLI tests (defined in tests/cli_helpers.py)."""

from tests.cli_helpers import db, samples, samples_store, terminal

__all__ = ["db", "samples", "samples_store", "terminal"]
