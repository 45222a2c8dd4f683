"""Fixtures for the server tests: a real store in tmp_path served by a real uvicorn."""

from __future__ import annotations

import io
import itertools
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from storage.duckdb import DuckDBStore
from tests.server.harness import serving
from zeptui.exporters import every_user, write_zep_dump
from zeptui.server import ServerOptions, create_app

API_KEY = "z_test-key-4f1c"
OTHER_KEY = "local-secret-7d2e"


@dataclass
class Served:
    url: str
    store: DuckDBStore

    def dump(self) -> str:
        """Everything the store holds, as a zep-dump export (to compare before and after)."""
        out = io.StringIO()
        write_zep_dump(self.store, self.store.list_sessions(), out, every_user(self.store))
        return out.getvalue()


ServeFactory = Callable[..., Served]


@contextmanager
def server_factory(directory: Path) -> Iterator[ServeFactory]:
    """`serve(api_key=..., max_body=...)` starts a server on a fresh store in
    `directory`; every one is stopped and closed on exit."""
    numbers = itertools.count()
    with ExitStack() as stack:

        def start(**options: object) -> Served:
            path = directory / f"served{next(numbers)}.duckdb"
            store = stack.enter_context(DuckDBStore(path, background_summaries=False))
            app = create_app(store, ServerOptions(**options))  # type: ignore[arg-type]
            return Served(stack.enter_context(serving(app)), store)

        yield start


@pytest.fixture
def serve(tmp_path: Path) -> Iterator[ServeFactory]:
    """Start servers on fresh stores in the test's tmp_path."""
    with server_factory(tmp_path) as start:
        yield start


@pytest.fixture
def served(serve: ServeFactory) -> Served:
    """A server without an API key."""
    return serve()
