"""One real server for many stores: `zeptui serve`'s app under a real uvicorn, over a
store that tests switch between fresh DuckDB stores (no server restart per test).

`SwitchedStore` forwards every call of the store interface and of every capability
to the DuckDB store it currently points at, so the server sees a real store with all
its capabilities; nothing is imitated.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from storage.capabilities import CAPABILITY_NAMES
from storage.duckdb import DuckDBStore
from storage.store import MemoryStore
from tests.server.harness import serving
from zeptui.server import ServerOptions, create_app


class _Forward:
    target: DuckDBStore | None = None

    def switch(self, target: DuckDBStore | None) -> None:
        self.target = target

    def _current(self) -> DuckDBStore:
        if self.target is None:
            raise RuntimeError("no store is switched in")
        return self.target


def _forwarder(name: str, interface: type) -> Any:
    if isinstance(getattr(interface, name), property):
        return property(lambda self: getattr(self._current(), name))
    return lambda self, *args, **kwargs: getattr(self._current(), name)(*args, **kwargs)


def _switched_class() -> type:
    interfaces = (MemoryStore, *CAPABILITY_NAMES.values())
    methods = {
        name: _forwarder(name, interface)
        for interface in interfaces
        for name in getattr(interface, "__abstractmethods__", ())
    }
    methods["close"] = lambda self: None
    return type("SwitchedStore", (_Forward, *interfaces), methods)


SwitchedStore: Any = _switched_class()


@dataclass
class SwitchedServer:
    url: str
    store: Any
    """A SwitchedStore: `store.switch(duckdb_store)` serves that store from now on."""


@contextmanager
def switched_server(options: ServerOptions | None = None) -> Iterator[SwitchedServer]:
    """The API server under uvicorn on 127.0.0.1, over a SwitchedStore."""
    store = SwitchedStore()
    with serving(create_app(store, options)) as url:
        yield SwitchedServer(url, store)
