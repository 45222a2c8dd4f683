"""Fixtures for the MemoryStore contract suite.

Every implementation of `MemoryStore` is listed in `store_factory`'s params; the
same tests run against each. A factory takes the message window and returns an
open store whose summaries run synchronously, so tests are deterministic.

- `duckdb`: a DuckDBStore on a file in tmp_path.
- `remote`: a RemoteStore over HTTP to `zeptui serve`'s app (a real uvicorn on
  127.0.0.1, one per test session) serving such a DuckDBStore. The server's store runs
  its summaries inline, so they are made before an add returns, as with the file.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from storage.duckdb import DuckDBStore
from storage.store import MemoryStore
from tests.remote.served import SwitchedServer, switched_server
from zeptui.remote import open_remote

StoreFactory = Callable[..., MemoryStore]


@pytest.fixture(scope="session")
def contract_server() -> Iterator[SwitchedServer]:
    with switched_server() as server:
        yield server


@pytest.fixture(params=["duckdb", "remote"])
def store_factory(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[StoreFactory]:
    opened: list[MemoryStore] = []
    server: SwitchedServer | None = None
    if request.param == "remote":
        server = request.getfixturevalue("contract_server")

    def make(message_window: int = 12, **options: object) -> MemoryStore:
        options.setdefault("background_summaries", False)
        store = DuckDBStore(
            tmp_path / f"store{len(opened)}.duckdb",
            message_window=message_window,
            **options,  # type: ignore[arg-type]
        )
        opened.append(store)
        if server is None:
            return store
        server.store.switch(store)
        remote = open_remote(server.url)
        opened.append(remote)
        return remote

    yield make
    if server is not None:
        server.store.switch(None)
    for store in reversed(opened):
        store.close()


@pytest.fixture
def store(store_factory: StoreFactory) -> MemoryStore:
    return store_factory()
