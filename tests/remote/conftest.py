"""Fixtures for the remote store's tests: a real store served by a real uvicorn, and a
fault-injecting proxy in front of it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.remote.proxy import Proxy, proxying
from tests.server.conftest import Served, serve, served

__all__ = ["serve", "served"]  # the server tests' fixtures, shared


@pytest.fixture
def proxy(served: Served) -> Iterator[Proxy]:
    with proxying(served.url) as running:
        yield running


class Sleeps(list[float]):
    """A clock for the client's waits: records them and waits only a moment, so the
    backoff and `Retry-After` are seen without waiting them out."""

    def __call__(self, seconds: float) -> None:
        self.append(seconds)


@pytest.fixture
def sleeps() -> Sleeps:
    return Sleeps()
