"""Fixtures for the MemoryStore contract suite.

Every implementation of `MemoryStore` is listed in `store_factory`'s params; the
same tests run against each. A factory takes the message window and returns an
open store whose summaries run synchronously, so tests are deterministic.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from storage.duckdb import DuckDBStore
from storage.store import MemoryStore

StoreFactory = Callable[..., MemoryStore]


@pytest.fixture(params=["duckdb"])
def store_factory(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[StoreFactory]:
    opened: list[MemoryStore] = []

    def make(message_window: int = 12, **options: object) -> MemoryStore:
        options.setdefault("background_summaries", False)
        store = DuckDBStore(
            tmp_path / f"store{len(opened)}.duckdb",
            message_window=message_window,
            **options,  # type: ignore[arg-type]
        )
        opened.append(store)
        return store

    yield make
    for store in opened:
        store.close()


@pytest.fixture
def store(store_factory: StoreFactory) -> MemoryStore:
    return store_factory()
