"""Contract: Zep's core session list, and asking a store for what it offers."""

from __future__ import annotations

from typing import Any

import pytest

from storage.capabilities import (
    BulkImport,
    Maintenance,
    SessionPages,
    Unsupported,
    message_position,
    offered,
    require,
)
from storage.models import CreateSessionRequest, Message
from storage.store import MemoryStore


def test_list_sessions_is_zeps_plain_list_by_id(store: MemoryStore) -> None:
    for name in ["c", "a", "b", "gone"]:
        store.add_session(CreateSessionRequest(session_id=name))
    store.delete_session("gone")
    assert [s.session_id for s in store.list_sessions()] == ["c", "a", "b"]
    assert [s.session_id for s in store.list_sessions(limit=2)] == ["c", "a"]
    assert [s.session_id for s in store.list_sessions(limit=2, cursor=2)] == ["b"]
    assert store.list_sessions(limit=2, cursor=3) == []


def core_only(inner: MemoryStore) -> MemoryStore:
    """A real store seen through Zep's core interface only, as a plain Zep server is."""

    def forward(name: str) -> Any:
        if isinstance(getattr(MemoryStore, name), property):
            return property(lambda _self: getattr(inner, name))
        return lambda _self, *args, **kwargs: getattr(inner, name)(*args, **kwargs)

    core = type(
        "CoreOnly", (MemoryStore,), {n: forward(n) for n in MemoryStore.__abstractmethods__}
    )
    store: MemoryStore = core()
    return store


def test_a_store_offers_its_capabilities_and_refuses_others(store: MemoryStore) -> None:
    assert offered(store, SessionPages) is store
    core = core_only(store)
    assert offered(core, SessionPages) is None
    with pytest.raises(Unsupported, match="cannot purge"):
        require(core, Maintenance, "purge").purge()
    with pytest.raises(Unsupported):
        require(core, BulkImport, "import")


def test_message_position_pages_when_the_store_cannot_tell(store: MemoryStore) -> None:
    stored = store.add_memory("s", [Message(role="u", content=f"m{n}") for n in range(1_203)])
    target = stored[1_100].uuid
    assert target is not None
    assert message_position(store, "s", target) == 1_100
    assert message_position(core_only(store), "s", target) == 1_100
